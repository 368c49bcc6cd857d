//! Servers inside the simulator, on public addresses: STUN (and later TURN) and XMPP.

pub mod stun;
pub mod xmpp;
