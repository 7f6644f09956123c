//! The native `qnetd` command line (argh). Each subcommand lives in its own module.

use argh::FromArgs;
use std::process::ExitCode;

pub mod cert;
pub mod cert_json;
pub mod cert_nss;
pub mod compat;
pub mod doctor;
mod doctor_store;
pub mod install;
pub mod probe;
pub mod reload;
pub mod run;
pub mod sftp;
pub mod status;

/// Exit status of every `qnetd` subcommand for a command line it cannot use: an unknown flag,
/// a missing value, a bad value. 2, as argh's own parse errors and most Unix tools; 1 is for
/// an operation that failed. (The upstream names, `corosync-qnetd` and friends, keep
/// upstream's codes: see `compat`.)
pub const EXIT_USAGE: u8 = 2;

/// Exit status of `qnetd status` and `qnetd reload` when no daemon is running (the LSB
/// "program is not running" code, and `corosync-qnetd-tool`'s for a failed connect).
pub const EXIT_NOT_RUNNING: u8 = 3;

/// Report a bad command line of `qnetd <cmd>` (`cmd` may be several words, or none): the
/// message, a pointer to the help, and [`EXIT_USAGE`].
pub fn usage_error(cmd: &str, message: impl std::fmt::Display) -> ExitCode {
    let name = if cmd.is_empty() {
        "qnetd".to_string()
    } else {
        format!("qnetd {cmd}")
    };
    errln!("{name}: {message}");
    errln!("Run `{name} --help` for the flags.");
    ExitCode::from(EXIT_USAGE)
}

/// The subcommand words that start `rest` (`cert sign`), so an error names the command whose
/// help has the flags.
fn command_words(rest: &[&str]) -> String {
    fn is_command<T: argh::SubCommands>(word: &str) -> bool {
        T::COMMANDS.iter().any(|c| c.name == word)
    }
    let mut words = Vec::new();
    if let Some(&first) = rest.first().filter(|w| is_command::<Command>(w)) {
        words.push(first);
        if let Some(&second) = rest.get(1).filter(|w| is_command::<cert::CertCommand>(w)) {
            if first == "cert" {
                words.push(second);
            }
        }
    }
    words.join(" ")
}

/// `qnetd --version`: the version, the target triple and the commit the binary was built from
/// (build.rs), e.g. `qnetd 0.1.0 (mipsel-unknown-linux-musl, commit 0123456789ab)`, so that a
/// binary copied onto a router can be traced back to its release and source.
pub fn version_line() -> String {
    format!(
        "qnetd {} ({}, commit {})",
        env!("CARGO_PKG_VERSION"),
        env!("QNETD_TARGET"),
        env!("QNETD_COMMIT")
    )
}

/// qnetd: a corosync-qnetd compatible quorum arbiter in one static binary.
#[derive(FromArgs, Debug)]
pub struct Cli {
    /// print the version and exit
    #[argh(switch)]
    pub version: bool,
    #[argh(subcommand)]
    pub command: Option<Command>,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
pub enum Command {
    Run(run::RunArgs),
    Cert(cert::CertArgs),
    Status(status::StatusArgs),
    Reload(reload::ReloadArgs),
    Install(install::InstallArgs),
    Uninstall(install::UninstallArgs),
    Doctor(doctor::DoctorArgs),
    Probe(probe::ProbeArgs),
    SftpServer(sftp::SftpServerArgs),
}

/// Entry point for the `qnetd` name; `args` is the full argv.
///
/// Every subcommand's `main` is `#[inline(never)]`: inlined here (opt-level z + LTO does it),
/// their locals made one 12 KiB stack frame that the daemon kept resident for its lifetime.
pub fn main(args: &[String]) -> ExitCode {
    let strs: Vec<&str> = args.iter().map(String::as_str).collect();
    let (cmd, rest) = match strs.split_first() {
        Some((cmd, rest)) => (*cmd, rest),
        None => ("qnetd", &[][..]),
    };
    // sftp-server's flags are getopt-style (-R, -lVERBOSE, -d DIR): argh would reject them,
    // so the subcommand bypasses it (argh still lists it in --help).
    if rest.first() == Some(&"sftp-server") {
        return qnetd_sftp::main(args.get(2..).unwrap_or_default());
    }
    let expanded;
    let rest = match rest.first() {
        Some(&"install") => {
            expanded = install::expand_firewall_flag(rest);
            expanded.iter().map(String::as_str).collect()
        }
        Some(&"cert") => cert::dir_as_store(rest),
        _ => rest.to_vec(),
    };
    let cli = match Cli::from_args(&[cmd], &rest) {
        Ok(cli) => cli,
        Err(early) => {
            // --help goes to stdout with success; parse errors to stderr with EXIT_USAGE.
            return if early.status.is_ok() {
                outln!("{}", early.output);
                ExitCode::SUCCESS
            } else {
                usage_error(&command_words(&rest), early.output.trim_end())
            };
        }
    };
    if cli.version {
        outln!("{}", version_line());
        return ExitCode::SUCCESS;
    }
    match cli.command {
        Some(Command::Run(a)) => run::main(a),
        Some(Command::Cert(a)) => cert::main(a),
        Some(Command::Status(a)) => status::main(a),
        Some(Command::Reload(a)) => reload::main(a),
        Some(Command::Install(a)) => install::main(a),
        Some(Command::Uninstall(a)) => install::main_uninstall(a),
        Some(Command::Doctor(a)) => doctor::main(a),
        Some(Command::Probe(a)) => probe::main(a),
        Some(Command::SftpServer(a)) => qnetd_sftp::main(&a.args),
        None => {
            errln!("qnetd: no command given; try `qnetd --help`");
            ExitCode::from(EXIT_USAGE)
        }
    }
}
