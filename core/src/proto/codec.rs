//! Message encoding and decoding: the 6-byte header and the TLV payload.
//!
//! The decoder reproduces upstream's `msg_decode` / `tlv_iter_*` rules (docs/protocol.md, "TLV encoding" and "Decoding rules")
//! because the reply to a malformed message (ERROR_DECODING_MSG, with or without SEQ) is part of the
//! observable protocol. The encoder emits TLVs in upstream's order for each message type (docs/protocol.md, "Message types") so
//! our replies are byte-identical to corosync-qnetd's.

use super::types::{
    opt, DecodeError, DecodeErrorKind, Heuristics, Message, MsgType, NodeInfo, NodeListType,
    NodeState, ReplyError, RingId, TieBreaker, TlsMode, Vote,
};

/// Bytes of the message header: u16 type + u32 payload length.
pub const HEADER_LEN: usize = 6;
/// Bytes of a TLV header: u16 option type + u16 value length.
pub const TLV_HEADER_LEN: usize = 4;

/// SUPPORTED_MESSAGES as the server advertises it: every message type, ascending.
pub fn advertised_messages() -> Vec<u16> {
    MsgType::ALL.iter().map(|&t| t as u16).collect()
}

/// SUPPORTED_OPTIONS as the server advertises it: every option type 0..=23, ascending. The real
/// client looks for 22 (heuristics) and 23 (KAP tie-breaker) here.
pub fn advertised_options() -> Vec<u16> {
    (0..=opt::LAST).collect()
}

/// SUPPORTED_DECISION_ALGORITHMS as the server advertises it: 0..=3.
pub fn advertised_algorithms() -> Vec<u16> {
    super::types::Algorithm::ALL
        .iter()
        .map(|&a| a as u16)
        .collect()
}

/// The message type field of a raw message, if the header is long enough to hold it.
pub fn raw_type(raw: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes([*raw.first()?, *raw.get(1)?]))
}

/// The payload length field of a raw message header.
pub fn raw_payload_len(raw: &[u8]) -> Option<u32> {
    let b = raw.get(2..HEADER_LEN)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// A copy of `raw` with only the header's type field replaced: ECHO_REPLY is the received
/// ECHO_REQUEST verbatim (unknown TLVs included) with type 9.
pub fn with_type(raw: &[u8], msg_type: MsgType) -> Vec<u8> {
    let mut out = raw.to_vec();
    if let Some(t) = out.get_mut(..2) {
        t.copy_from_slice(&(msg_type as u16).to_be_bytes());
    }
    out
}

/// SERVER_ERROR{[SEQ], REPLY_ERROR_CODE}: SEQ only when the request had one that was decoded.
pub fn server_error(seq: Option<u32>, code: ReplyError) -> Vec<u8> {
    let mut msg = Message::new(MsgType::ServerError);
    msg.seq = seq;
    msg.reply_error_code = Some(code.code());
    encode(&msg)
}

// ---------------------------------------------------------------------------------------------
// Decoding

/// One step of a TLV stream: `(option type, value)`.
type Tlv<'a> = (u16, &'a [u8]);

/// Iterates over a TLV stream the way upstream's `tlv_iter_next` does: the stream must hold at
/// least one TLV, and must consist of complete TLVs only. A TLV running past the end, a partial
/// TLV header at the end, or an empty stream yields one `Err` and then stops.
struct TlvStream<'a> {
    rest: &'a [u8],
    started: bool,
    done: bool,
}

impl<'a> TlvStream<'a> {
    fn new(stream: &'a [u8]) -> TlvStream<'a> {
        TlvStream {
            rest: stream,
            started: false,
            done: false,
        }
    }
}

impl<'a> Iterator for TlvStream<'a> {
    type Item = Result<Tlv<'a>, ()>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.rest.is_empty() && self.started {
            self.done = true;
            return None;
        }
        self.started = true;
        match split_tlv(self.rest) {
            Some((option, value, rest)) => {
                self.rest = rest;
                Some(Ok((option, value)))
            }
            None => {
                self.done = true;
                Some(Err(()))
            }
        }
    }
}

