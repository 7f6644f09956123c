//! Why the engine disconnects a client: one enum from the engine to the driver's log line.
//! Its words (`Display`) are the log's; the driver decides on the variant, never on the text.

use std::fmt;

use crate::certname::CertRefusal;
use crate::escape::escape;
use crate::proto::types::ReplyError;

/// The reason in [`super::Output::Disconnect`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// The TLS gate refused the client's certificate for its cluster.
    Certificate(CertRefusal),
    /// The driver refused this INIT for a limit of its own (`why`, its words); the client
    /// was answered `code`.
    InitRefused {
        node_id: u32,
        cluster: Vec<u8>,
        code: ReplyError,
        why: String,
    },
    /// PREINIT named another cluster than the one the connection's TLS is for.
    PreinitOtherCluster { asked: Vec<u8>, current: Vec<u8> },
    /// STARTTLS while the server has TLS off.
    TlsDisabled,
    /// STARTTLS on a connection already using TLS.
    TlsAlreadyStarted,
    /// Dead-peer detection: nothing from `addr` for `interval_ms`.
    DeadPeer { addr: String, interval_ms: u32 },
    /// A reply for the client is larger than `max_client_send_size`.
    ReplyTooLarge { len: usize, limit: usize },
}

impl CloseReason {
    /// Whether the words already name the client's address (the driver's log line then adds
    /// nothing before them).
    pub fn names_client(&self) -> bool {
        matches!(self, CloseReason::DeadPeer { .. })
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseReason::Certificate(refusal) => refusal.fmt(f),
            CloseReason::InitRefused {
                node_id,
                cluster,
                code,
                why,
            } => write!(
                f,
                "INIT of node {node_id} for cluster '{}' refused (error {}): {why}; disconnecting",
                escape(cluster),
                code.code()
            ),
            CloseReason::PreinitOtherCluster { asked, current } => write!(
                f,
                "PREINIT for cluster '{}' on a connection using TLS for cluster '{}'; \
                 disconnecting",
                String::from_utf8_lossy(asked),
                String::from_utf8_lossy(current),
            ),
            CloseReason::TlsDisabled => f.write_str(
                "Can't start TLS: TLS is disabled on this server (tls off); disconnecting client",
            ),
            CloseReason::TlsAlreadyStarted => f.write_str(
                "STARTTLS received on a connection already using TLS; disconnecting client",
            ),
            CloseReason::DeadPeer { addr, interval_ms } => write!(
                f,
                "client {addr} sent no message during {interval_ms} ms (dead peer detection); \
                 disconnecting"
            ),
            CloseReason::ReplyTooLarge { len, limit } => write!(
                f,
                "a {len}-byte message for this client exceeds max_client_send_size \
                 ({limit} bytes); disconnecting"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The log's words, as they were when the reason was a string (tests and operators grep
    /// them).
    #[test]
    fn words_are_the_logs() {
        let cases = [
            (
                CloseReason::InitRefused {
                    node_id: 3,
                    cluster: b"pve\x1b".to_vec(),
                    code: ReplyError::InternalError,
                    why: "too many".into(),
                },
                "INIT of node 3 for cluster 'pve\\x1b' refused (error 10): too many; disconnecting",
            ),
            (
                CloseReason::PreinitOtherCluster {
                    asked: b"b".to_vec(),
                    current: b"a".to_vec(),
                },
                "PREINIT for cluster 'b' on a connection using TLS for cluster 'a'; disconnecting",
            ),
            (
                CloseReason::TlsDisabled,
                "Can't start TLS: TLS is disabled on this server (tls off); disconnecting client",
            ),
            (
                CloseReason::TlsAlreadyStarted,
                "STARTTLS received on a connection already using TLS; disconnecting client",
            ),
            (
                CloseReason::DeadPeer {
                    addr: "192.0.2.1:5403".into(),
                    interval_ms: 12000,
                },
                "client 192.0.2.1:5403 sent no message during 12000 ms (dead peer detection); \
                 disconnecting",
            ),
            (
                CloseReason::ReplyTooLarge {
                    len: 40000,
                    limit: 32768,
                },
                "a 40000-byte message for this client exceeds max_client_send_size \
                 (32768 bytes); disconnecting",
            ),
            (
                CloseReason::Certificate(CertRefusal::NoCertificate),
                "client sent no certificate, but client certificates are required \
                 (client_cert_required on); disconnecting",
            ),
        ];
        for (reason, words) in cases {
            assert_eq!(reason.to_string(), words);
            assert_eq!(
                reason.names_client(),
                matches!(reason, CloseReason::DeadPeer { .. })
            );
        }
    }
}
