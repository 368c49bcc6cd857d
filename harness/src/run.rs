//! One run: build the world from a [`RunSpec`], drive it event by event, return the [`Trace`].

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use minidom::Element;

use crate::endpoint::{Endpoint, EndpointConfig, EndpointEvent, Ics, Input, Output, Registry, UserAction};
use crate::net::{Attach, InFlight, LinkParams, Net};
use crate::scenario::{Action, RunSpec};
use crate::servers::stun::StunServer;
use crate::servers::xmpp::{ExtService, XmppServer};
use crate::sim::{EventQueue, SimRng};
use crate::time::SimTime;
use crate::trace::{Dir, Trace, TraceKind};
use crate::xml;

/// The XMPP domain every party's account lives on.
pub const XMPP_DOMAIN: &str = "example.org";
/// The STUN server's address.
pub const STUN_ADDR: &str = "192.0.2.10:3478";
/// Upper bound on processed events; a run that needs more is a runaway endpoint, reported as a
/// harness error instead of hanging the suite.
const MAX_EVENTS: u64 = 5_000_000;

/// Who a party is on the network and on XMPP.
#[derive(Clone, Debug)]
pub struct PartyInfo {
    /// Party name.
    pub name: String,
    /// Full JID.
    pub jid: String,
    /// Host interface address.
    pub host_ip: IpAddr,
    /// Public address of its outermost NAT (or the host's, when open).
    pub public_ip: IpAddr,
    /// Its implementation's conformance statement.
    pub ics: Ics,
}

/// What a run produced.
pub struct RunOutput {
    /// The run.
    pub spec: RunSpec,
    /// Parties in scenario order.
    pub parties: Vec<PartyInfo>,
    /// Everything observed.
    pub trace: Trace,
}

/// Why a run could not be carried out (never a verdict about an implementation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunError {
    /// The run names an implementation nobody registered.
    UnknownImpl(String),
    /// An endpoint kept asking to be woken without time advancing.
    Runaway {
        /// The event budget that was spent.
        events: u64,
    },
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::UnknownImpl(n) => write!(f, "unknown implementation `{n}`"),
            RunError::Runaway { events } => write!(
                f,
                "run exceeded {events} events (an endpoint loops without time advancing)"
            ),
        }
    }
}

impl std::error::Error for RunError {}

enum Ev {
    Timer { ep: usize, gen: u64 },
    User { ep: usize, action: UserAction },
    Arrive(InFlight),
    ToServer { ep: usize, stanza: Element },
    ToClient { ep: usize, stanza: Element },
}

struct Slot {
    party: String,
    ep: Box<dyn Endpoint>,
    interfaces: Vec<IpAddr>,
    gen: u64,
    armed: Option<SimTime>,
}

struct World {
    q: EventQueue<Ev>,
    net: Net,
    xmpp: XmppServer,
    stun: Option<StunServer>,
    slots: Vec<Slot>,
    trace: Trace,
    leg: Duration,
}

fn host_ip(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, i as u8 + 1, 2))
}
fn public_ip(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(203, 0, 113, i as u8 + 1))
}
fn carrier_ip(i: usize, k: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(100, 64 + k as u8, i as u8 + 1, 1))
}

