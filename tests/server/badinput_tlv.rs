//! Bad TLVs against the running daemon: unknown option types, duplicated options, wrongly
//! sized and out-of-range values. Answers as upstream's decoder gives them (docs/protocol.md,
//! "Decoding rules"); a healthy client of another cluster keeps its vote throughout.
//! QNETD_BADINPUT_UPSTREAM=1 runs the same checks against Debian's corosync-qnetd.

use crate::support::badinput as badinput_support;

use badinput_support::*;

#[test]
fn unknown_option_types_are_ignored() {
    let b = Bench::start(Options::default());
    let mut c = Client::connect(b.port());
    let r = c.request(
        &preinit(1, "unknown-tlv")
            .tlv(200, b"future")
            .tlv(0xFFFF, &[]),
    );
    assert_eq!((r.msg_type, r.seq()), (t::PREINIT_REPLY, Some(1)), "{r:?}");
    b.finish();
}

#[test]
fn echo_with_unknown_options_comes_back_verbatim() {
    let b = Bench::start(Options::default());
    let mut c = Client::plain_init(b.port(), "echo-extra", 1);
    let req = echo(1).tlv(300, &[9, 9, 9]);
    c.send_msg(&req);
    let reply = c.recv();
    let mut expected = req.bytes();
    expected[1] = t::ECHO_REPLY as u8;
    assert_eq!(reply, Reply::parse(&expected));
    b.finish();
}

#[test]
fn a_repeated_option_overwrites_the_earlier_one() {
    let b = Bench::start(Options::default());
    let mut c = Client::connect(b.port());
    let r = c.request(&preinit(1, "dup").seq(7));
    assert_eq!((r.msg_type, r.seq()), (t::PREINIT_REPLY, Some(7)), "{r:?}");
    b.finish();
}

#[test]
fn duplicated_node_infos_are_accepted() {
    let b = Bench::start(Options::default());
    let mut c = Client::plain_init(b.port(), "dup-nodes", 1);
    let r = c.request(&config_list(3, &[1, 2, 2, 1]));
    assert_eq!(
        (r.msg_type, r.seq()),
        (t::NODE_LIST_REPLY, Some(3)),
        "{r:?}"
    );
    b.finish();
}

#[test]
fn wrongly_sized_seq_is_an_error_without_seq() {
    let b = Bench::start(Options::default());
    let mut c = Client::connect(b.port());
    c.send_msg(&Msg::new(t::PREINIT).tlv(0, &[0, 1]).tlv(1, b"x"));
    c.expect_error(None, 9);
    b.finish();
}

#[test]
fn wrongly_sized_option_after_seq_is_an_error_with_seq() {
    let b = Bench::start(Options::default());
    let mut c = Client::connect(b.port());
    c.send_msg(&preinit(5, "size").tlv(o::TLS_SUPPORTED, &[0, 1]));
    c.expect_error(Some(5), 9);
    // A wrongly sized option before SEQ: no SEQ in the answer.
    c.send_msg(&Msg::new(t::PREINIT).tlv(o::TLS_SUPPORTED, &[]).seq(6));
    c.expect_error(None, 9);
    b.finish();
}

#[test]
fn wrongly_sized_ring_id_in_init_is_a_server_error_not_an_init_reply() {
    let b = Bench::start(Options::default());
    let mut c = Client::connect(b.port());
    c.request(&preinit(1, "ring"));
    c.send_msg(&Msg::new(t::INIT).seq(2).tlv(o::RING_ID, &[0; 8]));
    c.expect_error(Some(2), 9);
    b.finish();
}

#[test]
fn odd_length_array_is_an_error() {
    let b = Bench::start(Options::default());
    let mut c = Client::connect(b.port());
    c.request(&preinit(1, "array"));
    c.send_msg(
        &Msg::new(t::INIT)
            .seq(2)
            .tlv(o::SUPPORTED_MESSAGES, &[0, 1, 0]),
    );
    c.expect_error(Some(2), 9);
    b.finish();
}

#[test]
fn out_of_range_enums_are_errors() {
    let b = Bench::start(Options::default());
    let mut c = Client::plain_init(b.port(), "range", 1);
    // NODE_LIST_TYPE 9, QUORATE 2, HEURISTICS 0, TIE_BREAKER mode 0, NODE_INFO with node id 0.
    c.send_msg(&Msg::new(t::NODE_LIST).seq(3).u8(o::NODE_LIST_TYPE, 9));
    c.expect_error(Some(3), 9);
    c.send_msg(
        &Msg::new(t::NODE_LIST)
            .seq(4)
            .u8(o::NODE_LIST_TYPE, 3)
            .u8(o::QUORATE, 2),
    );
    c.expect_error(Some(4), 9);
    c.send_msg(&membership_list(5, (1, 2), &[1]).u8(o::HEURISTICS, 0));
    c.expect_error(Some(5), 9);
    c.send_msg(
        &Msg::new(t::INIT)
            .seq(6)
            .tlv(o::TIE_BREAKER, &[0, 0, 0, 0, 1]),
    );
    c.expect_error(Some(6), 9);
    c.send_msg(&config_list(7, &[0]));
    c.expect_error(Some(7), 9);
    b.finish();
}

#[test]
fn node_info_without_node_id_is_an_error() {
    let b = Bench::start(Options::default());
    let mut c = Client::plain_init(b.port(), "noid", 1);
    // NODE_INFO holding only a NODE_STATE.
    let m = Msg::new(t::NODE_LIST)
        .seq(3)
        .u8(o::NODE_LIST_TYPE, 0)
        .tlv(o::NODE_INFO, &[0, 16, 0, 1, 1]);
    c.send_msg(&m);
    c.expect_error(Some(3), 9);
    b.finish();
}
