//! The simulated network: sites (a host behind a chain of NATs and an optional firewall, or a
//! server), access links with impairments, and the routing core between them. Datagrams are
//! translated by NATs when they pass them and recorded at every observation point, inside and outside
//! each NAT. A reliable, ordered stream transport (TCP, TLS) carries TURN-over-TCP/TLS through the
//! same NATs, firewalls and links.

pub mod firewall;
pub mod link;
pub mod nat;
pub mod stream;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
// A fixed hash function: lookups only (never iterated), and no per-process random keys.
use rustc_hash::FxHashMap as HashMap;
use serde::Deserialize;

use crate::sim::SimRng;
use crate::time::SimTime;
use crate::trace::{Dir, Point, Trace, TraceKind};
use firewall::{Firewall, FirewallSpec, Proto};
use link::LinkState;
pub use link::{LinkParams, LossModel};
use nat::{Nat, NatBehaviour, NatDrop};

/// A named NAT profile: a chain of NATs from the host outward. Loaded from `profiles.yaml`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatProfile {
    /// One line for `cargo xtask list nat-profiles`.
    pub description: String,
    /// NATs from the host outward; empty for a public address.
    pub nats: Vec<NatBehaviour>,
    /// A stateful firewall at the site's edge, outside the outermost NAT.
    #[serde(default)]
    pub firewall: Option<FirewallSpec>,
}

impl NatProfile {
    /// The parameters in the words `profiles.yaml` uses, one bracket per NAT from the host outward,
    /// then the firewall: `[mapping=endpoint-independent ...] firewall[allow tcp outbound 80,443; default deny]`.
    pub fn parameters(&self) -> String {
        let word = |v: serde_json::Value| v.as_str().unwrap_or_default().to_string();
        let nats: Vec<String> = self
            .nats
            .iter()
            .map(|n| {
                format!(
                    "[mapping={} filtering={} ports={}{} lifetime={}s hairpinning={}]",
                    word(serde_json::json!(n.mapping)),
                    word(serde_json::json!(n.filtering)),
                    word(serde_json::json!(n.port_assignment)),
                    if n.port_parity { "+parity" } else { "" },
                    n.mapping_lifetime_ms / 1000,
                    n.hairpinning
                )
            })
            .collect();
        let mut out = if nats.is_empty() {
            "[no NAT]".to_string()
        } else {
            nats.join(" behind ")
        };
        if let Some(fw) = &self.firewall {
            let rules: Vec<String> = fw
                .rules
                .iter()
                .map(|r| {
                    let ports = r
                        .ports
                        .as_ref()
                        .map(|p| p.iter().map(u16::to_string).collect::<Vec<_>>().join(","));
                    format!(
                        "{} {} {}{}",
                        word(serde_json::json!(r.action)),
                        word(serde_json::json!(r.proto)),
                        word(serde_json::json!(r.direction)),
                        ports.map(|p| format!(" {p}")).unwrap_or_default()
                    )
                })
                .collect();
            out += &format!(
                " firewall[{}; default {}]",
                rules.join("; "),
                word(serde_json::json!(fw.default))
            );
        }
        out
    }
}

/// The built-in NAT profiles, by name (sorted).
pub fn nat_profiles() -> BTreeMap<String, NatProfile> {
    serde_yaml_ng::from_str(include_str!("profiles.yaml")).expect("built-in profiles.yaml is valid")
}

/// The profiles a default run uses on each side.
pub const STANDARD_NAT_SET: &[&str] = &["port-restricted-cone"];

/// Something attached to the network that sends and receives datagrams.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Attach {
    /// An endpoint, by index.
    Endpoint(usize),
    /// A server, by index.
    Server(usize),
}

struct Site {
    name: String,
    /// `NAME/firewall`, `NAME/uplink`, `NAME/downlink`: where a drop at this site is recorded, made
    /// once (a run drops about a hundred datagrams).
    parts: [Point; 3],
    nats: Vec<usize>,
    firewall: Option<Firewall>,
    uplink: LinkState,
    downlink: LinkState,
    up: bool,
}

