//! `qnetd cert` (not written yet).

use argh::FromArgs;
use std::process::ExitCode;

/// cert (not written yet)
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "cert")]
pub struct CertArgs {}

pub fn main(_args: CertArgs) -> ExitCode {
    eprintln!("qnetd cert: not written yet");
    ExitCode::FAILURE
}
