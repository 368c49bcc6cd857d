//! A stateful firewall at a site's edge: ordered allow/deny rules by protocol, direction and remote
//! port, plus connection state so replies to permitted outbound traffic come back in.
//!
//! It sits outside the site's outermost NAT, so rules and state see public addresses. Like a real
//! packet filter it drops silently; the simulator records why (`firewall: ...`) as trace evidence.

use rustc_hash::FxHashMap as HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::time::SimTime;

/// Transport protocol of a packet or stream, as firewall rules name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Proto {
    /// UDP datagrams.
    Udp,
    /// TCP streams (plain TCP and TLS over TCP alike).
    Tcp,
}

/// Which protocols a rule matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProtoMatch {
    /// UDP only.
    Udp,
    /// TCP only.
    Tcp,
    /// Both.
    Any,
}

/// The direction a rule applies to, seen from the site.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// From the site to the Internet.
    Outbound,
    /// From the Internet into the site (unsolicited; replies are admitted by connection state).
    Inbound,
}

/// What a rule or the default does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Let the packet through (outbound: and remember the flow so replies come back).
    Allow,
    /// Drop it silently.
    Deny,
}

/// One rule; the first rule that matches a packet decides.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Rule {
    /// Allow or deny.
    pub action: Action,
    /// Protocols matched.
    pub proto: ProtoMatch,
    /// Direction matched.
    pub direction: Direction,
    /// Ports matched: the remote port for outbound, the local (destination) port for inbound.
    /// Absent: any port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<Vec<u16>>,
}

/// A firewall's configuration, as written in `profiles.yaml`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FirewallSpec {
    /// Ordered rules.
    pub rules: Vec<Rule>,
    /// What happens to a packet no rule matches (and that is not a reply to an allowed flow).
    pub default: Action,
    /// Idle time in ms after which a UDP flow's state is forgotten (replies are then dropped);
    /// TCP state lives as long as the stream.
    #[serde(default = "default_udp_state_ms")]
    pub udp_state_lifetime_ms: u64,
}

fn default_udp_state_ms() -> u64 {
    120_000
}

/// Why the firewall dropped a packet; recorded in the trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FirewallDrop {
    /// The protocol of the dropped packet.
    pub proto: Proto,
    /// Direction seen from the site.
    pub direction: Direction,
    /// Index of the deny rule that matched, or `None` for the default policy.
    pub rule: Option<usize>,
}

impl std::fmt::Display for FirewallDrop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let dir = match self.direction {
            Direction::Outbound => "outbound",
            Direction::Inbound => "inbound",
        };
        let proto = match self.proto {
            Proto::Udp => "udp",
            Proto::Tcp => "tcp",
        };
        match self.rule {
            Some(i) => write!(f, "firewall: {dir} {proto} denied by rule {}", i + 1),
            None => write!(f, "firewall: {dir} {proto} denied by the default policy"),
        }
    }
}

/// A firewall with its flow table.
///
/// The flow table is only probed by key, never iterated, so hash order cannot reach an output.
#[derive(Debug)]
pub struct Firewall {
    /// Its configuration.
    pub spec: FirewallSpec,
    flows: HashMap<(Proto, SocketAddr, SocketAddr), SimTime>,
}

impl Firewall {
    /// A firewall with no flows yet.
    pub fn new(spec: FirewallSpec) -> Firewall {
        Firewall {
            spec,
            flows: HashMap::default(),
        }
    }

    fn decide(&self, proto: Proto, direction: Direction, port: u16) -> (Action, Option<usize>) {
        for (i, r) in self.spec.rules.iter().enumerate() {
            let proto_ok = matches!(
                (r.proto, proto),
                (ProtoMatch::Any, _) | (ProtoMatch::Udp, Proto::Udp) | (ProtoMatch::Tcp, Proto::Tcp)
            );
            let port_ok = r.ports.as_ref().is_none_or(|p| p.contains(&port));
            if proto_ok && r.direction == direction && port_ok {
                return (r.action, Some(i));
            }
        }
        (self.spec.default, None)
    }

    /// Whether the rules let a new outbound connection of `proto` to `port` out (no state involved).
    pub fn permits_outbound(&self, proto: Proto, port: u16) -> bool {
        self.decide(proto, Direction::Outbound, port).0 == Action::Allow
    }

