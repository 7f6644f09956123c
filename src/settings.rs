//! The daemon's configuration: upstream's command line (`corosync-qnetd -s on -S key=value ...`)
//! and `qnetd run --tls on --setting key=value ...` both end in one validated [`Config`].
//!
//! Upstream reference: `qdevices/corosync-qnetd.c` (`cli_parse`) and
//! `qdevices/qnetd-advanced-settings.c` (keys, ranges, defaults); see docs/protocol.md, "Settings".

use crate::engine::EngineConfig;
use crate::proto::types::TlsMode;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Upstream's default TCP port (`QNETD_DEFAULT_HOST_PORT`).
pub const DEFAULT_PORT: u16 = 5403;
/// Where the certificates live (upstream's NSS database directory; ours is a plain store).
pub const DEFAULT_STORE_DIR: &str = certtool::DEFAULT_DIR;
/// Moves the default store for every `qnetd` command, `corosync-qnetd` and
/// `corosync-qnetd-certutil` (whose upstream path is fixed), e.g. for a store on another
/// partition of a router.
pub const STORE_DIR_ENV: &str = "QNETD_CERT_DIR";

/// The store a command uses when it is given none: `$QNETD_CERT_DIR`, else the default.
pub fn default_store_dir() -> PathBuf {
    match std::env::var_os(STORE_DIR_ENV) {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from(DEFAULT_STORE_DIR),
    }
}
pub const DEFAULT_LOCK_FILE: &str = "/var/run/corosync-qnetd/corosync-qnetd.pid";
pub const DEFAULT_LOCAL_SOCKET_FILE: &str = "/var/run/corosync-qnetd/corosync-qnetd.sock";

/// A configuration value that cannot be used. Its Display is the whole message for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

fn err<T>(msg: impl Into<String>) -> Result<T, ConfigError> {
    Err(ConfigError(msg.into()))
}

/// `-4` / `-6` / neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AddressFamily {
    /// Wildcard on IPv6 dual-stack (falls back to IPv4 if the host has no IPv6).
    #[default]
    Any,
    V4,
    V6,
}

/// Upstream's advanced settings (`-S key=value`), plus `handshake_timeout` (ours).
#[derive(Debug, Clone, PartialEq)]
pub struct AdvancedSettings {
    pub listen_backlog: u32,
    pub max_client_send_buffers: usize,
    pub max_client_send_size: u32,
    pub max_client_receive_size: u32,
    /// Upstream's NSS database directory; for us the certificate store directory.
    pub nss_db_dir: PathBuf,
    /// Accepted for compatibility; our store has exactly one server certificate.
    pub cert_nickname: String,
    pub heartbeat_interval_min: u32,
    pub heartbeat_interval_max: u32,
    pub dpd_enabled: bool,
    pub dpd_interval_coefficient: f64,
    pub lock_file: PathBuf,
    pub local_socket_file: PathBuf,
    pub local_socket_umask: Option<u32>,
    pub local_socket_gid: Option<u32>,
    pub local_socket_backlog: u32,
    /// 0 = unlimited.
    pub ipc_max_clients: usize,
    pub ipc_max_receive_size: usize,
    pub ipc_max_send_size: usize,
    pub keep_active_partition_tie_breaker: bool,
    /// Ours: a client must send its first message (and finish a TLS handshake it starts) within
    /// this time, or it is dropped. `None` (setting 0) = no limit, as upstream.
    pub handshake_timeout: Option<Duration>,
    /// Ours: connections that have not finished INIT, all sources together; 0 = unlimited.
    /// Bounds what a flood of connections that never INIT can hold.
    pub max_preinit_clients: usize,
    /// Ours: the same per source address (per /64 for IPv6); 0 = unlimited. Keeps one flooding
    /// host from taking the places real nodes need.
    pub max_preinit_per_address: usize,
    /// Ours: sessions that finished INIT, per source address (per /64 for IPv6); 0 =
    /// unlimited. Keeps one host from filling `max_clients` with sessions of its own, where
    /// each real node is one session from its own address.
    pub max_clients_per_address: usize,
    /// Ours: `ADDR:PORT` of the read-only HTTP responder (/health, /metrics, /status.json);
    /// `None` (the default, or an empty value) = off.
    pub http_listen: Option<std::net::SocketAddr>,
}