impl Site {
    /// The observation point of `part` of this site.
    fn point(&self, part: Part) -> Point {
        self.parts[part as usize].clone()
    }
}

/// A part of a site where a datagram or stream can be dropped.
#[derive(Clone, Copy, Debug)]
enum Part {
    Firewall = 0,
    Uplink = 1,
    Downlink = 2,
}

impl Part {
    fn name(self) -> &'static str {
        match self {
            Part::Firewall => "firewall",
            Part::Uplink => "uplink",
            Part::Downlink => "downlink",
        }
    }
}

struct NatNode {
    point: Point,
    /// UDP mappings.
    nat: Nat,
    /// TCP mappings: a table of their own with the same behaviour, as real NATs keep per protocol.
    tcp: Nat,
}

/// A datagram in flight from the core to a destination site.
#[derive(Clone, Debug)]
pub struct InFlight {
    site: usize,
    lan: bool,
    /// Source as seen on the public side.
    pub src: SocketAddr,
    /// Destination (public address).
    pub dst: SocketAddr,
    /// UDP payload.
    pub payload: Bytes,
    /// A link duplicated the datagram: a copy arrives this much later.
    duplicate_after: Option<Duration>,
}

impl InFlight {
    /// Takes the duplicate a link made of this datagram, if any: `(delay after the original, copy)`.
    pub fn take_duplicate(&mut self) -> Option<(Duration, InFlight)> {
        let d = self.duplicate_after.take()?;
        Some((d, self.clone()))
    }
}

/// A datagram handed to its receiver.
#[derive(Clone, Debug)]
pub struct Delivery {
    /// Who receives it.
    pub to: Attach,
    /// Source as the receiver sees it.
    pub src: SocketAddr,
    /// Destination (the receiver's own address).
    pub dst: SocketAddr,
    /// UDP payload.
    pub payload: Bytes,
}

/// The network of one run.
#[derive(Default)]
pub struct Net {
    sites: Vec<Site>,
    nats: Vec<NatNode>,
    /// Public IP → who answers for it.
    public: HashMap<IpAddr, Owner>,
    /// (site, private IP) → host.
    private: HashMap<(usize, IpAddr), Attach>,
    /// (node, interface address) → site: a host may have interfaces on several sites (Wi-Fi, mobile).
    /// (node, interface address) → (site, observation point): one lookup per hop for both.
    attached: HashMap<(Attach, IpAddr), (usize, Point)>,
    streams: Vec<stream::Stream>,
}

#[derive(Clone, Copy, Debug)]
enum Owner {
    Nat { site: usize },
    Node { site: usize, who: Attach },
}

impl Net {
    /// An empty network.
    pub fn new() -> Net {
        Net::default()
    }

    /// Adds a site named `name` whose hosts sit behind `nats` (host outward) and an optional
    /// `firewall` at its edge, with access link `link` (the same impairments each way, separate
    /// state and random streams). Each NAT gets an external IP from `external_ips` (same order).
    /// Returns the site index.
    pub fn add_site(
        &mut self,
        name: &str,
        nats: &[NatBehaviour],
        firewall: Option<&FirewallSpec>,
        external_ips: &[IpAddr],
        link: LinkParams,
        seed: u64,
    ) -> usize {
        assert_eq!(nats.len(), external_ips.len(), "one external IP per NAT");
        let site = self.sites.len();
        let mut ids = Vec::new();
        for (i, (b, ip)) in nats.iter().zip(external_ips).enumerate() {
            let point = if nats.len() == 1 {
                format!("{name}/nat")
            } else {
                format!("{name}/nat{}", i + 1)
            };
            let rng = SimRng::derive(seed, &format!("nat/{point}"));
            let tcp_rng = SimRng::derive(seed, &format!("nat-tcp/{point}"));
            ids.push(self.nats.len());
            self.nats.push(NatNode {
                point: point.into(),
                nat: Nat::new(*ip, b.clone(), rng),
                tcp: Nat::new(*ip, b.clone(), tcp_rng),
            });
        }
        if let Some(&outer) = ids.last() {
            self.public
                .insert(self.nats[outer].nat.external_ip, Owner::Nat { site });
        }
        // The uplink keeps the stream label the single-direction model used, so runs without
        // downlink impairments draw exactly as before.
        let uplink = LinkState::new(link.clone(), SimRng::derive(seed, &format!("link/{name}")));
        let downlink = LinkState::new(link, SimRng::derive(seed, &format!("link-down/{name}")));
        self.sites.push(Site {
            name: name.to_string(),
            parts: [Part::Firewall, Part::Uplink, Part::Downlink].map(|p| format!("{name}/{}", p.name()).into()),
            nats: ids,
            firewall: firewall.cloned().map(Firewall::new),
            uplink,
            downlink,
            up: true,
        });
        site
    }

