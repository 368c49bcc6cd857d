//! A sans-IO ICE agent, RFC 8445 (full agent, regular nomination), as the conforming yardstick:
//! checks, nomination, keepalives (§11), consent freshness (RFC 7675) and restart (§9).
//!
//! Time and packets are inputs; transmits and events wait in queues. What it does not do yet is
//! listed in ARCHITECTURE.md.

mod agent;
mod candidate;
mod driver;

pub use agent::{IceAgent, IceConfig, IceEvent, IceState, Nomination, PairSelection, Role, Transmit};
pub use candidate::{pair_priority, priority, Candidate, CandidateType};
pub use driver::{
    host_candidate, reference_driver, DriverEvent, DriverFactory, DriverState, IceDriver, IceServer, Loopback, Sent,
    StackCall, StackFactory, FOREIGN_ADDR, REFERENCE_ADDR,
};