/// The first TLV of `bytes` and what follows it, if it is complete.
fn split_tlv(bytes: &[u8]) -> Option<(u16, &[u8], &[u8])> {
    let (hdr, rest) = bytes.split_first_chunk::<TLV_HEADER_LEN>()?;
    let option = u16::from_be_bytes([hdr[0], hdr[1]]);
    let len = usize::from(u16::from_be_bytes([hdr[2], hdr[3]]));
    (rest.len() >= len).then(|| {
        let (value, rest) = rest.split_at(len);
        (option, value, rest)
    })
}

fn fixed<const N: usize>(option: u16, value: &[u8]) -> Result<[u8; N], DecodeErrorKind> {
    value
        .try_into()
        .map_err(|_| DecodeErrorKind::BadLength { option })
}

fn dec_u8(option: u16, value: &[u8]) -> Result<u8, DecodeErrorKind> {
    Ok(fixed::<1>(option, value)?[0])
}

fn dec_u16(option: u16, value: &[u8]) -> Result<u16, DecodeErrorKind> {
    Ok(u16::from_be_bytes(fixed(option, value)?))
}

fn dec_u32(option: u16, value: &[u8]) -> Result<u32, DecodeErrorKind> {
    Ok(u32::from_be_bytes(fixed(option, value)?))
}

fn dec_u64(option: u16, value: &[u8]) -> Result<u64, DecodeErrorKind> {
    Ok(u64::from_be_bytes(fixed(option, value)?))
}

/// A u8 enum: wrong length is BadLength, a value `conv` refuses is OutOfRange.
fn dec_enum<T>(
    option: u16,
    value: &[u8],
    conv: impl Fn(u8) -> Option<T>,
) -> Result<T, DecodeErrorKind> {
    conv(dec_u8(option, value)?).ok_or(DecodeErrorKind::OutOfRange { option })
}

fn dec_bool01(v: u8) -> Option<bool> {
    match v {
        0 => Some(false),
        1 => Some(true),
        _ => None,
    }
}

fn dec_u16_array(option: u16, value: &[u8]) -> Result<Vec<u16>, DecodeErrorKind> {
    if value.len() % 2 != 0 {
        return Err(DecodeErrorKind::BadLength { option });
    }
    Ok(value
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect())
}

fn dec_ring_id(value: &[u8]) -> Result<RingId, DecodeErrorKind> {
    let b: [u8; 12] = fixed(opt::RING_ID, value)?;
    let [n0, n1, n2, n3, s @ ..] = b;
    Ok(RingId {
        node_id: u32::from_be_bytes([n0, n1, n2, n3]),
        seq: u64::from_be_bytes(s),
    })
}

fn dec_tie_breaker(value: &[u8]) -> Result<TieBreaker, DecodeErrorKind> {
    let b: [u8; 5] = fixed(opt::TIE_BREAKER, value)?;
    let node_id = u32::from_be_bytes([b[1], b[2], b[3], b[4]]);
    TieBreaker::from_wire(b[0], node_id).ok_or(DecodeErrorKind::OutOfRange {
        option: opt::TIE_BREAKER,
    })
}

/// NODE_INFO: a nested TLV stream with NODE_ID, DATA_CENTER_ID, NODE_STATE (others ignored).
/// Like upstream, an empty or malformed nested stream fails, and so does node id 0 / no NODE_ID.
fn dec_node_info(value: &[u8]) -> Result<NodeInfo, DecodeErrorKind> {
    let mut node = NodeInfo::new(0);
    for tlv in TlvStream::new(value) {
        let (option, v) = tlv.map_err(|()| DecodeErrorKind::Truncated)?;
        match option {
            opt::NODE_ID => node.node_id = dec_u32(option, v)?,
            opt::DATA_CENTER_ID => node.data_center_id = dec_u32(option, v)?,
            opt::NODE_STATE => node.state = Some(dec_enum(option, v, NodeState::from_u8)?),
            _ => {}
        }
    }
    if node.node_id == 0 {
        return Err(DecodeErrorKind::OutOfRange {
            option: opt::NODE_INFO,
        });
    }
    Ok(node)
}

