//! `qnetd status` (not written yet).

use argh::FromArgs;
use std::process::ExitCode;

/// status (not written yet)
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "status")]
pub struct StatusArgs {}

pub fn main(_args: StatusArgs) -> ExitCode {
    eprintln!("qnetd status: not written yet");
    ExitCode::FAILURE
}
