//! One run: build the world from a [`RunSpec`], drive it event by event, return the [`Trace`].

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use minidom::Element;

use crate::endpoint::{Endpoint, EndpointConfig, EndpointEvent, Ics, Input, LiveContext, Output, Registry, UserAction};
use crate::live::netns::LiveHost;
use crate::live::tun::{self, FromTun};
use crate::net::stream::{StreamId, StreamInFlight, StreamOpen};
use crate::net::{nat_profiles, Attach, InFlight, LinkParams, Net};
use crate::scenario::TurnServerTransport;
use crate::scenario::{Action, RunSpec};
use crate::servers::stun::StunServer;
use crate::servers::turn::{ClientTransport, TurnConfig, TurnOutput, TurnServer};
use crate::servers::xmpp::{ExtService, RestCredentials, XmppServer};
use crate::sim::{EventQueue, SimRng};
use crate::time::SimTime;
use crate::trace::{Dir, Trace, TraceKind};
use crate::xml;

/// The XMPP domain every party's account lives on.
pub const XMPP_DOMAIN: &str = "example.org";
/// The STUN server's address.
pub const STUN_ADDR: &str = "192.0.2.10:3478";
/// The XMPP server's address (clients' streams are not routed through the network; firewalls decide
/// at login whether one can be opened).
const XMPP_SERVER_IP: &str = "192.0.2.5";
/// Client-to-server port (RFC 6120).
const XMPP_C2S_PORT: u16 = 5222;
/// Direct TLS port clients fall back to (XEP-0368).
const XMPP_DIRECT_TLS_PORT: u16 = 443;

/// The TURN server's address; it listens on UDP and TCP 3478 and TLS 443, and relays from ports
/// 49152 and up on the same IP.
pub const TURN_IP: &str = "192.0.2.20";
/// The secret the XMPP server and the TURN server share for TURN REST credentials (the project's
/// TURN REST vector: username `1735689600:alice` gives password `HbvWA6hGDtdv3wflBolXLhvzs0w=`).
pub const TURN_SECRET: &str = "north";
/// Lifetime of the TURN REST credentials the XMPP server hands out, when the scenario sets none
/// (the draft's recommended 86400 s).
const TURN_CREDENTIAL_TTL: Duration = Duration::from_secs(86_400);

/// Upper bound on processed events; a run that needs more is a runaway endpoint, reported as a
/// harness error instead of hanging the suite.
const MAX_EVENTS: u64 = 5_000_000;

/// Who a party is on the network and on XMPP: its devices.
#[derive(Clone, Debug)]
pub struct PartyInfo {
    /// Party name.
    pub name: String,
    /// Its devices in order, device 1 first (one for most parties).
    pub devices: Vec<DeviceInfo>,
}

/// One device (XMPP resource) of a party.
#[derive(Clone, Debug)]
pub struct DeviceInfo {
    /// What the trace calls it where an event is the device's own (user actions, claims,
    /// violations): the party name, or `PARTY/deviceN` when the party has several devices. Stanzas
    /// and datagrams always carry the party name, so the judge scores the account.
    pub label: String,
    /// Full JID, `PARTY@example.org/deviceN`.
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
    /// Set for a live run (a party's implementation is a real program): its real-time figures.
    pub live: Option<LiveStats>,
}

/// How a live run kept time: simulated time followed the monotonic clock from the run's start.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LiveStats {
    /// When the run's time 0 was, µs since the UNIX epoch (the system clock): its capture is
    /// stamped from it ([`crate::capture::write_pcapng_at`]), to line up with a tcpdump of the run.
    #[serde(default)]
    pub started_unix_us: u64,
    /// The run's wall-clock duration, ms.
    pub wall_clock_ms: u64,
    /// How late queued events ran against their scheduled time, µs: median, 99th percentile, worst.
    pub lateness_us: Percentiles,
    /// How long a datagram read from a live party's TUN device waited before it entered the world,
    /// µs (the inbound TUN path: reader thread, channel, run loop).
    pub tun_in_us: Percentiles,
    /// How long writing a datagram back to a TUN device took, µs (the outbound TUN path).
    pub tun_out_us: Percentiles,
}

/// Median, 99th percentile and maximum of a sample, and its size.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Percentiles {
    /// Samples.
    pub n: u64,
    /// Median.
    pub p50: u64,
    /// 99th percentile (nearest rank).
    pub p99: u64,
    /// Largest.
    pub max: u64,
}

impl Percentiles {
    /// The percentiles of `samples` (sorted in place).
    pub fn of(samples: &mut [u64]) -> Percentiles {
        if samples.is_empty() {
            return Percentiles::default();
        }
        samples.sort_unstable();
        let rank = |q: f64| samples[((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len()) - 1];
        Percentiles {
            n: samples.len() as u64,
            p50: rank(0.50),
            p99: rank(0.99),
            max: samples[samples.len() - 1],
        }
    }
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
        /// Simulated time when it was spent.
        at: SimTime,
        /// The party whose timer fired last, when the last event was a timer.
        party: Option<String>,
    },
    /// A live party's network could not be set up (not root, no iproute2, …).
    Live(String),
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::UnknownImpl(n) => write!(f, "unknown implementation `{n}`"),
            RunError::Runaway { events, at, party } => write!(
                f,
                "run exceeded {events} events by {at} (an endpoint loops without time advancing{})",
                party.as_ref().map(|p| format!("; last timer: {p}")).unwrap_or_default()
            ),
            RunError::Live(why) => write!(f, "live mode: {why}"),
        }
    }
}

