//! One binary, several names: `qnetd` (native CLI) and, chosen by argv[0], upstream's
//! `corosync-qnetd`, `corosync-qnetd-certutil` and `corosync-qnetd-tool`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let name = args
        .first()
        .map(|a| a.rsplit('/').next().unwrap_or(a).to_string())
        .unwrap_or_default();
    let rest = args.get(1..).unwrap_or_default();
    match name.as_str() {
        "corosync-qnetd" => qnetd::cli::compat::qnetd::main(rest),
        "corosync-qnetd-certutil" => qnetd::cli::compat::certutil::main(rest),
        "corosync-qnetd-tool" => qnetd::cli::compat::tool::main(rest),
        _ => qnetd::cli::main(&args),
    }
}
