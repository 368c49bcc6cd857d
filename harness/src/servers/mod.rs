//! Servers inside the simulator, on public addresses: STUN (Binding), TURN (RFC 8656 relays with TURN REST
//! credentials) and XMPP.

pub mod stun;
pub mod turn;
pub mod xmpp;
