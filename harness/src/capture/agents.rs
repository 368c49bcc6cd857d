//! Finding the ICE agents in a capture, the calls between them, and where the capture saw each one.
//!
//! An ICE agent is known by its username fragments: a connectivity check's USERNAME is
//! `RECEIVER:SENDER` (RFC 8445 §7.2.2), its success response comes back from the address the check
//! was sent to (RFC 8445 §7.2.5.2.1). Fragments that one address sent checks with belong to one
//! agent (an ICE restart changes the fragments, not the sockets, RFC 8445 §9). Checks relayed
//! through TURN are read inside their Send and Data indications and ChannelData (RFC 8656 §11,
//! §12). The agent whose checks carry ICE-CONTROLLING is the controlling agent (RFC 8445 §7.1.3).
//!
//! A capture is a view from somewhere. The judge reads each agent from its own host interface
//! (`harness::wire`), so each agent gets at most one *vantage*: the capture interface where its own
//! traffic is seen as it sent it. An interface is an agent's own when the agent's address there is
//! private (RFC 1918, RFC 6598, RFC 4193, loopback, link-local) or a STUN server or peer answered it
//! with a different mapped address (a NAT lies between this interface and the network, so the
//! capture is on the agent's side of it). An agent with a public address and no NAT in between is
//! read from the interface where most of its traffic is, unless another agent is plainly at home
//! there (private or behind a NAT), or another agent's requests to its STUN or TURN server are seen
//! there and none of its own, or every packet it sent there shows a decremented TTL where the other
//! agent's show an initial one: then the packets are the far side's, seen on arrival, and the far
//! side has no vantage in this capture. What an agent without a vantage did is not judged.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};

use crate::stun::{attr_type, method, Attribute, Class, Message};

use super::read::{Capture, Packet};

/// Where an address was seen: (capture interface, address).
pub type Seen = (usize, SocketAddr);

/// An ICE agent found in a capture.
#[derive(Clone, Debug, Default)]
pub struct Agent {
    /// Its username fragments, in order of appearance.
    pub ufrags: Vec<String>,
    /// Its checks carried ICE-CONTROLLING (the latest that carried a role attribute did).
    pub controlling: Option<bool>,
    /// Its addresses as each interface saw them: the sources of its checks and responses (not
    /// where checks to it went: a check goes to every candidate signalled, reachable or not).
    pub addresses: BTreeSet<Seen>,
    /// The interface that shows its own traffic as sent and received, if any.
    pub vantage: Option<usize>,
}

impl Agent {
    /// The address to name it by: its first on the vantage interface, else its first seen.
    pub fn shown_address(&self) -> String {
        self.at_vantage()
            .next()
            .or_else(|| self.addresses.iter().next().map(|s| s.1))
            .map_or_else(|| "?".to_string(), |x| x.to_string())
    }

    /// Its addresses on the vantage interface.
    pub fn at_vantage(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        self.addresses
            .iter()
            .filter(move |(i, _)| Some(*i) == self.vantage)
            .map(|(_, a)| *a)
    }
}

/// What the capture's STUN shows: the agents, the calls (pairs of agents that checked each other),
/// and the TURN servers.
#[derive(Clone, Debug, Default)]
pub struct Found {
    /// Agents, in order of their first check.
    pub agents: Vec<Agent>,
    /// Calls: indices into `agents`, the controlling agent first when known, in order of their
    /// first check.
    pub calls: Vec<(usize, usize)>,
    /// TURN servers: where Allocate requests went.
    pub turn_servers: BTreeSet<Seen>,
    /// Binding requests seen (with or without USERNAME), for the "nothing found" message.
    pub binding_requests: usize,
    /// Datagrams and messages that start like STUN (RFC 7983) but do not decode.
    pub malformed_stun: usize,
}

/// A STUN message found in a packet, unwrapped from TURN when relayed, with the addresses of the
/// agents that sent and receive it as this interface sees them (`None` when the other end is a
/// TURN server's relay, seen from its client's side).
struct Unwrapped {
    msg: Message,
    sender: Option<SocketAddr>,
    receiver: Option<SocketAddr>,
}

/// Address private to a site: RFC 1918, RFC 6598 shared address space (carrier-grade NAT: the host
/// address of most phones), loopback, link-local, RFC 4193 unique local.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_private() || v4.is_loopback() || v4.is_link_local() || (o[0] == 100 && (64..128).contains(&o[1]))
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            v6.is_loopback() || (s[0] & 0xFE00) == 0xFC00 || (s[0] & 0xFFC0) == 0xFE80
        }
    }
}