/// Stores one top-level TLV into `msg`. Unknown option types are ignored (forward
/// compatibility); a repeated TLV overwrites, NODE_INFO accumulates.
fn apply_tlv(msg: &mut Message, option: u16, v: &[u8]) -> Result<(), DecodeErrorKind> {
    match option {
        opt::MSG_SEQ_NUMBER => msg.seq = Some(dec_u32(option, v)?),
        opt::CLUSTER_NAME => msg.cluster_name = Some(v.to_vec()),
        opt::TLS_SUPPORTED => msg.tls_supported = Some(dec_enum(option, v, TlsMode::from_u8)?),
        opt::TLS_CLIENT_CERT_REQUIRED => msg.tls_client_cert_required = Some(dec_u8(option, v)?),
        opt::SUPPORTED_MESSAGES => msg.supported_messages = Some(dec_u16_array(option, v)?),
        opt::SUPPORTED_OPTIONS => msg.supported_options = Some(dec_u16_array(option, v)?),
        opt::REPLY_ERROR_CODE => msg.reply_error_code = Some(dec_u16(option, v)?),
        opt::SERVER_MAXIMUM_REQUEST_SIZE => msg.server_max_request_size = Some(dec_u32(option, v)?),
        opt::SERVER_MAXIMUM_REPLY_SIZE => msg.server_max_reply_size = Some(dec_u32(option, v)?),
        opt::NODE_ID => msg.node_id = Some(dec_u32(option, v)?),
        opt::SUPPORTED_DECISION_ALGORITHMS => {
            msg.supported_algorithms = Some(dec_u16_array(option, v)?)
        }
        opt::DECISION_ALGORITHM => msg.decision_algorithm = Some(dec_u16(option, v)?),
        opt::HEARTBEAT_INTERVAL => msg.heartbeat_interval = Some(dec_u32(option, v)?),
        opt::RING_ID => msg.ring_id = Some(dec_ring_id(v)?),
        opt::CONFIG_VERSION => msg.config_version = Some(dec_u64(option, v)?),
        opt::DATA_CENTER_ID => msg.data_center_id = Some(dec_u32(option, v)?),
        opt::NODE_STATE => msg.node_state = Some(dec_enum(option, v, NodeState::from_u8)?),
        opt::NODE_INFO => msg.nodes.push(dec_node_info(v)?),
        opt::NODE_LIST_TYPE => {
            msg.node_list_type = Some(dec_enum(option, v, NodeListType::from_u8)?)
        }
        opt::VOTE => msg.vote = Some(dec_enum(option, v, Vote::from_u8)?),
        opt::QUORATE => msg.quorate = Some(dec_enum(option, v, dec_bool01)?),
        opt::TIE_BREAKER => msg.tie_breaker = Some(dec_tie_breaker(v)?),
        opt::HEURISTICS => msg.heuristics = Some(dec_enum(option, v, Heuristics::from_wire)?),
        opt::KEEP_ACTIVE_PARTITION_TIE_BREAKER => {
            msg.keep_active_partition_tie_breaker = Some(dec_enum(option, v, dec_bool01)?)
        }
        _ => {}
    }
    Ok(())
}

/// Decodes one whole message, header included (as [`super::framing::FrameReader`] delivers it).
///
/// Errors carry the SEQ decoded before the failing TLV, if any: upstream answers
/// SERVER_ERROR{SEQ, ERROR_DECODING_MSG} in that case and omits SEQ otherwise. A header whose
/// length field disagrees with `raw` is reported as [`DecodeErrorKind::Truncated`]; a message
/// type outside 0..=17 as [`DecodeErrorKind::UnknownMessageType`].
pub fn decode(raw: &[u8]) -> Result<Message, DecodeError> {
    let fail = |seq, reason| DecodeError { seq, reason };
    let (Some(type_code), Some(len)) = (raw_type(raw), raw_payload_len(raw)) else {
        return Err(fail(None, DecodeErrorKind::Truncated));
    };
    let payload = &raw[HEADER_LEN..];
    if u64::from(len) != payload.len() as u64 {
        return Err(fail(None, DecodeErrorKind::Truncated));
    }
    let msg_type = MsgType::from_u16(type_code).ok_or(fail(
        None,
        DecodeErrorKind::UnknownMessageType {
            msg_type: type_code,
        },
    ))?;
    let mut msg = Message::new(msg_type);
    // Node lists are kept for the life of a client: allocate them exactly, once.
    let node_infos = TlvStream::new(payload)
        .filter(|tlv| matches!(tlv, Ok((opt::NODE_INFO, _))))
        .count();
    msg.nodes.reserve_exact(node_infos);
    for tlv in TlvStream::new(payload) {
        let (option, value) = tlv.map_err(|()| fail(msg.seq, DecodeErrorKind::Truncated))?;
        apply_tlv(&mut msg, option, value).map_err(|reason| fail(msg.seq, reason))?;
    }
    Ok(msg)
}

