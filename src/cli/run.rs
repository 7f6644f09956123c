//! `qnetd run`: the daemon with friendly, documented flags. It builds the same validated
//! [`Config`] as upstream's `corosync-qnetd` command line (`cli::compat::qnetd`).

use crate::settings::{AddressFamily, CliOption, Config, ConfigError};
use argh::FromArgs;
use std::process::ExitCode;

/// run the quorum arbiter daemon in the foreground (logs to stderr)
#[derive(FromArgs, Debug, Default)]
#[argh(subcommand, name = "run")]
pub struct RunArgs {
    /// address or host name to listen on (default: every address, IPv6 dual-stack)
    #[argh(option, short = 'l')]
    pub listen: Option<String>,
    /// TCP port (default 5403)
    #[argh(option, short = 'p')]
    pub port: Option<String>,
    /// listen on IPv4 only
    #[argh(switch, short = '4')]
    pub ipv4: bool,
    /// listen on IPv6 only
    #[argh(switch, short = '6')]
    pub ipv6: bool,
    /// TLS: on (clients choose), off, or required (default on)
    #[argh(option)]
    pub tls: Option<String>,
    /// whether TLS clients must present a certificate signed by our CA: on or off (default on)
    #[argh(option)]
    pub client_cert_required: Option<String>,
    /// accept at most this many clients; 0 = unlimited, as upstream (default: sized from the
    /// machine's memory, 1/8 of MemTotal at 24 KiB per client, 256 to 16384; the startup log
    /// says the value)
    #[argh(option, short = 'm')]
    pub max_clients: Option<String>,
    /// certificate store directory (default $QNETD_CERT_DIR, else /etc/corosync/qnetd/nssdb;
    /// `qnetd cert init` creates it)
    #[argh(option)]
    pub store: Option<String>,
    /// PID lock file (default /var/run/corosync-qnetd/corosync-qnetd.pid)
    #[argh(option)]
    pub lock_file: Option<String>,
    /// status socket for `qnetd status` and corosync-qnetd-tool (default
    /// /var/run/corosync-qnetd/corosync-qnetd.sock)
    #[argh(option)]
    pub socket: Option<String>,
    /// advanced setting KEY=VALUE, as upstream's -S (repeatable; e.g. dpd_enabled=off,
    /// heartbeat_interval_max=60000, handshake_timeout=30000)
    #[argh(option, short = 'S')]
    pub setting: Vec<String>,
    /// serve read-only HTTP on ADDR:PORT (e.g. 0.0.0.0:5404 or [::1]:5404): /health,
    /// /metrics (Prometheus), /status.json; off by default (same as -S http_listen=)
    #[argh(option)]
    pub http: Option<String>,
    /// log debug messages
    #[argh(switch, short = 'd')]
    pub debug: bool,
    /// create the certificate store if it is missing, in the background (the daemon listens
    /// at once; STARTTLS waits until the certificates exist): for first boots of routers
    /// whose random pool takes minutes
    #[argh(switch)]
    pub init_store: bool,
    /// wait for a missing certificate store that root is creating (OpenWrt's init script
    /// runs `qnetd cert init` for a daemon that may not write the store): the daemon
    /// listens at once; STARTTLS waits until the store is complete
    #[argh(switch)]
    pub wait_store: bool,
}

impl RunArgs {
    /// The validated configuration these flags describe: every `--setting` list first, then
    /// the specific flags, each parsed as its `-S` key is (settings.rs decides the order).
    pub fn to_config(&self) -> Result<Config, ConfigError> {
        let family = match (self.ipv4, self.ipv6) {
            (true, true) => {
                return Err(ConfigError(
                    "--ipv4 and --ipv6 exclude each other".to_string(),
                ))
            }
            (true, false) => AddressFamily::V4,
            (false, true) => AddressFamily::V6,
            (false, false) => AddressFamily::Any,
        };
        let flags = [
            (CliOption::Listen, &self.listen),
            (CliOption::Port, &self.port),
            (CliOption::Tls, &self.tls),
            (CliOption::ClientCertRequired, &self.client_cert_required),
            (CliOption::MaxClients, &self.max_clients),
            (CliOption::Store, &self.store),
            (CliOption::LockFile, &self.lock_file),
            (CliOption::Socket, &self.socket),
            (CliOption::Http, &self.http),
        ];
        let given = flags
            .into_iter()
            .filter_map(|(option, value)| Some((option, value.as_deref()?)));
        let mut cfg = Config::from_flags(self.setting.iter().map(String::as_str), given)?;
        cfg.family = family;
        cfg.debug = u8::from(self.debug);
        cfg.init_store = self.init_store;
        cfg.wait_store = self.wait_store;
        cfg.validate()
    }
}