/// TTLs and hop limits hosts start with: a packet captured with one was most likely sent by the
/// capturing host (or one on its link).
fn initial_ttl(ttl: u8) -> bool {
    matches!(ttl, 64 | 128 | 255)
}

/// Union-find over username fragments and addresses.
#[derive(Default)]
struct Groups {
    keys: BTreeMap<Key, usize>,
    parent: Vec<usize>,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Ufrag(String),
    Addr(Seen),
}

impl Groups {
    fn node(&mut self, k: Key) -> usize {
        if let Some(n) = self.keys.get(&k) {
            return *n;
        }
        let n = self.parent.len();
        self.parent.push(n);
        self.keys.insert(k, n);
        n
    }

    fn root(&mut self, mut n: usize) -> usize {
        while self.parent[n] != n {
            self.parent[n] = self.parent[self.parent[n]];
            n = self.parent[n];
        }
        n
    }

    fn join(&mut self, a: Key, b: Key) {
        let (a, b) = (self.node(a), self.node(b));
        let (ra, rb) = (self.root(a), self.root(b));
        // The older node stays the root: groups are numbered in order of appearance.
        if ra < rb {
            self.parent[rb] = ra;
        } else {
            self.parent[ra] = rb;
        }
    }
}

fn decode(payload: &[u8]) -> Option<Result<Message, ()>> {
    (crate::stun::demux(payload) == crate::stun::Demux::Stun && payload.len() >= 20)
        .then(|| Message::decode(payload).map_err(|_| ()))
}

