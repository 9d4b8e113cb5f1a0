//! libFuzzer target: see `berth_fuzz::compose`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| berth_fuzz::compose::check(data));