    /// Takes the site's access link down (`up = false`: every packet across it is dropped, recorded
    /// as "link down") or brings it back up. Scripted by `link-down` / `link-up` steps.
    pub fn set_link_up(&mut self, site: usize, up: bool) {
        self.sites[site].up = up;
    }

    /// Attaches `who` to `site` with address `ip`, observed at point `point`. With NATs the address is
    /// private to the site; without, it is public.
    /// A node may be attached several times with different addresses (one per interface).
    pub fn attach(&mut self, site: usize, who: Attach, ip: IpAddr, point: &str) {
        if self.sites[site].nats.is_empty() {
            self.public.insert(ip, Owner::Node { site, who });
        } else {
            self.private.insert((site, ip), who);
        }
        self.attached.insert((who, ip), (site, point.into()));
    }

    /// Takes address `ip` away from `who` (an interface that went away): datagrams to it are no
    /// longer delivered to `who`, and `who` can no longer send from it. A no-op when not attached.
    pub fn detach(&mut self, who: Attach, ip: IpAddr) {
        let Some((site, _)) = self.attached.remove(&(who, ip)) else {
            return;
        };
        if self.sites[site].nats.is_empty() {
            if matches!(self.public.get(&ip), Some(Owner::Node { who: w, .. }) if *w == who) {
                self.public.remove(&ip);
            }
        } else if self.private.get(&(site, ip)) == Some(&who) {
            self.private.remove(&(site, ip));
        }
    }

    /// The site's name.
    pub fn site_name(&self, site: usize) -> &str {
        &self.sites[site].name
    }

    /// Whether the site's firewall (if any) lets a TCP connection to `port` out.
    pub fn site_permits_tcp(&self, site: usize, port: u16) -> bool {
        self.sites[site]
            .firewall
            .as_ref()
            .is_none_or(|f| f.permits_outbound(Proto::Tcp, port))
    }

    /// The shared observation point of an attached interface.
    fn point_of(&self, who: Attach, ip: IpAddr) -> Point {
        self.attached[&(who, ip)].1.clone()
    }

    /// The site a node's interface `ip` is on, if attached.
    pub fn site_of(&self, who: Attach, ip: IpAddr) -> Option<usize> {
        self.attached.get(&(who, ip)).map(|a| a.0)
    }

    /// One traversal of a site's access link (`up`: from the site to the core) of a `len`-byte packet
    /// at `now`: `Ok((exit time, duplicate delay))` or `Err(reason)` when it is lost.
    fn traverse(
        &mut self,
        site: usize,
        now: SimTime,
        up: bool,
        len: usize,
    ) -> Result<(SimTime, Option<Duration>), String> {
        let s = &mut self.sites[site];
        if !s.up {
            return Err("link down".into());
        }
        let l = if up { &mut s.uplink } else { &mut s.downlink };
        l.traverse(now, len)
    }

    /// A packet dropped at the site's `part` (`firewall`, `uplink`, `downlink`), as a trace event at
    /// `SITE/PART`.
    fn dropped_at(
        &self,
        site: usize,
        part: Part,
        (src, dst): (SocketAddr, SocketAddr),
        reason: String,
        payload: Bytes,
    ) -> TraceKind {
        TraceKind::Dropped {
            point: self.sites[site].point(part),
            src,
            dst,
            reason,
            payload,
        }
    }

