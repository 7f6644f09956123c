//! Replays the committed fuzz corpus (fuzz/corpus/<target>/) through the same property checks
//! the cargo-fuzz targets run, so CI checks them on stable without cargo-fuzz or nightly.

use std::path::{Path, PathBuf};

#[path = "../fuzz/src/lib.rs"]
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

fn replay(target: &str, check: fn(&[u8])) {
    let files = corpus(target);
    for file in &files {
        let data = std::fs::read(file).unwrap();
        if std::panic::catch_unwind(|| check(&data)).is_err() {
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

#[test]
fn session_corpus() {
    replay("session", checks::check_session);
}
