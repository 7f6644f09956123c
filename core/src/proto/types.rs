//! Protocol values shared by the codec, the engine and the algorithms.
//!
//! Numbers are those of corosync-qdevice 3.0.x (`qdevices/msg.h`, `qdevices/tlv.h`); see
//! docs/protocol.md, "Option types", "Enumerations", "Error codes" and "Message types". Everything here is plain data: no I/O.

/// Message types (u16 in the 6-byte header).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum MsgType {
    Preinit = 0,
    PreinitReply = 1,
    StartTls = 2,
    Init = 3,
    InitReply = 4,
    ServerError = 5,
    SetOption = 6,
    SetOptionReply = 7,
    EchoRequest = 8,
    EchoReply = 9,
    NodeList = 10,
    NodeListReply = 11,
    AskForVote = 12,
    AskForVoteReply = 13,
    VoteInfo = 14,
    VoteInfoReply = 15,
    HeuristicsChange = 16,
    HeuristicsChangeReply = 17,
}

impl MsgType {
    /// Every message type, in code order (also the SUPPORTED_MESSAGES list the server advertises).
    pub const ALL: [MsgType; 18] = [
        MsgType::Preinit,
        MsgType::PreinitReply,
        MsgType::StartTls,
        MsgType::Init,
        MsgType::InitReply,
        MsgType::ServerError,
        MsgType::SetOption,
        MsgType::SetOptionReply,
        MsgType::EchoRequest,
        MsgType::EchoReply,
        MsgType::NodeList,
        MsgType::NodeListReply,
        MsgType::AskForVote,
        MsgType::AskForVoteReply,
        MsgType::VoteInfo,
        MsgType::VoteInfoReply,
        MsgType::HeuristicsChange,
        MsgType::HeuristicsChangeReply,
    ];

    pub fn from_u16(v: u16) -> Option<MsgType> {
        MsgType::ALL.get(usize::from(v)).copied()
    }

    /// Types only a server sends; a client sending one gets UNEXPECTED_MESSAGE.
    pub fn is_server_to_client(self) -> bool {
        matches!(
            self,
            MsgType::PreinitReply
                | MsgType::InitReply
                | MsgType::ServerError
                | MsgType::SetOptionReply
                | MsgType::EchoReply
                | MsgType::NodeListReply
                | MsgType::AskForVoteReply
                | MsgType::VoteInfo
                | MsgType::HeuristicsChangeReply
        )
    }
}

/// TLV option types (u16). The server advertises all of them (0..=23) in SUPPORTED_OPTIONS.
pub mod opt {
    pub const MSG_SEQ_NUMBER: u16 = 0;
    pub const CLUSTER_NAME: u16 = 1;
    pub const TLS_SUPPORTED: u16 = 2;
    pub const TLS_CLIENT_CERT_REQUIRED: u16 = 3;
    pub const SUPPORTED_MESSAGES: u16 = 4;
    pub const SUPPORTED_OPTIONS: u16 = 5;
    pub const REPLY_ERROR_CODE: u16 = 6;
    pub const SERVER_MAXIMUM_REQUEST_SIZE: u16 = 7;
    pub const SERVER_MAXIMUM_REPLY_SIZE: u16 = 8;
    pub const NODE_ID: u16 = 9;
    pub const SUPPORTED_DECISION_ALGORITHMS: u16 = 10;
    pub const DECISION_ALGORITHM: u16 = 11;
    pub const HEARTBEAT_INTERVAL: u16 = 12;
    pub const RING_ID: u16 = 13;
    pub const CONFIG_VERSION: u16 = 14;
    pub const DATA_CENTER_ID: u16 = 15;
    pub const NODE_STATE: u16 = 16;
    pub const NODE_INFO: u16 = 17;
    pub const NODE_LIST_TYPE: u16 = 18;
    pub const VOTE: u16 = 19;
    pub const QUORATE: u16 = 20;
    pub const TIE_BREAKER: u16 = 21;
    pub const HEURISTICS: u16 = 22;
    pub const KEEP_ACTIVE_PARTITION_TIE_BREAKER: u16 = 23;
    /// Highest option type we know; SUPPORTED_OPTIONS advertises 0..=LAST.
    pub const LAST: u16 = 23;
}

