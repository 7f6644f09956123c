//! One binary, several names: `qnetd` (native CLI) and, chosen by argv[0], upstream's
//! `corosync-qnetd`, `corosync-qnetd-certutil` and `corosync-qnetd-tool`.

#![forbid(unsafe_code)]

// The static musl builds' allocator is dlmalloc: see src/alloc.rs.

use std::process::ExitCode;

fn main() -> ExitCode {
    // args_os: std::env::args() panics on an argument that is not UTF-8 (a cluster name given
    // to `corosync-qnetd-tool -c` can be any bytes). Such bytes become U+FFFD instead.
    let args: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let name = args
        .first()
        .map(|a| a.rsplit('/').next().unwrap_or(a).to_string())
        .unwrap_or_default();
    let rest = args.get(1..).unwrap_or_default();
    match name.as_str() {
        "corosync-qnetd" => qnetd::cli::compat::qnetd::main(rest),
        "corosync-qnetd-certutil" => qnetd::cli::compat::certutil::main(rest),
        "corosync-qnetd-tool" => qnetd::cli::compat::tool::main(rest),
        "sftp-server" => qnetd_sftp::main(rest),
        _ => qnetd::cli::main(&args),
    }
}
