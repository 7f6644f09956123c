//! A small qdevice-net protocol client: our tests, the smoke test (`qnetd probe`) and the load
//! generator drive the daemon with it. It speaks like corosync-qdevice: PREINIT, optional
//! STARTTLS with a client certificate, INIT, then node lists / echoes.
//!
//! The server's name "Qnetd Server" contains a space, so rustls cannot check it as a DNS
//! name: [`ClientTls`] verifies the chain against our CA and the name (CN or SAN, as NSS does)
//! itself, and sends no SNI.

use crate::certname::{cert_name_matches, peer_identity, PeerIdentity};
use crate::proto::codec;
use crate::proto::types::{
    Algorithm, Heuristics, Message, MsgType, NodeInfo, NodeListType, RingId, TieBreaker,
};
use crate::tls::stream::{Conn, Replay};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::verify_server_cert_signed_by_trust_anchor;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{
    AlertDescription, CertificateError, ClientConfig, DigitallySignedStruct, OtherError,
    RootCertStore, SignatureScheme,
};
use smol::future::FutureExt;
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::{Async, Timer};
use std::fmt;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

pub use crate::cli::probe::SERVER_NAME;

type ProbeConn = Conn<Async<TcpStream>, futures_rustls::client::TlsStream<Prefixed>>;

/// The TLS transport of the probe: the plain stream, plus bytes to send in front of the first
/// TLS write (STARTTLS in the same segment as the ClientHello, see
/// [`Probe::starttls_pipelined`]).
pub struct Prefixed {
    prefix: Vec<u8>,
    inner: Replay<Async<TcpStream>>,
}

impl smol::io::AsyncRead for Prefixed {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl smol::io::AsyncWrite for Prefixed {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = &mut *self;
        while !this.prefix.is_empty() {
            let mut both = this.prefix.clone();
            both.extend_from_slice(buf);
            match Pin::new(&mut this.inner).poll_write(cx, &both) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(n)) if n <= this.prefix.len() => {
                    this.prefix.drain(..n);
                }
                Poll::Ready(Ok(n)) => {
                    let used = n - this.prefix.len();
                    this.prefix.clear();
                    return Poll::Ready(Ok(used));
                }
            }
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

#[derive(Debug)]
pub enum ProbeError {
    Io(std::io::Error),
    /// The server closed the connection.
    Closed,
    /// No answer within the probe's timeout.
    Timeout,
    /// The server sent something we could not decode.
    Decode(String),
    /// A reply of the wrong kind.
    Unexpected(String),
    /// Certificates could not be loaded or the TLS handshake failed.
    Tls(String),
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeError::Io(e) => write!(f, "I/O error: {e}"),
            ProbeError::Closed => write!(f, "the server closed the connection"),
            ProbeError::Timeout => write!(f, "no reply in time"),
            ProbeError::Decode(e) => write!(f, "cannot decode the server's message: {e}"),
            ProbeError::Unexpected(e) => write!(f, "unexpected reply: {e}"),
            ProbeError::Tls(e) => write!(f, "TLS: {e}"),
        }
    }
}

impl std::error::Error for ProbeError {}

impl From<std::io::Error> for ProbeError {
    fn from(e: std::io::Error) -> Self {
        match e.kind() {
            // A TLS peer that closes without close_notify has closed all the same.
            std::io::ErrorKind::UnexpectedEof => ProbeError::Closed,
            _ => ProbeError::Io(e),
        }
    }
}

pub type Result<T> = std::result::Result<T, ProbeError>;

/// The client's side of TLS: the CA that must have signed the server certificate, the name
/// the server certificate must carry, and optionally our client certificate + PKCS#8 key.
#[derive(Clone)]
pub struct ClientTls {
    config: Arc<ClientConfig>,
    /// Where the CA came from, for the messages: "the CA in PATH".
    ca_label: String,
    /// The names of our client certificate, if we present one.
    client_names: Option<PeerIdentity>,
}