impl Default for AdvancedSettings {
    fn default() -> Self {
        let engine = EngineConfig::default();
        AdvancedSettings {
            // Upstream's default is 10; a restart makes every node reconnect at once, and the
            // load generator measured SYN-queue overflows and setup timeouts at 10 (10,000
            // clients). 128 costs nothing until used.
            listen_backlog: 128,
            max_client_send_buffers: 32,
            max_client_send_size: engine.max_client_send_size,
            max_client_receive_size: engine.max_client_receive_size,
            nss_db_dir: PathBuf::from(DEFAULT_STORE_DIR),
            cert_nickname: "QNetd Cert".to_string(),
            heartbeat_interval_min: engine.heartbeat_interval_min,
            heartbeat_interval_max: engine.heartbeat_interval_max,
            dpd_enabled: engine.dpd_enabled,
            dpd_interval_coefficient: engine.dpd_interval_coefficient,
            lock_file: PathBuf::from(DEFAULT_LOCK_FILE),
            local_socket_file: PathBuf::from(DEFAULT_LOCAL_SOCKET_FILE),
            local_socket_umask: None,
            local_socket_gid: None,
            local_socket_backlog: 10,
            ipc_max_clients: 10,
            ipc_max_receive_size: 4 * 1024,
            ipc_max_send_size: 10 * 1024 * 1024,
            keep_active_partition_tie_breaker: engine.keep_active_partition_tie_breaker,
            handshake_timeout: Some(Duration::from_secs(30)),
            max_preinit_clients: 256,
            max_preinit_per_address: 64,
            // Far above one cluster's share (one session per node, each node its own
            // address), yet a host behind NAT, or a test rig running several clusters'
            // qdevices on one machine, still fits; 64 sessions are 1.5 MB at the sizing figure.
            max_clients_per_address: 64,
            http_listen: None,
        }
    }
}

