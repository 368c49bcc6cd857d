//! jingle-interop harness: a deterministic, event-driven network simulator with NATs, STUN and XMPP
//! servers inside, that drives sans-IO call endpoints through XEP-0353 and Jingle, records every
//! datagram and stanza in a Trace, and judges the Trace against the specifications.
//!
//! Entry points: [`conform`] (the whole job), [`run::run`] (one run), [`checks`] (the judge).
//! **Architecture invariant:** this crate knows no implementation; callers fill an
//! [`endpoint::Registry`].
#![warn(missing_docs)]

pub mod capture;
pub mod checks;
pub mod conform;
pub mod live;
pub use endpoint_contract::endpoint;
pub mod ladder;
pub mod net;
pub mod report;
pub mod run;
pub mod scenario;
pub mod servers;
pub mod sim;
pub use endpoint_contract::time;
pub use stun_codec as stun;
pub mod trace;
pub mod wire;
pub use endpoint_contract::xml;

pub use time::{SimTime, SIM_EPOCH_UNIX};
