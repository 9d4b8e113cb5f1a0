//! libFuzzer target: see `berth_fuzz::config`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| berth_fuzz::config::check(data));