    /// A packet leaving the site from `local` (public side) to `remote` at `now`. Allowed packets
    /// open or refresh the flow so that replies from `remote` to `local` are admitted.
    pub fn outbound(
        &mut self,
        now: SimTime,
        proto: Proto,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Result<(), FirewallDrop> {
        match self.decide(proto, Direction::Outbound, remote.port()) {
            (Action::Allow, _) => {
                self.flows.insert((proto, local, remote), now);
                Ok(())
            }
            (Action::Deny, rule) => Err(FirewallDrop {
                proto,
                direction: Direction::Outbound,
                rule,
            }),
        }
    }

    /// A packet entering the site from `remote` to `local` (public side) at `now`: admitted when it
    /// answers a live flow, else by the rules. Replies refresh a UDP flow, as stateful filters do.
    pub fn inbound(
        &mut self,
        now: SimTime,
        proto: Proto,
        remote: SocketAddr,
        local: SocketAddr,
    ) -> Result<(), FirewallDrop> {
        let lifetime = match proto {
            Proto::Udp => Duration::from_millis(self.spec.udp_state_lifetime_ms),
            Proto::Tcp => Duration::MAX,
        };
        if let Some(last) = self.flows.get_mut(&(proto, local, remote)) {
            if now.saturating_since(*last) < lifetime {
                *last = now;
                return Ok(());
            }
        }
        match self.decide(proto, Direction::Inbound, local.port()) {
            (Action::Allow, _) => Ok(()),
            (Action::Deny, rule) => Err(FirewallDrop {
                proto,
                direction: Direction::Inbound,
                rule,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn web_only() -> Firewall {
        Firewall::new(FirewallSpec {
            rules: vec![Rule {
                action: Action::Allow,
                proto: ProtoMatch::Tcp,
                direction: Direction::Outbound,
                ports: Some(vec![80, 443]),
            }],
            default: Action::Deny,
            udp_state_lifetime_ms: 120_000,
        })
    }

    #[test]
    fn web_only_firewall_passes_tcp_443_and_its_replies_and_nothing_else() {
        let mut fw = web_only();
        let me: SocketAddr = "203.0.113.1:40000".parse().unwrap();
        let turns: SocketAddr = "192.0.2.20:443".parse().unwrap();
        let stun: SocketAddr = "192.0.2.10:3478".parse().unwrap();
        let t = SimTime::ZERO;
        assert!(fw.outbound(t, Proto::Tcp, me, turns).is_ok());
        assert!(fw.inbound(t, Proto::Tcp, turns, me).is_ok());
        let e = fw.outbound(t, Proto::Udp, me, stun).unwrap_err();
        assert_eq!(e.rule, None);
        assert_eq!(e.to_string(), "firewall: outbound udp denied by the default policy");
        assert!(fw
            .outbound(t, Proto::Tcp, me, "192.0.2.20:5222".parse().unwrap())
            .is_err());
        // Unsolicited inbound, even from the server we talk to but to another port, is dropped.
        assert!(fw
            .inbound(t, Proto::Tcp, turns, "203.0.113.1:40001".parse().unwrap())
            .is_err());
    }

    #[test]
    fn udp_flow_state_expires_after_its_lifetime() {
        let mut fw = Firewall::new(FirewallSpec {
            rules: vec![],
            default: Action::Allow,
            udp_state_lifetime_ms: 30_000,
        });
        fw.spec.rules.push(Rule {
            action: Action::Deny,
            proto: ProtoMatch::Any,
            direction: Direction::Inbound,
            ports: None,
        });
        let me: SocketAddr = "203.0.113.1:40000".parse().unwrap();
        let peer: SocketAddr = "198.51.100.1:5000".parse().unwrap();
        fw.outbound(SimTime::ZERO, Proto::Udp, me, peer).unwrap();
        assert!(fw.inbound(SimTime::from_millis(29_999), Proto::Udp, peer, me).is_ok());
        // The reply refreshed the flow; 30 s of silence after it ends it.
        assert!(fw.inbound(SimTime::from_millis(59_998), Proto::Udp, peer, me).is_ok());
        let e = fw
            .inbound(SimTime::from_millis(89_999), Proto::Udp, peer, me)
            .unwrap_err();
        assert_eq!(e.rule, Some(0));
    }
}