/// Reads the agents, calls and servers out of `cap`.
pub fn find(cap: &Capture) -> Found {
    let mut found = Found::default();
    // Pass 1: TURN servers, and the channels bound at each (client, server).
    for p in &cap.packets {
        if let Some(Ok(m)) = decode(&p.payload) {
            if m.class == Class::Request && m.method == method::ALLOCATE {
                found.turn_servers.insert((p.interface, p.dst));
            }
        }
    }
    let mut groups = Groups::default();
    // Transaction id → (sender's ufrag, receiver's ufrag) of a check.
    let mut checks: BTreeMap<[u8; 12], (String, String)> = BTreeMap::new();
    let mut roles: BTreeMap<String, (usize, bool)> = BTreeMap::new();
    // A request sent from (interface, address) whose direct success response mapped it elsewhere.
    let mut requests_from: BTreeMap<[u8; 12], Seen> = BTreeMap::new();
    let mut natted: BTreeSet<Seen> = BTreeSet::new();
    let mut pairs: Vec<(String, String)> = Vec::new();
    // Relayed addresses (RFC 8656 §7.3): seen where the relay is, never at the agent's own host.
    let mut relayed: BTreeSet<SocketAddr> = BTreeSet::new();
    for p in &cap.packets {
        if let Some(Ok(m)) = decode(&p.payload) {
            if let (method::ALLOCATE, Class::Success, Some(Ok(Attribute::XorRelayedAddress(a)))) =
                (m.method, m.class, m.get(attr_type::XOR_RELAYED_ADDRESS))
            {
                relayed.insert(a);
            }
        }
    }
    for p in &cap.packets {
        for u in unwrap(p, &found.turn_servers, &mut found.malformed_stun) {
            let m = &u.msg;
            if m.method != method::BINDING {
                continue;
            }
            let direct = u.sender == Some(p.src) && u.receiver == Some(p.dst);
            match m.class {
                Class::Request => {
                    found.binding_requests += 1;
                    if direct {
                        requests_from.insert(m.transaction_id, (p.interface, p.src));
                    }
                    let Some(Ok(Attribute::Username(user))) = m.get(attr_type::USERNAME) else {
                        continue;
                    };
                    let Some((to, from)) = user.split_once(':') else {
                        continue;
                    };
                    let (to, from) = (to.to_string(), from.to_string());
                    // Only an address a datagram came from is the agent's: a check goes to every
                    // candidate the peer signalled, reachable or not.
                    if let Some(s) = u.sender {
                        groups.join(Key::Ufrag(from.clone()), Key::Addr((p.interface, s)));
                    }
                    groups.node(Key::Ufrag(from.clone()));
                    groups.node(Key::Ufrag(to.clone()));
                    // The role of its latest check: an agent that lost a role conflict (RFC 8445
                    // §7.3.1.1) goes on in the other role.
                    if m.has(attr_type::ICE_CONTROLLING) {
                        roles.insert(from.clone(), (p.frame, true));
                    } else if m.has(attr_type::ICE_CONTROLLED) {
                        roles.insert(from.clone(), (p.frame, false));
                    }
                    if !pairs.contains(&(from.clone(), to.clone())) {
                        pairs.push((from.clone(), to.clone()));
                    }
                    checks.insert(m.transaction_id, (from, to));
                }
                Class::Success | Class::Error => {
                    if let (true, Some(seen), Some(Ok(Attribute::XorMappedAddress(mapped)))) = (
                        direct,
                        requests_from.get(&m.transaction_id),
                        m.get(attr_type::XOR_MAPPED_ADDRESS),
                    ) {
                        if seen.1 != mapped && seen.0 == p.interface {
                            natted.insert(*seen);
                        }
                    }
                    let Some((_, to)) = checks.get(&m.transaction_id).cloned() else {
                        continue;
                    };
                    // The response goes from the check's receiver back to its sender.
                    if let Some(s) = u.sender {
                        groups.join(Key::Ufrag(to), Key::Addr((p.interface, s)));
                    }
                }
                Class::Indication => {}
            }
        }
    }
    // Agents: the groups that hold a username fragment, numbered by their oldest node.
    let keys: Vec<(Key, usize)> = groups.keys.iter().map(|(k, n)| (k.clone(), *n)).collect();
    let mut by_root: BTreeMap<usize, Agent> = BTreeMap::new();
    let mut first_seen: BTreeMap<usize, usize> = BTreeMap::new();
    for (k, n) in &keys {
        let r = groups.root(*n);
        let a = by_root.entry(r).or_default();
        let f = first_seen.entry(r).or_insert(usize::MAX);
        *f = (*f).min(*n);
        match k {
            Key::Ufrag(u) => a.ufrags.push(u.clone()),
            Key::Addr(s) if !relayed.contains(&s.1) => {
                a.addresses.insert(*s);
            }
            Key::Addr(_) => {}
        }
    }
    let mut order: Vec<(usize, usize)> = by_root
        .iter()
        .filter(|(_, a)| !a.ufrags.is_empty())
        .map(|(r, _)| (first_seen[r], *r))
        .collect();
    order.sort();
    let index_of_root: BTreeMap<usize, usize> = order.iter().enumerate().map(|(i, (_, r))| (*r, i)).collect();
    for (_, r) in &order {
        let mut a = by_root.remove(r).expect("listed");
        // Fragments in order of appearance (the node numbers).
        a.ufrags.sort_by_key(|u| groups.keys[&Key::Ufrag(u.clone())]);
        a.controlling = a
            .ufrags
            .iter()
            .filter_map(|u| roles.get(u).copied())
            .max()
            .map(|(_, r)| r);
        found.agents.push(a);
    }
    for (from, to) in &pairs {
        let a = index_of_root[&groups.root(groups.keys[&Key::Ufrag(from.clone())])];
        let b = index_of_root[&groups.root(groups.keys[&Key::Ufrag(to.clone())])];
        if a == b {
            continue;
        }
        // The controlling agent first; when only one role is known, it places the other.
        let swap = match (found.agents[a].controlling, found.agents[b].controlling) {
            (Some(true), _) => false,
            (_, Some(true)) => true,
            (Some(false), _) => true,
            _ => false,
        };
        let (a, b) = if swap { (b, a) } else { (a, b) };
        if !found.calls.iter().any(|&(x, y)| (x, y) == (a, b) || (x, y) == (b, a)) {
            found.calls.push((a, b));
        }
    }
    vantages(cap, &mut found, &natted);
    found
}

/// The STUN messages in `p`, as sent (a plain message) or as relayed (inside a Send or Data
/// indication or ChannelData). A relayed message's far end is the peer as the relay sees it, not an
/// address on this interface: `None`.
fn unwrap(p: &Packet, servers: &BTreeSet<Seen>, malformed: &mut usize) -> Vec<Unwrapped> {
    let to_server = servers.contains(&(p.interface, p.dst));
    let from_server = servers.contains(&(p.interface, p.src));
    if crate::stun::demux(&p.payload) == crate::stun::Demux::ChannelData && p.payload.len() >= 4 {
        let len = usize::from(u16::from_be_bytes([p.payload[2], p.payload[3]]));
        let Some(inner) = p.payload.get(4..4 + len) else {
            return Vec::new();
        };
        let Some(Ok(msg)) = decode(inner) else {
            return Vec::new();
        };
        return if to_server {
            vec![Unwrapped {
                msg,
                sender: Some(p.src),
                receiver: None,
            }]
        } else if from_server {
            vec![Unwrapped {
                msg,
                sender: None,
                receiver: Some(p.dst),
            }]
        } else {
            Vec::new()
        };
    }
    let msg = match decode(&p.payload) {
        Some(Ok(m)) => m,
        Some(Err(())) => {
            *malformed += 1;
            return Vec::new();
        }
        None => return Vec::new(),
    };
    let relayed = |sender, receiver| -> Vec<Unwrapped> {
        let data = match msg.get(attr_type::DATA) {
            Some(Ok(Attribute::Data(d))) => d,
            _ => return Vec::new(),
        };
        match decode(&data) {
            Some(Ok(inner)) => vec![Unwrapped {
                msg: inner,
                sender,
                receiver,
            }],
            _ => Vec::new(),
        }
    };
    match (msg.class, msg.method) {
        (Class::Indication, method::SEND) if to_server => relayed(Some(p.src), None),
        (Class::Indication, method::DATA) if from_server => relayed(None, Some(p.dst)),
        _ => vec![Unwrapped {
            msg,
            sender: Some(p.src),
            receiver: Some(p.dst),
        }],
    }
}

