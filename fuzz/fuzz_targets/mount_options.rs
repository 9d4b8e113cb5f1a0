//! libFuzzer target: see `berth_fuzz::mount_options`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| berth_fuzz::mount_options::check(data));
