//! Candidates and their priorities, RFC 8445 §5.1.

use std::fmt;
use std::net::SocketAddr;

/// Candidate type, RFC 8445 §5.1.1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CandidateType {
    /// A host interface address.
    Host,
    /// Learned from a STUN server: the NAT mapping of a host candidate.
    ServerReflexive,
    /// Learned from a connectivity check.
    PeerReflexive,
    /// A TURN allocation.
    Relayed,
}

impl CandidateType {
    /// Recommended type preference, RFC 8445 §5.1.2.2: host 126, prflx 110, srflx 100, relay 0.
    pub fn preference(self) -> u32 {
        match self {
            CandidateType::Host => 126,
            CandidateType::PeerReflexive => 110,
            CandidateType::ServerReflexive => 100,
            CandidateType::Relayed => 0,
        }
    }
    /// The XEP-0176 `type` attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            CandidateType::Host => "host",
            CandidateType::ServerReflexive => "srflx",
            CandidateType::PeerReflexive => "prflx",
            CandidateType::Relayed => "relay",
        }
    }
    /// Parses an XEP-0176 `type` attribute value.
    pub fn parse(s: &str) -> Option<CandidateType> {
        Some(match s {
            "host" => CandidateType::Host,
            "srflx" => CandidateType::ServerReflexive,
            "prflx" => CandidateType::PeerReflexive,
            "relay" => CandidateType::Relayed,
            _ => return None,
        })
    }
}

impl fmt::Display for CandidateType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Candidate priority, RFC 8445 §5.1.2.1: `2^24·type_pref + 2^8·local_pref + (256 − component)`.
pub fn priority(typ: CandidateType, local_pref: u16, component: u8) -> u32 {
    (typ.preference() << 24) | ((local_pref as u32) << 8) | (256 - component as u32)
}

/// Candidate pair priority, RFC 8445 §6.1.2.3: `2^32·MIN(G,D) + 2·MAX(G,D) + (G>D ? 1 : 0)`, where G is
/// the controlling agent's candidate priority and D the controlled agent's.
pub fn pair_priority(g: u32, d: u32) -> u64 {
    let (g, d) = (g as u64, d as u64);
    (g.min(d) << 32) + 2 * g.max(d) + u64::from(g > d)
}

/// A candidate, local or remote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// Transport address.
    pub addr: SocketAddr,
    /// Base: the address checks are sent from (RFC 8445 §5.1.1.1); for remote candidates, `addr`.
    pub base: SocketAddr,
    /// Type.
    pub typ: CandidateType,
    /// Priority.
    pub priority: u32,
    /// Foundation, RFC 8445 §5.1.1.3.
    pub foundation: String,
    /// Component: 1 = RTP (2 = RTCP without rtcp-mux).
    pub component: u8,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priorities_match_the_vectors() {
        // harness/tests/vectors/priorities.csv (RFC 8445 §5.1.2.1)
        assert_eq!(priority(CandidateType::Host, 65535, 1), 2130706431);
        assert_eq!(priority(CandidateType::Host, 65535, 2), 2130706430);
        assert_eq!(priority(CandidateType::PeerReflexive, 65535, 1), 1862270975);
        assert_eq!(priority(CandidateType::ServerReflexive, 65535, 1), 1694498815);
        assert_eq!(priority(CandidateType::Relayed, 65535, 1), 16777215);
        // G > D adds one; the pair priority is symmetric otherwise.
        assert_eq!(pair_priority(2, 1), (1u64 << 32) + 4 + 1);
        assert_eq!(pair_priority(1, 2), (1u64 << 32) + 4);
        assert_eq!(pair_priority(2130706431, 1694498815), 7277816997797167103);
        assert_eq!(pair_priority(1694498815, 2130706431), 7277816997797167102);
        assert_eq!(pair_priority(16777215, 2130706431), 72057594004373502);
        assert_eq!(pair_priority(2130706431, 2130706431), 9151314442783293438);
    }
}
