//! libFuzzer target: see `berth_fuzz::manifest`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| berth_fuzz::manifest::check(data));
