//! Arbitrary bytes in arbitrary chunks through FrameReader: no panic, bounded buffering, and
//! the same frames as a whole-stream model.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| qnetd_fuzz::check_framing(data));
