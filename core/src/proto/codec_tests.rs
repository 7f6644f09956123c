use super::*;
use crate::proto::hex;
use crate::proto::types::Algorithm;

fn ring(node_id: u32, seq: u64) -> RingId {
    RingId { node_id, seq }
}

fn node(node_id: u32, data_center_id: u32, state: Option<NodeState>) -> NodeInfo {
    NodeInfo {
        node_id,
        data_center_id,
        state,
    }
}

/// A raw message of `msg_type` whose payload is `payload_hex`.
fn raw(msg_type: u16, payload_hex: &str) -> Vec<u8> {
    let payload = hex(payload_hex);
    let mut out = msg_type.to_be_bytes().to_vec();
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(&payload);
    out
}

fn decode_err(raw: &[u8]) -> DecodeError {
    decode(raw).expect_err("decoding should fail")
}

// --- byte examples (docs/protocol.md, "Byte examples") -------------------------------------------------------------

#[test]
fn preinit_reply_matches_upstream() {
    let mut m = Message::new(MsgType::PreinitReply);
    m.seq = Some(1);
    m.tls_supported = Some(TlsMode::Unsupported);
    m.tls_client_cert_required = Some(1);
    let want = hex("0001 00000012 0000 0004 00000001 0002 0001 00 0003 0001 01");
    assert_eq!(encode(&m), want);
    assert_eq!(decode(&want).unwrap(), m);
}

fn init_reply(with_lists: bool) -> Message {
    let mut m = Message::new(MsgType::InitReply);
    m.reply_error_code = Some(0);
    if with_lists {
        m.supported_messages = Some(advertised_messages());
        m.supported_options = Some(advertised_options());
    }
    m.seq = Some(2);
    m.server_max_request_size = Some(32768);
    m.server_max_reply_size = Some(32768);
    m.supported_algorithms = Some(advertised_algorithms());
    m
}

