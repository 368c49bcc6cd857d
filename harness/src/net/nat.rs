//! NAT behaviour as RFC 4787 defines it: mapping, filtering, port assignment, timers, hairpinning.
//!
//! Every parameter is independent, so the classic names are just points in the space
//! (`port-restricted-cone` = endpoint-independent mapping + address-and-port-dependent filtering).

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::sim::SimRng;
use crate::time::SimTime;

/// How a NAT reuses an external address for one internal address, RFC 4787 §4.1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MappingBehaviour {
    /// One mapping for every destination (REQ-1).
    EndpointIndependent,
    /// A new mapping per destination IP.
    AddressDependent,
    /// A new mapping per destination IP and port ("symmetric").
    AddressAndPortDependent,
}

/// Which inbound packets a mapping admits, RFC 4787 §5.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FilteringBehaviour {
    /// Any source.
    EndpointIndependent,
    /// Only IPs the mapping has sent to.
    AddressDependent,
    /// Only IP:port pairs the mapping has sent to.
    AddressAndPortDependent,
}

/// How the external port of a new mapping is chosen, RFC 4787 §4.2.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PortAssignment {
    /// Keep the internal port when it is free, else the next free one upward.
    PreserveWhenFree,
    /// Each new mapping takes the next port after the previous one.
    Sequential,
    /// A uniformly random free port (from the NAT's seeded stream).
    Random,
}

/// The full set of NAT parameters; a named profile is one of these.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct NatBehaviour {
    /// Mapping behaviour, RFC 4787 §4.1.
    pub mapping: MappingBehaviour,
    /// Filtering behaviour, RFC 4787 §5.
    pub filtering: FilteringBehaviour,
    /// Port assignment, RFC 4787 §4.2.
    pub port_assignment: PortAssignment,
    /// Keep the parity of the internal port (RFC 4787 REQ-4).
    #[serde(default)]
    pub port_parity: bool,
    /// Idle time after which a UDP mapping expires, in ms (REQ-5: at least 120000; 300000 recommended).
    pub mapping_lifetime_ms: u64,
    /// Whether inbound packets refresh a mapping (REQ-6a allows it).
    #[serde(default)]
    pub inbound_refresh: bool,
    /// Whether a host may reach another host behind the same NAT through the external address (REQ-9).
    pub hairpinning: bool,
}

/// Why a NAT dropped a packet; recorded in the trace as evidence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NatDrop {
    /// Inbound to an external port that has no mapping (never made, or expired).
    NoMapping {
        /// The external port the packet was sent to.
        port: u16,
    },
    /// Inbound from a source the filter does not admit.
    Filtered {
        /// The NAT's filtering behaviour.
        behaviour: FilteringBehaviour,
        /// The rejected source.
        from: SocketAddr,
    },
    /// No external port is free.
    PortsExhausted,
    /// Hairpinning is off and the packet was addressed to this NAT's own external address.
    NoHairpin,
}