/// What a `-S` value did.
enum Effect {
    Set,
    /// Accepted, but it means nothing here: the warning says why.
    NoEffect(&'static str),
}

/// Parses a value into a setting; None = a bad value.
type Setter = fn(&mut AdvancedSettings, &str) -> Option<Effect>;

/// A row of [`SETTINGS`] whose key is the field's name: the field takes `parse(value)` (None
/// from `parse`: a bad value), or for a range, the decimal integer in it.
macro_rules! set {
    ($field:ident, $min:literal..=$max:expr) => {
        set!($field, |v| int_as(v, $min, $max))
    };
    ($field:ident, $parse:expr) => {
        (stringify!($field), |s, v| {
            s.$field = ($parse)(v)?;
            Some(Effect::Set)
        })
    };
}

const I32_MAX: u64 = i32::MAX as u64;
const U32_MAX: u64 = u32::MAX as u64;

/// Every key `-S` accepts, with its range and what it sets: the one definition of the keys
/// (the error for an unknown key lists them from here). Ranges are upstream's.
const SETTINGS: &[(&str, Setter)] = &[
    set!(listen_backlog, 1..=I32_MAX),
    set!(max_client_send_buffers, 2..=U32_MAX),
    set!(max_client_send_size, 16..=U32_MAX),
    set!(max_client_receive_size, 16..=U32_MAX),
    set!(nss_db_dir, nonempty_path),
    ("cert_nickname", |s, v| {
        s.cert_nickname = v.to_string();
        Some(Effect::NoEffect(
            "has no effect: the store holds exactly one server certificate",
        ))
    }),
    set!(heartbeat_interval_min, 1..=U32_MAX),
    set!(heartbeat_interval_max, 1..=U32_MAX),
    set!(dpd_enabled, parse_bool),
    ("dpd_interval", |_, _| {
        Some(Effect::NoEffect("is deprecated and has no effect anymore"))
    }),
    set!(dpd_interval_coefficient, |v| decimal_in(v, 1.0, 1000.0)),
    set!(lock_file, nonempty_path),
    set!(local_socket_file, nonempty_path),
    ("local_socket_umask", |s, v| {
        s.local_socket_umask = if v.is_empty() {
            None
        } else {
            Some(u32::from_str_radix(v, 8).ok().filter(|m| *m <= 0o777)?)
        };
        Some(Effect::Set)
    }),
    set!(local_socket_gid, parse_group),
    set!(local_socket_backlog, 1..=I32_MAX),
    set!(ipc_max_clients, 0..=U32_MAX),
    set!(ipc_max_receive_size, 1024..=U32_MAX),
    set!(ipc_max_send_size, 1024..=U32_MAX),
    set!(keep_active_partition_tie_breaker, parse_bool),
    ("handshake_timeout", |s, v| {
        let ms = int_in(v, 0, U32_MAX)?;
        s.handshake_timeout = (ms != 0).then(|| Duration::from_millis(ms));
        Some(Effect::Set)
    }),
    set!(max_preinit_clients, 0..=U32_MAX),
    set!(max_preinit_per_address, 0..=U32_MAX),
    set!(max_clients_per_address, 0..=U32_MAX),
    set!(http_listen, parse_http_listen),
];

/// `ADDR:PORT` (IPv6 in brackets, `[::1]:5403`), or empty = off. A port of 0 is refused: a
/// health check needs to know where to look.
pub fn parse_http_listen(v: &str) -> Option<Option<std::net::SocketAddr>> {
    if v.is_empty() {
        return Some(None);
    }
    let addr: std::net::SocketAddr = v.parse().ok()?;
    (addr.port() != 0).then_some(Some(addr))
}

/// Every key `-S` accepts, in order, for help texts and error messages.
pub fn setting_keys() -> impl Iterator<Item = &'static str> {
    SETTINGS.iter().map(|(k, _)| *k)
}

impl AdvancedSettings {
    /// Set one `key=value`. Keys are case-insensitive. Returns a warning for keys that are
    /// accepted but mean nothing here; an unknown key or a bad value is an error.
    pub fn set(&mut self, key: &str, value: &str) -> Result<Option<String>, ConfigError> {
        let key_lc = key.to_ascii_lowercase();
        let Some((_, setter)) = SETTINGS.iter().find(|(k, _)| *k == key_lc) else {
            return err(format!(
                "unknown option '{key}' (known options: {})",
                setting_keys().collect::<Vec<_>>().join(", ")
            ));
        };
        match setter(self, value) {
            Some(Effect::Set) => Ok(None),
            Some(Effect::NoEffect(why)) => Ok(Some(format!("option '{key}' {why}"))),
            None => err(format!("invalid value '{value}' for option '{key}'")),
        }
    }

    /// Apply one `-S` argument: `key=value[,key2=value2...]`, split as upstream's
    /// `dynar_getopt_lex` does. An empty key (`-S =`, `-S ,`, `-S a=1,`) is refused: upstream
    /// silently ends the list there, so a typo dropped every setting after it unnoticed.
    /// Returns the warnings.
    pub fn apply_list(&mut self, list: &str) -> Result<Vec<String>, ConfigError> {
        let mut warnings = Vec::new();
        for item in list.split(',') {
            let (key, value) = item.split_once('=').unwrap_or((item, ""));
            if key.is_empty() {
                return err(format!(
                    "empty option name in -S '{list}' (expected KEY=VALUE[,KEY=VALUE...])"
                ));
            }
            warnings.extend(self.set(key, value)?);
        }
        Ok(warnings)
    }
}

