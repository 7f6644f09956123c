//! `qnetd install` (not written yet).

use argh::FromArgs;
use std::process::ExitCode;

/// install (not written yet)
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "install")]
pub struct InstallArgs {}

pub fn main(_args: InstallArgs) -> ExitCode {
    eprintln!("qnetd install: not written yet");
    ExitCode::FAILURE
}