impl ClientTls {
    /// From DER material. `client` = (certificate, PKCS#8 key).
    pub fn new(
        ca_der: &[u8],
        client: Option<(Vec<u8>, Vec<u8>)>,
        server_name: &str,
    ) -> Result<ClientTls> {
        let provider = Arc::new(crate::tls::crypto::provider());
        let mut roots = RootCertStore::empty();
        roots
            .add(CertificateDer::from(ca_der.to_vec()))
            .map_err(|e| ProbeError::Tls(format!("CA certificate: {e}")))?;
        let verifier = Arc::new(CaAndName {
            roots,
            name: server_name.to_string(),
            provider: provider.clone(),
        });
        let client_names = client.as_ref().map(|(cert, _)| peer_identity(cert));
        let builder = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(rustls::ALL_VERSIONS)
            .map_err(|e| ProbeError::Tls(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let mut config = match client {
            Some((cert, key)) => builder
                .with_client_auth_cert(
                    vec![CertificateDer::from(cert)],
                    PrivateKeyDer::Pkcs8(key.into()),
                )
                .map_err(|e| ProbeError::Tls(format!("client certificate: {e}")))?,
            None => builder.with_no_client_auth(),
        };
        // "Qnetd Server" is not a DNS name; NSS sends it anyway, rustls cannot.
        config.enable_sni = false;
        Ok(ClientTls {
            config: Arc::new(config),
            ca_label: "the given CA".to_string(),
            client_names,
        })
    }

    /// The rustls configuration, for other qdevice-net style clients (tools/loadgen).
    pub fn config(&self) -> Arc<ClientConfig> {
        self.config.clone()
    }

    /// From files, PEM or DER: the CA certificate, and optionally our certificate and key.
    pub fn from_files(
        ca: &Path,
        client: Option<(&Path, &Path)>,
        server_name: &str,
    ) -> Result<ClientTls> {
        let ca_der = read_cert(ca)?;
        let client = match client {
            Some((cert, key)) => Some((read_cert(cert)?, read_key(key)?)),
            None => None,
        };
        let mut tls = ClientTls::new(&ca_der, client, server_name)?;
        tls.ca_label = format!("the CA in {}", ca.display());
        Ok(tls)
    }

    /// A failed handshake in words: what is wrong with the server's certificate, or that the
    /// server refused ours (TLS 1.2 refuses it within the handshake).
    fn describe_handshake_error(&self, e: &std::io::Error) -> String {
        let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) else {
            return match (e.kind(), &self.client_names) {
                (
                    std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset,
                    Some(_),
                ) => self.refused(None, None),
                _ => format!("handshake failed: {e}"),
            };
        };
        match tls {
            rustls::Error::InvalidCertificate(cert) => server_cert_problem(cert, &self.ca_label),
            rustls::Error::AlertReceived(alert) if self.client_names.is_some() => {
                self.refused(Some(*alert), None)
            }
            rustls::Error::AlertReceived(
                AlertDescription::CertificateRequired | AlertDescription::HandshakeFailure,
            ) => "the server wants a client certificate: give --cert and --key (the \
                  cluster's certificate, signed by the server's CA)"
                .to_string(),
            other => format!("handshake failed: {other}"),
        }
    }

    /// The server refused our client certificate (an alert, or a close right after the
    /// handshake): say so and the likely why, from the alert or from our certificate's names
    /// and the cluster name we announced. `cluster` is None during the handshake.
    fn refused(&self, alert: Option<AlertDescription>, cluster: Option<&str>) -> String {
        let how = match alert {
            Some(a) => format!(" (TLS alert {a:?})"),
            None => " (it closed the connection)".to_string(),
        };
        let names = self.client_names.clone().unwrap_or_default();
        let ours = names_text(&names);
        let why = match alert {
            Some(AlertDescription::UnknownCA | AlertDescription::DecryptError) => {
                "it is not signed by the server's CA: have that qnetd sign the cluster's \
                 request (`qnetd cert sign`)"
                    .to_string()
            }
            Some(AlertDescription::CertificateRevoked) => {
                "it has been revoked on the server (`qnetd cert list` there)".to_string()
            }
            Some(AlertDescription::CertificateExpired) => {
                "it has expired or is not valid yet (check both clocks)".to_string()
            }
            _ => match cluster {
                Some(c) if !cert_name_matches(&names, c.as_bytes()) => format!(
                    "its name ({ours}) is not the cluster name '{c}' we announced (--cluster)"
                ),
                _ => "likely it is not signed by the server's CA, or it was revoked".to_string(),
            },
        };
        format!(
            "the server refused our client certificate{how}: {why}; the server's log has the reason"
        )
    }

    /// The error of the first request after the handshake in words, when it means the server
    /// refused our certificate: with TLS 1.3 the server checks it after our side is done.
    fn after_handshake(&self, e: ProbeError, cluster: &str) -> ProbeError {
        if self.client_names.is_none() {
            return e;
        }
        let alert = match &e {
            ProbeError::Closed => None,
            ProbeError::Io(io) => {
                match io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                    Some(rustls::Error::AlertReceived(a)) => Some(*a),
                    Some(_) => return e,
                    None if matches!(
                        io.kind(),
                        std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
                    ) =>
                    {
                        None
                    }
                    None => return e,
                }
            }
            _ => return e,
        };
        ProbeError::Tls(self.refused(alert, Some(cluster)))
    }
}