/// The validated daemon configuration both front ends produce.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `-l`: address or host name as given; `None` = wildcard.
    pub listen_addr: Option<String>,
    pub family: AddressFamily,
    pub port: u16,
    pub tls: TlsMode,
    pub client_cert_required: bool,
    /// `-m`: `None` = not given, sized from the machine's memory at startup
    /// (`server::memory`); `Some(0)` = unlimited, as upstream.
    pub max_clients: Option<usize>,
    /// 0 = info, 1 = debug (`-d`), 2 = debug, upstream's "bump" (`-d -d`).
    pub debug: u8,
    pub settings: AdvancedSettings,
    /// Messages for the user about accepted-but-ignored options; logged at startup.
    pub warnings: Vec<String>,
    /// Ours (`qnetd run --init-store`): create a missing certificate store in the background
    /// instead of refusing to start, so a first boot never waits on the random pool.
    pub init_store: bool,
    /// Ours (`qnetd run --wait-store`): a missing store is being made by root (the OpenWrt
    /// init script): listen at once, and start TLS when it is complete.
    pub wait_store: bool,
}

impl Default for Config {
    fn default() -> Self {
        let engine = EngineConfig::default();
        Config {
            listen_addr: None,
            family: AddressFamily::Any,
            port: DEFAULT_PORT,
            tls: engine.tls,
            client_cert_required: engine.client_cert_required,
            max_clients: None,
            debug: 0,
            settings: AdvancedSettings::default(),
            warnings: Vec::new(),
            init_store: false,
            wait_store: false,
        }
    }
}

impl From<&Config> for EngineConfig {
    /// The engine's part of the daemon's configuration: built here, so the engine knows
    /// nothing of settings.
    fn from(cfg: &Config) -> EngineConfig {
        let s = &cfg.settings;
        EngineConfig {
            tls: cfg.tls,
            client_cert_required: cfg.client_cert_required,
            max_client_receive_size: s.max_client_receive_size,
            max_client_send_size: s.max_client_send_size,
            heartbeat_interval_min: s.heartbeat_interval_min,
            heartbeat_interval_max: s.heartbeat_interval_max,
            dpd_enabled: s.dpd_enabled,
            dpd_interval_coefficient: s.dpd_interval_coefficient,
            keep_active_partition_tie_breaker: s.keep_active_partition_tie_breaker,
        }
    }
}

/// An option of a front end's command line that takes a value: `corosync-qnetd`'s letters and
/// `qnetd run`'s long flags name the same ones, and [`Config::set_option`] parses each with
/// the one parser of its meaning (the `-S` key's, where there is one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CliOption {
    /// `-l`, `--listen`
    Listen,
    /// `-p`, `--port`
    Port,
    /// `-s`, `--tls`
    Tls,
    /// `-c`, `--client-cert-required`
    ClientCertRequired,
    /// `-m`, `--max-clients`
    MaxClients,
    /// `-S` (a list `key=value[,...]`), `--setting`
    Settings,
    /// `--store`: `-S nss_db_dir=`
    Store,
    /// `--lock-file`: `-S lock_file=`
    LockFile,
    /// `--socket`: `-S local_socket_file=`
    Socket,
    /// `--http`: `-S http_listen=`
    Http,
}

impl Config {
    /// Where every front end starts: upstream's defaults, with the store a command uses when
    /// it is given none ([`default_store_dir`]: `$QNETD_CERT_DIR`, else upstream's path), so
    /// `corosync-qnetd`, `qnetd run` and `corosync-qnetd-certutil` agree on it.
    pub fn for_command_line() -> Config {
        let mut cfg = Config::default();
        cfg.settings.nss_db_dir = default_store_dir();
        cfg
    }