/// Runs `spec` with implementations from `registry`.
///
/// Errors: [`RunError`] when the run cannot be carried out; protocol faults of implementations are
/// never errors, they are in the trace.
pub fn run(spec: &RunSpec, registry: &Registry) -> Result<RunOutput, RunError> {
    let sc = &spec.scenario;
    let half = |d: Option<Duration>| d.unwrap_or_default() / 2;
    let media = LinkParams {
        latency: half(sc.network.media.latency),
        jitter: half(sc.network.media.jitter),
        loss: sc.network.media.loss.unwrap_or(0.0),
    };
    let mut net = Net::new();
    let mut parties = Vec::new();
    let mut slots = Vec::new();
    let mut jids = Vec::new();
    for (i, p) in spec.parties.iter().enumerate() {
        let entry = registry
            .get(&p.implementation)
            .ok_or_else(|| RunError::UnknownImpl(p.implementation.clone()))?;
        let nats = &p.nat.nats;
        let (host, public) = if nats.is_empty() {
            (public_ip(i), public_ip(i))
        } else {
            (host_ip(i), public_ip(i))
        };
        let ext: Vec<IpAddr> = (0..nats.len())
            .map(|k| {
                if k + 1 == nats.len() {
                    public_ip(i)
                } else {
                    carrier_ip(i, k)
                }
            })
            .collect();
        let site = net.add_site(&p.name, nats, &ext, media.clone(), spec.seed);
        net.attach(site, Attach::Endpoint(i), host, &p.name);
        let jid = format!("{}@{XMPP_DOMAIN}/device1", p.name);
        let ep = (entry.make)(EndpointConfig {
            party: p.name.clone(),
            jid: jid.clone(),
            server: XMPP_DOMAIN.to_string(),
            interfaces: vec![host],
            rng: SimRng::derive(spec.seed, &format!("endpoint/{}", p.name)),
        });
        parties.push(PartyInfo {
            name: p.name.clone(),
            jid: jid.clone(),
            host_ip: host,
            public_ip: public,
            ics: ep.ics().clone(),
        });
        slots.push(Slot {
            party: p.name.clone(),
            ep,
            interfaces: vec![host],
            gen: 0,
            armed: None,
        });
        jids.push(jid);
    }
    let mut services = Vec::new();
    let stun = if sc.servers.stun {
        let addr: SocketAddr = STUN_ADDR.parse().expect("constant");
        let site = net.add_site("stun", &[], &[], LinkParams::default(), spec.seed);
        net.attach(site, Attach::Server(0), addr.ip(), "stun");
        services.push(ExtService {
            kind: "stun".into(),
            host: addr.ip().to_string(),
            port: addr.port(),
            transport: "udp".into(),
            username: None,
            password: None,
            expires: None,
        });
        Some(StunServer { addr })
    } else {
        None
    };
    let mut w = World {
        q: EventQueue::new(),
        net,
        xmpp: XmppServer::new(XMPP_DOMAIN, &jids, services),
        stun,
        slots,
        trace: Trace::default(),
        leg: half(sc.network.signalling.latency),
    };
    // Endpoints start (log in) before any scripted action at the same instant.
    for i in 0..w.slots.len() {
        w.rearm(i, SimTime::ZERO);
    }
    for s in &sc.script {
        let ep = spec
            .parties
            .iter()
            .position(|p| p.name == s.party)
            .expect("validated party");
        let action = match &s.action {
            Action::Call { to, media } => UserAction::Call {
                to: xml::bare(&jids[spec.parties.iter().position(|p| &p.name == to).expect("validated")]).to_string(),
                media: media.clone(),
            },
            Action::Answer => UserAction::Answer,
            Action::Reject => UserAction::Reject,
            Action::Hangup => UserAction::Hangup,
        };
        w.q.push(SimTime::ZERO + s.at, Ev::User { ep, action });
    }
    let deadline = SimTime::ZERO + sc.deadline();
    let mut events = 0u64;
    while let Some(t) = w.q.peek_time() {
        if t > deadline {
            break;
        }
        let (now, ev) = w.q.pop().expect("peeked");
        events += 1;
        if events > MAX_EVENTS {
            return Err(RunError::Runaway { events });
        }
        w.step(now, ev);
    }
    Ok(RunOutput {
        spec: spec.clone(),
        parties,
        trace: w.trace,
    })
}

