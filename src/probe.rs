//! A small qdevice-net protocol client: our tests, the smoke test (`qnetd probe`) and the load
//! generator drive the daemon with it. It speaks like corosync-qdevice: PREINIT, optional
//! STARTTLS with a client certificate, INIT, then node lists / echoes.
//!
//! The server's name "Qnetd Server" contains a space, so rustls cannot check it as a DNS
//! name: [`ClientTls`] verifies the chain against our CA and the name (CN or SAN, as NSS does)
//! itself, and sends no SNI.

use crate::engine::cert_name_matches;
use crate::proto::codec;
use crate::proto::types::{
    Algorithm, Heuristics, Message, MsgType, NodeInfo, NodeListType, RingId, TieBreaker,
};
use crate::server::stream::{Conn, Replay};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::verify_server_cert_signed_by_trust_anchor;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
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

/// The name corosync-qdevice expects in the server certificate (`net_nss_qnetd_cn`).
pub const SERVER_NAME: &str = "Qnetd Server";

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
}

impl ClientTls {
    /// From DER material. `client` = (certificate, PKCS#8 key).
    pub fn new(
        ca_der: &[u8],
        client: Option<(Vec<u8>, Vec<u8>)>,
        server_name: &str,
    ) -> Result<ClientTls> {
        let provider = Arc::new(crate::server::crypto::provider());
        let mut roots = RootCertStore::empty();
        roots
            .add(CertificateDer::from(ca_der.to_vec()))
            .map_err(|e| ProbeError::Tls(format!("CA certificate: {e}")))?;
        let verifier = Arc::new(CaAndName {
            roots,
            name: server_name.to_string(),
            provider: provider.clone(),
        });
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
        ClientTls::new(&ca_der, client, server_name)
    }
}

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
        let names = crate::server::tls::peer_identity(end_entity.as_ref());
        if !cert_name_matches(&names, self.name.as_bytes()) {
            return Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName,
            ));
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
                .map_err(|e| ProbeError::Tls(format!("handshake failed: {e}")))
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
    if let (Some(tls), true) = (&p.tls, offers_tls) {
        probe.starttls(tls).await?;
    }
    let reply = probe.init(&p.init).await?;
    Ok((probe, reply))
}
