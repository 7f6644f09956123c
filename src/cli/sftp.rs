//! `qnetd sftp-server`: the same SFTP server as the `sftp-server` name (the qnetd-sftp crate,
//! sftp/). Only its help text comes from here: cli::main hands the arguments to the crate
//! before argh parses.

use argh::FromArgs;

/// serve SFTP on stdin/stdout (for sshd/Dropbear's sftp subsystem); takes OpenSSH
/// sftp-server's flags: -R read-only, -d DIR start directory, -u UMASK, -p/-P LIST allowed/denied
/// requests, -Q requests; -e, -l, -f are accepted and ignored
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "sftp-server")]
pub struct SftpServerArgs {
    /// the flags, as OpenSSH's sftp-server takes them
    #[argh(positional, greedy)]
    pub args: Vec<String>,
}