/// What is wrong with the server's certificate, in words (rustls names the case only).
fn server_cert_problem(e: &CertificateError, ca_label: &str) -> String {
    if let Some(detail) = crate::tls::words::other_ca_detail(e) {
        return format!("the server's certificate is not signed by {ca_label}{detail}");
    }
    match e {
        // The name check of CaAndName: its words.
        CertificateError::Other(words) if words.0.downcast_ref::<webpki::Error>().is_none() => {
            words.to_string()
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            "the server's certificate has expired".to_string()
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            "the server's certificate is not valid yet (check the clocks)".to_string()
        }
        other => format!(
            "the server's certificate is refused: {}",
            crate::tls::words::certificate_refusal(other)
        ),
    }
}

/// A certificate's names for a message: 'CN' and the DNS names, or "no name".
fn names_text(names: &PeerIdentity) -> String {
    let all: Vec<String> = names
        .common_names
        .iter()
        .map(|n| format!("CN '{}'", crate::escape::escape_str(n)))
        .chain(
            names
                .dns_names
                .iter()
                .map(|n| format!("DNS name '{}'", crate::escape::escape_str(n))),
        )
        .collect();
    if all.is_empty() {
        "no name".to_string()
    } else {
        all.join(", ")
    }
}

/// The server certificate does not carry the name we expect (NSS's check in qdevice).
#[derive(Debug)]
struct WrongServerName {
    expected: String,
    presented: String,
}

impl fmt::Display for WrongServerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the server's certificate is for {}, not for '{}' (the name checked: \
             --server-name, by default '{SERVER_NAME}' as qdevice)",
            self.presented, self.expected
        )
    }
}

impl std::error::Error for WrongServerName {}

fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| ProbeError::Tls(format!("cannot read {}: {e}", path.display())))
}

fn read_cert(path: &Path) -> Result<Vec<u8>> {
    let data = read_file(path)?;
    Ok(match CertificateDer::from_pem_slice(&data) {
        Ok(der) => der.to_vec(),
        Err(_) => data,
    })
}

fn read_key(path: &Path) -> Result<Vec<u8>> {
    let data = read_file(path)?;
    Ok(match PrivateKeyDer::from_pem_slice(&data) {
        Ok(PrivateKeyDer::Pkcs8(k)) => k.secret_pkcs8_der().to_vec(),
        Ok(_) => {
            return Err(ProbeError::Tls(format!(
                "{}: only PKCS#8 keys are supported",
                path.display()
            )))
        }
        Err(_) => data,
    })
}

/// Checks the server certificate like NSS in corosync-qdevice: chain to our CA, name match.
#[derive(Debug)]
struct CaAndName {
    roots: RootCertStore,
    name: String,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for CaAndName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let cert = ParsedCertificate::try_from(end_entity)?;
        verify_server_cert_signed_by_trust_anchor(
            &cert,
            &self.roots,
            intermediates,
            now,
            self.provider.signature_verification_algorithms.all,
        )?;
        let names = peer_identity(end_entity.as_ref());
        if !cert_name_matches(&names, self.name.as_bytes()) {
            let wrong = WrongServerName {
                expected: self.name.clone(),
                presented: names_text(&names),
            };
            return Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                OtherError(Arc::new(wrong)),
            )));
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// What INIT announces.
#[derive(Debug, Clone)]
pub struct InitParams {
    pub node_id: u32,
    pub algorithm: Algorithm,
    pub heartbeat_ms: u32,
    pub tie_breaker: TieBreaker,
    pub ring_id: RingId,
}

impl Default for InitParams {
    fn default() -> Self {
        InitParams {
            node_id: 1,
            algorithm: Algorithm::Ffsplit,
            heartbeat_ms: 8000,
            tie_breaker: TieBreaker::Lowest,
            ring_id: RingId { node_id: 1, seq: 4 },
        }
    }
}

/// One connection to a qnetd server.
pub struct Probe {
    conn: ProbeConn,
    buf: Vec<u8>,
    seq: u32,
    /// Bound on every wait for a reply.
    pub timeout: Duration,
}

impl Probe {
    pub async fn connect(addr: SocketAddr) -> Result<Probe> {
        let stream = Async::<TcpStream>::connect(addr).await?;
        Ok(Probe::from_stream(stream))
    }

