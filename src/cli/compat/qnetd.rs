//! `corosync-qnetd [-46dfhv] [-l listen_addr] [-p listen_port] [-s tls] [-c client_cert_required]
//! [-m max_clients] [-S option=value[,option2=value2,...]]`: upstream's command line (getopt
//! string `46dfhvc:l:m:p:S:s:`), producing the same [`Config`] as `qnetd run`.
//!
//! We always stay in the foreground and log to stderr (procd and systemd both want that), so
//! `-f` is accepted and changes nothing.

use crate::proto::types::{Algorithm, MsgType};
use crate::settings::{AddressFamily, CliOption, Config, ConfigError};
use std::process::ExitCode;

/// What the command line asks for.
#[derive(Debug, PartialEq)]
pub enum Parsed {
    Run(Box<Config>),
    Version,
    Usage,
}

const USAGE: &str = "usage: corosync-qnetd [-46dfhv] [-l listen_addr] [-p listen_port] [-s tls]\n              [-c client_cert_required] [-m max_clients] [-S option=value[,option2=value2,...]]";

/// Parse argv[1..] like upstream's `cli_parse` (POSIX getopt: bundled flags `-fd`, attached
/// or separate arguments `-p5403` / `-p 5403`, `--` ends options; GNU getopt also skips
/// non-option words, which upstream then ignores).
pub fn parse(args: &[String]) -> Result<Parsed, ConfigError> {
    let mut cfg = Config::for_command_line();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if arg == "--" {
            break;
        }
        let Some(flags) = arg.strip_prefix('-').filter(|f| !f.is_empty()) else {
            continue;
        };
        for (pos, flag) in flags.char_indices() {
            if "clmpSs".contains(flag) {
                let attached = &flags[pos + flag.len_utf8()..];
                let value = if !attached.is_empty() {
                    attached.to_string()
                } else if let Some(next) = args.get(i) {
                    i += 1;
                    next.clone()
                } else {
                    return Err(ConfigError(format!(
                        "option requires an argument -- '{flag}'\n{USAGE}"
                    )));
                };
                apply_valued(&mut cfg, flag, &value)?;
                break;
            }
            match flag {
                '4' => cfg.family = AddressFamily::V4,
                '6' => cfg.family = AddressFamily::V6,
                'f' => {}
                'd' => cfg.debug = cfg.debug.saturating_add(1).min(2),
                'v' => return Ok(Parsed::Version),
                'h' => return Ok(Parsed::Usage),
                other => return Err(ConfigError(format!("invalid option -- '{other}'\n{USAGE}"))),
            }
        }
    }
    cfg.validate().map(|c| Parsed::Run(Box::new(c)))
}

fn apply_valued(cfg: &mut Config, flag: char, value: &str) -> Result<(), ConfigError> {
    let option = match flag {
        'c' => CliOption::ClientCertRequired,
        'l' => CliOption::Listen,
        'm' => CliOption::MaxClients,
        'p' => CliOption::Port,
        'S' => CliOption::Settings,
        's' => CliOption::Tls,
        _ => return Ok(()),
    };
    cfg.set_option(option, value)
}

/// Upstream's `-v` text: version, supported algorithms and message types.
pub fn version_text() -> String {
    let algorithms: Vec<String> = Algorithm::ALL
        .iter()
        .map(|a| format!("{} ({})", a.as_str(), *a as u16))
        .collect();
    let messages: Vec<String> = MsgType::ALL
        .iter()
        .map(|m| format!("{} ({})", message_name(*m), *m as u16))
        .collect();
    format!(
        "Corosync Qdevice Network Daemon, version '{}'\n\nSupported algorithms: {}\nSupported message types: {}",
        env!("CARGO_PKG_VERSION"),
        algorithms.join(", "),
        messages.join(", ")
    )
}

