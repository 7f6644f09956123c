//! A cluster's coordinator: plays corosync for its nodes. Once every node is connected it
//! sends membership lists one node after the other (as nodes joining a ring would), then the
//! quorum lists, and measures how long each node waits for its vote. On a churn order it
//! splits the cluster into single-node partitions or merges it back.
//!
//! Vote latency = from the write of the membership list that completes the cluster's view
//! (the last node's) until a node receives VOTE_INFO with ACK/NACK for its new ring. With
//! ffsplit a split needs a round trip of the NACKed node before the ACK is released; that is
//! part of the latency a real cluster sees too.

use crate::client::{Command, Event};
use qnetd::proto::types::{NodeListType, RingId, Vote};
use smol::channel::{Receiver, Sender};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Ramp,
    Churn,
    Restart,
}

/// Results all coordinators share.
#[derive(Default)]
pub struct Votes {
    pub latencies_us: Vec<(Phase, u64)>,
    /// Clusters whose nodes all hold a vote for their current rings.
    pub settled: usize,
    /// Votes that did not arrive within the wait limit.
    pub timeouts: u64,
    pub phase: Option<Phase>,
}

pub struct Coordinator {
    pub node_ids: Vec<u32>,
    pub commands: Vec<Sender<Command>>,
    pub events: Receiver<Event>,
    pub churn: Receiver<()>,
    pub votes: Rc<RefCell<Votes>>,
    pub vote_wait: Duration,
}

enum Outcome {
    Settled,
    /// A node went away: wait for everyone to be back.
    Lost,
    /// A node's task ended (the load generator is stopping), or the event channel closed:
    /// nothing will ever come back. Retrying here spun without awaiting anything and starved
    /// the executor: a failed ramp-up against corosync-qnetd hung the run at 100% CPU.
    Gone,
}

impl Coordinator {
    pub async fn run(mut self) {
        let n = self.node_ids.len();
        let mut ready = vec![false; n];
        let mut ring_seq = 1u64;
        loop {
            // Wait until every node has a session.
            while !ready.iter().all(|r| *r) {
                match self.events.recv().await {
                    Ok(Event::Ready { node }) => ready[node] = true,
                    Ok(Event::Disconnected { node }) => ready[node] = false,
                    Ok(_) => {}
                    Err(_) => return,
                }
            }
            ring_seq += 1;
            let all = self.node_ids.clone();
            let plan: Vec<(RingId, Vec<u32>)> = (0..n)
                .map(|_| {
                    (
                        RingId {
                            node_id: all[0],
                            seq: ring_seq,
                        },
                        all.clone(),
                    )
                })
                .collect();
            match self.converge(&plan, &mut ready).await {
                Outcome::Lost => continue,
                Outcome::Gone => return,
                Outcome::Settled => self.votes.borrow_mut().settled += 1,
            }
            // Steady: wait for churn orders or a lost node.
            let mut split = false;
            loop {
                match smol::future::FutureExt::or(
                    async { Wake::Churn(self.churn.recv().await.is_ok()) },
                    async { Wake::Event(self.events.recv().await.ok()) },
                )
                .await
                {
                    Wake::Churn(false) | Wake::Event(None) => return,
                    Wake::Event(Some(Event::Disconnected { node })) => {
                        ready[node] = false;
                        self.votes.borrow_mut().settled -= 1;
                        break;
                    }
                    Wake::Event(Some(_)) => {}
                    Wake::Churn(true) => {
                        ring_seq += 1;
                        split = !split;
                        let plan: Vec<(RingId, Vec<u32>)> = if split {
                            all.iter()
                                .map(|id| {
                                    (
                                        RingId {
                                            node_id: *id,
                                            seq: ring_seq,
                                        },
                                        vec![*id],
                                    )
                                })
                                .collect()
                        } else {
                            (0..n)
                                .map(|_| {
                                    (
                                        RingId {
                                            node_id: all[0],
                                            seq: ring_seq,
                                        },
                                        all.clone(),
                                    )
                                })
                                .collect()
                        };
                        self.votes.borrow_mut().settled -= 1;
                        match self.converge(&plan, &mut ready).await {
                            Outcome::Lost => break,
                            Outcome::Gone => return,
                            Outcome::Settled => self.votes.borrow_mut().settled += 1,
                        }
                    }
                }
            }
        }
    }