    /// Sends a datagram from `who` (`src` must be its own address) to `dst` at `now`: records it at the
    /// sender, translates it through the sender's NATs (recording each), and returns when and where it
    /// reaches the destination site, or `None` when it was dropped (the drop is recorded).
    pub fn send(
        &mut self,
        now: SimTime,
        who: Attach,
        src: SocketAddr,
        dst: SocketAddr,
        payload: Bytes,
        trace: &mut Trace,
    ) -> Option<(SimTime, InFlight)> {
        let Some((site, point)) = self.attached.get(&(who, src.ip())).cloned() else {
            // Not an interface of this node: the caller should have refused it; drop it visibly.
            trace.push(
                now,
                TraceKind::Dropped {
                    point: "core".into(),
                    src,
                    dst,
                    reason: format!("{src} is not an interface of the sender"),
                    payload,
                },
            );
            return None;
        };
        trace.push(
            now,
            TraceKind::Datagram {
                point,
                dir: Dir::Tx,
                src,
                dst,
                payload: payload.clone(),
            },
        );
        // Same LAN: straight to the other host, no NAT involved.
        if self.private.contains_key(&(site, dst.ip())) {
            return Some((
                now + Duration::from_micros(500),
                InFlight {
                    site,
                    lan: true,
                    src,
                    dst,
                    payload,
                    duplicate_after: None,
                },
            ));
        }
        let mut cur = src;
        for k in 0..self.sites[site].nats.len() {
            let n = self.sites[site].nats[k];
            let node = &mut self.nats[n];
            match node.nat.outbound(now, cur, dst) {
                Ok(ext) => {
                    cur = ext;
                    let point = node.point.clone();
                    trace.push(
                        now,
                        TraceKind::Datagram {
                            point,
                            dir: Dir::Tx,
                            src: cur,
                            dst,
                            payload: payload.clone(),
                        },
                    );
                }
                Err(e) => {
                    let point = node.point.clone();
                    trace.push(
                        now,
                        TraceKind::Dropped {
                            point,
                            src: cur,
                            dst,
                            reason: e.to_string(),
                            payload,
                        },
                    );
                    return None;
                }
            }
        }
        let Some(owner) = self.public.get(&dst.ip()).copied() else {
            let point = self.sites[site].point(Part::Uplink);
            trace.push(
                now,
                TraceKind::Dropped {
                    point,
                    src: cur,
                    dst,
                    reason: format!("no route to {}", dst.ip()),
                    payload,
                },
            );
            return None;
        };
        let dst_site = match owner {
            Owner::Nat { site } | Owner::Node { site, .. } => site,
        };
        if dst_site == site {
            // Back in without touching the core: a hairpin through our own outermost NAT, or, on a
            // public site, a host to itself (a TURN relay to another of its relays).
            let outer = self.sites[site].nats.last().copied();
            if let Some(outer) = outer.filter(|o| !self.nats[*o].nat.behaviour.hairpinning) {
                let point = self.nats[outer].point.clone();
                trace.push(
                    now,
                    TraceKind::Dropped {
                        point,
                        src: cur,
                        dst,
                        reason: NatDrop::NoHairpin.to_string(),
                        payload,
                    },
                );
                return None;
            }
            return Some((
                now,
                InFlight {
                    site,
                    lan: false,
                    src: cur,
                    dst,
                    payload,
                    duplicate_after: None,
                },
            ));
        }
        if let Some(fw) = &mut self.sites[site].firewall {
            if let Err(e) = fw.outbound(now, Proto::Udp, cur, dst) {
                trace.push(
                    now,
                    self.dropped_at(site, Part::Firewall, (cur, dst), e.to_string(), payload),
                );
                return None;
            }
        }
        let (up, dup1) = match self.traverse(site, now, true, payload.len()) {
            Ok(x) => x,
            Err(reason) => {
                trace.push(now, self.dropped_at(site, Part::Uplink, (cur, dst), reason, payload));
                return None;
            }
        };
        let (at, dup2) = match self.traverse(dst_site, up, false, payload.len()) {
            Ok(x) => x,
            Err(reason) => {
                trace.push(
                    up,
                    self.dropped_at(dst_site, Part::Downlink, (cur, dst), reason, payload),
                );
                return None;
            }
        };
        Some((
            at,
            InFlight {
                site: dst_site,
                lan: false,
                src: cur,
                dst,
                payload,
                duplicate_after: dup1.or(dup2),
            },
        ))
    }