impl std::fmt::Display for NatDrop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NatDrop::NoMapping { port } => write!(f, "no mapping for external port {port}"),
            NatDrop::Filtered { behaviour, from } => {
                write!(f, "filtered ({behaviour:?} filtering): nothing was sent to {from}")
            }
            NatDrop::PortsExhausted => write!(f, "no free external port"),
            NatDrop::NoHairpin => write!(f, "hairpinning is off"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum DestKey {
    Any,
    Ip(IpAddr),
    IpPort(SocketAddr),
}

#[derive(Debug)]
struct Mapping {
    internal: SocketAddr,
    key: DestKey,
    // Filter state: only ever probed with `contains`, never iterated, so hash order reaches no output.
    sent_to: HashSet<SocketAddr>,
    sent_ips: HashSet<IpAddr>,
    last_active: SimTime,
}

/// One NAT: a single external IP (paired pooling, REQ-2) and its mapping table.
///
/// Lookups are O(1) hash lookups; no table is ever iterated, so hash order cannot reach an output.
#[derive(Debug)]
pub struct Nat {
    /// The external (public) IP.
    pub external_ip: IpAddr,
    /// Its parameters.
    pub behaviour: NatBehaviour,
    by_key: HashMap<(SocketAddr, DestKey), u16>,
    by_port: HashMap<u16, Mapping>,
    next_port: u16,
    rng: SimRng,
}

const PORT_LO: u16 = 1024;

impl Nat {
    /// A NAT with external address `external_ip` behaving as `behaviour`, drawing random ports from `rng`.
    pub fn new(external_ip: IpAddr, behaviour: NatBehaviour, rng: SimRng) -> Nat {
        Nat {
            external_ip,
            behaviour,
            by_key: HashMap::default(),
            by_port: HashMap::default(),
            next_port: 49152,
            rng,
        }
    }

    fn lifetime(&self) -> Duration {
        Duration::from_millis(self.behaviour.mapping_lifetime_ms)
    }

    fn dest_key(&self, dst: SocketAddr) -> DestKey {
        match self.behaviour.mapping {
            MappingBehaviour::EndpointIndependent => DestKey::Any,
            MappingBehaviour::AddressDependent => DestKey::Ip(dst.ip()),
            MappingBehaviour::AddressAndPortDependent => DestKey::IpPort(dst),
        }
    }

    /// Removes the mapping on `port` if it has been idle for its lifetime (REQ-5); frees the port.
    fn expire(&mut self, now: SimTime, port: u16) {
        let expired = match self.by_port.get(&port) {
            Some(m) => now.saturating_since(m.last_active) >= self.lifetime(),
            None => false,
        };
        if expired {
            let m = self.by_port.remove(&port).expect("checked above");
            self.by_key.remove(&(m.internal, m.key));
        }
    }

    fn port_free(&mut self, now: SimTime, p: u16) -> bool {
        self.expire(now, p);
        p >= PORT_LO && !self.by_port.contains_key(&p)
    }

    fn allocate_port(&mut self, now: SimTime, internal: u16) -> Option<u16> {
        let parity_ok = |p: u16, b: &NatBehaviour| !b.port_parity || p % 2 == internal % 2;
        match self.behaviour.port_assignment {
            PortAssignment::PreserveWhenFree => {
                let mut p = internal.max(PORT_LO);
                for _ in 0..=(u16::MAX - PORT_LO) {
                    if parity_ok(p, &self.behaviour) && self.port_free(now, p) {
                        return Some(p);
                    }
                    p = if p == u16::MAX { PORT_LO } else { p + 1 };
                }
                None
            }
            PortAssignment::Sequential => {
                for _ in 0..=(u16::MAX - PORT_LO) {
                    let p = self.next_port;
                    self.next_port = if p == u16::MAX { PORT_LO } else { p + 1 };
                    if parity_ok(p, &self.behaviour) && self.port_free(now, p) {
                        return Some(p);
                    }
                }
                None
            }
            PortAssignment::Random => {
                for _ in 0..64 {
                    let p = self.rng.range(PORT_LO as u64, u16::MAX as u64) as u16;
                    if parity_ok(p, &self.behaviour) && self.port_free(now, p) {
                        return Some(p);
                    }
                }
                None
            }
        }
    }

    /// Translates an outbound packet from internal `src` to `dst`: returns the external source
    /// address, creating or refreshing the mapping (REQ-6) and opening the filter for `dst`.
    ///
    /// Errors: [`NatDrop::PortsExhausted`].
    pub fn outbound(&mut self, now: SimTime, src: SocketAddr, dst: SocketAddr) -> Result<SocketAddr, NatDrop> {
        let key = (src, self.dest_key(dst));
        if let Some(&port) = self.by_key.get(&key) {
            self.expire(now, port);
        }
        let port = match self.by_key.get(&key) {
            Some(&p) => p,
            None => {
                let p = self.allocate_port(now, src.port()).ok_or(NatDrop::PortsExhausted)?;
                self.by_key.insert(key, p);
                self.by_port.insert(
                    p,
                    Mapping {
                        internal: src,
                        key: key.1,
                        sent_to: HashSet::default(),
                        sent_ips: HashSet::default(),
                        last_active: now,
                    },
                );
                p
            }
        };
        let m = self.by_port.get_mut(&port).expect("mapping exists");
        m.last_active = now;
        m.sent_to.insert(dst);
        m.sent_ips.insert(dst.ip());
        Ok(SocketAddr::new(self.external_ip, port))
    }

    /// Filters and translates an inbound packet from `src` to external `dst`: returns the internal
    /// destination.
    ///
    /// Errors: [`NatDrop::NoMapping`] or [`NatDrop::Filtered`].
    pub fn inbound(&mut self, now: SimTime, src: SocketAddr, dst: SocketAddr) -> Result<SocketAddr, NatDrop> {
        self.expire(now, dst.port());
        let filtering = self.behaviour.filtering;
        let refresh = self.behaviour.inbound_refresh;
        let m = self
            .by_port
            .get_mut(&dst.port())
            .ok_or(NatDrop::NoMapping { port: dst.port() })?;
        let admitted = match filtering {
            FilteringBehaviour::EndpointIndependent => true,
            FilteringBehaviour::AddressDependent => m.sent_ips.contains(&src.ip()),
            FilteringBehaviour::AddressAndPortDependent => m.sent_to.contains(&src),
        };
        if !admitted {
            return Err(NatDrop::Filtered {
                behaviour: filtering,
                from: src,
            });
        }
        if refresh {
            m.last_active = now;
        }
        Ok(m.internal)
    }

    /// Number of live (possibly expired but not yet collected) mappings; for tests.
    pub fn mapping_count(&self) -> usize {
        self.by_port.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn behaviour(m: MappingBehaviour, f: FilteringBehaviour, p: PortAssignment) -> NatBehaviour {
        NatBehaviour {
            mapping: m,
            filtering: f,
            port_assignment: p,
            port_parity: false,
            mapping_lifetime_ms: 120_000,
            inbound_refresh: false,
            hairpinning: true,
        }
    }

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn nat(m: MappingBehaviour, f: FilteringBehaviour, p: PortAssignment) -> Nat {
        Nat::new(
            "203.0.113.1".parse().unwrap(),
            behaviour(m, f, p),
            SimRng::derive(1, "nat"),
        )
    }

    proptest! {
        #[test]
        fn eim_reuses_one_port_for_every_destination(dsts in proptest::collection::vec((1u8..250, 1u16..65535), 1..20)) {
            let mut n = nat(MappingBehaviour::EndpointIndependent, FilteringBehaviour::AddressAndPortDependent, PortAssignment::Random);
            let src = sa("10.0.0.2:5000");
            let first = n.outbound(SimTime::ZERO, src, sa("198.51.100.1:1")).unwrap();
            for (ip, port) in dsts {
                let d = SocketAddr::new(IpAddr::from([198, 51, 100, ip]), port);
                prop_assert_eq!(n.outbound(SimTime::ZERO, src, d).unwrap(), first);
            }
        }

        #[test]
        fn apdf_admits_only_what_was_sent_to(sent in proptest::collection::vec(1u16..1000, 1..10), probe in 1u16..1000) {
            let mut n = nat(MappingBehaviour::EndpointIndependent, FilteringBehaviour::AddressAndPortDependent, PortAssignment::PreserveWhenFree);
            let src = sa("10.0.0.2:5000");
            let mut ext = None;
            for p in &sent {
                ext = Some(n.outbound(SimTime::ZERO, src, SocketAddr::new("198.51.100.7".parse().unwrap(), *p)).unwrap());
            }
            let from = SocketAddr::new("198.51.100.7".parse().unwrap(), probe);
            let r = n.inbound(SimTime::ZERO, from, ext.unwrap());
            prop_assert_eq!(r.is_ok(), sent.contains(&probe));
            // Another IP is never admitted.
            prop_assert!(n.inbound(SimTime::ZERO, sa("198.51.100.8:1"), ext.unwrap()).is_err());
        }

        #[test]
        fn apdm_gives_a_new_port_per_destination(ports in proptest::collection::btree_set(1u16..65535, 2..10)) {
            let mut n = nat(MappingBehaviour::AddressAndPortDependent, FilteringBehaviour::AddressAndPortDependent, PortAssignment::Sequential);
            let src = sa("10.0.0.2:5000");
            let ext: Vec<u16> = ports.iter().map(|p| n.outbound(SimTime::ZERO, src, SocketAddr::new("198.51.100.7".parse().unwrap(), *p)).unwrap().port()).collect();
            // Sequential assignment is predictable: consecutive ports.
            for w in ext.windows(2) {
                prop_assert_eq!(w[1], w[0] + 1);
            }
        }

        #[test]
        fn port_parity_is_kept_when_asked(internal in 1024u16..65000, assignment in 0usize..3, n_maps in 1usize..8) {
            let p = [PortAssignment::PreserveWhenFree, PortAssignment::Sequential, PortAssignment::Random][assignment];
            let mut b = behaviour(MappingBehaviour::AddressAndPortDependent, FilteringBehaviour::AddressAndPortDependent, p);
            b.port_parity = true;
            let mut n = Nat::new("203.0.113.1".parse().unwrap(), b, SimRng::derive(2, "nat"));
            let src = SocketAddr::new("10.0.0.2".parse().unwrap(), internal);
            for k in 0..n_maps {
                let ext = n.outbound(SimTime::ZERO, src, SocketAddr::new("198.51.100.7".parse().unwrap(), 1000 + k as u16)).unwrap();
                prop_assert_eq!(ext.port() % 2, internal % 2);
            }
        }

        #[test]
        fn an_idle_mapping_expires_exactly_after_its_lifetime(lifetime_s in 1u64..600, idle_ms in 0u64..700_000) {
            let mut b = behaviour(MappingBehaviour::EndpointIndependent, FilteringBehaviour::EndpointIndependent, PortAssignment::PreserveWhenFree);
            b.mapping_lifetime_ms = lifetime_s * 1000;
            let mut n = Nat::new("203.0.113.1".parse().unwrap(), b, SimRng::derive(3, "nat"));
            let ext = n.outbound(SimTime::ZERO, sa("10.0.0.2:5000"), sa("198.51.100.1:1")).unwrap();
            let alive = n.inbound(SimTime::from_millis(idle_ms), sa("198.51.100.9:9"), ext).is_ok();
            prop_assert_eq!(alive, idle_ms < lifetime_s * 1000);
            // An expired mapping frees its port: the next outbound takes it again (preserve-when-free).
            if !alive {
                prop_assert_eq!(n.mapping_count(), 0);
            }
        }
    }

    #[test]
    fn idle_mapping_expires_after_lifetime_and_outbound_refreshes() {
        let mut n = nat(
            MappingBehaviour::EndpointIndependent,
            FilteringBehaviour::EndpointIndependent,
            PortAssignment::PreserveWhenFree,
        );
        let src = sa("10.0.0.2:5000");
        let ext = n.outbound(SimTime::ZERO, src, sa("198.51.100.1:1")).unwrap();
        let t1 = SimTime::from_millis(119_999);
        assert!(n.inbound(t1, sa("198.51.100.9:9"), ext).is_ok());
        // Inbound does not refresh here, so the mapping dies 120 s after the last outbound packet.
        assert_eq!(
            n.inbound(SimTime::from_millis(120_000), sa("198.51.100.9:9"), ext),
            Err(NatDrop::NoMapping { port: ext.port() })
        );
        assert_eq!(n.mapping_count(), 0);
    }

    #[test]
    fn address_dependent_filter_admits_any_port_of_a_contacted_ip() {
        let mut n = nat(
            MappingBehaviour::EndpointIndependent,
            FilteringBehaviour::AddressDependent,
            PortAssignment::PreserveWhenFree,
        );
        let ext = n
            .outbound(SimTime::ZERO, sa("10.0.0.2:5000"), sa("198.51.100.1:1"))
            .unwrap();
        assert!(n.inbound(SimTime::ZERO, sa("198.51.100.1:999"), ext).is_ok());
        assert!(matches!(
            n.inbound(SimTime::ZERO, sa("198.51.100.2:1"), ext),
            Err(NatDrop::Filtered { .. })
        ));
    }
}
