//! The plug-in contract of jingle-interop: what an implementation of a call endpoint needs and
//! nothing else — the [`Endpoint`] trait with its inputs and outputs, the implementation conformance
//! statement ([`Ics`]), simulated time ([`SimTime`]), seeded randomness ([`SimRng`]) and the XML
//! helpers endpoints build stanzas with ([`xml`]).
//!
//! An implementation depends on this crate (and on `stun-codec` if it speaks STUN), not on the
//! harness: the harness, which drives endpoints through its simulator, re-exports these modules
//! (`harness::endpoint`, `harness::xml`, `harness::SimTime`, `harness::sim::SimRng`) so its callers
//! need not change.
#![warn(missing_docs, unreachable_pub)]

pub mod endpoint;
mod rng;
pub mod time;
pub mod xml;

pub use endpoint::{
    CallClaim, Endpoint, EndpointConfig, EndpointEvent, Ics, ImplEntry, Input, KnobCheck, LiveContext, LiveMake,
    Output, Registry, Renomination, UserAction, CAPABILITIES,
};
pub use rng::SimRng;
pub use time::{SimTime, SIM_EPOCH_UNIX};