    /// A probe on a connection the caller made (from a chosen source address, say).
    pub fn from_stream(stream: Async<TcpStream>) -> Probe {
        Probe {
            conn: Conn::Plain(Replay::new(stream)),
            buf: Vec::new(),
            seq: 0,
            timeout: Duration::from_secs(10),
        }
    }

    /// The negotiated TLS version, if STARTTLS was done.
    pub fn tls_version(&self) -> Option<String> {
        match &self.conn {
            Conn::Tls(tls) => Some(
                tls.get_ref()
                    .1
                    .protocol_version()
                    .map_or_else(|| "TLS".to_string(), |v| format!("{v:?}")),
            ),
            _ => None,
        }
    }

    /// The next request sequence number (1, 2, ...).
    pub fn next_seq(&mut self) -> u32 {
        self.seq += 1;
        self.seq
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) -> Result<()> {
        self.conn.write_all(bytes).await?;
        self.conn.flush().await?;
        Ok(())
    }

    pub async fn send(&mut self, msg: &Message) -> Result<()> {
        self.send_raw(&codec::encode(msg)).await
    }

    /// The next whole message from the server, raw (header included).
    pub async fn recv_raw(&mut self) -> Result<Vec<u8>> {
        let limit = self.timeout;
        let read = async {
            loop {
                if self.buf.len() >= codec::HEADER_LEN {
                    let len = codec::raw_payload_len(&self.buf).unwrap_or(0) as usize;
                    let total = codec::HEADER_LEN + len;
                    if self.buf.len() >= total {
                        return Ok(self.buf.drain(..total).collect());
                    }
                }
                let mut chunk = [0u8; 8192];
                let n = self.conn.read(&mut chunk).await?;
                if n == 0 {
                    return Err(ProbeError::Closed);
                }
                self.buf.extend_from_slice(&chunk[..n]);
            }
        };
        read.or(async {
            Timer::after(limit).await;
            Err(ProbeError::Timeout)
        })
        .await
    }

    pub async fn recv(&mut self) -> Result<Message> {
        let raw = self.recv_raw().await?;
        codec::decode(&raw).map_err(|e| ProbeError::Decode(e.to_string()))
    }

    /// Receive until a message of type `want` (returned last), collecting what came before it
    /// (e.g. VOTE_INFO ahead of a NODE_LIST_REPLY).
    pub async fn recv_until(&mut self, want: MsgType) -> Result<Vec<Message>> {
        let mut got = Vec::new();
        loop {
            let msg = self.recv().await?;
            let done = msg.msg_type == want;
            got.push(msg);
            if done {
                return Ok(got);
            }
        }
    }

