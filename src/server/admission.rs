//! Who may connect: the connection limits, counted at accept time.
//!
//! Every listener of the daemon (the qnetd port, HTTP, the status socket) counts its
//! connections here, each with an [`Admission`] of its own limits. The accept loop
//! ([`super::accept`]) asks [`Admission::admit`] before it spawns a connection's task; a yes
//! is a [`Ticket`] that the task owns, and dropping it (however the task ends: a close, an
//! error, the daemon shutting down) gives the place back. Counting here rather than in the tasks'
//! tables is what makes the limits exact under a burst: the accept loop accepts a whole
//! backlog before any new task has run, so a table the tasks fill is always behind.
//!
//! Until its INIT is accepted a connection also holds a pre-INIT place, globally and for its
//! source address. A flood of connections that never INIT from one host then fills only that
//! host's share (`max_preinit_per_address`), and a flood from many hosts at most
//! `max_preinit_clients` places, for at most `handshake_timeout` each; real nodes INIT within
//! milliseconds and leave the pre-INIT count at once.
//!
//! Once INIT'd, a connection counts against its source's share of sessions
//! (`max_clients_per_address`): a host that INITs session after session (in a cluster of its
//! own naming) would otherwise fill `max_clients` and leave real nodes, each one connection
//! from its own address, no place. The share is checked when the INIT arrives
//! ([`Ticket::may_init`]); the driver refuses that INIT and closes the connection.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::rc::Rc;

/// The limits; 0 = unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limits {
    /// Connected clients, initialised or not (`-m`).
    pub max_clients: usize,
    /// Connections whose INIT was not accepted yet.
    pub max_preinit: usize,
    /// The same, from one [`Source`].
    pub max_preinit_per_address: usize,
    /// INIT'd sessions from one [`Source`].
    pub max_clients_per_address: usize,
}

/// Where a connection comes from, as the per-address cap counts it: an IPv4 address (IPv4
/// peers of the dual-stack socket unmapped), or an IPv6 /64, since one IPv6 host can use any
/// address of its /64 (privacy addresses) and would otherwise not be limited at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Source(IpAddr);

impl Source {
    pub fn of(ip: IpAddr) -> Source {
        match ip {
            IpAddr::V4(v4) => Source(IpAddr::V4(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Source(IpAddr::V4(v4)),
                None => {
                    let s = v6.segments();
                    Source(IpAddr::V6(Ipv6Addr::new(
                        s[0], s[1], s[2], s[3], 0, 0, 0, 0,
                    )))
                }
            },
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => write!(f, "{v4}"),
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
        }
    }
}

/// Why a connection is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// `max_clients` connections are open.
    MaxClients(usize),
    /// `max_preinit` connections have not finished INIT.
    Preinit(usize),
    /// `max_preinit_per_address` connections from this source have not finished INIT.
    PreinitFromSource(usize, Source),
}

impl Refusal {
    /// The limits a connection can be refused by, as `/metrics` labels them (the settings'
    /// names), in the order of [`Refusal::index`].
    pub const LIMITS: [&'static str; 3] = [
        "max_clients",
        "max_preinit_clients",
        "max_preinit_per_address",
    ];

    /// This refusal's place in [`Refusal::LIMITS`].
    pub fn index(&self) -> usize {
        match self {
            Refusal::MaxClients(_) => 0,
            Refusal::Preinit(_) => 1,
            Refusal::PreinitFromSource(..) => 2,
        }
    }

    /// The kind of log line, for rate limiting.
    pub fn kind(&self) -> &'static str {
        match self {
            Refusal::MaxClients(_) => "refused: max clients",
            Refusal::Preinit(_) => "refused: max_preinit_clients",
            Refusal::PreinitFromSource(..) => "refused: max_preinit_per_address",
        }
    }

    /// The reason as the log shows it.
    pub fn words(&self) -> String {
        match self {
            Refusal::MaxClients(max) => {
                format!("{max} clients are connected already (max clients, -m)")
            }
            Refusal::Preinit(max) => {
                format!("{max} connections have not finished INIT yet (max_preinit_clients)")
            }
            Refusal::PreinitFromSource(max, source) => format!(
                "{max} connections from {source} have not finished INIT yet \
                 (max_preinit_per_address)"
            ),
        }
    }
}