#[test]
fn init_reply_matches_upstream() {
    let want = hex("0004 00000086
         0006 0002 0000
         0004 0024 0000 0001 0002 0003 0004 0005 0006 0007 0008 0009 000a 000b 000c 000d
                   000e 000f 0010 0011
         0005 0030 0000 0001 0002 0003 0004 0005 0006 0007 0008 0009 000a 000b 000c 000d
                   000e 000f 0010 0011 0012 0013 0014 0015 0016 0017
         0000 0004 00000002
         0007 0004 00008000
         0008 0004 00008000
         000a 0008 0000 0001 0002 0003");
    assert_eq!(want.len(), 6 + 134);
    assert_eq!(encode(&init_reply(true)), want);
    assert_eq!(decode(&want).unwrap(), init_reply(true));
}

#[test]
fn init_reply_without_lists_matches_upstream() {
    let want = hex(
        "0004 0000002a 0006 0002 0000 0000 0004 00000002 0007 0004 00008000
         0008 0004 00008000 000a 0008 0000 0001 0002 0003",
    );
    assert_eq!(encode(&init_reply(false)), want);
}

#[test]
fn set_option_reply_matches_upstream() {
    let mut m = Message::new(MsgType::SetOptionReply);
    m.seq = Some(3);
    m.keep_active_partition_tie_breaker = Some(true);
    assert_eq!(
        encode(&m),
        hex("0007 0000000d 0000 0004 00000003 0017 0001 01")
    );
}

#[test]
fn node_list_reply_matches_upstream() {
    let mut m = Message::new(MsgType::NodeListReply);
    m.seq = Some(4);
    m.node_list_type = Some(NodeListType::InitialConfig);
    m.ring_id = Some(ring(1, 4));
    m.vote = Some(Vote::AskLater);
    assert_eq!(
        encode(&m),
        hex("000b 00000022 0000 0004 00000004 0012 0001 00 000d 000c 00000001 0000000000000004 0013 0001 03")
    );
    m.seq = Some(5);
    m.node_list_type = Some(NodeListType::Membership);
    m.vote = Some(Vote::NoChange);
    assert_eq!(
        encode(&m),
        hex("000b 00000022 0000 0004 00000005 0012 0001 02 000d 000c 00000001 0000000000000004 0013 0001 05")
    );
}

#[test]
fn node_info_encoding_matches_upstream() {
    let mut m = Message::new(MsgType::NodeList);
    m.nodes.push(node(2, 0, Some(NodeState::Member)));
    assert_eq!(
        encode(&m),
        hex("000a 00000011 0011 000d 0009 0004 00000002 0010 0001 01")
    );
    // Data-center id is emitted between node id and state when non-zero.
    m.nodes[0].data_center_id = 7;
    assert_eq!(
        encode(&m),
        hex("000a 00000019 0011 0015 0009 0004 00000002 000f 0004 00000007 0010 0001 01")
    );
}

#[test]
fn vote_info_matches_upstream() {
    let mut m = Message::new(MsgType::VoteInfo);
    m.seq = Some(1);
    m.vote = Some(Vote::Ack);
    m.ring_id = Some(ring(1, 4));
    let want =
        hex("000e 0000001d 0000 0004 00000001 0013 0001 01 000d 000c 00000001 0000000000000004");
    assert_eq!(encode(&m), want);
    assert_eq!(decode(&want).unwrap(), m);
}

#[test]
fn echo_reply_is_a_retyped_copy() {
    let request = hex("0008 00000008 0000 0004 00000001");
    assert_eq!(
        with_type(&request, MsgType::EchoReply),
        hex("0009 00000008 0000 0004 00000001")
    );
    // Unknown TLVs travel along untouched.
    let odd = hex("0008 0000000d 0000 0004 00000001 0063 0001 ff");
    let reply = with_type(&odd, MsgType::EchoReply);
    assert_eq!(reply[..2], [0, 9]);
    assert_eq!(reply[2..], odd[2..]);
}

#[test]
fn server_errors_match_upstream() {
    assert_eq!(
        server_error(None, ReplyError::UnsupportedMessage),
        hex("0005 00000006 0006 0002 0004")
    );
    assert_eq!(
        server_error(None, ReplyError::ErrorDecodingMsg),
        hex("0005 00000006 0006 0002 0009")
    );
    assert_eq!(
        server_error(None, ReplyError::MessageTooLong),
        hex("0005 00000006 0006 0002 0005")
    );
    assert_eq!(
        server_error(None, ReplyError::NoError),
        hex("0005 00000006 0006 0002 0000")
    );
    assert_eq!(
        server_error(Some(9), ReplyError::InitRequired),
        hex("0005 0000000e 0000 0004 00000009 0006 0002 000b")
    );
}

#[test]
fn preinit_with_empty_payload_fails_without_seq() {
    let e = decode_err(&hex("0000 00000000"));
    assert_eq!(
        e,
        DecodeError {
            seq: None,
            reason: DecodeErrorKind::Truncated
        }
    );
}

#[test]
fn client_preinit_and_echo_decode() {
    let m = decode(&raw(0, "0000 0004 00000001 0001 0009 6d79636c7573746572")).unwrap();
    assert_eq!(m.msg_type, MsgType::Preinit);
    assert_eq!(m.seq, Some(1));
    assert_eq!(m.cluster_name.as_deref(), Some(&b"mycluster"[..]));
    let e = decode(&hex("0008 00000008 0000 0004 00000001")).unwrap();
    assert_eq!(e.msg_type, MsgType::EchoRequest);
    assert_eq!(e.seq, Some(1));
}

#[test]
fn advertised_lists() {
    assert_eq!(advertised_messages(), (0..=17).collect::<Vec<u16>>());
    assert_eq!(advertised_options(), (0..=23).collect::<Vec<u16>>());
    assert_eq!(advertised_algorithms(), vec![0, 1, 2, 3]);
}

// --- round trips -----------------------------------------------------------------------------

/// Every field set, with values that differ from the defaults.
fn everything(msg_type: MsgType) -> Message {
    let mut m = Message::new(msg_type);
    m.seq = Some(0xdead_beef);
    m.cluster_name = Some(b"cluster\0with nul and \xff".to_vec());
    m.tls_supported = Some(TlsMode::Required);
    m.tls_client_cert_required = Some(0x7f);
    m.supported_messages = Some(vec![0, 17, 65535]);
    m.supported_options = Some(vec![]);
    m.reply_error_code = Some(999);
    m.server_max_request_size = Some(1 << 20);
    m.server_max_reply_size = Some(7);
    m.node_id = Some(u32::MAX);
    m.supported_algorithms = Some(vec![3, 2, 1, 0, 42]);
    m.decision_algorithm = Some(1234);
    m.heartbeat_interval = Some(8000);
    m.ring_id = Some(ring(0x1234_5678, 0x0a00_0000_0002_1b40));
    m.config_version = Some(u64::MAX);
    m.data_center_id = Some(0);
    m.node_state = Some(NodeState::Leaving);
    m.nodes = vec![
        node(1, 0, None),
        node(2, 5, Some(NodeState::Member)),
        node(2, 5, Some(NodeState::Member)),
        node(3, 0, Some(NodeState::Dead)),
    ];
    m.node_list_type = Some(NodeListType::Quorum);
    m.vote = Some(Vote::WaitForReply);
    m.quorate = Some(true);
    m.tie_breaker = Some(TieBreaker::NodeId(9));
    m.heuristics = Some(Heuristics::Fail);
    m.keep_active_partition_tie_breaker = Some(false);
    m
}

/// The fields upstream's `msg_create_*` emits for each type, set to realistic values.
fn typical(msg_type: MsgType) -> Message {
    let mut m = Message::new(msg_type);
    m.seq = Some(7);
    match msg_type {
        MsgType::Preinit => m.cluster_name = Some(b"qicluster".to_vec()),
        MsgType::PreinitReply => {
            m.tls_supported = Some(TlsMode::Supported);
            m.tls_client_cert_required = Some(1);
        }
        MsgType::Init => {
            m.supported_messages = Some(advertised_messages());
            m.supported_options = Some(advertised_options());
            m.node_id = Some(1);
            m.decision_algorithm = Some(Algorithm::Ffsplit as u16);
            m.heartbeat_interval = Some(8000);
            m.tie_breaker = Some(TieBreaker::Lowest);
            m.ring_id = Some(ring(1, 0x21b40));
        }
        MsgType::InitReply => m = init_reply(true),
        MsgType::ServerError => m.reply_error_code = Some(ReplyError::DuplicateNodeId.code()),
        MsgType::SetOption | MsgType::SetOptionReply => {
            m.heartbeat_interval = Some(10000);
            m.keep_active_partition_tie_breaker = Some(true);
        }
        MsgType::NodeList => {
            m.node_list_type = Some(NodeListType::Membership);
            m.ring_id = Some(ring(2, 8));
            m.config_version = Some(3);
            m.quorate = Some(false);
            m.nodes = vec![node(1, 0, None), node(2, 1, Some(NodeState::Member))];
            m.heuristics = Some(Heuristics::Pass);
        }
        MsgType::NodeListReply => {
            m.node_list_type = Some(NodeListType::ChangedConfig);
            m.ring_id = Some(ring(2, 8));
            m.vote = Some(Vote::Nack);
        }
        MsgType::AskForVoteReply | MsgType::VoteInfo => {
            m.vote = Some(Vote::Ack);
            m.ring_id = Some(ring(2, 8));
        }
        MsgType::HeuristicsChange => m.heuristics = Some(Heuristics::Fail),
        MsgType::HeuristicsChangeReply => {
            m.vote = Some(Vote::NoChange);
            m.ring_id = Some(ring(2, 8));
            m.heuristics = Some(Heuristics::Pass);
        }
        MsgType::StartTls
        | MsgType::EchoRequest
        | MsgType::EchoReply
        | MsgType::AskForVote
        | MsgType::VoteInfoReply => {}
    }
    m
}

/// Option types in the order they appear in an encoded message.
fn option_order(raw: &[u8]) -> Vec<u16> {
    TlvStream::new(&raw[HEADER_LEN..])
        .map(|t| t.unwrap().0)
        .collect()
}

#[test]
fn every_type_round_trips_with_its_own_tlvs_in_upstream_order() {
    for t in MsgType::ALL {
        let m = typical(t);
        let bytes = encode(&m);
        assert_eq!(decode(&bytes).unwrap(), m, "{t:?}");
        let mut order = option_order(&bytes);
        order.dedup(); // NODE_INFO repeats
        assert_eq!(order, emission_order(t), "{t:?}");
    }
}

#[test]
fn every_type_round_trips_with_every_tlv() {
    for t in MsgType::ALL {
        let m = everything(t);
        let bytes = encode(&m);
        assert_eq!(decode(&bytes).unwrap(), m, "{t:?}");
        // Upstream's fields for the type come first, then the rest by option code.
        let mut order = option_order(&bytes);
        order.dedup();
        let own = emission_order(t);
        assert_eq!(&order[..own.len()], own, "{t:?}");
        let rest = &order[own.len()..];
        assert!(rest.windows(2).all(|w| w[0] < w[1]), "{t:?}: {rest:?}");
        assert_eq!(order.len(), 24, "{t:?}: {order:?}");
    }
}

#[test]
fn round_trip_of_tie_breakers_and_bounds() {
    for tb in [
        TieBreaker::Lowest,
        TieBreaker::Highest,
        TieBreaker::NodeId(0),
        TieBreaker::NodeId(u32::MAX),
    ] {
        let mut m = Message::new(MsgType::Init);
        m.tie_breaker = Some(tb);
        assert_eq!(decode(&encode(&m)).unwrap(), m);
    }
    let mut m = Message::new(MsgType::Preinit);
    m.cluster_name = Some(vec![b'x'; 65535]);
    assert_eq!(decode(&encode(&m)).unwrap(), m);
}

#[test]
fn encoder_never_emits_undefined_heuristics() {
    let mut m = Message::new(MsgType::NodeList);
    m.seq = Some(1);
    m.heuristics = Some(Heuristics::Undefined);
    assert_eq!(encode(&m), hex("000a 00000008 0000 0004 00000001"));
}

#[test]
fn encoder_cuts_oversized_values_instead_of_panicking() {
    let mut m = Message::new(MsgType::Preinit);
    m.cluster_name = Some(vec![b'x'; 70000]);
    m.supported_messages = Some(vec![1; 40000]);
    let d = decode(&encode(&m)).unwrap();
    assert_eq!(d.cluster_name.unwrap().len(), 65535);
    assert_eq!(d.supported_messages.unwrap().len(), 32767);
}

// --- decoding rules ----------------------------------------------------------------------------

#[test]
fn header_must_match_the_buffer() {
    assert_eq!(decode_err(&[]).reason, DecodeErrorKind::Truncated);
    assert_eq!(
        decode_err(&hex("0000 0000")).reason,
        DecodeErrorKind::Truncated
    );
    // Length field says 8, only 4 payload bytes present (and the other way round).
    assert_eq!(
        decode_err(&hex("0008 00000008 0000 0004")).reason,
        DecodeErrorKind::Truncated
    );
    assert_eq!(
        decode_err(&hex("0008 00000002 0000 0004 00000001")).reason,
        DecodeErrorKind::Truncated
    );
}

#[test]
fn unknown_message_type_is_an_error() {
    let e = decode_err(&raw(18, "0000 0004 00000001"));
    assert_eq!(
        e,
        DecodeError {
            seq: None,
            reason: DecodeErrorKind::UnknownMessageType { msg_type: 18 }
        }
    );
    assert!(e.to_string().contains("18"));
}

#[test]
fn tlv_running_past_the_end_fails() {
    // Value length 5, only 4 bytes.
    let e = decode_err(&raw(8, "0000 0005 00000001"));
    assert_eq!(
        e,
        DecodeError {
            seq: None,
            reason: DecodeErrorKind::Truncated
        }
    );
    // After a good SEQ: SEQ is reported.
    let e = decode_err(&raw(8, "0000 0004 00000009 0001 0010 6162"));
    assert_eq!(
        e,
        DecodeError {
            seq: Some(9),
            reason: DecodeErrorKind::Truncated
        }
    );
}

#[test]
fn trailing_bytes_fail() {
    for tail in ["00", "0000", "000000"] {
        let e = decode_err(&raw(8, &format!("0000 0004 00000009 {tail}")));
        assert_eq!(
            e,
            DecodeError {
                seq: Some(9),
                reason: DecodeErrorKind::Truncated
            },
            "tail {tail}"
        );
    }
    // 1..3 bytes alone are not even a TLV header.
    for payload in ["00", "0000", "000000"] {
        assert_eq!(
            decode_err(&raw(8, payload)).reason,
            DecodeErrorKind::Truncated
        );
    }
}

#[test]
fn zero_length_tlv_is_fine_where_any_length_is() {
    let m = decode(&raw(0, "0001 0000")).unwrap();
    assert_eq!(m.cluster_name, Some(vec![]));
    let m = decode(&raw(3, "0004 0000 0005 0000")).unwrap();
    assert_eq!(m.supported_messages, Some(vec![]));
    assert_eq!(m.supported_options, Some(vec![]));
    // Unknown option with an empty value, as the last TLV.
    let m = decode(&raw(8, "0000 0004 00000001 0400 0000")).unwrap();
    assert_eq!(m.seq, Some(1));
}

/// (option, correct length) for every fixed-size option.
const FIXED_SIZES: [(u16, usize); 19] = [
    (opt::MSG_SEQ_NUMBER, 4),
    (opt::TLS_SUPPORTED, 1),
    (opt::TLS_CLIENT_CERT_REQUIRED, 1),
    (opt::REPLY_ERROR_CODE, 2),
    (opt::SERVER_MAXIMUM_REQUEST_SIZE, 4),
    (opt::SERVER_MAXIMUM_REPLY_SIZE, 4),
    (opt::NODE_ID, 4),
    (opt::DECISION_ALGORITHM, 2),
    (opt::HEARTBEAT_INTERVAL, 4),
    (opt::RING_ID, 12),
    (opt::CONFIG_VERSION, 8),
    (opt::DATA_CENTER_ID, 4),
    (opt::NODE_STATE, 1),
    (opt::NODE_LIST_TYPE, 1),
    (opt::VOTE, 1),
    (opt::QUORATE, 1),
    (opt::TIE_BREAKER, 5),
    (opt::HEURISTICS, 1),
    (opt::KEEP_ACTIVE_PARTITION_TIE_BREAKER, 1),
];

/// A TLV as hex.
fn tlv(option: u16, value: &[u8]) -> String {
    let mut s = format!("{option:04x}{:04x}", value.len());
    for b in value {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

#[test]
fn fixed_size_fields_with_wrong_length_fail() {
    for (option, size) in FIXED_SIZES {
        // A valid value of the right size (1 is in range for every enum) decodes...
        let mut good = vec![0u8; size];
        good[0] = 1;
        decode(&raw(3, &tlv(option, &good))).unwrap_or_else(|e| panic!("option {option}: {e}"));
        // ...one byte less or more does not, and SEQ before it is reported.
        for bad_len in [size - 1, size + 1] {
            let payload = format!("0000 0004 00000005 {}", tlv(option, &vec![1; bad_len]));
            let e = decode_err(&raw(3, &payload));
            assert_eq!(
                e,
                DecodeError {
                    seq: Some(5),
                    reason: DecodeErrorKind::BadLength { option }
                },
                "option {option} len {bad_len}"
            );
        }
    }
}

#[test]
fn arrays_must_have_even_length() {
    for option in [
        opt::SUPPORTED_MESSAGES,
        opt::SUPPORTED_OPTIONS,
        opt::SUPPORTED_DECISION_ALGORITHMS,
    ] {
        let e = decode_err(&raw(3, &tlv(option, &[0, 1, 2])));
        assert_eq!(e.reason, DecodeErrorKind::BadLength { option });
        let m = decode(&raw(3, &tlv(option, &[0, 1, 0xff, 0xfe]))).unwrap();
        let got = match option {
            opt::SUPPORTED_MESSAGES => m.supported_messages,
            opt::SUPPORTED_OPTIONS => m.supported_options,
            _ => m.supported_algorithms,
        };
        assert_eq!(got, Some(vec![1, 0xfffe]));
    }
}

#[test]
fn enum_ranges_are_checked_like_upstream() {
    // (option, accepted values, first rejected values)
    let cases: [(u16, &[u8], &[u8]); 8] = [
        (opt::TLS_SUPPORTED, &[0, 1, 2], &[3, 255]),
        (opt::NODE_STATE, &[1, 2, 3], &[0, 4]),
        (opt::NODE_LIST_TYPE, &[0, 1, 2, 3], &[4, 200]),
        (opt::VOTE, &[1, 2, 3, 4, 5], &[0, 6]),
        (opt::QUORATE, &[0, 1], &[2]),
        (opt::HEURISTICS, &[1, 2], &[0, 3]),
        (opt::KEEP_ACTIVE_PARTITION_TIE_BREAKER, &[0, 1], &[2]),
        (opt::TLS_CLIENT_CERT_REQUIRED, &[0, 1, 2, 255], &[]),
    ];
    for (option, ok, bad) in cases {
        for &v in ok {
            decode(&raw(10, &tlv(option, &[v])))
                .unwrap_or_else(|e| panic!("option {option} value {v}: {e}"));
        }
        for &v in bad {
            let e = decode_err(&raw(
                10,
                &format!("0000 0004 00000003 {}", tlv(option, &[v])),
            ));
            assert_eq!(
                e,
                DecodeError {
                    seq: Some(3),
                    reason: DecodeErrorKind::OutOfRange { option }
                },
                "option {option} value {v}"
            );
        }
    }
    // Tie-breaker mode must be 1..3; the node id is kept only for mode 3.
    for mode in [0u8, 4, 255] {
        let e = decode_err(&raw(3, &tlv(opt::TIE_BREAKER, &[mode, 0, 0, 0, 1])));
        assert_eq!(
            e.reason,
            DecodeErrorKind::OutOfRange {
                option: opt::TIE_BREAKER
            }
        );
    }
    let tb = |v: &[u8]| {
        decode(&raw(3, &tlv(opt::TIE_BREAKER, v)))
            .unwrap()
            .tie_breaker
    };
    assert_eq!(tb(&[1, 0, 0, 0, 9]), Some(TieBreaker::Lowest));
    assert_eq!(tb(&[2, 0, 0, 0, 9]), Some(TieBreaker::Highest));
    assert_eq!(tb(&[3, 0, 0, 1, 2]), Some(TieBreaker::NodeId(258)));
    // Not range-checked: decision algorithm, reply error code.
    let m = decode(&raw(3, "000b 0002 ffff 0006 0002 fffe")).unwrap();
    assert_eq!(m.decision_algorithm, Some(0xffff));
    assert_eq!(m.reply_error_code, Some(0xfffe));
}

#[test]
fn node_info_rules() {
    let ni = |nested: &str| {
        raw(
            10,
            &format!("0000 0004 00000004 {}", tlv(opt::NODE_INFO, &hex(nested))),
        )
    };
    let ok = decode(&ni(
        "0009 0004 00000002 000f 0004 00000003 0010 0001 02 0063 0002 abcd",
    ))
    .unwrap();
    assert_eq!(ok.nodes, vec![node(2, 3, Some(NodeState::Dead))]);
    // Repeated node id inside: the last wins.
    let ok = decode(&ni("0009 0004 00000002 0009 0004 00000005")).unwrap();
    assert_eq!(ok.nodes, vec![node(5, 0, None)]);

    let fails = [
        ("", DecodeErrorKind::Truncated), // empty nested stream
        ("0009 0004 000000", DecodeErrorKind::Truncated), // nested TLV past its end
        ("0009 0004 00000002 00", DecodeErrorKind::Truncated), // nested trailing byte
        (
            "0009 0004 00000000",
            DecodeErrorKind::OutOfRange {
                option: opt::NODE_INFO,
            },
        ),
        (
            "000f 0004 00000001",
            DecodeErrorKind::OutOfRange {
                option: opt::NODE_INFO,
            },
        ),
        (
            "0009 0002 0001",
            DecodeErrorKind::BadLength {
                option: opt::NODE_ID,
            },
        ),
        (
            "0009 0004 00000001 000f 0002 0001",
            DecodeErrorKind::BadLength {
                option: opt::DATA_CENTER_ID,
            },
        ),
        (
            "0009 0004 00000001 0010 0001 04",
            DecodeErrorKind::OutOfRange {
                option: opt::NODE_STATE,
            },
        ),
        (
            "0009 0004 00000001 0010 0002 0101",
            DecodeErrorKind::BadLength {
                option: opt::NODE_STATE,
            },
        ),
    ];
    for (nested, reason) in fails {
        assert_eq!(
            decode_err(&ni(nested)),
            DecodeError {
                seq: Some(4),
                reason
            },
            "nested {nested:?}"
        );
    }
}

#[test]
fn node_infos_accumulate_with_duplicates() {
    let one = tlv(opt::NODE_INFO, &hex("0009 0004 00000001"));
    let two = tlv(opt::NODE_INFO, &hex("0009 0004 00000002"));
    let m = decode(&raw(10, &format!("{one}{two}{one}"))).unwrap();
    assert_eq!(
        m.nodes,
        vec![node(1, 0, None), node(2, 0, None), node(1, 0, None)]
    );
}

#[test]
fn repeated_tlvs_overwrite() {
    let m = decode(&raw(
        3,
        "0000 0004 00000001 0004 0002 0001 0000 0004 00000002 0004 0004 0005 0006 0001 0001 61 0001 0002 6263",
    ))
    .unwrap();
    assert_eq!(m.seq, Some(2));
    assert_eq!(m.supported_messages, Some(vec![5, 6]));
    assert_eq!(m.cluster_name, Some(b"bc".to_vec()));
}

#[test]
fn unknown_tlvs_are_ignored() {
    let m = decode(&raw(
        8,
        "0018 0003 010203 0000 0004 00000001 ffff 0000 1234 0001 00",
    ))
    .unwrap();
    let mut want = Message::new(MsgType::EchoRequest);
    want.seq = Some(1);
    assert_eq!(m, want);
}

#[test]
fn seq_is_reported_only_if_decoded_before_the_failure() {
    let bad_vote = tlv(opt::VOTE, &[9]);
    let seq = "0000 0004 0000002a";
    let e = decode_err(&raw(11, &format!("{bad_vote} {seq}")));
    assert_eq!(e.seq, None);
    let e = decode_err(&raw(11, &format!("{seq} {bad_vote}")));
    assert_eq!(e.seq, Some(42));
    // A second, broken SEQ: the first one's value is reported.
    let e = decode_err(&raw(11, &format!("{seq} 0000 0002 0001")));
    assert_eq!(
        e,
        DecodeError {
            seq: Some(42),
            reason: DecodeErrorKind::BadLength {
                option: opt::MSG_SEQ_NUMBER
            }
        }
    );
    // Top-level data center id and node state are decoded (and checked) too.
    let m = decode(&raw(10, "000f 0004 00000007 0010 0001 03")).unwrap();
    assert_eq!(m.data_center_id, Some(7));
    assert_eq!(m.node_state, Some(NodeState::Leaving));
}

#[test]
fn a_message_without_fields_encodes_to_a_bare_header_that_does_not_decode() {
    // Like upstream (STARTTLS without SEQ), and why round trips need at least one known TLV.
    let bytes = encode(&Message::new(MsgType::StartTls));
    assert_eq!(bytes, hex("0002 00000000"));
    assert_eq!(decode_err(&bytes).reason, DecodeErrorKind::Truncated);
    // A message holding only unknown TLVs decodes to exactly that.
    let m = decode(&hex("000f 00000008 fdf7 0004 00000022")).unwrap();
    assert_eq!(m, Message::new(MsgType::VoteInfoReply));
}

/// A node keeps three lists of up to 384 entries: at 9 bytes an entry (not 12, padded) the
/// worst client fits the per-client memory budget (docs/daemon.md, "Memory").
#[test]
fn a_node_entry_takes_nine_bytes() {
    assert_eq!(std::mem::size_of::<NodeInfo>(), 9);
    assert_eq!(std::mem::size_of::<Option<NodeState>>(), 1);
}
