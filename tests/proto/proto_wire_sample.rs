//! A real corosync-qdevice 3.0.3 ↔ corosync-qnetd 3.0.3 session (two nodes, `tls: off`, ffsplit),
//! captured with `tcpdump -X` (tests/data/wire-tlsoff.corosync-qnetd.txt, copied from the team's
//! reference samples). Every message must frame and decode, and every message re-encoded from its
//! decoded form must be byte-identical to what upstream sent.

use std::collections::BTreeMap;

use qnetd::proto::codec::{decode, encode, with_type};
use qnetd::proto::framing::{Frame, FrameReader};
use qnetd::proto::types::{MsgType, ReplyError};

const SAMPLE: &str = include_str!("../data/wire-tlsoff.corosync-qnetd.txt");
const SERVER_PORT: u16 = 5403;

/// One direction of one TCP connection: (src ip, src port, dst ip, dst port).
type Flow = ([u8; 4], u16, [u8; 4], u16);

/// The IP packets of a `tcpdump -X` dump: each `\t0xNNNN:  hhhh hhhh ...  ascii` line holds up
/// to 16 bytes in a 39-character hex column starting at column 10.
fn packets(dump: &str) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for line in dump.lines() {
        let Some(rest) = line.strip_prefix('\t') else {
            if !line.trim().is_empty() {
                out.push(Vec::new()); // a packet summary line starts a new packet
            }
            continue;
        };
        assert!(rest.starts_with("0x"), "unexpected line {line:?}");
        let end = rest.len().min(9 + 39);
        let digits: Vec<u8> = rest[9..end].bytes().filter(|b| *b != b' ').collect();
        let packet = out.last_mut().expect("hex line before any packet line");
        for pair in digits.chunks(2) {
            let s = std::str::from_utf8(pair).unwrap();
            packet.push(u8::from_str_radix(s, 16).unwrap());
        }
    }
    out
}

fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Reassembles every flow's TCP payload, checking that sequence numbers are contiguous.
fn flows(dump: &str) -> BTreeMap<Flow, Vec<u8>> {
    let mut data: BTreeMap<Flow, Vec<u8>> = BTreeMap::new();
    let mut next_seq: BTreeMap<Flow, u32> = BTreeMap::new();
    for ip in packets(dump) {
        assert_eq!(ip[0] >> 4, 4, "IPv4 only");
        assert_eq!(ip[9], 6, "TCP only");
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        let total = usize::from(be16(&ip[2..]));
        assert_eq!(ip.len(), total, "dump holds the whole packet");
        let tcp = &ip[ihl..total];
        let flow: Flow = (
            ip[12..16].try_into().unwrap(),
            be16(&tcp[0..]),
            ip[16..20].try_into().unwrap(),
            be16(&tcp[2..]),
        );
        let seq = be32(&tcp[4..]);
        let payload = &tcp[usize::from(tcp[12] >> 4) * 4..];
        let syn = tcp[13] & 0x02 != 0;
        if syn {
            next_seq.insert(flow, seq.wrapping_add(1));
            continue;
        }
        if payload.is_empty() {
            continue;
        }
        let expected = next_seq.get_mut(&flow).expect("data before SYN");
        assert_eq!(seq, *expected, "gap or retransmission in {flow:?}");
        *expected = expected.wrapping_add(payload.len() as u32);
        data.entry(flow).or_default().extend_from_slice(payload);
    }
    data
}

/// Frames a byte stream, feeding it in `chunk`-sized pieces.
fn messages(stream: &[u8], chunk: usize) -> Vec<Vec<u8>> {
    let mut reader = FrameReader::new(32768);
    let mut out = Vec::new();
    for piece in stream.chunks(chunk) {
        let mut rest = piece;
        while !rest.is_empty() {
            let (used, frame) = reader.push(rest);
            rest = &rest[used..];
            match frame {
                Some(Frame::Message(m)) => out.push(m),
                Some(Frame::Skipped(why)) => panic!("upstream sent a skipped message: {why:?}"),
                None => assert!(rest.is_empty()),
            }
        }
    }
    assert!(reader.at_boundary(), "stream ends mid-message");
    out
}

fn types(msgs: &[Vec<u8>]) -> Vec<MsgType> {
    msgs.iter().map(|m| decode(m).unwrap().msg_type).collect()
}

#[test]
fn sample_session_frames_decodes_and_reencodes_byte_exactly() {
    let flows = flows(SAMPLE);
    assert_eq!(flows.len(), 4, "two connections, both directions");
    let mut server_msgs = 0;
    for (flow, stream) in &flows {
        let from_server = flow.1 == SERVER_PORT;
        let msgs = messages(stream, stream.len());
        assert_eq!(messages(stream, 1), msgs, "byte-at-a-time framing differs");
        assert!(!msgs.is_empty());
        for raw in &msgs {
            let decoded = decode(raw).unwrap_or_else(|e| panic!("{flow:?}: {e}: {raw:02x?}"));
            assert_eq!(
                decoded.msg_type.is_server_to_client(),
                from_server,
                "{flow:?}: {decoded:?}"
            );
            // Upstream emits a fixed TLV order per type; ours must be the same, for the server's
            // messages (what we send) and the client's alike.
            assert_eq!(&encode(&decoded), raw, "{flow:?}: {decoded:?}");
            if from_server {
                server_msgs += 1;
                if let Some(code) = decoded.reply_error_code {
                    assert_eq!(code, ReplyError::NoError.code());
                }
            }
        }
    }
    assert!(server_msgs >= 10, "only {server_msgs} server messages");
}

#[test]
fn sample_session_follows_the_documented_sequence() {
    let flows = flows(SAMPLE);
    let mut sessions = 0;
    for (&(cip, cport, sip, sport), req) in &flows {
        if sport != SERVER_PORT {
            continue;
        }
        sessions += 1;
        let rep = &flows[&(sip, sport, cip, cport)];
        let requests = messages(req, 7);
        let replies = messages(rep, 7);
        eprintln!(
            "client {cip:?}:{cport}: sent {:?}\n  received {:?}",
            types(&requests),
            types(&replies)
        );
        let req_types = types(&requests);
        assert_eq!(
            &req_types[..4],
            &[
                MsgType::Preinit,
                MsgType::Init,
                MsgType::SetOption,
                MsgType::NodeList
            ]
        );
        assert_eq!(
            &types(&replies)[..3],
            &[
                MsgType::PreinitReply,
                MsgType::InitReply,
                MsgType::SetOptionReply
            ]
        );
        let preinit = decode(&requests[0]).unwrap();
        assert_eq!(preinit.cluster_name.as_deref(), Some(&b"qicluster"[..]));
        // Each ECHO_REPLY is the matching ECHO_REQUEST with the type changed.
        let echoes: Vec<_> = requests
            .iter()
            .filter(|m| decode(m).unwrap().msg_type == MsgType::EchoRequest)
            .collect();
        let echo_replies: Vec<_> = replies
            .iter()
            .filter(|m| decode(m).unwrap().msg_type == MsgType::EchoReply)
            .collect();
        assert_eq!(echoes.len(), echo_replies.len());
        for (e, r) in echoes.iter().zip(&echo_replies) {
            assert_eq!(&with_type(e, MsgType::EchoReply), *r);
        }
    }
    assert_eq!(sessions, 2);
}
