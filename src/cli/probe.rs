//! `qnetd probe`: connect to a qnetd like a qdevice node would (PREINIT → STARTTLS → INIT, then
//! a few echoes) and report each step. For smoke tests on the router itself and for checking a
//! deployment from a cluster node. Router builds leave it out (feature `probe`: rustls' client
//! side); there the command only says so.

#[cfg(feature = "probe")]
use crate::probe::{self, ClientTls, InitParams, SessionParams};
use crate::proto::types::Algorithm;
#[cfg(feature = "probe")]
use crate::proto::types::MsgType;
use argh::FromArgs;
#[cfg(feature = "probe")]
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
#[cfg(feature = "probe")]
use std::time::{Duration, Instant};

/// The name corosync-qdevice expects in the server certificate (`net_nss_qnetd_cn`).
pub const SERVER_NAME: &str = "Qnetd Server";

/// What a build without the `probe` feature answers.
pub const NO_PROBE_BUILD: &str = "this build has no probe (router builds leave the TLS client \
     side out); probe this router from a host, e.g. with the x86_64 build of the release";

/// talk to a qnetd server as a qdevice node would and report each step (exit 0 = INIT accepted)
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "probe")]
pub struct ProbeArgs {
    /// server host (default 127.0.0.1)
    #[argh(option, default = "String::from(\"127.0.0.1\")")]
    pub host: String,
    /// server port (default 5403)
    #[argh(option, default = "5403")]
    pub port: u16,
    /// cluster name to announce (default probe)
    #[argh(option, default = "String::from(\"probe\")")]
    pub cluster: String,
    /// node id to announce (default 1)
    #[argh(option, default = "1")]
    pub node_id: u32,
    /// decision algorithm: test, ffsplit, 2nodelms or lms (default ffsplit)
    #[argh(option, default = "Algorithm::Ffsplit", from_str_fn(algorithm))]
    pub algorithm: Algorithm,
    /// CA certificate (PEM or DER) that signed the server certificate; enables STARTTLS
    #[argh(option)]
    pub ca: Option<PathBuf>,
    /// our client certificate (PEM or DER), CN = cluster name
    #[argh(option)]
    pub cert: Option<PathBuf>,
    /// our PKCS#8 private key (PEM or DER)
    #[argh(option)]
    pub key: Option<PathBuf>,
    /// name the server certificate must carry (default "Qnetd Server")
    #[argh(option, default = "String::from(SERVER_NAME)")]
    pub server_name: String,
    /// echo requests to send after INIT (default 3)
    #[argh(option, default = "3")]
    pub echoes: u32,
}

fn algorithm(name: &str) -> Result<Algorithm, String> {
    match name.to_ascii_lowercase().as_str() {
        "test" => Ok(Algorithm::Test),
        "ffsplit" => Ok(Algorithm::Ffsplit),
        "2nodelms" => Ok(Algorithm::TwoNodeLms),
        "lms" => Ok(Algorithm::Lms),
        _ => Err("not one of test, ffsplit, 2nodelms, lms".into()),
    }
}

#[cfg(not(feature = "probe"))]
pub fn main(_args: ProbeArgs) -> ExitCode {
    errln!("qnetd probe: {NO_PROBE_BUILD}");
    ExitCode::from(super::EXIT_USAGE)
}

#[cfg(feature = "probe")]
#[inline(never)] // see cli::main
pub fn main(args: ProbeArgs) -> ExitCode {
    let tls_flags = (args.ca.is_some(), args.cert.is_some(), args.key.is_some());
    if !matches!(
        tls_flags,
        (false, false, false) | (true, false, false) | (true, true, true)
    ) {
        return super::usage_error("probe", "--cert and --key go together, and need --ca");
    }
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            errln!("qnetd probe: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(feature = "probe")]
fn run(args: &ProbeArgs) -> Result<(), String> {
    let addr: SocketAddr = (args.host.as_str(), args.port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {}: {e}", args.host))?
        .next()
        .ok_or_else(|| format!("{} has no address", args.host))?;
    let tls = match (&args.ca, &args.cert, &args.key) {
        (None, None, None) => None,
        (Some(ca), None, None) => Some(ClientTls::from_files(ca, None, &args.server_name)),
        (Some(ca), Some(cert), Some(key)) => Some(ClientTls::from_files(
            ca,
            Some((cert.as_path(), key.as_path())),
            &args.server_name,
        )),
        _ => return Err("--cert and --key go together, and need --ca".into()),
    }
    .transpose()
    .map_err(|e| e.to_string())?;
    let params = SessionParams {
        cluster: args.cluster.clone(),
        tls,
        init: InitParams {
            node_id: args.node_id,
            algorithm: args.algorithm,
            ..InitParams::default()
        },
    };
    smol::block_on(async {
        let started = Instant::now();
        let (mut probe, reply) = probe::session(addr, &params)
            .await
            .map_err(|e| e.to_string())?;
        let code = reply.reply_error_code.unwrap_or(0);
        if reply.msg_type != MsgType::InitReply || code != 0 {
            return Err(format!(
                "INIT refused: {:?} with error code {code}",
                reply.msg_type
            ));
        }
        outln!(
            "INIT accepted by {addr} in {} ms (TLS: {})",
            started.elapsed().as_millis(),
            probe
                .tls_version()
                .unwrap_or_else(|| "not used".to_string())
        );
        for _ in 0..args.echoes {
            let t = Instant::now();
            probe.echo().await.map_err(|e| e.to_string())?;
            outln!("echo reply in {} us", t.elapsed().as_micros());
            smol::Timer::after(Duration::from_millis(10)).await;
        }
        Ok(())
    })
}
