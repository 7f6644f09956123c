//! Messages out of order or missing what they need, against the running daemon: each gets
//! upstream's answer (docs/protocol.md, "Session sequence" and "INIT checks": SERVER_ERROR codes, INIT_REPLY codes, or
//! a close), and a healthy client of another cluster keeps its vote throughout.
//! QNETD_BADINPUT_UPSTREAM=1 runs the same checks against Debian's corosync-qnetd.

use crate::support::badinput as badinput_support;

use badinput_support::*;

#[test]
fn starttls_before_preinit_is_preinit_required() {
    let b = Bench::start(Options::default());
    let mut c = Client::connect(b.port());
    c.send_msg(&Msg::new(t::STARTTLS).seq(1));
    c.expect_error(Some(1), 6);
    b.finish();
}

#[test]
fn init_before_preinit_is_an_init_reply_with_preinit_required() {
    let b = Bench::start(Options::default());
    let mut c = Client::connect(b.port());
    let r = c.request(&init(1, 1, 8000));
    assert_eq!(
        (r.msg_type, r.seq(), r.error()),
        (t::INIT_REPLY, Some(1), Some(6)),
        "{r:?}"
    );
    b.finish();
}

#[test]
fn messages_before_init_are_init_required() {
    let b = Bench::start(Options::default());
    let mut c = Client::connect(b.port());
    c.request(&preinit(1, "early"));
    c.send_msg(&echo(2));
    c.expect_error(Some(2), 11);
    c.send_msg(&config_list(3, &[1, 2]));
    c.expect_error(Some(3), 11);
    c.send_msg(&Msg::new(t::SET_OPTION).seq(4));
    c.expect_error(Some(4), 11);
    c.send_msg(&Msg::new(t::VOTE_INFO_REPLY).seq(5));
    c.expect_error(Some(5), 11);
    c.send_msg(&Msg::new(t::ASK_FOR_VOTE).seq(6));
    c.expect_error(Some(6), 11);
    b.finish();
}

#[test]
fn server_to_client_types_are_unexpected() {
    let b = Bench::start(Options::default());
    let mut c = Client::connect(b.port());
    for (seq, ty) in [
        (1, t::PREINIT_REPLY),
        (2, t::SERVER_ERROR),
        (3, t::VOTE_INFO),
        (4, t::ECHO_REPLY),
    ] {
        c.send_msg(&Msg::new(ty).seq(seq));
        c.expect_error(Some(seq), 8);
    }
    b.finish();
}

#[test]
fn a_second_init_is_a_duplicate_node_id() {
    let b = Bench::start(Options::default());
    let mut c = Client::plain_init(b.port(), "twice", 1);
    let r = c.request(&init(3, 1, 8000));
    assert_eq!(
        (r.msg_type, r.seq(), r.error()),
        (t::INIT_REPLY, Some(3), Some(17)),
        "{r:?}"
    );
    b.finish();
}

#[test]
fn missing_required_options_are_reported() {
    let b = Bench::start(Options::default());
    let mut c = Client::connect(b.port());
    // PREINIT without CLUSTER_NAME.
    c.send_msg(&Msg::new(t::PREINIT).seq(1));
    c.expect_error(Some(1), 7);
    c.request(&preinit(2, "missing"));
    let r = c.request(&init(3, 1, 8000));
    assert_eq!(r.error(), Some(0), "{r:?}");
    // NODE_LIST without type; membership without RING_ID; quorum without QUORATE.
    c.send_msg(&Msg::new(t::NODE_LIST).seq(4).node(1));
    c.expect_error(Some(4), 7);
    c.send_msg(
        &Msg::new(t::NODE_LIST)
            .seq(5)
            .u8(o::NODE_LIST_TYPE, 2)
            .node(1),
    );
    c.expect_error(Some(5), 7);
    c.send_msg(
        &Msg::new(t::NODE_LIST)
            .seq(6)
            .u8(o::NODE_LIST_TYPE, 3)
            .node(1),
    );
    c.expect_error(Some(6), 7);
    b.finish();
}

#[test]
fn ffsplit_refuses_lists_without_the_sender_and_ask_for_vote() {
    let b = Bench::start(Options::default());
    let mut c = Client::plain_init(b.port(), "lists", 1);
    c.send_msg(&config_list(3, &[2, 3]));
    c.expect_error(Some(3), 18);
    let r = c.request(&config_list(4, &[1, 2]));
    assert_eq!(r.msg_type, t::NODE_LIST_REPLY, "{r:?}");
    c.send_msg(&membership_list(5, (2, 9), &[2]));
    c.expect_error(Some(5), 19);
    c.send_msg(&Msg::new(t::ASK_FOR_VOTE).seq(6));
    c.expect_error(Some(6), 14);
    b.finish();
}

#[test]
fn init_with_a_different_algorithm_than_the_cluster_is_refused() {
    let b = Bench::start(Options::default());
    let _first = Client::plain_init(b.port(), "mixed", 1);
    let mut c = Client::connect(b.port());
    c.request(&preinit(1, "mixed"));
    let lms = Msg::new(t::INIT)
        .seq(2)
        .u32(o::NODE_ID, 2)
        .u16(o::DECISION_ALGORITHM, 3)
        .u32(o::HEARTBEAT_INTERVAL, 8000)
        .tlv(o::TIE_BREAKER, &[1, 0, 0, 0, 0])
        .ring(1, 1);
    let r = c.request(&lms);
    assert_eq!((r.msg_type, r.error()), (t::INIT_REPLY, Some(16)), "{r:?}");
    // Same node id as the first client.
    let mut d = Client::connect(b.port());
    d.request(&preinit(1, "mixed"));
    let r = d.request(&init(2, 1, 8000));
    assert_eq!((r.msg_type, r.error()), (t::INIT_REPLY, Some(17)), "{r:?}");
    b.finish();
}

#[test]
fn heartbeat_out_of_range_is_refused() {
    let b = Bench::start(Options::default());
    let mut c = Client::connect(b.port());
    c.request(&preinit(1, "hb"));
    let r = c.request(&init(2, 1, 999));
    assert_eq!((r.msg_type, r.error()), (t::INIT_REPLY, Some(13)), "{r:?}");
    let r = c.request(&init(3, 1, 120_001));
    assert_eq!((r.msg_type, r.error()), (t::INIT_REPLY, Some(13)), "{r:?}");
    b.finish();
}

#[test]
fn starttls_on_a_server_without_tls_closes_the_connection() {
    let b = Bench::start(Options::default());
    let mut c = Client::connect(b.port());
    c.request(&preinit(1, "notls"));
    c.send_msg(&Msg::new(t::STARTTLS).seq(2));
    c.expect_closed();
    b.finish();
}
