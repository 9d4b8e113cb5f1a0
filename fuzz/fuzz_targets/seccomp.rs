//! libFuzzer target: see `berth_fuzz::seccomp`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| berth_fuzz::seccomp::check(data));
