//! Scripted multi-client sessions against the engine (synthetic clock): no panic, outputs only
//! for connected clients, every sent frame decodes and fits the send limit.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // The status renderers are the daemon's; the corpus replay runs them.
    qnetd_fuzz::check_session(data, |_| {});
});
