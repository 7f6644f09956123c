//! Resource abuse against the running daemon: a client that sends one byte at a time, and
//! connections past the client limit (accepted, then closed without a word, as upstream does,
//! docs/protocol.md, "Disconnects"). A healthy client of another cluster keeps its echo replies
//! and its vote throughout: one slow client must not hold the daemon up.
//! QNETD_BADINPUT_UPSTREAM=1 runs the same checks against Debian's corosync-qnetd.

use crate::support::badinput as badinput_support;

use badinput_support::*;
use std::time::Duration;

#[test]
fn a_client_sending_one_byte_at_a_time_is_served_and_holds_nobody_up() {
    let b = Bench::start(Options::default());
    let mut slow = Client::connect(b.port());
    // A stalled half message on a second connection for the whole test.
    let mut stalled = Client::connect(b.port());
    stalled.send(&preinit(1, "stalled").bytes()[..9]);
    // ~30 bytes at 10 per second; the healthy client echoes every 250 ms meanwhile.
    for byte in preinit(1, "slow-client").bytes() {
        slow.send(&[byte]);
        std::thread::sleep(Duration::from_millis(100));
    }
    let r = slow.recv();
    assert_eq!((r.msg_type, r.seq()), (t::PREINIT_REPLY, Some(1)), "{r:?}");
    stalled.expect_silence(Duration::from_millis(100));
    b.finish();
}

#[test]
fn connections_past_max_clients_are_closed_without_a_message() {
    // The healthy client is one of the two allowed.
    let b = Bench::start(Options {
        max_clients: 2,
        ..Options::default()
    });
    let mut second = Client::connect(b.port());
    let r = second.request(&preinit(1, "second"));
    assert_eq!(r.msg_type, t::PREINIT_REPLY, "{r:?}");
    for _ in 0..3 {
        let mut extra = Client::connect(b.port());
        extra.expect_closed();
    }
    // A place becomes free: the next client is served.
    drop(second);
    std::thread::sleep(Duration::from_millis(300));
    let mut next = Client::connect(b.port());
    let r = next.request(&preinit(1, "next"));
    assert_eq!(r.msg_type, t::PREINIT_REPLY, "{r:?}");
    b.finish();
}
