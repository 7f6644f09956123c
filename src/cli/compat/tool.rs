//! Upstream-compatible argv for this name (not written yet).

use std::process::ExitCode;

pub fn main(_args: &[String]) -> ExitCode {
    eprintln!("not written yet");
    ExitCode::FAILURE
}