    /// A datagram reaches its destination site at `now`: passes it in through the site's NATs
    /// (outermost first, recording each) and returns the delivery, or `None` when a NAT dropped it.
    pub fn arrive(&mut self, now: SimTime, f: InFlight, trace: &mut Trace) -> Option<Delivery> {
        let InFlight {
            site,
            lan,
            src,
            dst,
            payload,
            ..
        } = f;
        let mut cur = dst;
        if !lan {
            if let Some(fw) = &mut self.sites[site].firewall {
                if let Err(e) = fw.inbound(now, Proto::Udp, src, cur) {
                    trace.push(
                        now,
                        self.dropped_at(site, Part::Firewall, (src, cur), e.to_string(), payload),
                    );
                    return None;
                }
            }
        }
        let hops = if lan { 0 } else { self.sites[site].nats.len() };
        for k in (0..hops).rev() {
            let node = &mut self.nats[self.sites[site].nats[k]];
            trace.push(
                now,
                TraceKind::Datagram {
                    point: node.point.clone(),
                    dir: Dir::Rx,
                    src,
                    dst: cur,
                    payload: payload.clone(),
                },
            );
            match node.nat.inbound(now, src, cur) {
                Ok(internal) => cur = internal,
                Err(e) => {
                    trace.push(
                        now,
                        TraceKind::Dropped {
                            point: node.point.clone(),
                            src,
                            dst: cur,
                            reason: e.to_string(),
                            payload,
                        },
                    );
                    return None;
                }
            }
        }
        let to = if hops == 0 && !lan {
            match self.public.get(&cur.ip()) {
                Some(Owner::Node { who, .. }) => *who,
                _ => return None,
            }
        } else {
            match self.private.get(&(site, cur.ip())) {
                Some(w) => *w,
                None => {
                    let point: Point = (self.sites[site].name.clone() + "/lan").into();
                    trace.push(
                        now,
                        TraceKind::Dropped {
                            point,
                            src,
                            dst: cur,
                            reason: format!("no host {}", cur.ip()),
                            payload,
                        },
                    );
                    return None;
                }
            }
        };
        trace.push(
            now,
            TraceKind::Datagram {
                point: self.attached[&(to, cur.ip())].1.clone(),
                dir: Dir::Rx,
                src,
                dst: cur,
                payload: payload.clone(),
            },
        );
        Some(Delivery {
            to,
            src,
            dst: cur,
            payload,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_profiles_parse_and_include_the_standard_names() {
        let p = nat_profiles();
        for name in [
            "open",
            "full-cone",
            "restricted-cone",
            "port-restricted-cone",
            "symmetric",
            "symmetric-sequential",
            "cgnat",
            "mobile-carrier",
            "hairpin-less",
            "udp-blocked",
        ] {
            assert!(p.contains_key(name), "missing {name}");
        }
        for s in STANDARD_NAT_SET {
            assert!(p.contains_key(*s));
        }
        assert_eq!(
            p["udp-blocked"].parameters(),
            "[mapping=endpoint-independent filtering=address-and-port-dependent ports=preserve-when-free \
             lifetime=300s hairpinning=true] firewall[allow tcp outbound 80,443; default deny]"
        );
    }

    fn lan_of_two(hairpinning: bool) -> (Net, SocketAddr, SocketAddr, SocketAddr) {
        let mut prc = nat_profiles()["port-restricted-cone"].nats.clone();
        prc[0].hairpinning = hairpinning;
        let mut net = Net::new();
        let a = net.add_site(
            "home",
            &prc,
            None,
            &["203.0.113.1".parse().unwrap()],
            LinkParams::default(),
            1,
        );
        let s = net.add_site("s", &[], None, &[], LinkParams::default(), 1);
        net.attach(a, Attach::Endpoint(0), "10.0.1.2".parse().unwrap(), "a");
        net.attach(a, Attach::Endpoint(1), "10.0.1.3".parse().unwrap(), "b");
        net.attach(s, Attach::Server(0), "192.0.2.10".parse().unwrap(), "srv");
        (
            net,
            "10.0.1.2:5000".parse().unwrap(),
            "10.0.1.3:6000".parse().unwrap(),
            "192.0.2.10:3478".parse().unwrap(),
        )
    }

    #[test]
    fn hairpinning_delivers_or_drops_as_set_and_same_lan_goes_direct() {
        for hairpinning in [true, false] {
            let (mut net, a, b, srv) = lan_of_two(hairpinning);
            let mut tr = Trace::default();
            // b learns its external address from the server, then a sends to it and b answers.
            let (_, f) = net
                .send(SimTime::ZERO, Attach::Endpoint(1), b, srv, Bytes::new(), &mut tr)
                .unwrap();
            let b_ext = f.src;
            if let Some((t, f)) = net.send(SimTime::ZERO, Attach::Endpoint(0), a, b_ext, Bytes::new(), &mut tr) {
                assert!(net.arrive(t, f, &mut tr).is_none(), "b's filter has not seen a yet");
            }
            let sent = net.send(
                SimTime::ZERO,
                Attach::Endpoint(1),
                b,
                "203.0.113.1:5000".parse().unwrap(),
                Bytes::new(),
                &mut tr,
            );
            match sent {
                Some((t, f)) => {
                    assert!(hairpinning);
                    let d = net.arrive(t, f, &mut tr).expect("hairpinned back to a");
                    assert_eq!((d.to, d.dst), (Attach::Endpoint(0), a));
                }
                None => {
                    assert!(!hairpinning);
                    let last = tr.events.last().unwrap();
                    assert!(matches!(&last.kind, TraceKind::Dropped { reason, .. } if reason == "hairpinning is off"));
                }
            }
            // The private address is reachable on the LAN either way, with no NAT on the path.
            let (_, f) = net
                .send(SimTime::ZERO, Attach::Endpoint(0), a, b, Bytes::new(), &mut tr)
                .unwrap();
            let d = net.arrive(SimTime::ZERO, f, &mut tr).unwrap();
            assert_eq!((d.to, d.src), (Attach::Endpoint(1), a));
        }
    }

    #[test]
    fn udp_blocked_passes_tls_on_443_only_and_a_down_link_drops_everything() {
        let p = &nat_profiles()["udp-blocked"];
        let mut net = Net::new();
        let lat = LinkParams {
            latency: Duration::from_millis(10),
            ..Default::default()
        };
        let a = net.add_site(
            "a",
            &p.nats,
            p.firewall.as_ref(),
            &["203.0.113.1".parse().unwrap()],
            lat,
            1,
        );
        let s = net.add_site("turn", &[], None, &[], LinkParams::default(), 1);
        net.attach(a, Attach::Endpoint(0), "10.0.1.2".parse().unwrap(), "a");
        net.attach(s, Attach::Server(1), "192.0.2.20".parse().unwrap(), "turn");
        let host: SocketAddr = "10.0.1.2:40000".parse().unwrap();
        let mut tr = Trace::default();
        // UDP to the TURN server: dropped at the firewall.
        assert!(net
            .send(
                SimTime::ZERO,
                Attach::Endpoint(0),
                host,
                "192.0.2.20:3478".parse().unwrap(),
                Bytes::new(),
                &mut tr
            )
            .is_none());
        assert!(
            matches!(&tr.events.last().unwrap().kind, TraceKind::Dropped { point, reason, .. } if &**point == "a/firewall" && reason.contains("default policy"))
        );
        // TCP to 3478: the connect times out.
        let (_, open) = net.stream_open(
            SimTime::ZERO,
            Attach::Endpoint(0),
            host,
            "192.0.2.20:3478".parse().unwrap(),
            false,
            &mut tr,
        );
        assert!(matches!(open, stream::StreamOpen::Failed { at, .. } if at == SimTime::ZERO + stream::CONNECT_TIMEOUT));
        // TLS to 443: TCP and TLS handshakes, two round trips of 10 ms each way.
        let (id, open) = net.stream_open(
            SimTime::ZERO,
            Attach::Endpoint(0),
            host,
            "192.0.2.20:443".parse().unwrap(),
            true,
            &mut tr,
        );
        let stream::StreamOpen::Established { at, public } = open else {
            panic!("443 must open: {open:?}");
        };
        assert_eq!(at, SimTime::from_millis(40));
        assert_eq!(public.ip(), "203.0.113.1".parse::<IpAddr>().unwrap());
        // Messages keep their order and boundaries, both ways.
        let (t1, f1) = net
            .stream_send(at, id, true, Bytes::from_static(b"one"), &mut tr)
            .unwrap();
        let (t2, f2) = net
            .stream_send(at, id, true, Bytes::from_static(b"two"), &mut tr)
            .unwrap();
        assert!(t1 <= t2);
        let d1 = net.stream_arrive(t1, f1, &mut tr);
        assert_eq!(
            (d1.to, &d1.payload[..], d1.remote),
            (Attach::Server(1), &b"one"[..], public)
        );
        assert_eq!(&net.stream_arrive(t2, f2, &mut tr).payload[..], b"two");
        let (t3, f3) = net
            .stream_send(t2, id, false, Bytes::from_static(b"back"), &mut tr)
            .unwrap();
        assert_eq!(net.stream_arrive(t3, f3, &mut tr).to, Attach::Endpoint(0));
        // With the access link down, nothing gets through: the stream resets, datagrams are lost.
        net.set_link_up(a, false);
        assert!(net
            .stream_send(t3, id, true, Bytes::from_static(b"x"), &mut tr)
            .is_none());
        let (_, open) = net.stream_open(
            t3,
            Attach::Endpoint(0),
            host,
            "192.0.2.20:443".parse().unwrap(),
            true,
            &mut tr,
        );
        assert!(matches!(open, stream::StreamOpen::Failed { .. }));
    }

    #[test]
    fn port_restricted_cone_drops_unsolicited_then_admits_after_outbound() {
        let prc = nat_profiles()["port-restricted-cone"].nats.clone();
        let mut net = Net::new();
        let a = net.add_site(
            "a",
            &prc,
            None,
            &["203.0.113.1".parse().unwrap()],
            LinkParams {
                latency: Duration::from_millis(20),
                ..Default::default()
            },
            1,
        );
        let s = net.add_site("s", &[], None, &[], LinkParams::default(), 1);
        net.attach(a, Attach::Endpoint(0), "10.0.1.2".parse().unwrap(), "a");
        net.attach(s, Attach::Server(0), "192.0.2.10".parse().unwrap(), "srv");
        let mut tr = Trace::default();
        let host: SocketAddr = "10.0.1.2:5000".parse().unwrap();
        let srv: SocketAddr = "192.0.2.10:3478".parse().unwrap();
        // Unsolicited inbound to the NAT: dropped, no mapping.
        let (t, f) = net
            .send(
                SimTime::ZERO,
                Attach::Server(0),
                srv,
                "203.0.113.1:5000".parse().unwrap(),
                Bytes::from_static(b"x"),
                &mut tr,
            )
            .unwrap();
        assert_eq!(t, SimTime::from_millis(20));
        assert!(net.arrive(t, f, &mut tr).is_none());
        // Outbound opens the mapping; the reply comes back to the host.
        let (t, f) = net
            .send(
                SimTime::ZERO,
                Attach::Endpoint(0),
                host,
                srv,
                Bytes::from_static(b"y"),
                &mut tr,
            )
            .unwrap();
        assert_eq!(f.src, "203.0.113.1:5000".parse().unwrap());
        let d = net.arrive(t, f, &mut tr).unwrap();
        assert_eq!(d.to, Attach::Server(0));
        let (t, f) = net
            .send(t, Attach::Server(0), srv, d.src, Bytes::from_static(b"z"), &mut tr)
            .unwrap();
        let d = net.arrive(t, f, &mut tr).unwrap();
        assert_eq!((d.to, d.dst), (Attach::Endpoint(0), host));
        assert_eq!(t, SimTime::from_millis(40));
    }
}
