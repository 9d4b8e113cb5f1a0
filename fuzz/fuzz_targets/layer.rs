//! libFuzzer target: see `berth_fuzz::layer`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| berth_fuzz::layer::check(data));