impl std::error::Error for RunError {}

enum Ev {
    Timer {
        ep: usize,
        gen: u64,
    },
    User {
        ep: usize,
        action: UserAction,
    },
    Net {
        ep: usize,
        action: Action,
    },
    // Inline, not boxed: the queue keeps events in a slab and moves only keys, and a box per datagram
    // was a tenth of a run's allocations.
    Arrive(InFlight),
    StreamReady {
        ep: usize,
        id: u64,
        local: SocketAddr,
        result: Result<(), String>,
    },
    StreamArrive(StreamInFlight),
    ToServer {
        ep: usize,
        stanza: Arc<Element>,
    },
    ToClient {
        ep: usize,
        stanza: Box<Element>,
    },
}

/// What a live party's devices hand the run loop, from their own threads.
enum LiveIn {
    /// The endpoint of this slot has outputs to poll.
    Wake(usize),
    /// The TUN device of this slot read a packet.
    Tun(usize, FromTun),
}

/// A live device's network and the thread reading its TUN device; dropping it stops the thread,
/// then removes the namespace with everything in it.
struct LiveDevice {
    host: LiveHost,
    stop: Arc<AtomicBool>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Drop for LiveDevice {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }
}

/// The real-time side of a live run.
struct LiveRun {
    rx: Receiver<LiveIn>,
    /// Lateness of queued events, inbound and outbound TUN path times, µs.
    lateness: Vec<u64>,
    tun_in: Vec<u64>,
    tun_out: Vec<u64>,
}

/// How long a live run waits, once nothing simulated is queued, for its live programs to fall
/// silent before it ends (before the scenario's deadline).
const LIVE_QUIET: Duration = Duration::from_secs(2);

/// One endpoint: a device of a party.
struct Slot {
    /// The party name: what stanzas and datagrams are recorded under.
    party: String,
    /// The device's own name for user actions, claims and violations ([`DeviceInfo::label`]).
    label: String,
    /// Its number when its party has several devices, for the stanzas of its stream.
    device: Option<u8>,
    /// Index of its party in the run.
    party_index: usize,
    ep: Box<dyn Endpoint>,
    interfaces: Vec<IpAddr>,
    /// The site of the current interface (link-down/up act on it).
    site: usize,
    /// The endpoint's stream ids → the network's.
    streams: Vec<(u64, StreamId)>,
    /// Its XMPP client-to-server stream is up (the firewall let TCP to 5222 or 443 out).
    online: bool,
    gen: u64,
    armed: Option<SimTime>,
    /// Set when the device is a live program's: datagrams for it go to its TUN device.
    live: Option<LiveDevice>,
    /// A live device's addresses from before a scripted interface switch, which its namespace keeps
    /// (live mode does not carry the switch).
    left_behind: Vec<IpAddr>,
}

struct World {
    q: EventQueue<Ev>,
    net: Net,
    xmpp: XmppServer,
    stun: Option<StunServer>,
    turn: Option<TurnServer>,
    /// TURN over TCP/TLS: (client as the server sees it, server address) → stream.
    turn_streams: std::collections::BTreeMap<(SocketAddr, SocketAddr), StreamId>,
    slots: Vec<Slot>,
    /// Interfaces each party's devices have had so far (numbers new ones, so none share addresses).
    party_ifaces: Vec<usize>,
    trace: Trace,
    /// One-way client–server latency of each slot's stream.
    legs: Vec<Duration>,
    media: LinkParams,
    seed: u64,
    live: Option<LiveRun>,
}

/// A site and the hosts it has so far: its first party's subnet, hosts added after the first.
struct SiteHosts {
    /// The LAN it is, when parties share it.
    lan: Option<String>,
    site: usize,
    /// Index of the party whose address plan the site uses.
    first: usize,
    /// Hosts added after the first (further LAN members and devices).
    members: usize,
}

fn host_ip(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, i as u8 + 1, 2))
}
fn public_ip(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(203, 0, 113, i as u8 + 1))
}
/// Address of device `d` (1-based) of party `i` without a NAT: device 1 has the party's public
/// address, further devices 203.0.113.(128 + 4i + d − 2).
fn open_ip(i: usize, d: usize) -> IpAddr {
    if d == 1 {
        public_ip(i)
    } else {
        IpAddr::V4(Ipv4Addr::new(203, 0, 113, (128 + 4 * i + d - 2) as u8))
    }
}
fn carrier_ip(i: usize, k: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(100, 64 + k as u8, i as u8 + 1, 1))
}
/// Addresses of a party's `n`-th interface (0 = the first): host, outermost public, carrier.
fn iface_ips(i: usize, n: usize, nats: usize) -> (IpAddr, Vec<IpAddr>) {
    let public = if n == 0 {
        public_ip(i)
    } else {
        IpAddr::V4(Ipv4Addr::new(198, 51, 100, (i * 8 + n) as u8 + 1))
    };
    let host = if nats == 0 {
        public
    } else if n == 0 {
        host_ip(i)
    } else {
        IpAddr::V4(Ipv4Addr::new(10, 100 + n as u8, i as u8 + 1, 2))
    };
    let ext = (0..nats)
        .map(|k| {
            if k + 1 == nats {
                public
            } else if n == 0 {
                carrier_ip(i, k)
            } else {
                IpAddr::V4(Ipv4Addr::new(100, 96 + k as u8, (i * 8 + n) as u8 + 1, 1))
            }
        })
        .collect();
    (host, ext)
}

