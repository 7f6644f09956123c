//! decode() never panics; accepted messages survive encode/decode unchanged.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| qnetd_fuzz::check_codec_decode(data));
