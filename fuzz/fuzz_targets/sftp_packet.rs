//! The SFTP packet decoder and the server's dispatch never panic on a client's byte stream;
//! every packet gets one well-framed reply with its id (see check_sftp_packet).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    qnetd_fuzz::check_sftp_packet(data);
});