    /// Wait until the server closes the connection (or `timeout`): Ok(()) if it did.
    pub async fn wait_closed(&mut self) -> Result<()> {
        loop {
            match self.recv_raw().await {
                Ok(_) => continue,
                Err(ProbeError::Closed) => return Ok(()),
                // A reset or a TLS alert: closed just the same.
                Err(ProbeError::Io(_)) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }

    /// PREINIT{SEQ, CLUSTER_NAME} → the reply (PREINIT_REPLY or SERVER_ERROR).
    pub async fn preinit(&mut self, cluster: &str) -> Result<Message> {
        let mut msg = Message::new(MsgType::Preinit);
        msg.seq = Some(self.next_seq());
        msg.cluster_name = Some(cluster.as_bytes().to_vec());
        self.send(&msg).await?;
        self.recv().await
    }

    /// STARTTLS, then the TLS handshake as client. The server sends no reply to STARTTLS.
    pub async fn starttls(&mut self, tls: &ClientTls) -> Result<()> {
        self.send_starttls().await?;
        self.handshake(tls, Vec::new()).await
    }

    /// STARTTLS alone, with no handshake after it: for a server that must refuse it or
    /// give up waiting for the ClientHello.
    pub async fn send_starttls(&mut self) -> Result<()> {
        let msg = self.starttls_msg();
        self.send(&msg).await
    }

    /// STARTTLS written together with the ClientHello in one write, so the server reads both
    /// at once and must hand the bytes after STARTTLS to TLS.
    pub async fn starttls_pipelined(&mut self, tls: &ClientTls) -> Result<()> {
        let msg = self.starttls_msg();
        self.handshake(tls, codec::encode(&msg)).await
    }

    fn starttls_msg(&mut self) -> Message {
        let mut msg = Message::new(MsgType::StartTls);
        msg.seq = Some(self.next_seq());
        msg
    }

    async fn handshake(&mut self, tls: &ClientTls, prefix: Vec<u8>) -> Result<()> {
        let Conn::Plain(inner) = std::mem::replace(&mut self.conn, Conn::Closed) else {
            return Err(ProbeError::Tls("TLS already started".into()));
        };
        let plain = Prefixed { prefix, inner };
        let connector = futures_rustls::TlsConnector::from(tls.config.clone());
        let name =
            ServerName::try_from("qnetd-server").map_err(|e| ProbeError::Tls(e.to_string()))?;
        let limit = self.timeout;
        let handshake = async {
            connector
                .connect(name, plain)
                .await
                .map_err(|e| ProbeError::Tls(tls.describe_handshake_error(&e)))
        };
        let stream = handshake
            .or(async {
                Timer::after(limit).await;
                Err(ProbeError::Timeout)
            })
            .await?;
        self.conn = Conn::Tls(Box::new(stream));
        Ok(())
    }

    /// INIT with what corosync-qdevice announces → the reply (INIT_REPLY or SERVER_ERROR).
    pub async fn init(&mut self, p: &InitParams) -> Result<Message> {
        let mut msg = Message::new(MsgType::Init);
        msg.seq = Some(self.next_seq());
        msg.supported_messages = Some(codec::advertised_messages());
        msg.supported_options = Some(codec::advertised_options());
        msg.node_id = Some(p.node_id);
        msg.heartbeat_interval = Some(p.heartbeat_ms);
        msg.tie_breaker = Some(p.tie_breaker);
        msg.decision_algorithm = Some(p.algorithm as u16);
        msg.ring_id = Some(p.ring_id);
        self.send(&msg).await?;
        self.recv().await
    }

    /// ECHO_REQUEST → ECHO_REPLY.
    pub async fn echo(&mut self) -> Result<Message> {
        let mut msg = Message::new(MsgType::EchoRequest);
        msg.seq = Some(self.next_seq());
        self.send(&msg).await?;
        let reply = self.recv().await?;
        if reply.msg_type != MsgType::EchoReply || reply.seq != msg.seq {
            return Err(ProbeError::Unexpected(format!("{reply:?}")));
        }
        Ok(reply)
    }

    /// NODE_LIST of `list_type` → every message up to and including NODE_LIST_REPLY (VOTE_INFO
    /// for this client may come first).
    pub async fn node_list(
        &mut self,
        list_type: NodeListType,
        ring_id: Option<RingId>,
        config_version: Option<u64>,
        nodes: &[NodeInfo],
        heuristics: Heuristics,
    ) -> Result<Vec<Message>> {
        let mut msg = Message::new(MsgType::NodeList);
        msg.seq = Some(self.next_seq());
        msg.node_list_type = Some(list_type);
        msg.ring_id = ring_id;
        msg.config_version = config_version;
        msg.nodes = nodes.to_vec();
        msg.heuristics = (heuristics != Heuristics::Undefined).then_some(heuristics);
        self.send(&msg).await?;
        self.recv_until(MsgType::NodeListReply).await
    }

    /// Answer a VOTE_INFO as qdevice does.
    pub async fn vote_info_reply(&mut self, vote_info: &Message) -> Result<()> {
        let mut msg = Message::new(MsgType::VoteInfoReply);
        msg.seq = vote_info.seq;
        self.send(&msg).await
    }
}

/// How a full session should go.
#[derive(Clone)]
pub struct SessionParams {
    pub cluster: String,
    /// Some: STARTTLS when the server offers TLS.
    pub tls: Option<ClientTls>,
    pub init: InitParams,
}

/// Connect, PREINIT, STARTTLS (if `tls` and the server offers it), INIT. Returns the open
/// probe and the INIT reply (INIT_REPLY or SERVER_ERROR: the caller judges it).
pub async fn session(addr: SocketAddr, p: &SessionParams) -> Result<(Probe, Message)> {
    let mut probe = Probe::connect(addr).await?;
    let pre = probe.preinit(&p.cluster).await?;
    if pre.msg_type != MsgType::PreinitReply {
        return Err(ProbeError::Unexpected(format!("to PREINIT: {pre:?}")));
    }
    let offers_tls = pre
        .tls_supported
        .is_some_and(|m| m != crate::proto::types::TlsMode::Unsupported);
    let tls = p.tls.as_ref().filter(|_| offers_tls);
    if let Some(tls) = tls {
        probe.starttls(tls).await?;
    }
    match probe.init(&p.init).await {
        Ok(reply) => Ok((probe, reply)),
        Err(e) => Err(match tls {
            Some(tls) => tls.after_handshake(e, &p.cluster),
            None => e,
        }),
    }
}