// ---------------------------------------------------------------------------------------------
// Encoding

/// The order in which upstream's `msg_create_*` functions emit TLVs (docs/protocol.md, "Message types").
/// Fields set in a [`Message`] but not listed for its type follow in option-code order, so that
/// encoding is total and `decode(encode(m)) == m` for every message the decoder can produce.
fn emission_order(msg_type: MsgType) -> &'static [u16] {
    use opt::*;
    match msg_type {
        MsgType::Preinit => &[MSG_SEQ_NUMBER, CLUSTER_NAME],
        MsgType::PreinitReply => &[MSG_SEQ_NUMBER, TLS_SUPPORTED, TLS_CLIENT_CERT_REQUIRED],
        MsgType::Init => &[
            MSG_SEQ_NUMBER,
            SUPPORTED_MESSAGES,
            SUPPORTED_OPTIONS,
            NODE_ID,
            DECISION_ALGORITHM,
            HEARTBEAT_INTERVAL,
            TIE_BREAKER,
            RING_ID,
        ],
        MsgType::InitReply => &[
            REPLY_ERROR_CODE,
            SUPPORTED_MESSAGES,
            SUPPORTED_OPTIONS,
            MSG_SEQ_NUMBER,
            SERVER_MAXIMUM_REQUEST_SIZE,
            SERVER_MAXIMUM_REPLY_SIZE,
            SUPPORTED_DECISION_ALGORITHMS,
        ],
        MsgType::ServerError => &[MSG_SEQ_NUMBER, REPLY_ERROR_CODE],
        MsgType::SetOption | MsgType::SetOptionReply => &[
            MSG_SEQ_NUMBER,
            HEARTBEAT_INTERVAL,
            KEEP_ACTIVE_PARTITION_TIE_BREAKER,
        ],
        MsgType::NodeList => &[
            MSG_SEQ_NUMBER,
            NODE_LIST_TYPE,
            RING_ID,
            CONFIG_VERSION,
            QUORATE,
            NODE_INFO,
            HEURISTICS,
        ],
        MsgType::NodeListReply => &[MSG_SEQ_NUMBER, NODE_LIST_TYPE, RING_ID, VOTE],
        MsgType::AskForVoteReply | MsgType::VoteInfo => &[MSG_SEQ_NUMBER, VOTE, RING_ID],
        MsgType::HeuristicsChange => &[MSG_SEQ_NUMBER, HEURISTICS],
        MsgType::HeuristicsChangeReply => &[MSG_SEQ_NUMBER, VOTE, RING_ID, HEURISTICS],
        MsgType::StartTls
        | MsgType::EchoRequest
        | MsgType::EchoReply
        | MsgType::AskForVote
        | MsgType::VoteInfoReply => &[MSG_SEQ_NUMBER],
    }
}

/// Appends one TLV. A value longer than a TLV can describe (65535 bytes) is cut to fit; no
/// decoded message can hold one, so this only keeps `encode` total for hand-built messages.
fn put_tlv(out: &mut Vec<u8>, option: u16, value: &[u8]) {
    let len = u16::try_from(value.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&option.to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&value[..usize::from(len)]);
}

/// An array value; at most 32767 items fit in one TLV (see put_tlv), so whole items only.
fn u16_array_value(items: &[u16]) -> Vec<u8> {
    items
        .iter()
        .take(usize::from(u16::MAX / 2))
        .flat_map(|v| v.to_be_bytes())
        .collect()
}

fn node_info_value(node: &NodeInfo) -> Vec<u8> {
    let mut v = Vec::with_capacity(17);
    put_tlv(&mut v, opt::NODE_ID, &node.node_id.to_be_bytes());
    if node.data_center_id != 0 {
        put_tlv(
            &mut v,
            opt::DATA_CENTER_ID,
            &node.data_center_id.to_be_bytes(),
        );
    }
    if let Some(state) = node.state {
        put_tlv(&mut v, opt::NODE_STATE, &[state as u8]);
    }
    v
}

