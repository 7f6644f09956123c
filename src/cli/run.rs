//! `qnetd run` (not written yet).

use argh::FromArgs;
use std::process::ExitCode;

/// run (not written yet)
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "run")]
pub struct RunArgs {}

pub fn main(_args: RunArgs) -> ExitCode {
    eprintln!("qnetd run: not written yet");
    ExitCode::FAILURE
}
