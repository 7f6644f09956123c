//! `qnetd doctor` (not written yet).

use argh::FromArgs;
use std::process::ExitCode;

/// doctor (not written yet)
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "doctor")]
pub struct DoctorArgs {}

pub fn main(_args: DoctorArgs) -> ExitCode {
    eprintln!("qnetd doctor: not written yet");
    ExitCode::FAILURE
}