    /// Apply one valued option. Options take effect in the order they are applied, so the
    /// front end decides precedence by its order alone: upstream's in argv order, `qnetd run`'s
    /// every `--setting` list first, then its specific flags ([`Config::from_flags`]).
    pub fn set_option(&mut self, option: CliOption, value: &str) -> Result<(), ConfigError> {
        let key = match option {
            CliOption::Listen => {
                self.listen_addr = Some(value.to_string());
                return Ok(());
            }
            CliOption::Port => return self.set_port(value),
            CliOption::Tls => return self.set_tls(value),
            CliOption::ClientCertRequired => return self.set_client_cert_required(value),
            CliOption::MaxClients => return self.set_max_clients(value),
            CliOption::Settings => return self.apply_settings(value),
            CliOption::Store => "nss_db_dir",
            CliOption::LockFile => "lock_file",
            CliOption::Socket => "local_socket_file",
            CliOption::Http => "http_listen",
        };
        self.settings.set(key, value).map(|_| ()).map_err(|_| {
            ConfigError(match option {
                CliOption::Http => format!(
                    "--http must be ADDR:PORT, e.g. 0.0.0.0:5404 or [::1]:5404 (got '{value}')"
                ),
                _ => format!("{} must not be empty (same as -S {key}=)", option.flag()),
            })
        })
    }

    /// The configuration of `qnetd run`-style flags: `--setting` lists first, in order, then
    /// each specific flag given, so a specific flag wins over the same key in a list.
    pub fn from_flags<'a>(
        lists: impl IntoIterator<Item = &'a str>,
        flags: impl IntoIterator<Item = (CliOption, &'a str)>,
    ) -> Result<Config, ConfigError> {
        let mut cfg = Config::for_command_line();
        for list in lists {
            cfg.set_option(CliOption::Settings, list)?;
        }
        for (option, value) in flags {
            cfg.set_option(option, value)?;
        }
        Ok(cfg)
    }

    /// `-s on|off|req`; `required` is accepted too (case-insensitive, as upstream's strcasecmp).
    pub fn set_tls(&mut self, value: &str) -> Result<(), ConfigError> {
        self.tls = match value.to_ascii_lowercase().as_str() {
            "on" => TlsMode::Supported,
            "off" => TlsMode::Unsupported,
            "req" | "required" => TlsMode::Required,
            _ => {
                return err(format!(
                    "tls must be one of on, off, required (or req) (got '{value}')"
                ))
            }
        };
        Ok(())
    }

    /// `-c on|off` (on/yes/1, off/no/0).
    pub fn set_client_cert_required(&mut self, value: &str) -> Result<(), ConfigError> {
        self.client_cert_required = parse_bool(value).ok_or_else(|| {
            ConfigError(format!(
                "client_cert_required should be on/yes/1, off/no/0 (got '{value}')"
            ))
        })?;
        Ok(())
    }

    /// `-p`: 1..65535.
    pub fn set_port(&mut self, value: &str) -> Result<(), ConfigError> {
        match int_in(value, 1, u16::MAX as u64) {
            Some(p) => self.port = p as u16,
            None => {
                return err(format!(
                    "port must be a number from 1 to 65535 (got '{value}')"
                ))
            }
        }
        Ok(())
    }

    /// `-m`: 0 = unlimited.
    pub fn set_max_clients(&mut self, value: &str) -> Result<(), ConfigError> {
        match int_in(value, 0, i64::MAX as u64) {
            Some(m) => self.max_clients = Some(usize::try_from(m).unwrap_or(usize::MAX)),
            None => return err(format!("max clients value {value} is invalid")),
        }
        Ok(())
    }

    /// `-S key=value[,...]`: collects warnings in `self.warnings`.
    pub fn apply_settings(&mut self, list: &str) -> Result<(), ConfigError> {
        let warnings = self.settings.apply_list(list)?;
        self.warnings.extend(warnings);
        Ok(())
    }

    /// Cross-field checks, once every option has been applied.
    pub fn validate(self) -> Result<Config, ConfigError> {
        let s = &self.settings;
        if s.heartbeat_interval_min > s.heartbeat_interval_max {
            return err(format!(
                "heartbeat_interval_min ({}) is larger than heartbeat_interval_max ({})",
                s.heartbeat_interval_min, s.heartbeat_interval_max
            ));
        }
        if let Some(addr) = &self.listen_addr {
            if addr.is_empty() {
                return err("listen address is empty");
            }
        }
        let collision = s
            .http_listen
            .and_then(|http| crate::server::listener::http_collision(&self, http));
        if let Some(words) = collision {
            return err(words);
        }
        Ok(self)
    }