    /// Sends node i the membership plan[i] (waiting for each NODE_LIST_REPLY), then waits
    /// until every node got an ACK/NACK for its ring, then sends the quorum lists.
    async fn converge(&mut self, plan: &[(RingId, Vec<u32>)], ready: &mut [bool]) -> Outcome {
        let n = plan.len();
        let mut voted: Vec<Option<Instant>> = vec![None; n];
        let mut completed_at: Option<Instant> = None;
        for (i, (ring, nodes)) in plan.iter().enumerate() {
            let cmd = Command::Membership {
                ring: *ring,
                nodes: nodes.clone(),
            };
            if self.commands[i].send(cmd).await.is_err() {
                return Outcome::Gone;
            }
            // Wait for this node's NODE_LIST_REPLY before the next node "joins".
            loop {
                match self.next_event().await {
                    None => return Outcome::Gone,
                    Some(Event::Disconnected { node }) => {
                        ready[node] = false;
                        return Outcome::Lost;
                    }
                    Some(Event::MembershipSent { node, at }) if node == i && i == n - 1 => {
                        completed_at = Some(at)
                    }
                    Some(Event::Vote {
                        node,
                        vote,
                        ring,
                        at,
                    }) => record_vote(&mut voted, plan, node, vote, ring, at),
                    Some(Event::NodeListReply {
                        node,
                        kind: NodeListType::Membership,
                    }) if node == i => break,
                    Some(_) => {}
                }
            }
        }
        // Every node's vote, measured from the completing list.
        let deadline = Instant::now() + self.vote_wait;
        while voted.iter().any(Option::is_none) {
            let ev =
                smol::future::FutureExt::or(async { self.next_event().await.map(Some) }, async {
                    smol::Timer::at(deadline).await;
                    Some(None)
                })
                .await;
            match ev {
                None => return Outcome::Gone,
                Some(None) => {
                    self.votes.borrow_mut().timeouts += 1;
                    break;
                }
                Some(Some(Event::Disconnected { node })) => {
                    ready[node] = false;
                    return Outcome::Lost;
                }
                Some(Some(Event::Vote {
                    node,
                    vote,
                    ring,
                    at,
                })) => record_vote(&mut voted, plan, node, vote, ring, at),
                Some(Some(_)) => {}
            }
        }
        if let Some(t0) = completed_at {
            let mut v = self.votes.borrow_mut();
            if let Some(phase) = v.phase {
                for at in voted.iter().flatten() {
                    let us = at.saturating_duration_since(t0).as_micros() as u64;
                    v.latencies_us.push((phase, us));
                }
            }
        }
        for (i, (_, nodes)) in plan.iter().enumerate() {
            let cmd = Command::Quorum {
                nodes: nodes.clone(),
            };
            if self.commands[i].send(cmd).await.is_err() {
                return Outcome::Gone;
            }
        }
        Outcome::Settled
    }

    async fn next_event(&self) -> Option<Event> {
        self.events.recv().await.ok()
    }
}

enum Wake {
    Churn(bool),
    Event(Option<Event>),
}

fn record_vote(
    voted: &mut [Option<Instant>],
    plan: &[(RingId, Vec<u32>)],
    node: usize,
    vote: Vote,
    ring: Option<RingId>,
    at: Instant,
) {
    if vote.is_ack_or_nack() && ring == Some(plan[node].0) && voted[node].is_none() {
        voted[node] = Some(at);
    }
}
