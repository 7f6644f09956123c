//! Who may connect: the connection limits, counted at accept time.
//!
//! The accept loop asks [`Admission::admit`] before it spawns a client task; a yes is a
//! [`Ticket`] that the task owns, and dropping it (however the task ends: a close, an error,
//! the daemon shutting down) gives the place back. Counting here rather than in the tasks'
//! tables is what makes the limits exact under a burst: the accept loop accepts a whole
//! backlog before any new task has run, so a table the tasks fill is always behind.

use std::cell::RefCell;
use std::rc::Rc;

/// The limits; 0 = unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limits {
    /// Connected clients, initialised or not (`-m`).
    pub max_clients: usize,
}

/// Why a connection is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// `max_clients` connections are open.
    MaxClients(usize),
}

impl Refusal {
    /// The reason as the log shows it.
    pub fn words(&self) -> String {
        match self {
            Refusal::MaxClients(max) => {
                format!("{max} clients are connected already (max clients, -m)")
            }
        }
    }
}

#[derive(Debug, Default)]
struct Counts {
    clients: usize,
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

    /// Admit one more connection, or say why not.
    pub fn admit(&self) -> Result<Ticket, Refusal> {
        let mut counts = self.counts.borrow_mut();
        let max = self.limits.max_clients;
        if max != 0 && counts.clients >= max {
            return Err(Refusal::MaxClients(max));
        }
        counts.clients += 1;
        Ok(Ticket {
            counts: self.counts.clone(),
        })
    }

    /// Connections holding a ticket now.
    pub fn clients(&self) -> usize {
        self.counts.borrow().clients
    }
}

/// One admitted connection's place; dropping it frees the place.
#[derive(Debug)]
pub struct Ticket {
    counts: Rc<RefCell<Counts>>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut counts = self.counts.borrow_mut();
        counts.clients = counts.clients.saturating_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_clients_is_exact_and_places_come_back_on_drop() {
        let a = Admission::new(Limits { max_clients: 2 });
        let t1 = a.admit().unwrap();
        let t2 = a.admit().unwrap();
        assert_eq!(a.admit().unwrap_err(), Refusal::MaxClients(2));
        assert_eq!(a.clients(), 2);
        drop(t1);
        assert_eq!(a.clients(), 1);
        let _t3 = a.admit().unwrap();
        assert!(a.admit().is_err());
        drop(t2);
        assert!(a.admit().is_ok());
    }

    #[test]
    fn zero_is_unlimited() {
        let a = Admission::new(Limits::default());
        let tickets: Vec<Ticket> = (0..1000).map(|_| a.admit().unwrap()).collect();
        assert_eq!(a.clients(), 1000);
        drop(tickets);
        assert_eq!(a.clients(), 0);
    }
}