    /// Where the certificates are (`-S nss_db_dir=`, `qnetd run --store`).
    pub fn store_dir(&self) -> &std::path::Path {
        &self.settings.nss_db_dir
    }
}

impl CliOption {
    /// `qnetd run`'s name of the option, for messages.
    fn flag(self) -> &'static str {
        match self {
            CliOption::Listen => "--listen",
            CliOption::Port => "--port",
            CliOption::Tls => "--tls",
            CliOption::ClientCertRequired => "--client-cert-required",
            CliOption::MaxClients => "--max-clients",
            CliOption::Settings => "--setting",
            CliOption::Store => "--store",
            CliOption::LockFile => "--lock-file",
            CliOption::Socket => "--socket",
            CliOption::Http => "--http",
        }
    }
}

/// upstream `utils_parse_bool_str`: on/yes/1, off/no/0, case-insensitive.
pub fn parse_bool(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "on" | "yes" | "1" => Some(true),
        "off" | "no" | "0" => Some(false),
        _ => None,
    }
}

/// [`int_in`] as the setting's own type; `max` never exceeds that type's range.
fn int_as<T: TryFrom<u64>>(value: &str, min: u64, max: u64) -> Option<T> {
    T::try_from(int_in(value, min, max)?).ok()
}

/// Decimal integer in `min..=max` (upstream `utils_strtonum`: no trailing garbage).
fn int_in(value: &str, min: u64, max: u64) -> Option<u64> {
    let v: u64 = value.trim_start().parse().ok()?;
    (min..=max).contains(&v).then_some(v)
}

/// A decimal number in `min..=max` as upstream's `strtod` reads it: leading blanks, an optional
/// '+', digits with an optional fraction ("1.5", "2", ".5", "3.") and exponent ("15e-1"); no
/// trailing garbage. Hex, "inf" and "nan", which strtod also reads, fail upstream's range check
/// and our grammar alike.
///
/// Hand-parsed because std's float parser costs 27 KB of the static binary (its tables and
/// code) for this one setting. The result is the correctly rounded value, as `str::parse`
/// gives, whenever the digits fit 2^53 and the scale 10^22 (one exact division); a coefficient
/// never comes near those limits, and more than 19 digits is refused.
fn decimal_in(value: &str, min: f64, max: f64) -> Option<f64> {
    let s = value.trim_start();
    let s = s.strip_prefix('+').unwrap_or(s);
    let (mantissa, exponent) = match s.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i32>().ok()?),
        None => (s, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all_digits = int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit());
    if !all_digits || int.len() + frac.len() == 0 || int.len() + frac.len() > 19 {
        return None;
    }
    let digits: u64 = int
        .bytes()
        .chain(frac.bytes())
        .fold(0, |n, b| n * 10 + u64::from(b - b'0'));
    let scale = exponent.checked_sub(i32::try_from(frac.len()).ok()?)?;
    let v = if scale >= 0 {
        digits as f64 * 10f64.powi(scale)
    } else {
        digits as f64 / 10f64.powi(scale.checked_neg()?)
    };
    (v.is_finite() && v >= min && v <= max).then_some(v)
}

fn nonempty_path(value: &str) -> Option<PathBuf> {
    (!value.is_empty()).then(|| PathBuf::from(value))
}

/// `local_socket_gid`: empty or "-1" = unchanged, a number, or a group name from /etc/group.
fn parse_group(value: &str) -> Option<Option<u32>> {
    if value.is_empty() || value == "-1" {
        return Some(None);
    }
    if let Ok(gid) = value.parse::<u32>() {
        return Some(Some(gid));
    }
    let groups = std::fs::read_to_string("/etc/group").ok()?;
    groups.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let gid = fields.nth(1)?;
        (name == value).then(|| gid.parse().ok().map(Some))?
    })
}

#[cfg(test)]
#[path = "settings_tests.rs"]
mod tests;