/// REPLY_ERROR_CODE values (u16). Sent in INIT_REPLY or SERVER_ERROR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum ReplyError {
    NoError = 0,
    UnsupportedNeededMessage = 1,
    UnsupportedNeededOption = 2,
    TlsRequired = 3,
    UnsupportedMessage = 4,
    MessageTooLong = 5,
    PreinitRequired = 6,
    DoesntContainRequiredOption = 7,
    UnexpectedMessage = 8,
    ErrorDecodingMsg = 9,
    InternalError = 10,
    InitRequired = 11,
    UnsupportedDecisionAlgorithm = 12,
    InvalidHeartbeatInterval = 13,
    UnsupportedDecisionAlgorithmMessage = 14,
    TieBreakerDiffersFromOtherNodes = 15,
    AlgorithmDiffersFromOtherNodes = 16,
    DuplicateNodeId = 17,
    InvalidConfigNodeList = 18,
    InvalidMembershipNodeList = 19,
}

impl ReplyError {
    /// Every error, in code order: `ALL[code]` is the error with that code.
    pub const ALL: [ReplyError; 20] = {
        use ReplyError::*;
        [
            NoError,
            UnsupportedNeededMessage,
            UnsupportedNeededOption,
            TlsRequired,
            UnsupportedMessage,
            MessageTooLong,
            PreinitRequired,
            DoesntContainRequiredOption,
            UnexpectedMessage,
            ErrorDecodingMsg,
            InternalError,
            InitRequired,
            UnsupportedDecisionAlgorithm,
            InvalidHeartbeatInterval,
            UnsupportedDecisionAlgorithmMessage,
            TieBreakerDiffersFromOtherNodes,
            AlgorithmDiffersFromOtherNodes,
            DuplicateNodeId,
            InvalidConfigNodeList,
            InvalidMembershipNodeList,
        ]
    };

    pub fn code(self) -> u16 {
        self as u16
    }
}

/// TLS_SUPPORTED values; also the server's `-s off|on|req` mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum TlsMode {
    Unsupported = 0,
    #[default]
    Supported = 1,
    Required = 2,
}

impl TlsMode {
    pub fn from_u8(v: u8) -> Option<TlsMode> {
        match v {
            0 => Some(TlsMode::Unsupported),
            1 => Some(TlsMode::Supported),
            2 => Some(TlsMode::Required),
            _ => None,
        }
    }
    /// The status tool's words.
    pub fn as_str(self) -> &'static str {
        match self {
            TlsMode::Unsupported => "Unsupported",
            TlsMode::Supported => "Supported",
            TlsMode::Required => "Required",
        }
    }
}

/// DECISION_ALGORITHM values. The TLV is not range-checked by the decoder (kept as u16 in
/// [`Message`]); the engine refuses unknown values with UNSUPPORTED_DECISION_ALGORITHM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum Algorithm {
    Test = 0,
    Ffsplit = 1,
    TwoNodeLms = 2,
    Lms = 3,
}

impl Algorithm {
    pub const ALL: [Algorithm; 4] = [
        Algorithm::Test,
        Algorithm::Ffsplit,
        Algorithm::TwoNodeLms,
        Algorithm::Lms,
    ];
    pub fn from_u16(v: u16) -> Option<Algorithm> {
        Algorithm::ALL.get(usize::from(v)).copied()
    }
    /// The status tool's words.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Test => "Test",
            Algorithm::Ffsplit => "Fifty-Fifty split",
            Algorithm::TwoNodeLms => "2 Node LMS",
            Algorithm::Lms => "LMS",
        }
    }
}

/// NODE_STATE values (0 = not set, never on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum NodeState {
    Member = 1,
    Dead = 2,
    Leaving = 3,
}

impl NodeState {
    pub fn from_u8(v: u8) -> Option<NodeState> {
        match v {
            1 => Some(NodeState::Member),
            2 => Some(NodeState::Dead),
            3 => Some(NodeState::Leaving),
            _ => None,
        }
    }
}

/// NODE_LIST_TYPE values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum NodeListType {
    InitialConfig = 0,
    ChangedConfig = 1,
    Membership = 2,
    Quorum = 3,
}

impl NodeListType {
    pub fn from_u8(v: u8) -> Option<NodeListType> {
        match v {
            0 => Some(NodeListType::InitialConfig),
            1 => Some(NodeListType::ChangedConfig),
            2 => Some(NodeListType::Membership),
            3 => Some(NodeListType::Quorum),
            _ => None,
        }
    }
}

