//! The simulated network: sites (a host behind a chain of NATs, or a server), access links, and the
//! routing core between them. Datagrams are translated by NATs when they pass them and recorded at
//! every observation point, inside and outside each NAT.

pub mod nat;

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use serde::Deserialize;

use crate::sim::SimRng;
use crate::time::SimTime;
use crate::trace::{Dir, Trace, TraceKind};
use nat::{Nat, NatBehaviour, NatDrop};

/// A named NAT profile: a chain of NATs from the host outward. Loaded from `profiles.yaml`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatProfile {
    /// One line for `cargo xtask list nat-profiles`.
    pub description: String,
    /// NATs from the host outward; empty for a public address.
    pub nats: Vec<NatBehaviour>,
}

/// The built-in NAT profiles, by name (sorted).
pub fn nat_profiles() -> BTreeMap<String, NatProfile> {
    serde_yaml_ng::from_str(include_str!("profiles.yaml")).expect("built-in profiles.yaml is valid")
}

/// The profiles a default run uses on each side.
pub const STANDARD_NAT_SET: &[&str] = &["port-restricted-cone"];

/// One-way impairments of a site's access link; applied in each direction.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LinkParams {
    /// One-way latency between the site and the routing core.
    pub latency: Duration,
    /// Extra delay drawn uniformly from 0..=jitter per packet; packets are never reordered by it.
    pub jitter: Duration,
    /// Independent (Bernoulli) loss probability per packet, 0.0–1.0.
    pub loss: f64,
}

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
    nats: Vec<usize>,
    link: LinkParams,
    rng: SimRng,
    last_up: SimTime,
    last_down: SimTime,
}

struct NatNode {
    point: String,
    nat: Nat,
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
    attach_site: HashMap<Attach, usize>,
    points: HashMap<Attach, String>,
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

    /// Adds a site named `name` whose hosts sit behind `nats` (host outward), with access link `link`.
    /// Each NAT gets an external IP from `external_ips` (same order). Returns the site index.
    pub fn add_site(
        &mut self,
        name: &str,
        nats: &[NatBehaviour],
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
            ids.push(self.nats.len());
            self.nats.push(NatNode {
                point,
                nat: Nat::new(*ip, b.clone(), rng),
            });
        }
        if let Some(&outer) = ids.last() {
            self.public
                .insert(self.nats[outer].nat.external_ip, Owner::Nat { site });
        }
        let rng = SimRng::derive(seed, &format!("link/{name}"));
        self.sites.push(Site {
            name: name.to_string(),
            nats: ids,
            link,
            rng,
            last_up: SimTime::ZERO,
            last_down: SimTime::ZERO,
        });
        site
    }

    /// Attaches `who` to `site` with address `ip`, observed at point `point`. With NATs the address is
    /// private to the site; without, it is public.
    pub fn attach(&mut self, site: usize, who: Attach, ip: IpAddr, point: &str) {
        if self.sites[site].nats.is_empty() {
            self.public.insert(ip, Owner::Node { site, who });
        } else {
            self.private.insert((site, ip), who);
        }
        self.attach_site.insert(who, site);
        self.points.insert(who, point.to_string());
    }

    /// The site's name.
    pub fn site_name(&self, site: usize) -> &str {
        &self.sites[site].name
    }

    /// The observation point name of an attached node.
    pub fn point(&self, who: Attach) -> &str {
        &self.points[&who]
    }

    fn link_delay(&mut self, site: usize, now: SimTime, up: bool) -> Option<SimTime> {
        let s = &mut self.sites[site];
        if s.rng.chance(s.link.loss) {
            return None;
        }
        let j = if s.link.jitter.is_zero() {
            0
        } else {
            s.rng.range(0, s.link.jitter.as_micros() as u64)
        };
        let mut at = now + s.link.latency + Duration::from_micros(j);
        // Jitter never reorders: a packet leaves the link no earlier than the one before it.
        let last = if up { &mut s.last_up } else { &mut s.last_down };
        if at < *last {
            at = *last;
        }
        *last = at;
        Some(at)
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
        let site = self.attach_site[&who];
        let point = self.points[&who].clone();
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
            let point = self.sites[site].name.clone() + "/uplink";
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
            // Hairpin: back in through our own outermost NAT without touching the core.
            let outer = *self.sites[site]
                .nats
                .last()
                .expect("a public owner on our own site is our NAT");
            if !self.nats[outer].nat.behaviour.hairpinning {
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
                },
            ));
        }
        let Some(up) = self.link_delay(site, now, true) else {
            let point = self.sites[site].name.clone() + "/uplink";
            trace.push(
                now,
                TraceKind::Dropped {
                    point,
                    src: cur,
                    dst,
                    reason: "lost on the access link".into(),
                    payload,
                },
            );
            return None;
        };
        let Some(at) = self.link_delay(dst_site, up, false) else {
            let point = self.sites[dst_site].name.clone() + "/downlink";
            trace.push(
                up,
                TraceKind::Dropped {
                    point,
                    src: cur,
                    dst,
                    reason: "lost on the access link".into(),
                    payload,
                },
            );
            return None;
        };
        Some((
            at,
            InFlight {
                site: dst_site,
                lan: false,
                src: cur,
                dst,
                payload,
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
        } = f;
        let mut cur = dst;
        let chain = if lan { Vec::new() } else { self.sites[site].nats.clone() };
        for &n in chain.iter().rev() {
            let node = &mut self.nats[n];
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
        let to = if chain.is_empty() && !lan {
            match self.public.get(&cur.ip()) {
                Some(Owner::Node { who, .. }) => *who,
                _ => return None,
            }
        } else {
            match self.private.get(&(site, cur.ip())) {
                Some(w) => *w,
                None => {
                    let point = self.sites[site].name.clone() + "/lan";
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
                point: self.points[&to].clone(),
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
        ] {
            assert!(p.contains_key(name), "missing {name}");
        }
        for s in STANDARD_NAT_SET {
            assert!(p.contains_key(*s));
        }
    }

    #[test]
    fn port_restricted_cone_drops_unsolicited_then_admits_after_outbound() {
        let prc = nat_profiles()["port-restricted-cone"].nats.clone();
        let mut net = Net::new();
        let a = net.add_site(
            "a",
            &prc,
            &["203.0.113.1".parse().unwrap()],
            LinkParams {
                latency: Duration::from_millis(20),
                ..Default::default()
            },
            1,
        );
        let s = net.add_site("s", &[], &[], LinkParams::default(), 1);
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