#[inline(never)] // see cli::main
pub fn main(args: RunArgs) -> ExitCode {
    match args.to_config() {
        Ok(cfg) => {
            crate::server::init_logging(cfg.debug);
            crate::server::run(cfg)
        }
        // Every error here is about a flag (or a -S setting) given on the command line.
        Err(e) => super::usage_error("run", e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::types::TlsMode;

    fn parse(args: &[&str]) -> Result<Config, String> {
        let run = RunArgs::from_args(&["run"], args).map_err(|e| e.output)?;
        run.to_config().map_err(|e| e.0)
    }

    #[test]
    fn flags_map_to_config() {
        let c = parse(&[
            "--listen",
            "127.0.0.1",
            "--port",
            "15403",
            "--tls",
            "required",
            "--client-cert-required",
            "off",
            "--max-clients",
            "3",
            "--store",
            "/tmp/s",
            "-S",
            "dpd_enabled=off",
            "--setting",
            "lock_file=/tmp/ignored.pid",
            "--lock-file",
            "/tmp/q.pid",
            "-d",
        ])
        .unwrap();
        assert_eq!(c.listen_addr.as_deref(), Some("127.0.0.1"));
        assert_eq!(c.port, 15403);
        assert_eq!(c.tls, TlsMode::Required);
        assert!(!c.client_cert_required);
        assert_eq!(c.max_clients, Some(3));
        assert_eq!(c.store_dir(), std::path::Path::new("/tmp/s"));
        assert!(!c.settings.dpd_enabled);
        assert_eq!(c.settings.lock_file, std::path::PathBuf::from("/tmp/q.pid"));
        assert_eq!(c.debug, 1);
    }

    #[test]
    fn a_store_given_with_setting_wins_in_any_case_and_store_wins_over_it() {
        for key in ["nss_db_dir", "NSS_DB_DIR", "Nss_Db_Dir"] {
            let c = parse(&["-S", &format!("{key}=/x")]).unwrap();
            assert_eq!(c.store_dir(), std::path::Path::new("/x"), "{key}");
        }
        let c = parse(&["-S", "NSS_DB_DIR=/x", "--store", "/y"]).unwrap();
        assert_eq!(c.store_dir(), std::path::Path::new("/y"));
    }

    #[test]
    fn path_flags_are_parsed_as_their_setting_keys_are() {
        for (flag, key) in [
            ("--store", "nss_db_dir"),
            ("--lock-file", "lock_file"),
            ("--socket", "local_socket_file"),
        ] {
            let by_flag = parse(&[flag, ""]).unwrap_err();
            assert!(by_flag.contains(flag) && by_flag.contains(key), "{by_flag}");
            assert!(parse(&["-S", &format!("{key}=")]).is_err(), "{key}");
        }
    }

    #[test]
    fn the_default_store_is_the_same_for_both_command_lines() {
        let native = parse(&[]).unwrap();
        let compat = match crate::cli::compat::qnetd::parse(&[]).unwrap() {
            crate::cli::compat::qnetd::Parsed::Run(c) => c,
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!(native.store_dir(), compat.store_dir());
        assert_eq!(native.store_dir(), crate::settings::default_store_dir());
    }

    #[test]
    fn max_clients_not_given_is_sized_later_and_zero_is_unlimited() {
        assert_eq!(parse(&[]).unwrap().max_clients, None);
        assert_eq!(parse(&["-m", "0"]).unwrap().max_clients, Some(0));
        assert_eq!(parse(&["--max-clients", "0"]).unwrap().max_clients, Some(0));
    }

    #[test]
    fn http_flag_and_setting() {
        assert_eq!(parse(&[]).unwrap().settings.http_listen, None);
        let c = parse(&["--http", "0.0.0.0:5404"]).unwrap();
        assert_eq!(
            c.settings.http_listen,
            Some("0.0.0.0:5404".parse().unwrap())
        );
        // The flag wins over -S, as the other specific flags do.
        let c = parse(&["-S", "http_listen=[::1]:1", "--http", "[::]:2"]).unwrap();
        assert_eq!(c.settings.http_listen, Some("[::]:2".parse().unwrap()));
        assert!(parse(&["--http", "5404"])
            .unwrap_err()
            .contains("--http must be ADDR:PORT"));
        let compat = crate::cli::compat::qnetd::parse(&[
            "-S".to_string(),
            "http_listen=127.0.0.1:5404".to_string(),
            "-f".to_string(),
        ])
        .unwrap();
        match compat {
            crate::cli::compat::qnetd::Parsed::Run(c) => assert_eq!(
                c.settings.http_listen,
                Some("127.0.0.1:5404".parse().unwrap())
            ),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn bad_values_are_errors() {
        assert!(parse(&["--tls", "maybe"])
            .unwrap_err()
            .contains("tls must be"));
        assert!(parse(&["--port", "0"]).unwrap_err().contains("port"));
        assert!(parse(&["-S", "bogus=1"])
            .unwrap_err()
            .contains("unknown option"));
        assert!(parse(&["-4", "-6"]).is_err());
    }

    #[test]
    fn same_config_as_upstream_command_line() {
        let native = parse(&["-p", "15403", "--tls", "off", "-S", "listen_backlog=5"]).unwrap();
        let compat = crate::cli::compat::qnetd::parse(&[
            "-p".to_string(),
            "15403".to_string(),
            "-s".to_string(),
            "off".to_string(),
            "-S".to_string(),
            "listen_backlog=5".to_string(),
            "-f".to_string(),
        ])
        .unwrap();
        match compat {
            crate::cli::compat::qnetd::Parsed::Run(c) => assert_eq!(*c, native),
            other => panic!("unexpected {other:?}"),
        }
    }
}