/// VOTE values (0 = undefined, never on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Vote {
    Ack = 1,
    Nack = 2,
    AskLater = 3,
    WaitForReply = 4,
    NoChange = 5,
}

impl Vote {
    /// Every vote, in code order: `ALL[code - 1]` is the vote with that code.
    pub const ALL: [Vote; 5] = [
        Vote::Ack,
        Vote::Nack,
        Vote::AskLater,
        Vote::WaitForReply,
        Vote::NoChange,
    ];

    pub fn from_u8(v: u8) -> Option<Vote> {
        match v {
            1 => Some(Vote::Ack),
            2 => Some(Vote::Nack),
            3 => Some(Vote::AskLater),
            4 => Some(Vote::WaitForReply),
            5 => Some(Vote::NoChange),
            _ => None,
        }
    }
    pub fn is_ack_or_nack(self) -> bool {
        matches!(self, Vote::Ack | Vote::Nack)
    }
    /// The status tool's words.
    pub fn as_str(self) -> &'static str {
        match self {
            Vote::Ack => "ACK",
            Vote::Nack => "NACK",
            Vote::AskLater => "Ask later",
            Vote::WaitForReply => "Wait for reply",
            Vote::NoChange => "No change",
        }
    }
    /// The word of JSON, the status table and metric labels (snake_case).
    pub fn word(self) -> &'static str {
        match self {
            Vote::Ack => "ack",
            Vote::Nack => "nack",
            Vote::AskLater => "ask_later",
            Vote::WaitForReply => "wait_for_reply",
            Vote::NoChange => "no_change",
        }
    }
}

/// HEURISTICS values. `Undefined` (0) is never on the wire: the decoder rejects it and the
/// engine uses it for "no result known".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum Heuristics {
    #[default]
    Undefined = 0,
    Pass = 1,
    Fail = 2,
}

impl Heuristics {
    /// Wire decoding: only PASS and FAIL are valid.
    pub fn from_wire(v: u8) -> Option<Heuristics> {
        match v {
            1 => Some(Heuristics::Pass),
            2 => Some(Heuristics::Fail),
            _ => None,
        }
    }
    /// Upstream's `tlv_heuristics_cmp` order: PASS > UNDEFINED > FAIL.
    pub fn rank(self) -> i8 {
        match self {
            Heuristics::Pass => 1,
            Heuristics::Undefined => 0,
            Heuristics::Fail => -1,
        }
    }
    /// The status tool's words.
    pub fn as_str(self) -> &'static str {
        match self {
            Heuristics::Undefined => "Undefined",
            Heuristics::Pass => "Pass",
            Heuristics::Fail => "Fail",
        }
    }
}

/// TIE_BREAKER: u8 mode + u32 node id (the node id only matters for `NodeId`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TieBreaker {
    Lowest,
    Highest,
    NodeId(u32),
}

impl TieBreaker {
    pub fn mode(self) -> u8 {
        match self {
            TieBreaker::Lowest => 1,
            TieBreaker::Highest => 2,
            TieBreaker::NodeId(_) => 3,
        }
    }
    /// Node id as encoded on the wire (0 unless mode is NODE_ID).
    pub fn wire_node_id(self) -> u32 {
        match self {
            TieBreaker::NodeId(id) => id,
            _ => 0,
        }
    }
    /// Decode mode + node id; the node id is ignored unless mode is 3.
    pub fn from_wire(mode: u8, node_id: u32) -> Option<TieBreaker> {
        match mode {
            1 => Some(TieBreaker::Lowest),
            2 => Some(TieBreaker::Highest),
            3 => Some(TieBreaker::NodeId(node_id)),
            _ => None,
        }
    }
    /// The status tool's words.
    pub fn describe(self) -> String {
        match self {
            TieBreaker::Lowest => "Node with lowest node ID".to_string(),
            TieBreaker::Highest => "Node with highest node ID".to_string(),
            TieBreaker::NodeId(id) => format!("Node with node ID {id}"),
        }
    }
}

/// RING_ID: u32 node id + u64 sequence. Displayed as `%x.%llx`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct RingId {
    pub node_id: u32,
    pub seq: u64,
}

impl std::fmt::Display for RingId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:x}.{:x}", self.node_id, self.seq)
    }
}