/// Chooses each agent's vantage (see the module's documentation).
fn vantages(cap: &Capture, found: &mut Found, natted: &BTreeSet<Seen>) {
    let interfaces: BTreeSet<usize> = found
        .agents
        .iter()
        .flat_map(|a| a.addresses.iter().map(|s| s.0))
        .collect();
    // Per (agent, interface): packets it sent there, and whether each TTL was an initial one.
    let mut sent: BTreeMap<(usize, usize), (usize, bool, bool)> = BTreeMap::new();
    // (agent, interface) where it sent requests of its own to a server (STUN Binding without
    // USERNAME, TURN): seen at its host, and on the path to the server, never at the far agent's.
    let mut to_servers: BTreeSet<(usize, usize)> = BTreeSet::new();
    for p in &cap.packets {
        let own = decode(&p.payload)
            .and_then(Result::ok)
            .is_some_and(|m| m.class == Class::Request && (m.method != method::BINDING || !m.has(attr_type::USERNAME)));
        if own {
            for (i, a) in found.agents.iter().enumerate() {
                if a.addresses.contains(&(p.interface, p.src)) {
                    to_servers.insert((i, p.interface));
                }
            }
        }
    }
    for p in &cap.packets {
        for (i, a) in found.agents.iter().enumerate() {
            if a.addresses.contains(&(p.interface, p.src)) {
                let e = sent.entry((i, p.interface)).or_insert((0, false, false));
                e.0 += 1;
                if initial_ttl(p.ttl) {
                    e.1 = true;
                } else {
                    e.2 = true;
                }
            }
        }
    }
    let at_home = |a: &Agent, iface: usize| {
        a.addresses
            .iter()
            .any(|s| s.0 == iface && (is_private(s.1.ip()) || natted.contains(s)))
    };
    let mut chosen = Vec::new();
    for (i, a) in found.agents.iter().enumerate() {
        let mut best: Option<(bool, usize, usize)> = None;
        for &iface in &interfaces {
            if !a.addresses.iter().any(|s| s.0 == iface) {
                continue;
            }
            let home = at_home(a, iface);
            let (count, initial, decremented) = sent.get(&(i, iface)).copied().unwrap_or_default();
            if !home {
                let others = found.agents.iter().enumerate().filter(|(j, _)| *j != i);
                let mut others = others.map(|(j, o)| (at_home(o, iface), sent.get(&(j, iface)).copied()));
                let far = others.any(|(o_home, o_sent)| {
                    o_home || (decremented && !initial && o_sent.is_some_and(|(_, o_initial, _)| o_initial))
                });
                // Where some agent talks to its servers and this one does not, this one is the
                // far side.
                let quiet = !to_servers.contains(&(i, iface)) && to_servers.iter().any(|&(j, f)| f == iface && j != i);
                if far || quiet {
                    continue;
                }
            }
            let score = (home, count, usize::MAX - iface);
            if best.is_none_or(|b| score > b) {
                best = Some(score);
            }
        }
        chosen.push(best.map(|(_, _, inv)| usize::MAX - inv));
    }
    for (a, v) in found.agents.iter_mut().zip(chosen) {
        a.vantage = v;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_addresses_include_carrier_grade_nat_and_unique_local() {
        for a in [
            "10.1.2.3",
            "192.168.0.2",
            "172.20.0.1",
            "100.64.0.1",
            "127.0.0.1",
            "fd00::1",
            "fe80::1",
        ] {
            assert!(is_private(a.parse().unwrap()), "{a}");
        }
        for a in ["203.0.113.5", "100.128.0.1", "2001:db8::1", "8.8.8.8"] {
            assert!(!is_private(a.parse().unwrap()), "{a}");
        }
    }
}