/// upstream `msg_type_to_str`.
fn message_name(m: MsgType) -> &'static str {
    match m {
        MsgType::Preinit => "Preinit",
        MsgType::PreinitReply => "Preinit reply",
        MsgType::StartTls => "StartTLS",
        MsgType::Init => "Init",
        MsgType::InitReply => "Init reply",
        MsgType::ServerError => "Server error",
        MsgType::SetOption => "Set option",
        MsgType::SetOptionReply => "Set option reply",
        MsgType::EchoRequest => "Echo request",
        MsgType::EchoReply => "Echo reply",
        MsgType::NodeList => "Node list",
        MsgType::NodeListReply => "Node list reply",
        MsgType::AskForVote => "Ask for vote",
        MsgType::AskForVoteReply => "Ask for vote reply",
        MsgType::VoteInfo => "Vote info",
        MsgType::VoteInfoReply => "Vote info reply",
        MsgType::HeuristicsChange => "Heuristics change",
        MsgType::HeuristicsChangeReply => "Heuristics change reply",
    }
}

/// Entry point for the `corosync-qnetd` name; `args` = argv[1..]. `-v` and `-h` exit 1, as
/// upstream does.
#[inline(never)] // see cli::main
pub fn main(args: &[String]) -> ExitCode {
    match parse(args) {
        Ok(Parsed::Run(cfg)) => {
            crate::server::init_logging(cfg.debug);
            crate::server::run(*cfg)
        }
        Ok(Parsed::Version) => {
            outln!("{}", version_text());
            ExitCode::FAILURE
        }
        Ok(Parsed::Usage) => {
            outln!("{USAGE}");
            ExitCode::FAILURE
        }
        Err(e) => {
            errln!("corosync-qnetd: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::types::TlsMode;

    fn run(args: &[&str]) -> Result<Config, String> {
        let owned: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        match parse(&owned).map_err(|e| e.0)? {
            Parsed::Run(c) => Ok(*c),
            other => Err(format!("{other:?}")),
        }
    }

    #[test]
    fn upstream_flags() {
        let c = run(&[
            "-fdd",
            "-4",
            "-l",
            "10.0.0.1",
            "-p5404",
            "-s",
            "req",
            "-c",
            "no",
            "-m",
            "7",
            "-S",
            "DPD_ENABLED=off,nss_db_dir=/tmp/db",
            "-S",
            "listen_backlog=3",
        ])
        .unwrap();
        assert_eq!(c.debug, 2);
        assert_eq!(c.family, AddressFamily::V4);
        assert_eq!(c.listen_addr.as_deref(), Some("10.0.0.1"));
        assert_eq!(c.port, 5404);
        assert_eq!(c.tls, TlsMode::Required);
        assert!(!c.client_cert_required);
        assert_eq!(c.max_clients, Some(7));
        assert!(!c.settings.dpd_enabled);
        assert_eq!(c.store_dir(), std::path::Path::new("/tmp/db"));
        assert_eq!(c.settings.listen_backlog, 3);
        assert_eq!(run(&["-s", "required"]).unwrap().tls, TlsMode::Required);
    }

    #[test]
    fn errors_and_special_flags() {
        assert!(run(&["-s", "sometimes"])
            .unwrap_err()
            .contains("tls must be one of"));
        assert!(run(&["-x"]).unwrap_err().contains("invalid option -- 'x'"));
        assert!(run(&["-p"]).unwrap_err().contains("requires an argument"));
        assert!(run(&["-S", "nope=1"])
            .unwrap_err()
            .contains("unknown option 'nope'"));
        let v = parse(&["-f".to_string(), "-v".to_string()]).unwrap();
        assert_eq!(v, Parsed::Version);
        assert_eq!(parse(&["-h".to_string()]).unwrap(), Parsed::Usage);
        assert!(version_text().contains(
            "Supported algorithms: Test (0), Fifty-Fifty split (1), 2 Node LMS (2), LMS (3)"
        ));
    }
}
