//! Error replies the engine sends, in words a user can act on, for the daemon's log. The
//! engine answers a refused INIT with an INIT_REPLY error code; the user only sees our log.

use crate::proto::codec;
use crate::proto::types::{MsgType, ReplyError};
use crate::settings::Config;

/// If `frame` (an encoded message we are about to send) is an error reply, the log line for it:
/// (is it a refusal of the client, the words).
pub fn error_reply(frame: &[u8], cfg: &Config) -> Option<(bool, String)> {
    let msg_type = MsgType::from_u16(codec::raw_type(frame)?)?;
    if !matches!(msg_type, MsgType::InitReply | MsgType::ServerError) {
        return None;
    }
    let code = codec::decode(frame).ok()?.reply_error_code?;
    if code == ReplyError::NoError.code() {
        return None;
    }
    let refused = msg_type == MsgType::InitReply || code == ReplyError::TlsRequired.code();
    Some((refused, words(code, cfg)))
}

fn words(code: u16, cfg: &Config) -> String {
    let s = &cfg.settings;
    let text = match code {
        1 => "the client needs a message type this server does not support".to_string(),
        2 => "the client needs an option this server does not support".to_string(),
        3 => "TLS is required on this server (tls req) but the client did not start TLS; \
              set `tls: on` in the quorum device section of corosync.conf"
            .to_string(),
        4 => "the client sent an unknown message type".to_string(),
        5 => format!(
            "the client sent a message longer than max_client_receive_size ({} bytes)",
            s.max_client_receive_size
        ),
        6 => "the client sent a message before PREINIT".to_string(),
        7 => "the client's message lacks a required option".to_string(),
        8 => "the client sent a message only a server may send".to_string(),
        9 => "the client sent a message that cannot be decoded".to_string(),
        10 => "internal error while answering the client".to_string(),
        11 => "the client sent a message before INIT".to_string(),
        12 => "the client asked for a decision algorithm this server does not support".to_string(),
        13 => format!(
            "the client's heartbeat interval is outside heartbeat_interval_min..max \
             ({}..{} ms); change the qdevice timeout or these settings",
            s.heartbeat_interval_min, s.heartbeat_interval_max
        ),
        14 => "the client sent a message its decision algorithm does not support".to_string(),
        15 => "the client's tie-breaker differs from the other nodes of its cluster".to_string(),
        16 => "the client's decision algorithm differs from the other nodes of its cluster"
            .to_string(),
        17 => "another connected client of the same cluster has the same node id".to_string(),
        18 => "the client sent an invalid configuration node list".to_string(),
        19 => "the client sent an invalid membership node list".to_string(),
        other => format!("error code {other}"),
    };
    format!("{text} (error {code})")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::types::Message;

    #[test]
    fn init_refusal_is_explained_and_success_is_not() {
        let cfg = Config::default();
        let mut reply = Message::new(MsgType::InitReply);
        reply.reply_error_code = Some(ReplyError::InvalidHeartbeatInterval.code());
        let (refused, words) = error_reply(&codec::encode(&reply), &cfg).unwrap();
        assert!(refused);
        assert!(words.contains("1000..120000 ms"), "{words}");
        reply.reply_error_code = Some(0);
        assert_eq!(error_reply(&codec::encode(&reply), &cfg), None);
        let tls = codec::server_error(Some(1), ReplyError::TlsRequired);
        assert!(error_reply(&tls, &cfg).unwrap().0);
        let echo = codec::encode(&Message::new(MsgType::EchoReply));
        assert_eq!(error_reply(&echo, &cfg), None);
    }
}