impl World {
    fn step(&mut self, now: SimTime, ev: Ev) {
        match ev {
            Ev::Timer { ep, gen } => {
                if self.slots[ep].gen != gen {
                    return;
                }
                self.slots[ep].armed = None;
                self.feed(now, ep, Input::Timeout);
            }
            Ev::User { ep, action } => {
                let party = self.slots[ep].party.clone();
                self.trace.push(
                    now,
                    TraceKind::User {
                        party,
                        action: action.name().to_string(),
                    },
                );
                self.feed(now, ep, Input::User(action));
            }
            Ev::Arrive(f) => {
                let Some(d) = self.net.arrive(now, f, &mut self.trace) else {
                    return;
                };
                match d.to {
                    Attach::Endpoint(i) => self.feed(
                        now,
                        i,
                        Input::Datagram {
                            local: d.dst,
                            remote: d.src,
                            payload: d.payload,
                        },
                    ),
                    Attach::Server(_) => {
                        let Some(stun) = &self.stun else { return };
                        if let Some(resp) = stun.handle(d.src, &d.payload) {
                            let from = stun.addr;
                            if let Some((at, f)) =
                                self.net
                                    .send(now, Attach::Server(0), from, d.src, resp.into(), &mut self.trace)
                            {
                                self.q.push(at, Ev::Arrive(f));
                            }
                        }
                    }
                }
            }
            Ev::ToServer { ep, stanza } => {
                for (to, s) in self.xmpp.handle(ep, stanza) {
                    self.q.push(now + self.leg, Ev::ToClient { ep: to, stanza: s });
                }
            }
            Ev::ToClient { ep, stanza } => {
                let party = self.slots[ep].party.clone();
                self.trace.push(
                    now,
                    TraceKind::Stanza {
                        party,
                        dir: Dir::Rx,
                        xml: xml::to_string(&stanza),
                        element: stanza.clone(),
                    },
                );
                self.feed(now, ep, Input::Stanza(stanza));
            }
        }
    }

    fn feed(&mut self, now: SimTime, i: usize, input: Input) {
        self.slots[i].ep.handle_input(now, input);
        while let Some(out) = self.slots[i].ep.poll_output() {
            // The party name is cloned only for trace events that carry it, not per datagram (hot path).
            let party = || self.slots[i].party.clone();
            match out {
                Output::Datagram { local, remote, payload } => {
                    if !self.slots[i].interfaces.contains(&local.ip()) {
                        self.trace.push(
                            now,
                            TraceKind::Violation {
                                party: party(),
                                what: format!("datagram from {local}, which is not an address of this host"),
                            },
                        );
                        continue;
                    }
                    if let Some((at, f)) =
                        self.net
                            .send(now, Attach::Endpoint(i), local, remote, payload, &mut self.trace)
                    {
                        self.q.push(at, Ev::Arrive(f));
                    }
                }
                Output::Stanza(stanza) => {
                    self.trace.push(
                        now,
                        TraceKind::Stanza {
                            party: party(),
                            dir: Dir::Tx,
                            xml: xml::to_string(&stanza),
                            element: stanza.clone(),
                        },
                    );
                    self.q.push(now + self.leg, Ev::ToServer { ep: i, stanza });
                }
                Output::Event(e) => {
                    let claim = match e {
                        EndpointEvent::CallState(s) => format!("call-state {s}"),
                        EndpointEvent::IceState(s) => format!("ice-state {s}"),
                        EndpointEvent::SelectedPair { local, remote } => format!("selected-pair {local} {remote}"),
                    };
                    let party = party();
                    self.trace.push(now, TraceKind::Claim { party, claim });
                }
            }
        }
        self.rearm(i, now);
    }

    fn rearm(&mut self, i: usize, now: SimTime) {
        let want = self.slots[i].ep.poll_timeout().map(|t| t.max(now));
        if want != self.slots[i].armed {
            self.slots[i].gen += 1;
            self.slots[i].armed = want;
            if let Some(t) = want {
                let gen = self.slots[i].gen;
                self.q.push(t, Ev::Timer { ep: i, gen });
            }
        }
    }
}