/// An INIT refused because its source has its share of sessions already.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareFull {
    pub max: usize,
    pub source: Source,
}

impl ShareFull {
    /// The reason as the log shows it.
    pub fn words(&self) -> String {
        format!(
            "{} sessions from {} have finished INIT already (max_clients_per_address)",
            self.max, self.source
        )
    }
}

#[derive(Debug, Default)]
struct Counts {
    clients: usize,
    /// The most `clients` since [`Admission::take_peak`] last asked.
    peak: usize,
    preinit: usize,
    /// Only sources with pre-INIT connections: entries go when their count reaches 0, so a
    /// flood from many addresses leaves nothing behind.
    preinit_by_source: HashMap<Source, usize>,
    /// INIT'd sessions, by source; entries go when their count reaches 0.
    initialised_by_source: HashMap<Source, usize>,
}

/// One less for `source` in `map`; the entry goes at 0, and the table's memory with the last.
fn decrement(map: &mut HashMap<Source, usize>, source: Source) {
    if let Some(n) = map.get_mut(&source) {
        *n -= 1;
        if *n == 0 {
            map.remove(&source);
            if map.is_empty() {
                map.shrink_to_fit();
            }
        }
    }
}

impl Counts {
    fn leave_preinit(&mut self, source: Option<Source>) {
        self.preinit = self.preinit.saturating_sub(1);
        if let Some(source) = source {
            decrement(&mut self.preinit_by_source, source);
        }
    }
}

/// The counts of open connections, shared by the accept loop and the tickets (one thread).
#[derive(Debug, Clone)]
pub struct Admission {
    limits: Limits,
    counts: Rc<RefCell<Counts>>,
}

impl Admission {
    pub fn new(limits: Limits) -> Admission {
        Admission {
            limits,
            counts: Rc::default(),
        }
    }

    /// Admit one more connection from `peer`, or say why not. A peer without an address
    /// (the status socket's local clients) has no source and no per-source caps.
    pub fn admit(&self, peer: Option<IpAddr>) -> Result<Ticket, Refusal> {
        let source = peer.map(Source::of);
        let mut counts = self.counts.borrow_mut();
        let over = |max: usize, n: usize| max != 0 && n >= max;
        let l = &self.limits;
        if over(l.max_clients, counts.clients) {
            return Err(Refusal::MaxClients(l.max_clients));
        }
        if over(l.max_preinit, counts.preinit) {
            return Err(Refusal::Preinit(l.max_preinit));
        }
        if let Some(source) = source {
            let from_source = counts.preinit_by_source.get(&source).copied().unwrap_or(0);
            if over(l.max_preinit_per_address, from_source) {
                return Err(Refusal::PreinitFromSource(
                    l.max_preinit_per_address,
                    source,
                ));
            }
            *counts.preinit_by_source.entry(source).or_insert(0) += 1;
        }
        counts.clients += 1;
        counts.peak = counts.peak.max(counts.clients);
        counts.preinit += 1;
        Ok(Ticket {
            counts: self.counts.clone(),
            source,
            state: TicketState::Preinit,
            max_per_source: l.max_clients_per_address,
        })
    }

    /// Connections holding a ticket now.
    pub fn clients(&self) -> usize {
        self.counts.borrow().clients
    }

    /// The most connections held at once since the last call (at least the number now);
    /// starts again from the number now.
    pub fn take_peak(&self) -> usize {
        let mut counts = self.counts.borrow_mut();
        let peak = counts.peak.max(counts.clients);
        counts.peak = counts.clients;
        peak
    }

