//! Replays the committed fuzz corpus (fuzz/corpus/<target>/) through the same property checks
//! the cargo-fuzz targets run, so CI checks them on stable without cargo-fuzz or nightly.

use std::path::{Path, PathBuf};

#[path = "../../fuzz/src/lib.rs"]
mod checks;

fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "empty corpus {}", dir.display());
    files
}

fn replay(target: &str, mut check: impl FnMut(&[u8])) {
    let files = corpus(target);
    for file in &files {
        let data = std::fs::read(file).unwrap();
        let run = std::panic::AssertUnwindSafe(|| check(&data));
        if std::panic::catch_unwind(run).is_err() {
            panic!("{target}: property broken by {}", file.display());
        }
    }
    eprintln!("{target}: {} inputs replayed", files.len());
}

#[test]
fn codec_decode_corpus() {
    replay("codec_decode", checks::check_codec_decode);
}

#[test]
fn framing_corpus() {
    replay("framing", checks::check_framing);
}

/// Every status renderer over a snapshot of the session (the fuzz target, which links the
/// core alone, has none of them).
fn render(st: &qnetd::status::snapshot::ServerStatus) {
    let _ = qnetd::status::upstream::status_text(st, true);
    let _ = qnetd::status::upstream::list_text(st, true, None);
    let _ = qnetd::status::upstream::list_text(st, false, Some(b"a"));
    let _ = qnetd::status::json::to_json(st);
    let _ = qnetd::status::table::render(st);
}

#[test]
fn session_corpus() {
    let mut total = checks::SessionStats::default();
    replay("session", |data| {
        let stats = checks::check_session(data, render);
        for (t, n) in total.sent.iter_mut().zip(stats.sent) {
            *t += n;
        }
        total.init_ok += stats.init_ok;
        total.acks += stats.acks;
        total.start_tls += stats.start_tls;
        total.disconnects += stats.disconnects;
    });
    eprintln!("session corpus reached: {total:?}");
    // The corpus must keep driving the engine past the error paths: sessions that initialise,
    // get votes, start TLS and are dropped, and every reply type the server can send.
    assert!(total.init_ok > 0 && total.acks > 0, "{total:?}");
    assert!(total.start_tls > 0 && total.disconnects > 0, "{total:?}");
    for t in qnetd::proto::types::MsgType::ALL {
        let n = total.sent[t as usize];
        assert_eq!(n > 0, t.is_server_to_client(), "{t:?} sent {n} times");
    }
}

#[test]
fn sftp_packet_corpus() {
    let mut total = checks::SftpStats::default();
    replay("sftp_packet", |data| {
        let s = checks::check_sftp_packet(data);
        total.decoded += s.decoded;
        total.malformed += s.malformed;
        total.unknown += s.unknown;
        total.fatal += s.fatal;
    });
    eprintln!("sftp_packet corpus reached: {total:?}");
    // The corpus keeps reaching each outcome: requests decoded and refused, malformed ones,
    // unknown ones, and sessions ended by a bad length or a missing id.
    assert!(total.decoded > 20 && total.malformed > 0, "{total:?}");
    assert!(total.unknown > 0 && total.fatal > 0, "{total:?}");
}