/// Appends the TLV(s) for `option` if that field is set in `msg`.
fn put_field(out: &mut Vec<u8>, msg: &Message, option: u16) {
    let array = |items: &Option<Vec<u16>>| items.as_deref().map(u16_array_value);
    let value: Option<Vec<u8>> = match option {
        opt::MSG_SEQ_NUMBER => msg.seq.map(|v| v.to_be_bytes().to_vec()),
        opt::CLUSTER_NAME => msg.cluster_name.clone(),
        opt::TLS_SUPPORTED => msg.tls_supported.map(|v| vec![v as u8]),
        opt::TLS_CLIENT_CERT_REQUIRED => msg.tls_client_cert_required.map(|v| vec![v]),
        opt::SUPPORTED_MESSAGES => array(&msg.supported_messages),
        opt::SUPPORTED_OPTIONS => array(&msg.supported_options),
        opt::REPLY_ERROR_CODE => msg.reply_error_code.map(|v| v.to_be_bytes().to_vec()),
        opt::SERVER_MAXIMUM_REQUEST_SIZE => msg
            .server_max_request_size
            .map(|v| v.to_be_bytes().to_vec()),
        opt::SERVER_MAXIMUM_REPLY_SIZE => {
            msg.server_max_reply_size.map(|v| v.to_be_bytes().to_vec())
        }
        opt::NODE_ID => msg.node_id.map(|v| v.to_be_bytes().to_vec()),
        opt::SUPPORTED_DECISION_ALGORITHMS => array(&msg.supported_algorithms),
        opt::DECISION_ALGORITHM => msg.decision_algorithm.map(|v| v.to_be_bytes().to_vec()),
        opt::HEARTBEAT_INTERVAL => msg.heartbeat_interval.map(|v| v.to_be_bytes().to_vec()),
        opt::RING_ID => msg.ring_id.map(|r| {
            let mut v = r.node_id.to_be_bytes().to_vec();
            v.extend_from_slice(&r.seq.to_be_bytes());
            v
        }),
        opt::CONFIG_VERSION => msg.config_version.map(|v| v.to_be_bytes().to_vec()),
        opt::DATA_CENTER_ID => msg.data_center_id.map(|v| v.to_be_bytes().to_vec()),
        opt::NODE_STATE => msg.node_state.map(|v| vec![v as u8]),
        opt::NODE_INFO => {
            // One TLV per node, in list order.
            for node in &msg.nodes {
                put_tlv(out, opt::NODE_INFO, &node_info_value(node));
            }
            None
        }
        opt::NODE_LIST_TYPE => msg.node_list_type.map(|v| vec![v as u8]),
        opt::VOTE => msg.vote.map(|v| vec![v as u8]),
        opt::QUORATE => msg.quorate.map(|v| vec![u8::from(v)]),
        opt::TIE_BREAKER => msg.tie_breaker.map(|t| {
            let mut v = vec![t.mode()];
            v.extend_from_slice(&t.wire_node_id().to_be_bytes());
            v
        }),
        // UNDEFINED is never put on the wire (upstream's encoder refuses it).
        opt::HEURISTICS => msg
            .heuristics
            .filter(|h| *h != Heuristics::Undefined)
            .map(|v| vec![v as u8]),
        opt::KEEP_ACTIVE_PARTITION_TIE_BREAKER => msg
            .keep_active_partition_tie_breaker
            .map(|v| vec![u8::from(v)]),
        _ => None,
    };
    if let Some(value) = value {
        put_tlv(out, option, &value);
    }
}

/// Encodes `msg`: header, then every TLV whose field is set, in upstream's order for the type.
pub fn encode(msg: &Message) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&(msg.msg_type as u16).to_be_bytes());
    out.extend_from_slice(&[0; 4]);
    let order = emission_order(msg.msg_type);
    for &option in order {
        put_field(&mut out, msg, option);
    }
    for option in (0..=opt::LAST).filter(|o| !order.contains(o)) {
        put_field(&mut out, msg, option);
    }
    let len = u32::try_from(out.len() - HEADER_LEN).unwrap_or(u32::MAX);
    out[2..HEADER_LEN].copy_from_slice(&len.to_be_bytes());
    out
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;
