//! libFuzzer target: see `berth_fuzz::reference`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| berth_fuzz::reference::check(data));