/// Runs `spec` with implementations from `registry`.
///
/// Errors: [`RunError`] when the run cannot be carried out; protocol faults of implementations are
/// never errors, they are in the trace.
pub fn run(spec: &RunSpec, registry: &Registry) -> Result<RunOutput, RunError> {
    run_with(spec, registry, &RunOptions::default())
}

/// What a run does besides running and recording its trace.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Live runs only: a tcpdump in each live device's namespace captures its TUN device into
    /// `DIR/tcpdump-LABEL.pcap` ([`tcpdump_file`]), the kernel's view of what the program sent and
    /// received, independent of the trace (`cargo xtask judge` reads it). Simulated runs ignore it.
    pub tcpdump: Option<std::path::PathBuf>,
}

/// The file name of a live device's tcpdump capture: `tcpdump-LABEL.pcap`, the device's label
/// (party, or `PARTY/deviceN`) with `/` written `-`.
pub fn tcpdump_file(label: &str) -> String {
    format!("tcpdump-{}.pcap", label.replace('/', "-"))
}

/// [`run`] with `opts`.
///
/// Errors: as [`run`]; with `opts.tcpdump`, a capture that cannot start is [`RunError::Live`].
pub fn run_with(spec: &RunSpec, registry: &Registry, opts: &RunOptions) -> Result<RunOutput, RunError> {
    let sc = &spec.scenario;
    let half = |d: Option<Duration>| d.unwrap_or_default() / 2;
    let media = sc.network.media.per_link();
    let mut net = Net::new();
    let mut parties = Vec::new();
    let mut slots = Vec::new();
    let mut jids = Vec::new();
    // Every party's slot indexes, device 1 first.
    let mut slot_of: Vec<Vec<usize>> = Vec::new();
    let mut sites: Vec<SiteHosts> = Vec::new();
    let live_run = spec
        .parties
        .iter()
        .any(|p| registry.get(&p.implementation).is_some_and(|e| e.live.is_some()));
    let (live_tx, live_rx): (Option<Sender<LiveIn>>, _) = if live_run {
        let (tx, rx) = std::sync::mpsc::channel();
        (Some(tx), Some(rx))
    } else {
        (None, None)
    };
    for (i, p) in spec.parties.iter().enumerate() {
        let entry = registry
            .get(&p.implementation)
            .ok_or_else(|| RunError::UnknownImpl(p.implementation.clone()))?;
        let nats = &p.nat.nats;
        // The site the party's devices join: its LAN's, once a member made it; else a new one.
        let mut placed = p
            .lan
            .as_ref()
            .and_then(|l| sites.iter().position(|s| s.lan.as_ref() == Some(l)));
        let count = spec.devices(&p.name);
        let mut devices = Vec::new();
        for d in 1..=count {
            let (site, host, public) = match placed {
                // Another host on a site that exists: without NAT its own public address, else the
                // next address on the site's subnet behind its NATs.
                Some(k) if nats.is_empty() => (sites[k].site, open_ip(i, d), open_ip(i, d)),
                Some(k) => {
                    let s = &mut sites[k];
                    s.members += 1;
                    let (first_host, _) = iface_ips(s.first, 0, nats.len());
                    let host = match first_host {
                        IpAddr::V4(v4) => {
                            let o = v4.octets();
                            IpAddr::V4(Ipv4Addr::new(o[0], o[1], o[2], o[3] + s.members as u8))
                        }
                        other => other,
                    };
                    (s.site, host, public_ip(s.first))
                }
                None => {
                    let (host, ext) = iface_ips(i, 0, nats.len());
                    let site_name = p.lan.clone().unwrap_or_else(|| p.name.clone());
                    let site = net.add_site(
                        &site_name,
                        nats,
                        p.nat.firewall.as_ref(),
                        &ext,
                        media.clone(),
                        spec.seed,
                    );
                    sites.push(SiteHosts {
                        lan: p.lan.clone(),
                        site,
                        first: i,
                        members: 0,
                    });
                    placed = Some(sites.len() - 1);
                    (site, host, public_ip(i))
                }
            };
            let slot = slots.len();
            // Every device is observed as its party: the judge scores the account.
            net.attach(site, Attach::Endpoint(slot), host, &p.name);
            let jid = format!("{}@{XMPP_DOMAIN}/device{d}", p.name);
            // Device 1 keeps the stream a one-device party has always had.
            let rng_label = if d == 1 {
                format!("endpoint/{}", p.name)
            } else {
                format!("endpoint/{}/device{d}", p.name)
            };
            let label = if count == 1 {
                p.name.clone()
            } else {
                format!("{}/device{d}", p.name)
            };
            let cfg = EndpointConfig {
                party: p.name.clone(),
                jid: jid.clone(),
                server: XMPP_DOMAIN.to_string(),
                interfaces: vec![host],
                rng: SimRng::derive(spec.seed, &rng_label),
                knobs: p.knobs.clone(),
                live: live_run,
            };
            let (ep, live) = match (&entry.live, &live_tx) {
                (Some(make), Some(tx)) => {
                    let IpAddr::V4(v4) = host else {
                        return Err(RunError::Live(format!("{label}: an IPv6 host address")));
                    };
                    let mut h = LiveHost::create(&crate::live::fresh_name(), v4).map_err(RunError::Live)?;
                    if let Some(dir) = &opts.tcpdump {
                        std::fs::create_dir_all(dir).map_err(|e| RunError::Live(format!("{}: {e}", dir.display())))?;
                        h.start_tcpdump(&dir.join(tcpdump_file(&label)))
                            .map_err(RunError::Live)?;
                    }
                    let stop = Arc::new(AtomicBool::new(false));
                    let reader = tun::spawn_reader(Arc::clone(&h.tun), Arc::clone(&stop), tx.clone(), move |p| {
                        LiveIn::Tun(slot, p)
                    });
                    let wake_tx = tx.clone();
                    let ctx = LiveContext {
                        netns: h.netns.clone(),
                        wake: Arc::new(move || {
                            let _ = wake_tx.send(LiveIn::Wake(slot));
                        }),
                    };
                    let dev = LiveDevice {
                        host: h,
                        stop,
                        reader: Some(reader),
                    };
                    (make(cfg, ctx), Some(dev))
                }
                _ => ((entry.make)(cfg), None),
            };
            devices.push(DeviceInfo {
                label: label.clone(),
                jid: jid.clone(),
                host_ip: host,
                public_ip: public,
                ics: ep.ics().clone(),
            });
            slots.push(Slot {
                party: p.name.clone(),
                label,
                device: (count > 1).then_some(d as u8),
                party_index: i,
                ep,
                interfaces: vec![host],
                site,
                streams: Vec::new(),
                online: true,
                gen: 0,
                armed: None,
                live,
                left_behind: Vec::new(),
            });
            jids.push(jid);
        }
        slot_of.push((slots.len() - devices.len()..slots.len()).collect());
        parties.push(PartyInfo {
            name: p.name.clone(),
            devices,
        });
    }
    let mut services = Vec::new();
    let stun = if sc.servers.stun {
        let addr: SocketAddr = STUN_ADDR.parse().expect("constant");
        let site = net.add_site("stun", &[], None, &[], LinkParams::default(), spec.seed);
        net.attach(site, Attach::Server(0), addr.ip(), "stun");
        services.push(ExtService {
            kind: "stun".into(),
            host: addr.ip().to_string(),
            port: addr.port(),
            transport: "udp".into(),
            username: None,
            password: None,
            expires: None,
            rest: None,
        });
        Some(StunServer { addr })
    } else {
        None
    };
    let t = &sc.servers.turn;
    let turn = if t.enabled {
        let ip: IpAddr = TURN_IP.parse().expect("constant");
        let site = net.add_site("turn", &[], None, &[], LinkParams::default(), spec.seed);
        net.attach(site, Attach::Server(1), ip, "turn");
        let ttl = t.credential_ttl.unwrap_or(TURN_CREDENTIAL_TTL);
        let rest = RestCredentials {
            secret: TURN_SECRET.into(),
            expiry_unix: if t.expired_credentials {
                SimTime::ZERO.unix_secs() - 3600
            } else {
                SimTime::ZERO.unix_secs() + ttl.as_secs()
            },
            shared_user: t.shared_user.clone(),
        };
        for tr in &t.transports {
            let (kind, port, transport) = match tr {
                TurnServerTransport::Udp => ("turn", 3478, "udp"),
                TurnServerTransport::Tcp => ("turn", 3478, "tcp"),
                TurnServerTransport::Tls => ("turns", 443, "tcp"),
            };
            services.push(ExtService {
                kind: kind.into(),
                host: ip.to_string(),
                port,
                transport: transport.into(),
                username: None,
                password: None,
                expires: None,
                rest: Some(rest.clone()),
            });
        }
        Some(TurnServer::new(
            TurnConfig {
                realm: XMPP_DOMAIN.into(),
                secrets: vec![TURN_SECRET.into()],
                relay_ip: ip,
                user_quota: t.user_quota,
                total_quota: t.total_quota,
                default_lifetime: t.lifetime.unwrap_or(TurnConfig::default().default_lifetime),
                max_lifetime: t.lifetime.unwrap_or(TurnConfig::default().max_lifetime),
                ..TurnConfig::default()
            },
            SimRng::derive(spec.seed, "server/turn"),
        ))
    } else {
        None
    };
    let legs = slots
        .iter()
        .map(|s| {
            spec.parties[s.party_index]
                .signalling_latency
                .unwrap_or_else(|| half(sc.network.signalling.latency))
        })
        .collect();
    let mut w = World {
        q: EventQueue::new(),
        net,
        xmpp: XmppServer::new(XMPP_DOMAIN, &jids, services)
            .with_csi(sc.servers.xmpp.csi.unwrap_or_default())
            .with_carbons(sc.servers.xmpp.carbons),
        stun,
        turn,
        turn_streams: Default::default(),
        party_ifaces: vec![1; spec.parties.len()],
        slots,
        trace: Trace {
            mask_stun_transaction_ids: parties
                .iter()
                .flat_map(|p: &PartyInfo| &p.devices)
                .any(|d| d.ics.unseeded_stun_transaction_ids),
            ..Trace::with_spare_buffer()
        },
        legs,
        media,
        seed: spec.seed,
        live: live_rx.map(|rx| LiveRun {
            rx,
            lateness: Vec::new(),
            tun_in: Vec::new(),
            tun_out: Vec::new(),
        }),
    };
    drop(live_tx);
    // Log in: the client-to-server stream needs TCP to 5222, or to 443 (XEP-0368 direct TLS) where
    // only web ports pass. With neither, the client stays offline and none of its stanzas leave.
    for i in 0..w.slots.len() {
        let site = w.slots[i].site;
        if !w.net.site_permits_tcp(site, XMPP_C2S_PORT) && !w.net.site_permits_tcp(site, XMPP_DIRECT_TLS_PORT) {
            w.slots[i].online = false;
            let host = SocketAddr::new(w.slots[i].interfaces[0], 0);
            let reason = format!(
                "firewall: tcp to the XMPP server on {XMPP_C2S_PORT} and {XMPP_DIRECT_TLS_PORT} denied; {} cannot log in",
                w.slots[i].label
            );
            w.trace.push(
                SimTime::ZERO,
                TraceKind::Dropped {
                    point: (w.net.site_name(site).to_string() + "/firewall").into(),
                    src: host,
                    dst: SocketAddr::new(XMPP_SERVER_IP.parse().expect("constant"), XMPP_C2S_PORT),
                    reason,
                    payload: Bytes::new(),
                },
            );
        }
    }
    // Endpoints start (log in) before any scripted action at the same instant.
    for i in 0..w.slots.len() {
        w.rearm(i, SimTime::ZERO);
    }
    let party_index = |name: &str| {
        spec.parties
            .iter()
            .position(|p| p.name == name)
            .expect("validated party")
    };
    for s in &sc.script {
        let ep = slot_of[party_index(&s.party)][s.device - 1];
        let action = match &s.action {
            Action::Call { to, media } => UserAction::Call {
                to: xml::bare(&jids[slot_of[party_index(to)][0]]).to_string(),
                media: media.clone(),
            },
            Action::Answer => UserAction::Answer,
            Action::Reject => UserAction::Reject,
            Action::Hangup => UserAction::Hangup,
            Action::GoInactive => UserAction::GoInactive,
            Action::GoActive => UserAction::GoActive,
            a @ (Action::LinkDown | Action::LinkUp | Action::SwitchInterface { .. }) => {
                w.q.push(SimTime::ZERO + s.at, Ev::Net { ep, action: a.clone() });
                continue;
            }
        };
        w.q.push(SimTime::ZERO + s.at, Ev::User { ep, action });
    }
    let deadline = SimTime::ZERO + sc.deadline();
    if w.live.is_some() {
        let stats = w.run_live(deadline)?;
        // The programs stop and the namespaces go before the report is written.
        w.slots.clear();
        return Ok(RunOutput {
            spec: spec.clone(),
            parties,
            trace: std::mem::take(&mut w.trace),
            live: Some(stats),
        });
    }
    let mut events = 0u64;
    while let Some(t) = w.q.peek_time() {
        if t > deadline {
            break;
        }
        let (now, ev) = w.q.pop().expect("peeked");
        events += 1;
        if events > MAX_EVENTS {
            let party = match &ev {
                Ev::Timer { ep, .. } => Some(w.slots[*ep].label.clone()),
                _ => None,
            };
            return Err(RunError::Runaway { events, at: now, party });
        }
        w.step(now, ev);
    }
    Ok(RunOutput {
        spec: spec.clone(),
        parties,
        trace: w.trace,
        live: None,
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
                let party = self.slots[ep].label.clone();
                self.trace.push(
                    now,
                    TraceKind::User {
                        party,
                        action: action.name().to_string(),
                    },
                );
                self.feed(now, ep, Input::User(action));
            }
            Ev::Net { ep, action } => self.network_action(now, ep, action),
            Ev::StreamReady { ep, id, local, result } => {
                let input = match result {
                    Ok(()) => Input::StreamOpened { id, local },
                    Err(reason) => Input::StreamFailed { id, reason },
                };
                self.feed(now, ep, input);
            }
            Ev::StreamArrive(f) => {
                let d = self.net.stream_arrive(now, f, &mut self.trace);
                if let Attach::Endpoint(i) = d.to {
                    let Some(&(id, _)) = self.slots[i].streams.iter().find(|(_, n)| *n == d.id) else {
                        return;
                    };
                    self.feed(now, i, Input::StreamData { id, payload: d.payload });
                } else if d.to == Attach::Server(0) {
                    // STUN Binding over TCP/TLS (RFC 8489 §6.2.2): the answer goes back on the stream.
                    let Some(resp) = self.stun.as_ref().and_then(|s| s.handle(d.remote, &d.payload)) else {
                        return;
                    };
                    if let Some((at, f)) = self.net.stream_send(now, d.id, false, resp.into(), &mut self.trace) {
                        self.q.push(at, Ev::StreamArrive(f));
                    }
                } else if let Some(turn) = self.turn.as_mut() {
                    self.turn_streams.insert((d.remote, d.local), d.id);
                    let tr = if d.tls {
                        ClientTransport::Tls
                    } else {
                        ClientTransport::Tcp
                    };
                    let outs = turn.on_client(now, tr, d.remote, d.local, &d.payload);
                    self.turn_outputs(now, outs, (d.remote, d.local, d.payload));
                }
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
                    Attach::Server(1) => {
                        let Some(turn) = self.turn.as_mut() else { return };
                        let outs = if turn.is_relay(d.dst) {
                            turn.on_peer(now, d.dst, d.src, &d.payload)
                        } else {
                            turn.on_client(now, ClientTransport::Udp, d.src, d.dst, &d.payload)
                        };
                        self.turn_outputs(now, outs, (d.src, d.dst, d.payload));
                    }
                    Attach::Server(_) => {
                        let Some(stun) = &self.stun else { return };
                        if let Some(resp) = stun.handle(d.src, &d.payload) {
                            let from = stun.addr;
                            if let Some((at, f)) =
                                self.net
                                    .send(now, Attach::Server(0), from, d.src, resp.into(), &mut self.trace)
                            {
                                self.schedule(at, f);
                            }
                        }
                    }
                }
            }
            Ev::ToServer { ep, stanza } => {
                // The trace holds the other reference: the server stamps `from` on its own copy.
                for (to, s) in self.xmpp.handle(ep, Arc::unwrap_or_clone(stanza)) {
                    self.q.push(
                        now + self.legs[to],
                        Ev::ToClient {
                            ep: to,
                            stanza: Box::new(s),
                        },
                    );
                }
            }
            Ev::ToClient { ep, stanza } => {
                let party = self.slots[ep].party.clone();
                let stanza = Arc::new(*stanza);
                self.trace.push(
                    now,
                    TraceKind::Stanza {
                        party,
                        device: self.slots[ep].device,
                        dir: Dir::Rx,
                        element: Arc::clone(&stanza),
                    },
                );
                self.feed(now, ep, Input::Stanza(stanza));
            }
        }
    }

    fn feed(&mut self, now: SimTime, i: usize, input: Input) {
        if let (Input::Datagram { local, remote, payload }, Some(dev)) = (&input, &self.slots[i].live) {
            // A live device's datagrams go to its program through the TUN device, not the endpoint.
            let t0 = Instant::now();
            let written = match tun::build(*remote, *local, payload) {
                Some(pkt) => tun::write(&dev.host.tun, &pkt).map_err(|e| e.to_string()),
                None => Err("not an IPv4 datagram".to_string()),
            };
            let took = t0.elapsed().as_micros() as u64;
            if let Some(l) = self.live.as_mut() {
                l.tun_out.push(took);
            }
            if let Err(why) = written {
                self.tun_dropped(now, i, *remote, *local, format!("TUN device: {why}"), payload.clone());
            }
            return;
        }
        self.slots[i].ep.handle_input(now, input);
        self.drain(now, i);
    }

    /// Sends a datagram a device's endpoint (or, live, its program) sent from `local`.
    fn send_datagram(&mut self, now: SimTime, i: usize, local: SocketAddr, remote: SocketAddr, payload: Bytes) {
        if self.slots[i].left_behind.contains(&local.ip()) {
            // The namespace keeps the address it was made with: the harness, not the program, left
            // it behind, so this is a drop on the harness's side and nobody's violation.
            let reason =
                "the live party's namespace keeps its first address: switch-interface is not carried to live parties";
            return self.tun_dropped(now, i, local, remote, reason.into(), payload);
        }
        if !self.slots[i].interfaces.contains(&local.ip()) {
            let party = self.slots[i].label.clone();
            self.trace.push(
                now,
                TraceKind::Violation {
                    party,
                    what: format!("datagram from {local}, which is not an address of this host"),
                },
            );
            return;
        }
        if let Some((at, f)) = self
            .net
            .send(now, Attach::Endpoint(i), local, remote, payload, &mut self.trace)
        {
            self.schedule(at, f);
        }
    }

    /// Carries out every output device `i`'s endpoint has ready, then re-arms its timer.
    fn drain(&mut self, now: SimTime, i: usize) {
        while let Some(out) = self.slots[i].ep.poll_output() {
            // Names are cloned only for trace events that carry them, not per datagram (hot path).
            let party = || self.slots[i].party.clone();
            let label = || self.slots[i].label.clone();
            match out {
                Output::Datagram { local, remote, payload } => self.send_datagram(now, i, local, remote, payload),
                Output::StreamOpen { id, local, remote, tls } => {
                    if !self.slots[i].interfaces.contains(&local.ip()) {
                        self.trace.push(
                            now,
                            TraceKind::Violation {
                                party: label(),
                                what: format!("stream from {local}, which is not an address of this host"),
                            },
                        );
                        continue;
                    }
                    let (nid, open) =
                        self.net
                            .stream_open(now, Attach::Endpoint(i), local, remote, tls, &mut self.trace);
                    self.slots[i].streams.push((id, nid));
                    let (at, result) = match open {
                        StreamOpen::Established { at, .. } => (at, Ok(())),
                        StreamOpen::Failed { at, reason } => (at, Err(reason)),
                    };
                    self.q.push(
                        at,
                        Ev::StreamReady {
                            ep: i,
                            id,
                            local,
                            result,
                        },
                    );
                }
                Output::StreamSend { id, payload } => {
                    let Some(&(_, nid)) = self.slots[i].streams.iter().find(|(s, _)| *s == id) else {
                        self.trace.push(
                            now,
                            TraceKind::Violation {
                                party: label(),
                                what: format!("write on stream {id}, which it never opened"),
                            },
                        );
                        continue;
                    };
                    if let Some((at, f)) = self.net.stream_send(now, nid, true, payload, &mut self.trace) {
                        self.q.push(at, Ev::StreamArrive(f));
                    }
                }
                Output::Stanza(_) if !self.slots[i].online => {}
                Output::Stanza(stanza) => {
                    let stanza = Arc::new(stanza);
                    self.trace.push(
                        now,
                        TraceKind::Stanza {
                            party: party(),
                            device: self.slots[i].device,
                            dir: Dir::Tx,
                            element: Arc::clone(&stanza),
                        },
                    );
                    self.q.push(now + self.legs[i], Ev::ToServer { ep: i, stanza });
                }
                Output::Event(e) => {
                    let claim = match e {
                        EndpointEvent::CallState(s) => format!("call-state {s}"),
                        EndpointEvent::IceState(s) => format!("ice-state {s}"),
                        EndpointEvent::SelectedPair { local, remote } => format!("selected-pair {local} {remote}"),
                        EndpointEvent::MediaAuthenticated => "media-authenticated".to_string(),
                    };
                    let party = label();
                    self.trace.push(now, TraceKind::Claim { party, claim });
                }
                Output::Fault(what) => {
                    let party = label();
                    self.trace.push(now, TraceKind::Violation { party, what });
                }
            }
        }
        self.rearm(i, now);
    }

    /// Carries out what the TURN server answered to the message `(src, dst, payload)`.
    fn turn_outputs(&mut self, now: SimTime, outs: Vec<TurnOutput>, input: (SocketAddr, SocketAddr, Bytes)) {
        let turn = Attach::Server(1);
        for o in outs {
            match o {
                TurnOutput::ToClient {
                    transport: ClientTransport::Udp,
                    client,
                    server,
                    payload,
                } => {
                    if let Some((at, f)) = self.net.send(now, turn, server, client, payload, &mut self.trace) {
                        self.schedule(at, f);
                    }
                }
                TurnOutput::ToClient {
                    client,
                    server,
                    payload,
                    ..
                } => {
                    let Some(&id) = self.turn_streams.get(&(client, server)) else {
                        continue;
                    };
                    if let Some((at, f)) = self.net.stream_send(now, id, false, payload, &mut self.trace) {
                        self.q.push(at, Ev::StreamArrive(f));
                    }
                }
                TurnOutput::ToPeer { relay, peer, payload } => {
                    if let Some((at, f)) = self.net.send(now, turn, relay, peer, payload, &mut self.trace) {
                        self.schedule(at, f);
                    }
                }
                TurnOutput::Dropped { reason } => {
                    let (src, dst, payload) = input.clone();
                    self.trace.push(
                        now,
                        TraceKind::Dropped {
                            point: "turn".into(),
                            src,
                            dst,
                            reason,
                            payload,
                        },
                    );
                }
            }
        }
    }

    /// Queues a datagram's arrival, and its duplicate when a link made one.
    fn schedule(&mut self, at: SimTime, mut f: InFlight) {
        if let Some((d, copy)) = f.take_duplicate() {
            self.q.push(at + d, Ev::Arrive(copy));
        }
        self.q.push(at, Ev::Arrive(f));
    }

    /// A scripted network event for device `ep`: its site's access link (shared by the devices and
    /// LAN members on it) goes down or up, or the device moves to a new interface on a new network.
    fn network_action(&mut self, now: SimTime, ep: usize, action: Action) {
        let party = self.slots[ep].label.clone();
        let name = match &action {
            Action::LinkDown => "link-down".to_string(),
            Action::LinkUp => "link-up".to_string(),
            Action::SwitchInterface { nat } => format!("switch-interface {nat}"),
            _ => unreachable!("only network actions are queued as Ev::Net"),
        };
        self.trace.push(
            now,
            TraceKind::User {
                party: party.clone(),
                action: name,
            },
        );
        match action {
            Action::LinkDown => self.net.set_link_up(self.slots[ep].site, false),
            Action::LinkUp => self.net.set_link_up(self.slots[ep].site, true),
            Action::SwitchInterface { nat } => {
                let profile = nat_profiles().remove(&nat).expect("validated profile");
                let pi = self.slots[ep].party_index;
                let n = self.party_ifaces[pi];
                self.party_ifaces[pi] += 1;
                let (host, ext) = iface_ips(pi, n, profile.nats.len());
                let site_name = format!("{party}/if{}", n + 1);
                let site = self.net.add_site(
                    &site_name,
                    &profile.nats,
                    profile.firewall.as_ref(),
                    &ext,
                    self.media.clone(),
                    self.seed,
                );
                // The old network's link goes down, unless another device or LAN member still uses it;
                // either way the device's old address is gone, so nothing reaches it there any more.
                let old = self.slots[ep].site;
                if !self.slots.iter().enumerate().any(|(j, s)| j != ep && s.site == old) {
                    self.net.set_link_up(old, false);
                }
                for ip in std::mem::take(&mut self.slots[ep].interfaces) {
                    self.net.detach(Attach::Endpoint(ep), ip);
                    if self.slots[ep].live.is_some() {
                        self.slots[ep].left_behind.push(ip);
                    }
                }
                // The host is observed under its party's name on every interface, as every
                // device is, so the judge follows it onto the new network.
                let point = self.slots[ep].party.clone();
                self.net.attach(site, Attach::Endpoint(ep), host, &point);
                self.slots[ep].site = site;
                self.slots[ep].interfaces = vec![host];
                self.feed(now, ep, Input::InterfacesChanged(vec![host]));
            }
            _ => {}
        }
    }

    /// The event loop of a live run: simulated time follows the monotonic clock from now. Queued
    /// events run when their time has come, at their scheduled time; what live programs send
    /// becomes events at the current time, after every queued event due by then, so the trace stays
    /// in time order. Ends at `deadline` (in real time), or earlier once nothing simulated is
    /// queued and the live programs have been silent for [`LIVE_QUIET`].
    fn run_live(&mut self, deadline: SimTime) -> Result<LiveStats, RunError> {
        let start = Instant::now();
        let started_unix_us = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        let elapsed = move || SimTime::from_micros(start.elapsed().as_micros() as u64);
        let mut clock = SimTime::ZERO;
        let mut last_heard = SimTime::ZERO;
        let mut pending: Vec<LiveIn> = Vec::new();
        let mut events = 0u64;
        loop {
            while let Some(t) = self.q.peek_time() {
                let now = elapsed();
                if t > now || t > deadline {
                    break;
                }
                let (t, ev) = self.q.pop().expect("peeked");
                self.live_stats()
                    .lateness
                    .push(now.as_micros().saturating_sub(t.as_micros()));
                events += 1;
                if events > MAX_EVENTS {
                    return Err(RunError::Runaway {
                        events,
                        at: t,
                        party: None,
                    });
                }
                clock = t;
                self.step(t, ev);
            }
            let now = elapsed().max(clock);
            if !pending.is_empty() {
                last_heard = now;
                clock = now;
                for msg in std::mem::take(&mut pending) {
                    self.live_input(now, msg);
                }
                continue;
            }
            if now >= deadline {
                break;
            }
            let idle = self.q.peek_time().is_none_or(|t| t > deadline);
            if idle && now.saturating_since(last_heard) >= LIVE_QUIET {
                break;
            }
            let next = if idle {
                (last_heard + LIVE_QUIET).min(deadline)
            } else {
                self.q.peek_time().expect("not idle").min(deadline)
            };
            let rx = &self.live_stats().rx;
            if let Ok(msg) = rx.recv_timeout(next.saturating_since(elapsed())) {
                pending.push(msg);
                pending.extend(rx.try_iter());
            }
        }
        let l = self.live_stats();
        Ok(LiveStats {
            started_unix_us,
            wall_clock_ms: start.elapsed().as_millis() as u64,
            lateness_us: Percentiles::of(&mut l.lateness),
            tun_in_us: Percentiles::of(&mut l.tun_in),
            tun_out_us: Percentiles::of(&mut l.tun_out),
        })
    }

    fn live_stats(&mut self) -> &mut LiveRun {
        self.live.as_mut().expect("a live run")
    }

    /// One message from a live device, at `now`.
    fn live_input(&mut self, now: SimTime, msg: LiveIn) {
        match msg {
            LiveIn::Wake(i) => self.drain(now, i),
            LiveIn::Tun(
                i,
                FromTun::Datagram {
                    src,
                    dst,
                    payload,
                    read_at,
                },
            ) => {
                if let Some(l) = self.live.as_mut() {
                    l.tun_in.push(read_at.elapsed().as_micros() as u64);
                }
                self.send_datagram(now, i, src, dst, payload);
            }
            LiveIn::Tun(i, FromTun::Unsupported { src, dst, reason }) => {
                self.tun_dropped(now, i, src, dst, reason, Bytes::new())
            }
        }
    }

    /// Records a packet lost between device `i`'s TUN device and the world, at point `LABEL/tun`.
    fn tun_dropped(
        &mut self,
        now: SimTime,
        i: usize,
        src: SocketAddr,
        dst: SocketAddr,
        reason: String,
        payload: Bytes,
    ) {
        let point = (self.slots[i].label.clone() + "/tun").into();
        self.trace.push(
            now,
            TraceKind::Dropped {
                point,
                src,
                dst,
                reason,
                payload,
            },
        );
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