    /// Of those, the ones whose INIT was not accepted yet.
    pub fn preinit(&self) -> usize {
        self.counts.borrow().preinit
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TicketState {
    /// Counted against the pre-INIT caps.
    Preinit,
    /// Counted against its source's share of sessions.
    Initialised,
}

/// One admitted connection's place; dropping it frees the place.
#[derive(Debug)]
pub struct Ticket {
    counts: Rc<RefCell<Counts>>,
    /// None for a local client: no per-source count (the same size as a `Source`).
    source: Option<Source>,
    state: TicketState,
    /// `max_clients_per_address` (0 = unlimited).
    max_per_source: usize,
}

impl Ticket {
    /// Whether this connection's INIT may be accepted: its source has fewer INIT'd sessions
    /// than its share. Always yes once the connection is INIT'd (a second INIT is the
    /// engine's to answer).
    pub fn may_init(&self) -> Result<(), ShareFull> {
        let Some(source) = self.source else {
            return Ok(());
        };
        if self.state == TicketState::Initialised || self.max_per_source == 0 {
            return Ok(());
        }
        let counts = self.counts.borrow();
        let n = counts.initialised_by_source.get(&source).copied();
        if n.unwrap_or(0) >= self.max_per_source {
            return Err(ShareFull {
                max: self.max_per_source,
                source,
            });
        }
        Ok(())
    }

    /// The connection's INIT was accepted: it leaves the pre-INIT caps and counts against
    /// its source's share of sessions.
    pub fn initialised(&mut self) {
        if self.state == TicketState::Preinit {
            self.state = TicketState::Initialised;
            let mut counts = self.counts.borrow_mut();
            counts.leave_preinit(self.source);
            if let Some(source) = self.source {
                *counts.initialised_by_source.entry(source).or_insert(0) += 1;
            }
        }
    }

    /// Whether [`Ticket::initialised`] is still to come.
    pub fn is_preinit(&self) -> bool {
        self.state == TicketState::Preinit
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut counts = self.counts.borrow_mut();
        match self.state {
            TicketState::Preinit => counts.leave_preinit(self.source),
            TicketState::Initialised => {
                if let Some(source) = self.source {
                    decrement(&mut counts.initialised_by_source, source);
                }
            }
        }
        counts.clients = counts.clients.saturating_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn limits(max_clients: usize, max_preinit: usize, per_address: usize) -> Limits {
        Limits {
            max_clients,
            max_preinit,
            max_preinit_per_address: per_address,
            max_clients_per_address: 0,
        }
    }

    #[test]
    fn max_clients_is_exact_and_places_come_back_on_drop() {
        let a = Admission::new(limits(2, 0, 0));
        let t1 = a.admit(Some(ip("10.0.0.1"))).unwrap();
        let t2 = a.admit(Some(ip("10.0.0.2"))).unwrap();
        assert_eq!(
            a.admit(Some(ip("10.0.0.3"))).unwrap_err(),
            Refusal::MaxClients(2)
        );
        assert_eq!(a.clients(), 2);
        drop(t1);
        assert_eq!(a.clients(), 1);
        let _t3 = a.admit(Some(ip("10.0.0.3"))).unwrap();
        assert!(a.admit(Some(ip("10.0.0.3"))).is_err());
        drop(t2);
        assert!(a.admit(Some(ip("10.0.0.3"))).is_ok());
    }

    #[test]
    fn the_peak_is_kept_until_taken() {
        let a = Admission::new(Limits::default());
        let tickets: Vec<Ticket> = (0..5)
            .map(|_| a.admit(Some(ip("10.0.0.1"))).unwrap())
            .collect();
        let keep = a.admit(Some(ip("10.0.0.2"))).unwrap();
        drop(tickets);
        assert_eq!(a.take_peak(), 6);
        // Taken: it starts again from the one connection left.
        assert_eq!(a.take_peak(), 1);
        drop(keep);
        assert_eq!(a.take_peak(), 1);
        assert_eq!(a.take_peak(), 0);
    }

    #[test]
    fn zero_is_unlimited() {
        let a = Admission::new(Limits::default());
        let tickets: Vec<Ticket> = (0..1000)
            .map(|_| a.admit(Some(ip("10.0.0.1"))).unwrap())
            .collect();
        assert_eq!((a.clients(), a.preinit()), (1000, 1000));
        drop(tickets);
        assert_eq!((a.clients(), a.preinit()), (0, 0));
        assert!(a.counts.borrow().preinit_by_source.is_empty());
    }

    #[test]
    fn a_source_has_a_share_of_initialised_sessions() {
        let a = Admission::new(Limits {
            max_clients_per_address: 2,
            ..Limits::default()
        });
        let mut hog: Vec<Ticket> = (0..3)
            .map(|_| a.admit(Some(ip("10.0.0.9"))).unwrap())
            .collect();
        for t in &mut hog[..2] {
            t.may_init().unwrap();
            t.initialised();
        }
        // Its INIT'd sessions may INIT again (the engine answers that); a third may not.
        assert!(hog[0].may_init().is_ok());
        let full = hog[2].may_init().unwrap_err();
        assert_eq!(
            full.words(),
            "2 sessions from 10.0.0.9 have finished INIT already (max_clients_per_address)"
        );
        // Another address, and an IPv6 host's neighbour /64, have shares of their own.
        let mut node = a.admit(Some(ip("10.0.0.1"))).unwrap();
        assert!(node.may_init().is_ok());
        node.initialised();
        // A session that goes gives its place in the share back.
        hog.remove(0);
        assert!(hog[1].may_init().is_ok());
        drop(hog);
        drop(node);
        assert!(a.counts.borrow().initialised_by_source.is_empty());
        assert_eq!((a.clients(), a.preinit()), (0, 0));
    }

    #[test]
    fn one_source_fills_only_its_share_and_init_frees_it() {
        let a = Admission::new(limits(0, 10, 3));
        let mut flood: Vec<Ticket> = (0..3)
            .map(|_| a.admit(Some(ip("10.0.0.9"))).unwrap())
            .collect();
        let refused = a.admit(Some(ip("10.0.0.9"))).unwrap_err();
        assert_eq!(
            refused.words(),
            "3 connections from 10.0.0.9 have not finished INIT yet (max_preinit_per_address)"
        );
        // Another host still gets in.
        let mut node = a.admit(Some(ip("10.0.0.1"))).unwrap();
        node.initialised();
        assert!(!node.is_preinit());
        assert_eq!((a.clients(), a.preinit()), (4, 3));
        // A flooder's connection that INITs frees its pre-INIT place but keeps its client one.
        flood[0].initialised();
        flood[0].initialised(); // twice is once
        assert_eq!((a.clients(), a.preinit()), (4, 2));
        assert!(a.admit(Some(ip("10.0.0.9"))).is_ok());
        drop(flood);
        drop(node);
        assert_eq!((a.clients(), a.preinit()), (0, 0));
    }

    #[test]
    fn global_preinit_cap_counts_every_source() {
        let a = Admission::new(limits(0, 2, 0));
        let t1 = a.admit(Some(ip("10.0.0.1"))).unwrap();
        let _t2 = a.admit(Some(ip("10.0.0.2"))).unwrap();
        assert_eq!(
            a.admit(Some(ip("10.0.0.3"))).unwrap_err(),
            Refusal::Preinit(2)
        );
        drop(t1);
        assert!(a.admit(Some(ip("10.0.0.3"))).is_ok());
    }

    #[test]
    fn a_local_client_counts_against_max_clients_only() {
        let a = Admission::new(Limits {
            max_clients: 2,
            max_preinit_per_address: 1,
            max_clients_per_address: 1,
            ..Limits::default()
        });
        let mut local = a.admit(None).unwrap();
        assert!(local.may_init().is_ok());
        local.initialised();
        let second = a.admit(None).unwrap();
        assert_eq!(a.admit(None).unwrap_err(), Refusal::MaxClients(2));
        {
            let counts = a.counts.borrow();
            assert!(counts.preinit_by_source.is_empty());
            assert!(counts.initialised_by_source.is_empty());
        }
        drop((local, second));
        assert_eq!((a.clients(), a.preinit()), (0, 0));
    }

    #[test]
    fn sources_unmap_ipv4_and_group_ipv6_by_64() {
        assert_eq!(
            Source::of(ip("::ffff:10.0.0.5")),
            Source::of(ip("10.0.0.5"))
        );
        assert_eq!(
            Source::of(ip("2001:db8:1:2::1")),
            Source::of(ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd"))
        );
        assert_ne!(
            Source::of(ip("2001:db8:1:2::1")),
            Source::of(ip("2001:db8:1:3::1"))
        );
        assert_eq!(
            Source::of(ip("2001:db8:1:2::1")).to_string(),
            "2001:db8:1:2::/64"
        );
        let a = Admission::new(limits(0, 0, 1));
        let _t = a.admit(Some(ip("2001:db8::1"))).unwrap();
        assert!(a.admit(Some(ip("2001:db8::2"))).is_err());
        assert!(a.admit(Some(ip("2001:db8:0:1::2"))).is_ok());
    }
}
