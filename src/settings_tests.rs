//! The settings' unit tests (moved out of settings.rs to keep it under 800 lines).

use super::*;

#[test]
fn decimals_read_as_str_parse_reads_them() {
    for text in [
        "1",
        "1.5",
        "2.3",
        "1.25",
        "999.999",
        " 7.1",
        "+1.5",
        "3.",
        ".5e1",
        "15e-1",
        "1E2",
        "0001.10",
        "1000",
        "1.000000000000000001",
        "123456789.123456789",
    ] {
        let std: f64 = text.trim_start().parse().unwrap();
        assert_eq!(decimal_in(text, 0.0, 1e300), Some(std), "{text:?}");
    }
}

#[test]
fn decimals_refused() {
    for text in [
        "",
        " ",
        ".",
        "e1",
        "1e",
        "1.5x",
        "1,5",
        "-1.5",
        "inf",
        "nan",
        "0x1p0",
        "1.5 ",
        "1..5",
        "1e1.5",
        "++1",
        "12345678901234567890",
    ] {
        assert_eq!(decimal_in(text, 0.0, 1e300), None, "{text:?}");
    }
    assert_eq!(decimal_in("0.5", 1.0, 1000.0), None);
    assert_eq!(decimal_in("1000.1", 1.0, 1000.0), None);
    assert_eq!(decimal_in("1e400", 0.0, f64::MAX), None);
}

#[test]
fn the_engine_defaults_are_the_daemons() {
    assert_eq!(
        EngineConfig::from(&Config::default()),
        EngineConfig::default()
    );
}

#[test]
fn defaults_match_upstream() {
    let c = Config::default();
    assert_eq!(c.port, 5403);
    assert_eq!(c.tls, TlsMode::Supported);
    assert!(c.client_cert_required);
    assert_eq!(c.settings.max_client_receive_size, 32768);
    assert_eq!(c.settings.heartbeat_interval_max, 120000);
    assert_eq!(c.settings.dpd_interval_coefficient, 1.5);
    assert_eq!(c.store_dir(), std::path::Path::new(DEFAULT_STORE_DIR));
}

#[test]
fn keys_are_case_insensitive_and_lists_split_on_commas() {
    let mut c = Config::default();
    c.apply_settings("LISTEN_BACKLOG=20,Dpd_Enabled=off,lock_file=/tmp/x.pid")
        .unwrap();
    assert_eq!(c.settings.listen_backlog, 20);
    assert!(!c.settings.dpd_enabled);
    assert_eq!(c.settings.lock_file, PathBuf::from("/tmp/x.pid"));
}

#[test]
fn unknown_key_and_bad_values_are_errors() {
    let mut c = Config::default();
    let e = c.apply_settings("no_such_key=1").unwrap_err();
    assert!(e.0.contains("unknown option 'no_such_key'"), "{e}");
    for bad in [
        "listen_backlog=0",
        "max_client_send_buffers=1",
        "max_client_receive_size=15",
        "dpd_enabled=maybe",
        "dpd_interval_coefficient=0.5",
        "dpd_interval_coefficient=nan",
        "heartbeat_interval_min=0",
        "heartbeat_interval_max=4294967296",
        "local_socket_umask=999",
        "ipc_max_receive_size=1023",
        "lock_file=",
        "listen_backlog=12abc",
    ] {
        let e = Config::default().apply_settings(bad).unwrap_err();
        assert!(e.0.starts_with("invalid value"), "{bad}: {e}");
    }
}

#[test]
fn ignored_and_deprecated_keys_warn() {
    let mut c = Config::default();
    c.apply_settings("cert_nickname=Foo,dpd_interval=100")
        .unwrap();
    assert_eq!(c.warnings.len(), 2);
    assert!(c.warnings[1].contains("deprecated"));
}

#[test]
fn handshake_timeout_zero_disables() {
    let mut c = Config::default();
    c.apply_settings("handshake_timeout=0").unwrap();
    assert_eq!(c.settings.handshake_timeout, None);
    c.apply_settings("handshake_timeout=1500").unwrap();
    assert_eq!(
        c.settings.handshake_timeout,
        Some(Duration::from_millis(1500))
    );
}

#[test]
fn an_empty_key_is_refused() {
    let mut c = Config::default();
    for list in [
        "=",
        ",",
        "",
        "=1",
        "listen_backlog=20,",
        ",listen_backlog=20",
    ] {
        let e = c.apply_settings(list).unwrap_err();
        assert!(e.0.starts_with("empty option name in -S"), "{list:?}: {e}");
    }
}

#[test]
fn preinit_caps_default_and_zero_is_unlimited() {
    let mut c = Config::default();
    assert_eq!(c.settings.max_preinit_clients, 256);
    assert_eq!(c.settings.max_preinit_per_address, 64);
    c.apply_settings("max_preinit_clients=0,MAX_PREINIT_PER_ADDRESS=3")
        .unwrap();
    assert_eq!(c.settings.max_preinit_clients, 0);
    assert_eq!(c.settings.max_preinit_per_address, 3);
    assert!(c.apply_settings("max_preinit_clients=-1").is_err());
}

#[test]
fn http_listen_is_off_by_default_and_takes_addr_port() {
    let mut c = Config::default();
    assert_eq!(c.settings.http_listen, None);
    c.apply_settings("http_listen=127.0.0.1:5404").unwrap();
    assert_eq!(
        c.settings.http_listen,
        Some("127.0.0.1:5404".parse().unwrap())
    );
    c.apply_settings("http_listen=[::1]:80").unwrap();
    assert_eq!(c.settings.http_listen, Some("[::1]:80".parse().unwrap()));
    c.apply_settings("http_listen=").unwrap();
    assert_eq!(c.settings.http_listen, None);
    for bad in [
        "5404",
        "localhost:5404",
        "::1:5404",
        "127.0.0.1:0",
        "1.2.3.4:70000",
    ] {
        assert!(
            c.apply_settings(&format!("http_listen={bad}")).is_err(),
            "{bad}"
        );
    }
}

#[test]
fn tls_and_bool_words() {
    let mut c = Config::default();
    for (w, m) in [
        ("off", TlsMode::Unsupported),
        ("REQ", TlsMode::Required),
        ("required", TlsMode::Required),
        ("On", TlsMode::Supported),
    ] {
        c.set_tls(w).unwrap();
        assert_eq!(c.tls, m);
    }
    assert!(c.set_tls("yes").is_err());
    c.set_client_cert_required("no").unwrap();
    assert!(!c.client_cert_required);
    assert!(c.set_client_cert_required("2").is_err());
    assert!(c.set_port("0").is_err());
    assert!(c.set_port("65536").is_err());
    c.set_port("15403").unwrap();
    assert_eq!(c.port, 15403);
    assert!(c.set_max_clients("-1").is_err());
}

#[test]
fn umask_gid_and_min_max_validation() {
    let mut c = Config::default();
    c.apply_settings("local_socket_umask=007,local_socket_gid=0")
        .unwrap();
    assert_eq!(c.settings.local_socket_umask, Some(0o7));
    assert_eq!(c.settings.local_socket_gid, Some(0));
    c.apply_settings("local_socket_gid=root").unwrap();
    assert_eq!(c.settings.local_socket_gid, Some(0));
    assert!(c
        .clone()
        .apply_settings("local_socket_gid=no-such-group-x")
        .is_err());
    c.apply_settings("heartbeat_interval_min=5000,heartbeat_interval_max=4000")
        .unwrap();
    assert!(c.validate().is_err());
}