/// One NODE_INFO entry (a nested TLV stream on the wire). `data_center_id` 0 = not set;
/// `state` None = not set.
///
/// Packed: 9 bytes instead of 12 (two u32 and a one-byte state, padded to 4). A node keeps
/// three lists of up to 384 of these, so this is 3.4 KB of the worst client's 21.6 KB
/// (docs/daemon.md, "Memory"). Fields are read by value (`{ n.node_id }`, or a pattern), as
/// Rust allows no reference into a packed struct.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(C, packed)]
pub struct NodeInfo {
    pub node_id: u32,
    pub data_center_id: u32,
    pub state: Option<NodeState>,
}

impl NodeInfo {
    pub fn new(node_id: u32) -> NodeInfo {
        NodeInfo {
            node_id,
            data_center_id: 0,
            state: None,
        }
    }
}

/// A decoded message: every field upstream's `struct msg_decoded` has, each `Some` only if its
/// TLV was present. A repeated TLV overwrites the earlier value; NODE_INFO entries accumulate in
/// order of appearance (duplicates kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub msg_type: MsgType,
    pub seq: Option<u32>,
    pub cluster_name: Option<Vec<u8>>,
    pub tls_supported: Option<TlsMode>,
    /// Not range-checked by upstream's decoder: any u8, nonzero = true.
    pub tls_client_cert_required: Option<u8>,
    pub supported_messages: Option<Vec<u16>>,
    pub supported_options: Option<Vec<u16>>,
    /// Not range-checked by upstream's decoder.
    pub reply_error_code: Option<u16>,
    pub server_max_request_size: Option<u32>,
    pub server_max_reply_size: Option<u32>,
    pub node_id: Option<u32>,
    pub supported_algorithms: Option<Vec<u16>>,
    /// Not range-checked by upstream's decoder.
    pub decision_algorithm: Option<u16>,
    pub heartbeat_interval: Option<u32>,
    pub ring_id: Option<RingId>,
    pub config_version: Option<u64>,
    pub data_center_id: Option<u32>,
    pub node_state: Option<NodeState>,
    pub nodes: Vec<NodeInfo>,
    pub node_list_type: Option<NodeListType>,
    pub vote: Option<Vote>,
    /// QUORATE: false = INQUORATE (0), true = QUORATE (1).
    pub quorate: Option<bool>,
    pub tie_breaker: Option<TieBreaker>,
    pub heuristics: Option<Heuristics>,
    pub keep_active_partition_tie_breaker: Option<bool>,
}

impl Message {
    /// A message of `msg_type` with no TLVs set.
    pub fn new(msg_type: MsgType) -> Message {
        Message {
            msg_type,
            seq: None,
            cluster_name: None,
            tls_supported: None,
            tls_client_cert_required: None,
            supported_messages: None,
            supported_options: None,
            reply_error_code: None,
            server_max_request_size: None,
            server_max_reply_size: None,
            node_id: None,
            supported_algorithms: None,
            decision_algorithm: None,
            heartbeat_interval: None,
            ring_id: None,
            config_version: None,
            data_center_id: None,
            node_state: None,
            nodes: Vec::new(),
            node_list_type: None,
            vote: None,
            quorate: None,
            tie_breaker: None,
            heuristics: None,
            keep_active_partition_tie_breaker: None,
        }
    }
}

/// Why a message could not be decoded. The reply is SERVER_ERROR{ERROR_DECODING_MSG}, carrying
/// `seq` only when the SEQ TLV had been decoded before the failing TLV (upstream behaviour).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    pub seq: Option<u32>,
    pub reason: DecodeErrorKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeErrorKind {
    /// Payload empty, a TLV header or value runs past the end, or trailing bytes.
    Truncated,
    /// A fixed-size TLV has the wrong length (or an array has an odd length).
    BadLength { option: u16 },
    /// An enumerated TLV holds a value outside its range (or NODE_INFO with node id 0/missing).
    OutOfRange { option: u16 },
    /// The header's message type is not 0..=17 (the framing layer normally skips these first).
    UnknownMessageType { msg_type: u16 },
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.reason {
            DecodeErrorKind::Truncated => write!(f, "message truncated or has trailing bytes"),
            DecodeErrorKind::BadLength { option } => {
                write!(f, "option {option} has a wrong length")
            }
            DecodeErrorKind::OutOfRange { option } => {
                write!(f, "option {option} has a value out of range")
            }
            DecodeErrorKind::UnknownMessageType { msg_type } => {
                write!(f, "unknown message type {msg_type}")
            }
        }
    }
}

impl std::error::Error for DecodeError {}
