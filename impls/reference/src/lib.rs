//! The reference endpoint: a conforming XMPP call client as a sans-IO state machine.
//!
//! It discovers STUN through XEP-0215, gathers host and server-reflexive candidates, calls with
//! XEP-0353 JMI (propose → ringing → proceed) and a Jingle RTP session (XEP-0166/0167) over ICE-UDP
//! (XEP-0176) with a DTLS fingerprint (XEP-0320), runs RFC 8445 ICE with regular nomination, sends
//! small RTP packets on the selected pair while consent holds (RFC 7675), restarts ICE in
//! transport-info when its host changes interface or consent is lost (RFC 8445 §9), and ends with
//! session-terminate and JMI finish.
#![warn(missing_docs)]

pub mod ice;
mod knobs;
pub mod signalling;
pub mod turn;

pub use knobs::{CreatorMode, JmiAddressing, Knobs, RestartForm, StartChecksAt, KNOB_NAMES};

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use endpoint_contract::endpoint::{Endpoint, EndpointConfig, EndpointEvent, Ics, Input, Output, UserAction};
use endpoint_contract::xml::{bare, el, iq_result, ns, BuilderExt};
use endpoint_contract::xml::{carbon_payload, CarbonKind};
use endpoint_contract::SimRng;
use endpoint_contract::SimTime;
use minidom::Element;
use stun_codec::{attr_type, method, Attribute, Class, Message, MessageBuilder};
use xmpp_parsers::jingle::{Action, Creator, Reason};
use xmpp_parsers::jingle_dtls_srtp::Setup;

use ice::{Candidate, CandidateType, DriverEvent, DriverFactory, DriverState, IceConfig, IceDriver, Role};
use turn::{TurnClient, TurnEvent, TurnService, TurnTransport};

/// Interval between RTP packets on the selected pair: a few per second proves media flows without
/// flooding the trace.
const RTP_INTERVAL: Duration = Duration::from_millis(200);
/// STUN gathering transaction: RTO 500 ms doubling, 7 sends (RFC 5389 §7.2.1).
const GATHER_RTO: Duration = Duration::from_millis(500);
const GATHER_MAX_SENDS: u32 = 7;
/// TURN over TCP/TLS is tried only when nothing on UDP (the STUN server, TURN/UDP) answered within
/// this time: a happy-eyeballs fallback that finds `turns:` on 443 behind UDP-blocking firewalls
/// without spending a second allocation (and quota) everywhere else.
const TURN_STREAM_FALLBACK: Duration = Duration::from_secs(1);
/// Once a relayed candidate exists, gathering stops waiting for UDP transactions that have not
/// answered after this long (behind a UDP-blocking firewall they never will).
const GATHER_GRACE: Duration = Duration::from_secs(2);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Initiator,
    Responder,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CallState {
    /// Caller: propose sent.
    Proposed,
    /// Callee: ringing the user.
    Ringing,
    /// Callee: proceed sent, waiting for session-initiate.
    Proceeded,
    /// Jingle session pending (initiate sent / received).
    Pending,
    /// Jingle session active (accept sent / received).
    Active,
    /// Over.
    Ended,
}

struct Call {
    sid: String,
    side: Side,
    peer_bare: String,
    peer_full: Option<String>,
    media: Vec<String>,
    state: CallState,
    ice: Option<Box<dyn IceDriver>>,
    /// The session-initiate / session-accept is due but gathering is not done: send it once it is.
    waiting_for_gathering: bool,
    /// Media on the selected pair, once ICE selected one.
    rtp: Option<Rtp>,
    /// The call began with JMI, so JMI finish follows the session (XEP-0353 §3.6).
    via_jmi: bool,
    /// How many of the agent's remote candidates have had TURN permissions asked for.
    permitted: usize,
    /// Callee: proceed went out on the propose, before the user answered (`start-checks-at:
    /// propose`).
    proceeded_early: bool,
    /// This side's session-initiate or session-accept went out: later candidates go in
    /// transport-info.
    transport_sent: bool,
    /// Every ICE ufrag the peer signalled in this session, the current one last: candidates of an
    /// older ICE session are stale (RFC 8838 §8), and a new ufrag is an ICE restart (RFC 8445 §9).
    remote_ufrags: Vec<String>,
    /// This side offered an ICE restart and waits for the peer's new credentials (XEP-0176 §5.9;
    /// Conversations' JingleRtpConnection.java).
    awaiting_answer: bool,
    /// A restart offer waits for gathering to end (the `trickle: false` knob).
    restart_offer_due: bool,
    /// The RTP stream while ICE restarts: same SSRC and sequence, resumed on the new selected
    /// pair (RFC 8445 §9 lets media stay on the old pair meanwhile; here the old pair is gone or
    /// lost its consent, so media waits).
    parked_rtp: Option<Rtp>,
    /// rtcp-mux in this session: what this side offered, then what the answer agreed (RFC 5761;
    /// without it the agent has two components, XEP-0167 §3).
    rtcp_mux: bool,
}

impl Call {
    /// The Jingle session exists: this side sent or received its session-initiate (the ICE agent
    /// is made then). Before that the sid is at most a JMI id.
    fn jingle_started(&self) -> bool {
        self.ice.is_some()
    }

    /// This side's own session-initiate to `peer`'s account is out and unanswered: a
    /// session-initiate from `peer` now crosses it (XEP-0166 §7.2.16).
    fn crosses(&self, peer: &str) -> bool {
        self.side == Side::Initiator && self.state == CallState::Pending && self.peer_bare == bare(peer)
    }

    fn new(
        sid: String,
        side: Side,
        peer_bare: String,
        peer_full: Option<String>,
        media: Vec<String>,
        state: CallState,
    ) -> Call {
        Call {
            sid,
            side,
            peer_bare,
            peer_full,
            media,
            state,
            ice: None,
            waiting_for_gathering: false,
            via_jmi: true,
            permitted: 0,
            proceeded_early: false,
            transport_sent: false,
            remote_ufrags: Vec::new(),
            awaiting_answer: false,
            restart_offer_due: false,
            parked_rtp: None,
            rtcp_mux: true,
            rtp: None,
        }
    }
}

struct Rtp {
    local: SocketAddr,
    remote: SocketAddr,
    ssrc: u32,
    seq: u16,
    ts: u32,
    next: SimTime,
}

impl Rtp {
    /// A stream from `local` to `remote` starting at `now`, SSRC drawn from `rng`.
    fn new(rng: &mut SimRng, local: SocketAddr, remote: SocketAddr, now: SimTime) -> Rtp {
        let ssrc = rng.next_u32();
        Rtp {
            local,
            remote,
            ssrc,
            seq: (ssrc >> 16) as u16,
            ts: ssrc.rotate_left(7),
            next: now,
        }
    }
}

/// One server-reflexive discovery: a STUN Binding transaction from one local socket to the STUN
/// server, for component 1 or 2. Timing as [`GATHER_RTO`] and [`GATHER_MAX_SENDS`] say (RFC 5389
/// §7.2.1), the final wait 16 × RTO.
#[derive(Default)]
struct Binding {
    txid: [u8; 12],
    sends: u32,
    /// When the next retransmission (or the final timeout) is due.
    next: Option<SimTime>,
    srflx: Option<SocketAddr>,
    /// Answered or timed out (or there is no STUN server).
    resolved: bool,
}

impl Binding {
    /// The request, first or again, scheduling the next retransmission.
    fn request(&mut self, now: SimTime) -> Vec<u8> {
        self.sends += 1;
        self.next = Some(if self.sends >= GATHER_MAX_SENDS {
            now + GATHER_RTO * 16
        } else {
            now + GATHER_RTO * (1 << (self.sends - 1))
        });
        MessageBuilder::new(method::BINDING, Class::Request, self.txid).build(None, true)
    }

    /// The timer fired at `now`: the request to send again, or `None` once the transaction has
    /// given up (it is then resolved, without a server-reflexive address).
    fn on_timeout(&mut self, now: SimTime) -> Option<Vec<u8>> {
        if self.sends < GATHER_MAX_SENDS {
            return Some(self.request(now));
        }
        self.next = None;
        self.resolved = true;
        None
    }

    /// Whether the timer is due at `now`.
    fn due(&self, now: SimTime) -> bool {
        self.next.is_some_and(|t| t <= now)
    }

    /// A datagram from the STUN server: true when it is this transaction's success response, whose
    /// XOR-MAPPED-ADDRESS is then the server-reflexive address.
    fn on_response(&mut self, payload: &[u8]) -> bool {
        let Ok(m) = Message::decode(payload) else { return false };
        if m.transaction_id != self.txid || m.class != Class::Success {
            return false;
        }
        if let Some(Ok(Attribute::XorMappedAddress(a))) = m.get(attr_type::XOR_MAPPED_ADDRESS) {
            self.srflx = Some(a);
        }
        self.resolved = true;
        self.next = None;
        true
    }
}

struct Gather {
    /// Component 1's server-reflexive discovery.
    stun: Binding,
    /// When gathering started (the XEP-0215 answer arrived).
    started: Option<SimTime>,
    done: bool,
}

/// The reference endpoint.
pub struct ReferenceEndpoint {
    ics: Ics,
    cfg: EndpointConfig,
    rng: SimRng,
    ice_cfg: IceConfig,
    /// Makes each call's ICE agent: the reference agent unless another stack was plugged in.
    driver: DriverFactory,
    out: VecDeque<Output>,
    started: bool,
    seq: u32,
    socket: SocketAddr,
    stun: Option<SocketAddr>,
    gather: Gather,
    /// Component 2's gathering, while the endpoint uses two components (a call without rtcp-mux,
    /// or an offer made before the answer tells, `components-before-answer: 2`).
    rtcp: Option<Rtcp>,
    /// TURN allocations in order of preference (UDP, TCP, TLS); after gathering at most one is kept.
    turn: Vec<Turn>,
    /// When to open the TCP/TLS TURN allocations if UDP stayed silent.
    turn_fallback_at: Option<SimTime>,
    fingerprint: [u8; 32],
    /// Contacts by bare JID: their available full JID.
    contacts: BTreeMap<String, String>,
    call: Option<Call>,
    knobs: Knobs,
    /// Disco#info features by full JID, learned from caps.
    features: BTreeMap<String, Vec<String>>,
    /// XEP-0280 carbons were asked for.
    carbons_requested: bool,
    /// Stream ids of TURN over TCP/TLS start after this one: each gathering after an interface
    /// change opens its streams under new ids.
    stream_base: u64,
}

struct Turn {
    client: TurnClient,
    /// Stream id for TCP/TLS (the client starts once it is open).
    stream: Option<u64>,
    local: SocketAddr,
    /// The ICE component the allocation serves: 1, or 2 for RTCP without rtcp-mux.
    component: u8,
}

/// Component 2 (RTCP without rtcp-mux, XEP-0167 §3): its socket, the port above the RTP one, and
/// its own STUN Binding for a server-reflexive candidate; its UDP TURN allocation is a [`Turn`]
/// of component 2.
struct Rtcp {
    socket: SocketAddr,
    stun: Binding,
}

/// The reference endpoint's conformance statement.
pub fn ics() -> Ics {
    Ics {
        name: "reference".into(),
        jmi: true,
        trickle: true,
        rtcp_mux: true,
        renomination: "none".into(),
        turn_transports: vec!["udp".into(), "tcp".into(), "tls".into()],
        ice_restart: true,
        unseeded_stun_transaction_ids: false,
    }
}

impl ReferenceEndpoint {
    /// A new endpoint with the conforming defaults.
    pub fn new(cfg: EndpointConfig) -> ReferenceEndpoint {
        Self::with_knobs(cfg, "reference", &Knobs::default())
    }

    /// An endpoint that calls itself `name` (its ICS name, as registered) and behaves as `knobs` say,
    /// with the scenario's knobs (`cfg.knobs`, already checked) applied on top.
    pub fn with_knobs(cfg: EndpointConfig, name: &str, knobs: &Knobs) -> ReferenceEndpoint {
        let mut knobs = knobs.clone();
        for (n, v) in &cfg.knobs {
            // Checked before the run by `Knobs::check`; a failure here is a harness bug.
            knobs.apply(n, v).expect("scenario knobs are checked at plan time");
        }
        let mut ep = Self::conforming(cfg);
        ep.ics.name = name.to_string();
        ep.ice_cfg = knobs.ice_config();
        ep.ics.renomination = match knobs.nomination {
            ice::Nomination::UseCandidate | ice::Nomination::Aggressive => "none",
            ice::Nomination::C001Always | ice::Nomination::C001Negotiated => "legacy-c001",
            ice::Nomination::Renomination2 | ice::Nomination::Renomination2Always => "renomination2",
        }
        .into();
        ep.ics.jmi = !knobs.no_jmi;
        ep.ics.trickle = knobs.trickle;
        ep.knobs = knobs;
        ep
    }

    /// The reference signalling (JMI, Jingle, gathering, TURN, media) around another ICE stack:
    /// `driver` makes each call's agent and `ics` says what that stack supports (its name,
    /// renomination, restart). The scenario's knobs (`cfg.knobs`) still shape the signalling, and
    /// `ics.jmi` and `ics.trickle` follow them; the ICE settings among them reach only the
    /// reference agent, never `driver`'s stack.
    pub fn with_driver(cfg: EndpointConfig, ics: Ics, driver: DriverFactory) -> ReferenceEndpoint {
        let mut ep = Self::with_knobs(cfg, &ics.name, &Knobs::default());
        ep.ics = Ics {
            jmi: ep.ics.jmi,
            trickle: ep.ics.trickle,
            ..ics
        };
        ep.driver = driver;
        ep
    }

    fn conforming(cfg: EndpointConfig) -> ReferenceEndpoint {
        let mut rng = cfg.rng.clone();
        let port = rng.range(49152, 65535) as u16;
        let socket = SocketAddr::new(cfg.interfaces[0], port);
        let mut fingerprint = [0u8; 32];
        rng.fill(&mut fingerprint);
        ReferenceEndpoint {
            ics: ics(),
            cfg,
            rng,
            ice_cfg: IceConfig::default(),
            driver: ice::reference_driver,
            out: VecDeque::new(),
            started: false,
            seq: 0,
            socket,
            stun: None,
            gather: Gather {
                stun: Binding::default(),
                started: None,
                done: false,
            },
            rtcp: None,
            turn: Vec::new(),
            turn_fallback_at: None,
            fingerprint,
            contacts: BTreeMap::new(),
            call: None,
            knobs: Knobs::default(),
            features: BTreeMap::new(),
            carbons_requested: false,
            stream_base: 0,
        }
    }

    fn next_id(&mut self, prefix: &str) -> String {
        self.seq += 1;
        format!("{prefix}{}", self.seq)
    }

    fn send(&mut self, e: Element) {
        self.out.push_back(Output::Stanza(e));
    }

    fn claim(&mut self, s: &str) {
        self.out.push_back(Output::Event(EndpointEvent::CallState(s.into())));
    }

    /// Asks the server for XEP-0280 carbons (§4), once: from then on this device hears what the
    /// account's other devices send and receive, so it stops ringing when one of them answers.
    ///
    /// Asked when another device of the account first comes online (its presence reaches this one),
    /// not at login: carbons only matter with a second device, and a one-device account's stream
    /// stays as it was. The price is a window of one server round trip after the second device
    /// appears in which copies are not yet made.
    fn enable_carbons(&mut self) {
        if self.carbons_requested {
            return;
        }
        self.carbons_requested = true;
        let id = self.next_id("carbons");
        self.send(
            el("iq", ns::CLIENT)
                .a("type", "set")
                .a("id", id)
                .append(el("enable", ns::CARBONS).build())
                .build(),
        );
    }

    fn start(&mut self, _now: SimTime) {
        self.started = true;
        self.send(signalling::presence(!self.knobs.no_jmi, !self.knobs.no_dtls_feature));
        let id = self.next_id("extdisco");
        let server = self.cfg.server.clone();
        self.send(
            el("iq", ns::CLIENT)
                .a("type", "get")
                .a("id", id)
                .a("to", server)
                .append(el("services", ns::EXTDISCO).build())
                .build(),
        );
    }

    fn local_candidates(&self) -> Vec<Candidate> {
        let mut v = Vec::new();
        // Under a relay-only policy only the relayed candidate is gathered (WebRTC
        // `iceTransportPolicy: relay`; Conversations' WebRTCWrapper.java `IceTransportsType.RELAY`).
        if !self.knobs.relay_only {
            v.push(Candidate {
                addr: self.socket,
                base: self.socket,
                typ: CandidateType::Host,
                priority: ice::priority(CandidateType::Host, 65535, 1),
                foundation: "1".into(),
                component: 1,
            });
        }
        if let Some(s) = self
            .gather
            .stun
            .srflx
            .filter(|s| *s != self.socket && !self.knobs.relay_only)
        {
            v.push(Candidate {
                addr: s,
                base: self.socket,
                typ: CandidateType::ServerReflexive,
                priority: ice::priority(CandidateType::ServerReflexive, 65535, 1),
                foundation: "2".into(),
                component: 1,
            });
        }
        if let Some(t) = self.turn.iter().find(|t| t.client.relayed().is_some()) {
            let relayed = t.client.relayed().expect("found");
            // RFC 8445 §5.1.2.1: local preference ranks relays by client transport, UDP first.
            let local_pref = match t.client.service.transport {
                TurnTransport::Udp => 65535,
                TurnTransport::Tcp => 32767,
                TurnTransport::Tls => 16383,
            };
            v.push(Candidate {
                addr: relayed,
                base: relayed,
                typ: CandidateType::Relayed,
                priority: ice::priority(CandidateType::Relayed, local_pref, 1),
                foundation: "3".into(),
                component: 1,
            });
        }
        // Component 2 after component 1, with component 1's foundations (RFC 8445 §5.1.1.3; RFC
        // 8838 §17: never component 2 of a foundation before component 1).
        if let Some(r) = &self.rtcp {
            let mut push = |addr, base, typ, foundation: &str| {
                v.push(Candidate {
                    addr,
                    base,
                    typ,
                    priority: ice::priority(typ, 65535, 2),
                    foundation: foundation.into(),
                    component: 2,
                })
            };
            if !self.knobs.relay_only {
                push(r.socket, r.socket, CandidateType::Host, "1");
                if let Some(s) = r.stun.srflx.filter(|s| *s != r.socket) {
                    push(s, r.socket, CandidateType::ServerReflexive, "2");
                }
            }
            if let Some(relayed) = self
                .turn
                .iter()
                .find(|t| t.component == 2)
                .and_then(|t| t.client.relayed())
            {
                push(relayed, relayed, CandidateType::Relayed, "3");
            }
        }
        v
    }

    /// The relayed address of component 1 in use, if any.
    fn relayed(&self) -> Option<SocketAddr> {
        self.turn
            .iter()
            .filter(|t| t.component == 1)
            .find_map(|t| t.client.relayed())
    }

    /// Starts component 2's gathering (once per socket): the host candidate one port above the
    /// RTP socket, a STUN Binding from it and a UDP TURN allocation from it with the service
    /// component 1 uses over UDP (XEP-0215 credentials). TCP/TLS relays serve component 1 only.
    /// The caller trickles what it yields.
    fn begin_rtcp_gathering(&mut self, now: SimTime) {
        if self.rtcp.is_some() {
            return;
        }
        let socket = SocketAddr::new(self.socket.ip(), self.socket.port().wrapping_add(1));
        let mut r = Rtcp {
            socket,
            stun: Binding {
                resolved: self.stun.is_none(),
                ..Binding::default()
            },
        };
        if self.stun.is_some() {
            self.rng.fill(&mut r.stun.txid);
        }
        self.rtcp = Some(r);
        self.rtcp_gather_send(now);
        let service = self
            .turn
            .iter()
            .find(|t| t.component == 1 && t.client.service.transport == TurnTransport::Udp)
            .map(|t| t.client.service.clone());
        if let Some(service) = service {
            self.turn.retain(|t| t.component != 2);
            let mut client = TurnClient::new(service, self.rng.fork("turn-rtcp"));
            client.start(now);
            self.turn.push(Turn {
                client,
                stream: None,
                local: socket,
                component: 2,
            });
            self.flush_turn(now);
        }
    }

    /// Component 2's first STUN Binding request.
    fn rtcp_gather_send(&mut self, now: SimTime) {
        let (Some(server), Some(r)) = (self.stun, self.rtcp.as_mut()) else {
            return;
        };
        if r.stun.resolved {
            return;
        }
        let req = r.stun.request(now);
        self.out.push_back(Output::Datagram {
            local: r.socket,
            remote: server,
            payload: Bytes::from(req),
        });
    }

    /// Component 2 is not used after all (the answer agreed rtcp-mux): its gathering stops, its
    /// relay is given back, and nothing more of it is signalled.
    fn end_rtcp_gathering(&mut self, now: SimTime) {
        if self.rtcp.take().is_none() {
            return;
        }
        for t in self.turn.iter_mut().filter(|t| t.component == 2) {
            t.client.close(now);
        }
        self.flush_turn(now);
    }

    /// Sends `payload` from local candidate base `local`: through the TURN allocation when `local`
    /// is the relayed address, else as a plain datagram.
    fn emit(&mut self, now: SimTime, local: SocketAddr, remote: SocketAddr, payload: Vec<u8>) {
        if let Some(t) = self.turn.iter_mut().find(|t| t.client.relayed() == Some(local)) {
            t.client.send_to(now, remote, &payload);
            self.flush_turn(now);
        } else {
            self.out.push_back(Output::Datagram {
                local,
                remote,
                payload: Bytes::from(payload),
            });
        }
    }

    /// Moves TURN messages to the wire and reacts to allocation events.
    fn flush_turn(&mut self, now: SimTime) {
        let mut changed = false;
        let mut rtcp_changed = false;
        // (relayed address, peer IP, installed): permission news for the ICE agent.
        let mut permits = Vec::new();
        for t in &mut self.turn {
            while let Some(b) = t.client.poll_transmit() {
                let payload = Bytes::from(b);
                self.out.push_back(match t.stream {
                    Some(id) => Output::StreamSend { id, payload },
                    None => Output::Datagram {
                        local: t.local,
                        remote: t.client.service.addr,
                        payload,
                    },
                });
            }
            while let Some(e) = t.client.poll_event() {
                let relayed = t.client.relayed();
                match (&e, relayed) {
                    (TurnEvent::Permitted { ip }, Some(r)) => permits.push((r, *ip, true)),
                    (TurnEvent::Refused { ip }, Some(r)) => permits.push((r, *ip, false)),
                    _ => {}
                }
                if matches!(e, TurnEvent::Permitted { .. } | TurnEvent::Refused { .. }) {
                    continue;
                }
                changed = true;
                rtcp_changed |= t.component == 2;
                // UDP reached the TURN server: the TCP/TLS fallback is not needed.
                if matches!(e, TurnEvent::Allocated { .. }) && t.client.service.transport == TurnTransport::Udp {
                    self.turn_fallback_at = None;
                }
            }
        }
        if let Some(a) = self.call.as_mut().and_then(|c| c.ice.as_mut()) {
            for (relayed, ip, installed) in permits {
                if installed {
                    a.relay_permitted(now, relayed, ip);
                } else {
                    a.relay_refused(relayed, ip);
                }
            }
        }
        if changed {
            self.check_gathering(now);
        }
        if rtcp_changed && self.gather.done {
            // Component 2's relay, when its gathering began after component 1's had ended.
            self.trickle(now);
        }
    }

    /// Asks the TURN allocation in use for permissions for every remote candidate's IP, before any
    /// check is relayed to them (RFC 8445 §7.2.1; RFC 8656 §9).
    fn permit_remotes(&mut self, now: SimTime, ips: &[std::net::IpAddr]) {
        let first = self
            .turn
            .iter()
            .position(|t| t.component == 1 && t.client.relayed().is_some());
        let rtcp = self
            .turn
            .iter()
            .position(|t| t.component == 2 && t.client.relayed().is_some());
        if first.is_none() && rtcp.is_none() {
            return;
        }
        for i in [first, rtcp].into_iter().flatten() {
            for ip in ips {
                self.turn[i].client.permit(now, *ip);
            }
        }
        self.flush_turn(now);
    }

    /// Opens the TCP/TLS TURN allocations (the fallback).
    fn start_stream_turn(&mut self) {
        self.turn_fallback_at = None;
        for (next_id, t) in (self.stream_base + 1..).zip(self.turn.iter_mut()) {
            if t.client.service.transport != TurnTransport::Udp && t.stream.is_none() {
                t.stream = Some(next_id);
                self.out.push_back(Output::StreamOpen {
                    id: next_id,
                    local: t.local,
                    remote: t.client.service.addr,
                    tls: t.client.service.transport == TurnTransport::Tls,
                });
            }
        }
    }

    /// Gathering is complete when the STUN transaction and every started allocation are resolved
    /// (the TCP/TLS ones count only once the fallback started them), or when a relayed candidate
    /// exists and [`GATHER_GRACE`] has passed since gathering began. Then only the best allocation
    /// is kept; the others are released.
    fn check_gathering(&mut self, now: SimTime) {
        if self.gather.done {
            return;
        }
        let started_resolved = self
            .turn
            .iter()
            .filter(|t| t.client.service.transport == TurnTransport::Udp || t.stream.is_some())
            .all(|t| t.client.resolved());
        let rtcp_resolved = self.rtcp.as_ref().is_none_or(|r| r.stun.resolved);
        let all = self.gather.stun.resolved && started_resolved && rtcp_resolved && self.turn_fallback_at.is_none();
        let grace = self.relayed().is_some() && self.gather.started.is_some_and(|s| now >= s + GATHER_GRACE);
        if all || grace {
            let keep = self
                .turn
                .iter()
                .position(|t| t.component == 1 && t.client.relayed().is_some());
            for (i, t) in self.turn.iter_mut().enumerate() {
                if Some(i) != keep && t.component == 1 {
                    t.client.close(now);
                }
            }
            self.turn_fallback_at = None;
            self.gather.stun.next = None;
            self.gathering_done(now);
            self.flush_turn(now);
        }
    }

    /// Starts gathering from the current socket: the STUN Binding transaction and the UDP TURN
    /// allocation at once, TCP/TLS TURN only if UDP stays silent for [`TURN_STREAM_FALLBACK`].
    fn begin_gathering(&mut self, now: SimTime) {
        if self
            .turn
            .iter()
            .any(|t| t.client.service.transport != TurnTransport::Udp)
        {
            self.turn_fallback_at = Some(now + TURN_STREAM_FALLBACK);
        }
        for t in &mut self.turn {
            if t.client.service.transport == TurnTransport::Udp {
                t.client.start(now);
            }
        }
        if self.stun.is_some() {
            self.rng.fill(&mut self.gather.stun.txid);
            self.gather_send(now);
        } else {
            self.gather.stun.resolved = true;
        }
        if !self.knobs.rtcp_mux || self.knobs.components_before_answer == 2 {
            // Every offer of this endpoint may need component 2.
            self.begin_rtcp_gathering(now);
        }
        self.flush_turn(now);
        self.check_gathering(now);
    }

    /// Component 1's first STUN Binding request.
    fn gather_send(&mut self, now: SimTime) {
        let Some(server) = self.stun else { return };
        let req = self.gather.stun.request(now);
        self.out.push_back(Output::Datagram {
            local: self.socket,
            remote: server,
            payload: Bytes::from(req),
        });
    }

    fn gathering_done(&mut self, now: SimTime) {
        self.gather.done = true;
        self.gather.stun.next = None;
        if let Some(c) = self.call.as_mut().filter(|c| c.restart_offer_due) {
            // Without trickle the restart offer carries every candidate of the new gathering.
            c.restart_offer_due = false;
            let candidates = self.signalable_candidates();
            self.send_transport(candidates);
        }
        self.trickle(now);
        let Some(call) = self.call.as_mut().filter(|c| c.waiting_for_gathering) else {
            return;
        };
        call.waiting_for_gathering = false;
        match call.side {
            Side::Initiator => self.send_initiate(now),
            Side::Responder => self.send_accept(now),
        }
    }

    fn new_agent(&mut self, role: Role, now: SimTime) -> Box<dyn IceDriver> {
        let mut a = (self.driver)(role, &self.ice_cfg, self.rng.fork("ice"), now);
        for c in self.signalable_candidates() {
            a.add_local_candidate(c);
        }
        a
    }

    /// The local candidates that may be signalled now. While gathering goes on, the relayed
    /// candidate waits until gathering has settled which allocation is kept.
    fn signalable_candidates(&self) -> Vec<Candidate> {
        let mut v = self.local_candidates();
        if !self.gather.done {
            v.retain(|c| c.typ != CandidateType::Relayed);
        }
        v
    }

    /// Trickle ICE (RFC 8838 §10, XEP-0176 §7.1): hands the agent every local candidate gathered
    /// since it was made and, once this side's session-initiate or session-accept is out, signals
    /// each in its own transport-info first. Without the `trickle` knob, offers wait for
    /// gathering instead and this does nothing.
    fn trickle(&mut self, _now: SimTime) {
        if !self.knobs.trickle {
            return;
        }
        let fresh: Vec<Candidate> = match self.call.as_ref() {
            // In the Conversations form the offerer's candidates follow the answer (Conversations'
            // JingleRtpConnection.java); without trickle a restart offer carries them all once
            // gathering is done.
            Some(c)
                if c.restart_offer_due
                    || (c.awaiting_answer && self.knobs.restart_form == RestartForm::Conversations) =>
            {
                return
            }
            Some(c) if c.state != CallState::Ended => match c.ice.as_ref() {
                Some(a) => self
                    .signalable_candidates()
                    .into_iter()
                    .filter(|n| {
                        !a.local_candidates()
                            .iter()
                            .any(|l| l.addr == n.addr && l.base == n.base)
                    })
                    .collect(),
                None => return,
            },
            _ => return,
        };
        for c in fresh {
            let Some(call) = self.call.as_mut() else { return };
            let Some(agent) = call.ice.as_mut() else { return };
            // The agent's own view goes on the wire (another stack computes its own priority and
            // foundation). It is paired before the transport-info is written, but no check can
            // leave before this input's outputs, the transport-info first (RFC 8838 §10).
            let index = agent.local_candidates().len();
            agent.add_local_candidate(c);
            if agent.local_candidates().len() > index && call.transport_sent {
                self.signal_local_candidates(index, None);
            }
        }
    }

    /// Signals the agent's local candidates from index `first` up to `end` (to the last, for
    /// `None`; none, for a restart offer in the Conversations form) in one transport-info with its current credentials and generation
    /// (XEP-0176 §5), to the peer's full JID.
    fn signal_local_candidates(&mut self, first: usize, end: Option<usize>) {
        let creator = self.transport_creator();
        let Some(call) = self.call.as_ref() else { return };
        let (Some(agent), Some(to)) = (call.ice.as_ref(), call.peer_full.clone()) else {
            return;
        };
        let (ufrag, pwd) = agent.local_credentials();
        let session = signalling::IceSession {
            ufrag,
            pwd,
            generation: agent.generation(),
        };
        let j = signalling::transport_info(
            &call.sid,
            &call.media,
            &creator,
            session,
            &agent.local_candidates()[first..end.unwrap_or(agent.local_candidates().len())],
            first,
        );
        let id = self.next_id("jingle");
        self.send(signalling::jingle_iq(&to, &id, j));
    }

    /// The `creator` this side writes on the contents of its transport-infos (XEP-0166 §7.3).
    fn transport_creator(&self) -> Creator {
        match (self.call.as_ref().map(|c| c.side), self.knobs.creator) {
            (Some(Side::Responder), CreatorMode::OwnRole) => Creator::Responder,
            _ => Creator::Initiator,
        }
    }

    /// Sends a transport-info with the agent's current credentials and `candidates` (added to the
    /// agent first, so the ids match its list): a restart's offer or answer (XEP-0176 §5.9;
    /// Conversations' JingleRtpConnection.java).
    fn send_transport(&mut self, candidates: Vec<Candidate>) {
        let Some(call) = self.call.as_mut() else { return };
        let (Some(agent), Some(_)) = (call.ice.as_mut(), call.peer_full.as_ref()) else {
            return;
        };
        let first = agent.local_candidates().len();
        for c in candidates {
            agent.add_local_candidate(c);
        }
        self.signal_local_candidates(first, None);
    }

    /// Restarts the call's ICE agent (RFC 8445 §9) and parks the media until a pair of the new ICE
    /// session is selected. False when there is no session to restart or the stack cannot.
    fn restart_agent(&mut self, now: SimTime) -> bool {
        let Some(call) = self.call.as_mut().filter(|c| c.state == CallState::Active) else {
            return false;
        };
        let Some(agent) = call.ice.as_mut() else { return false };
        if !agent.ice_restart(now) {
            return false;
        }
        // The peer's candidates are gone from the agent: every one gets its TURN permission
        // again (RFC 8656 §9).
        call.permitted = 0;
        if let Some(r) = call.rtp.take() {
            call.parked_rtp = Some(r);
        }
        self.claim("ice-restart");
        true
    }

    /// Offers an ICE restart (RFC 8445 §9; XEP-0176 §5.9; Conversations' JingleRtpConnection.java):
    /// new credentials, candidates of the next generation, roles kept. XEP form: one transport-info
    /// with the new credentials and the candidates there are now (later ones trickle); without
    /// trickle it waits for gathering.
    /// Conversations form: the new credentials alone; the candidates follow the answer. False
    /// when nothing could be restarted.
    fn offer_restart(&mut self, now: SimTime) -> bool {
        if !self.restart_agent(now) {
            return false;
        }
        let Some(call) = self.call.as_mut() else { return false };
        call.awaiting_answer = true;
        match self.knobs.restart_form {
            RestartForm::Conversations => self.send_transport(Vec::new()),
            RestartForm::Xep if !self.knobs.trickle && !self.gather.done => call.restart_offer_due = true,
            RestartForm::Xep => {
                let candidates = self.signalable_candidates();
                self.send_transport(candidates);
            }
        }
        true
    }

    /// Consent on the media pair is gone (RFC 7675 §5.1) after the call had connected: restart
    /// ICE, as Conversations does when its PeerConnection fails after having been connected
    /// (Conversations' JingleRtpConnection.java), since the same credentials may not be used on
    /// that 5-tuple again. A stack that cannot restart ends the session with connectivity-error.
    fn consent_lost(&mut self, now: SimTime) {
        let restarting = self.call.as_ref().is_some_and(|c| c.awaiting_answer);
        if !restarting && !self.offer_restart(now) {
            self.end_call(Reason::ConnectivityError, true);
        }
    }

    /// The host's interfaces changed (Wi-Fi → mobile, `switch-interface`): the socket moves to the
    /// new address (same port), STUN and TURN are gathered anew from it (the old allocations'
    /// 5-tuples are gone; their servers let them expire), and a call in progress restarts ICE
    /// (RFC 8445 §9: changing the media path needs a restart).
    fn interfaces_changed(&mut self, now: SimTime, ips: &[std::net::IpAddr]) {
        let Some(&ip) = ips.first() else { return };
        self.socket = SocketAddr::new(ip, self.socket.port());
        self.stream_base += self.turn.len() as u64;
        let services: Vec<TurnService> = self
            .turn
            .drain(..)
            .filter(|t| t.component == 1)
            .map(|t| t.client.service)
            .collect();
        for service in services {
            let local = if service.transport == TurnTransport::Udp {
                self.socket
            } else {
                SocketAddr::new(ip, self.rng.range(49152, 65535) as u16)
            };
            let rng = self.rng.fork("turn");
            self.turn.push(Turn {
                client: TurnClient::new(service, rng),
                stream: None,
                local,
                component: 1,
            });
        }
        self.turn_fallback_at = None;
        let started = self.gather.started.is_some();
        self.gather = Gather {
            stun: Binding::default(),
            started: started.then_some(now),
            done: false,
        };
        // Component 2 moves with component 1, one port above.
        let rtcp = self.rtcp.take().is_some();
        if started {
            self.begin_gathering(now);
            if rtcp {
                self.begin_rtcp_gathering(now);
            }
        }
        let active = self.call.as_ref().is_some_and(|c| c.state == CallState::Active);
        if active && !self.offer_restart(now) {
            // An agent that cannot restart had its sockets on the vanished address: it is gone
            // with them, and so is the media; the session lingers until someone hangs up.
            if let Some(c) = self.call.as_mut() {
                c.rtp = None;
                if let Some(a) = c.ice.as_mut() {
                    a.close();
                }
            }
        }
    }

    /// A transport-info whose credentials differ from the peer's current ones (RFC 8445 §9): the
    /// answer to this side's restart offer, or the peer's own offer, which this side answers
    /// (XEP-0176 §5.9; Conversations' JingleRtpConnection.java), restarting its own agent first.
    fn remote_restart(&mut self, now: SimTime, ufrag: &str, pwd: &str, candidates: Vec<Candidate>) {
        let Some(call) = self.call.as_mut() else { return };
        call.remote_ufrags.push(ufrag.to_string());
        let answer = call.awaiting_answer;
        if !answer {
            if self.knobs.restart_form == RestartForm::Conversations && !candidates.is_empty() {
                // Read as an answer to an offer this side never made: Conversations cannot apply
                // it to its PeerConnection and gives up on the session (its JingleRtpConnection.java).
                self.end_call(Reason::FailedApplication, true);
                return;
            }
            if !self.restart_agent(now) {
                // A stack that cannot restart: the candidates belong to an ICE session it cannot
                // join, so they are dropped.
                return;
            }
        }
        let Some(call) = self.call.as_mut() else { return };
        call.awaiting_answer = false;
        let Some(agent) = call.ice.as_mut() else { return };
        agent.set_remote_credentials(ufrag, pwd);
        for c in candidates {
            agent.add_remote_candidate(c);
        }
        if answer {
            // Held in the Conversations form until now.
            self.trickle(now);
        } else {
            let ours = self.signalable_candidates();
            self.send_transport(ours);
        }
        if let Some(agent) = self.call.as_mut().and_then(|c| c.ice.as_mut()) {
            agent.start(now);
        }
    }

    /// Whether a transport-info with `ufrag` and `candidates` is the peer's restart offer crossing
    /// this side's own, to be refused with conflict + tie-break (XEP-0166 §7.2.16): this side is
    /// the initiator, both sides use the Conversations form, and neither offer is answered yet
    /// (XEP-0166 §7.2.16; Conversations' JingleRtpConnection.java does so for crossing restarts).
    fn crossing_restart_loses(&self, ufrag: Option<&str>, candidates: usize) -> bool {
        let Some(c) = self.call.as_ref() else { return false };
        self.knobs.restart_form == RestartForm::Conversations
            && c.awaiting_answer
            && c.side == Side::Initiator
            && candidates == 0
            && ufrag.is_some_and(|u| c.remote_ufrags.last().is_some_and(|cur| cur != u))
    }

    fn send_initiate(&mut self, now: SimTime) {
        if !self.gather.done && !self.knobs.trickle {
            if let Some(c) = self.call.as_mut() {
                c.waiting_for_gathering = true;
            }
            return;
        }
        if self.gather.started.is_some() && (!self.knobs.rtcp_mux || self.knobs.components_before_answer == 2) {
            // Dropped after an earlier call's answer agreed rtcp-mux: this offer needs it again.
            self.begin_rtcp_gathering(now);
        }
        let mut agent = self.new_agent(Role::Controlling, now);
        if self.rtcp.is_some() {
            // Two components until the answer says whether rtcp-mux holds.
            agent.set_components(2);
        }
        let (u, p) = agent.local_credentials();
        let fp = (!self.knobs.omit_fingerprint).then_some(&self.fingerprint[..]);
        let in_offer = self.knobs.candidates_in_initiate || !self.knobs.trickle;
        let t = signalling::transport(
            u,
            p,
            if in_offer { agent.local_candidates() } else { &[] },
            fp,
            Setup::Actpass,
            agent.offers_renomination(),
        );
        let me = self.cfg.jid.clone();
        let id = self.next_id("jingle");
        let extra = self.knobs.initiate_extra_media.clone();
        let Some(call) = self.call.as_mut() else { return };
        let Some(to) = call.peer_full.clone() else { return };
        if let Some(m) = extra.filter(|m| !call.media.contains(m)) {
            call.media.push(m);
        }
        call.rtcp_mux = self.knobs.rtcp_mux;
        let j = signalling::session(
            Action::SessionInitiate,
            &call.sid,
            &me,
            &call.media,
            &t,
            Creator::Initiator,
            call.rtcp_mux,
        );
        call.ice = Some(agent);
        call.state = CallState::Pending;
        call.transport_sent = true;
        self.send(signalling::jingle_iq(&to, &id, j));
        self.claim("initiated");
        if !in_offer {
            // Each candidate in its own transport-info, as the browser reports them: component 1
            // before component 2.
            let mut order: Vec<usize> = (0..self
                .call
                .as_ref()
                .and_then(|c| c.ice.as_ref())
                .map_or(0, |a| a.local_candidates().len()))
                .collect();
            if let Some(a) = self.call.as_ref().and_then(|c| c.ice.as_ref()) {
                let cands = a.local_candidates();
                order.sort_by_key(|i| cands[*i].component);
            }
            for i in order {
                self.signal_local_candidates(i, Some(i + 1));
            }
        }
    }

    fn send_accept(&mut self, now: SimTime) {
        if !self.gather.done && !self.knobs.trickle {
            if let Some(c) = self.call.as_mut() {
                c.waiting_for_gathering = true;
            }
            return;
        }
        let me = self.cfg.jid.clone();
        let id = self.next_id("jingle");
        let fp = self.fingerprint;
        let omit_fp = self.knobs.omit_fingerprint;
        let creator = match self.knobs.creator {
            CreatorMode::Initiator => Creator::Initiator,
            CreatorMode::OwnRole => Creator::Responder,
        };
        // Candidates gathered since the session-initiate arrived go in the answer.
        let fresh = self.signalable_candidates();
        let Some(call) = self.call.as_mut() else { return };
        let Some(to) = call.peer_full.clone() else { return };
        let Some(agent) = call.ice.as_mut() else { return };
        for c in fresh {
            agent.add_local_candidate(c);
        }
        let (u, p) = agent.local_credentials();
        let t = signalling::transport(
            u,
            p,
            agent.local_candidates(),
            (!omit_fp).then_some(&fp[..]),
            Setup::Active,
            agent.offers_renomination(),
        );
        let j = signalling::session(
            Action::SessionAccept,
            &call.sid,
            &me,
            &call.media,
            &t,
            creator,
            call.rtcp_mux,
        );
        call.state = CallState::Active;
        call.transport_sent = true;
        agent.start(now);
        self.send(signalling::jingle_iq(&to, &id, j));
        self.claim("accepted");
    }

    fn end_call(&mut self, reason: Reason, notify_jingle: bool) {
        let Some(call) = self.call.as_mut() else { return };
        if call.state == CallState::Ended {
            return;
        }
        let sid = call.sid.clone();
        let peer = call.peer_full.clone();
        let via_jmi = call.via_jmi;
        let was_session = matches!(call.state, CallState::Pending | CallState::Active);
        call.state = CallState::Ended;
        if let Some(a) = call.ice.as_mut() {
            a.close();
        }
        call.rtp = None;
        if let Some(to) = peer {
            if was_session && notify_jingle {
                let id = self.next_id("jingle");
                self.send(signalling::jingle_iq(&to, &id, signalling::terminate(&sid, reason)));
            }
            if via_jmi {
                self.send_finish(&to, &sid, "success");
            }
        }
        self.claim("ended");
    }

    /// XEP-0353 §3.6 (0.8.0): once the Jingle session of a JMI call ends, each party sends finish,
    /// with the session's reason, to the peer's full JID.
    fn send_finish(&mut self, to: &str, sid: &str, reason: &str) {
        let mid = self.next_id("jm-finish-");
        self.send_jmi_reply(to, &mid, signalling::jmi_simple("finish", sid, Some(reason)));
    }

    /// A JMI reply (ringing, proceed, reject, finish) to the peer device `to`: its full JID (XEP-0353
    /// §3, 0.8.0), or its bare JID with the `jmi-addressing: bare` knob (the 0.6/0.7 text).
    fn send_jmi_reply(&mut self, to: &str, id: &str, child: Element) {
        let to = match self.knobs.jmi_addressing {
            JmiAddressing::Full => to,
            JmiAddressing::Bare => bare(to),
        };
        self.send(signalling::jmi(to, id, child));
    }

    fn user(&mut self, now: SimTime, a: UserAction) {
        match a {
            UserAction::Call { to, media } => {
                if self.call.as_ref().is_some_and(|c| c.state != CallState::Ended) {
                    return;
                }
                // No call button for a peer whose disco lacks what the call needs (Conversations'
                // RtpCapability.java): the user cannot place the call, so nothing is sent.
                let missing = self
                    .contacts
                    .get(&to)
                    .and_then(|full| self.features.get(full))
                    .map(|f| signalling::missing_for_call(f, &media))
                    .unwrap_or_default();
                if !missing.is_empty() {
                    self.claim(&format!("unavailable: {to} does not advertise {}", missing.join(", ")));
                    return;
                }
                let sid = self.rng.uuid_v4();
                // A device known not to speak JMI gets session-initiate directly (XEP-0353 §2), and so
                // does every device when this client speaks no JMI itself.
                let no_jmi = self.knobs.no_jmi;
                let direct = self.contacts.get(&to).cloned().filter(|full| {
                    no_jmi
                        || self
                            .features
                            .get(full)
                            .is_some_and(|f| !f.iter().any(|x| x == ns::JMI) && f.iter().any(|x| x == ns::JINGLE))
                });
                if no_jmi && direct.is_none() {
                    // A client without XEP-0353 never proposes: it calls a device whose full JID
                    // it knows (XEP-0166 §7.1), so it waits for the callee's presence.
                    let mut call = Call::new(
                        sid,
                        Side::Initiator,
                        to.clone(),
                        None,
                        media.clone(),
                        CallState::Proposed,
                    );
                    call.via_jmi = false;
                    self.call = Some(call);
                    self.claim(&format!("waiting for {to}'s presence"));
                    return;
                }
                if let Some(full) = direct {
                    let mut call = Call::new(
                        sid,
                        Side::Initiator,
                        to.clone(),
                        Some(full),
                        media.clone(),
                        CallState::Proceeded,
                    );
                    call.via_jmi = false;
                    self.call = Some(call);
                    self.send_initiate(now);
                    return;
                }
                self.call = Some(Call::new(
                    sid.clone(),
                    Side::Initiator,
                    to.clone(),
                    None,
                    media.clone(),
                    CallState::Proposed,
                ));
                let id = format!("jm-propose-{sid}");
                self.send(signalling::jmi(&to, &id, signalling::propose(&sid, &media)));
                self.claim("proposed");
            }
            UserAction::Answer => {
                let Some(call) = self.call.as_mut() else { return };
                if call.state != CallState::Ringing {
                    return;
                }
                let (sid, to) = (call.sid.clone(), call.peer_full.clone().unwrap_or_default());
                if call.ice.is_some() {
                    // Direct session-initiate (no JMI): answering accepts the session.
                    self.send_accept(now);
                } else {
                    call.state = CallState::Proceeded;
                    let id = format!("jm-proceed-{sid}");
                    self.send_jmi_reply(&to, &id, signalling::jmi_simple("proceed", &sid, None));
                    self.claim("proceeding");
                }
            }
            UserAction::Reject => {
                let Some(call) = self.call.as_mut() else { return };
                if call.state != CallState::Ringing {
                    return;
                }
                call.state = CallState::Ended;
                let (sid, to, jingle) = (
                    call.sid.clone(),
                    call.peer_full.clone().unwrap_or_default(),
                    call.ice.is_some(),
                );
                if jingle {
                    let id = self.next_id("jingle");
                    self.send(signalling::jingle_iq(
                        &to,
                        &id,
                        signalling::terminate(&sid, Reason::Decline),
                    ));
                } else {
                    let id = self.next_id("jm-reject-");
                    self.send_jmi_reply(&to, &id, signalling::jmi_simple("reject", &sid, Some("busy")));
                }
                self.claim("rejected");
            }
            // XEP-0352 nonzas on the client stream: the server decides what to hold meanwhile.
            UserAction::GoInactive => self.send(el("inactive", ns::CSI).build()),
            UserAction::GoActive => self.send(el("active", ns::CSI).build()),
            UserAction::Hangup => {
                let Some(call) = self.call.as_mut() else { return };
                match call.state {
                    // Proceeded: the proceed came, the session-initiate waits for gathering;
                    // Proposed without JMI: still waiting for the callee's presence.
                    CallState::Proceeded | CallState::Proposed if call.side == Side::Initiator && !call.via_jmi => {
                        call.state = CallState::Ended;
                        call.waiting_for_gathering = false;
                        self.claim("cancelled");
                    }
                    CallState::Proposed | CallState::Proceeded if call.side == Side::Initiator => {
                        call.state = CallState::Ended;
                        call.waiting_for_gathering = false;
                        let (sid, to) = (call.sid.clone(), call.peer_bare.clone());
                        let id = self.next_id("jm-retract-");
                        self.send(signalling::jmi(
                            &to,
                            &id,
                            signalling::jmi_simple("retract", &sid, Some("cancel")),
                        ));
                        self.claim("cancelled");
                    }
                    CallState::Pending if call.side == Side::Initiator => self.end_call(Reason::Cancel, true),
                    CallState::Pending | CallState::Active => self.end_call(Reason::Success, true),
                    _ => {}
                }
            }
        }
    }

    /// A XEP-0280 carbon copy: what another device of this account sent (`<sent/>`) or received
    /// (`<received/>`). Only copies from the account's own bare JID are read (XEP-0280 security
    /// considerations: anyone else could forge them).
    ///
    /// XEP-0353 §3 has the callee's devices all ring on a propose to the bare JID; the one that
    /// answers sends proceed (or reject) to the caller's full JID, and the others learn it from the
    /// `<sent/>` copy and stop ringing without sending anything (XEP-0280 §6–§7; Conversations'
    /// JingleConnectionManager.java: "answered/rejected on another device"). Apart from the finish
    /// below, everything else in a copy is another device's business.
    ///
    /// When two devices answer at once, both proceed and the caller takes the first: the other
    /// device, waiting in vain for a session-initiate, stops at the copy of the finish that ends
    /// the session (XEP-0353 §3.6): `<sent/>` from the sibling or `<received/>` from the caller.
    fn on_carbon(&mut self, m: &Element, kind: CarbonKind, inner: &Element) {
        if m.attr("from") != Some(bare(&self.cfg.jid)) {
            return;
        }
        let Some(x) = inner.children().find(|c| c.ns() == ns::JMI) else {
            return;
        };
        let (claim, states): (&str, &[CallState]) = match (kind, x.name()) {
            (CarbonKind::Sent, "proceed") => ("answered-elsewhere", &[CallState::Ringing]),
            (CarbonKind::Sent, "reject") => ("rejected-elsewhere", &[CallState::Ringing]),
            (_, "finish") => ("answered-elsewhere", &[CallState::Ringing, CallState::Proceeded]),
            _ => return,
        };
        let id = x.attr("id").unwrap_or("");
        if let Some(c) = self
            .call
            .as_mut()
            .filter(|c| c.sid == id && c.side == Side::Responder && states.contains(&c.state))
        {
            c.state = CallState::Ended;
            self.claim(claim);
        }
    }

    fn on_message(&mut self, now: SimTime, m: &Element) {
        if let Some((kind, inner)) = carbon_payload(m) {
            return self.on_carbon(m, kind, inner);
        }
        let from = m.attr("from").unwrap_or("").to_string();
        let Some(x) = m.children().find(|c| c.ns() == ns::JMI) else {
            return;
        };
        let id = x.attr("id").unwrap_or("").to_string();
        match x.name() {
            "propose" => {
                if self.knobs.no_jmi || bare(&from) == bare(&self.cfg.jid) {
                    return;
                }
                // Both proposed to each other (XEP-0353 §4.1): the lower id wins, in octet
                // order; equal ids fall back to the lower JID.
                let glare = self
                    .call
                    .as_ref()
                    .filter(|c| c.state == CallState::Proposed && c.peer_bare == bare(&from))
                    .map(|c| c.sid.clone());
                if let Some(ours) = glare {
                    let theirs_wins = id < ours || (id == ours && from.as_str() < self.cfg.jid.as_str());
                    if !theirs_wins {
                        let mid = self.next_id("jm-reject-");
                        self.send_jmi_reply(&from, &mid, tie_break("reject", &id));
                        return;
                    }
                    let to = bare(&from).to_string();
                    let mid = self.next_id("jm-retract-");
                    self.send(signalling::jmi(&to, &mid, tie_break("retract", &ours)));
                    if let Some(c) = self.call.as_mut() {
                        c.state = CallState::Ended;
                    }
                    // Then their propose is answered normally, below.
                }
                if self.call.as_ref().is_some_and(|c| c.state != CallState::Ended) {
                    return;
                }
                let media: Vec<String> = x
                    .children()
                    .filter(|d| d.is("description", ns::JINGLE_RTP))
                    .filter_map(|d| d.attr("media").map(str::to_string))
                    .collect();
                if media.is_empty() {
                    return; // not an RTP call: ignored silently (Conversations' JingleConnectionManager.java)
                }
                let peer_bare = bare(&from).to_string();
                self.call = Some(Call::new(
                    id.clone(),
                    Side::Responder,
                    peer_bare,
                    Some(from.clone()),
                    media,
                    CallState::Ringing,
                ));
                let mid = self.next_id("jm-ringing-");
                self.send_jmi_reply(&from, &mid, signalling::jmi_simple("ringing", &id, None));
                self.claim("ringing");
                if self.knobs.start_checks_at == StartChecksAt::Propose {
                    // A gateway answers the JMI leg itself and rings the network behind it.
                    if let Some(c) = self.call.as_mut() {
                        c.state = CallState::Proceeded;
                        c.proceeded_early = true;
                    }
                    let mid = format!("jm-proceed-{id}");
                    self.send_jmi_reply(&from, &mid, signalling::jmi_simple("proceed", &id, None));
                }
            }
            "ringing" => {
                if let Some(c) = self
                    .call
                    .as_mut()
                    .filter(|c| c.sid == id && c.state == CallState::Proposed)
                {
                    c.peer_full.get_or_insert(from);
                    self.claim("ringing");
                }
            }
            "proceed" => {
                let Some(c) = self
                    .call
                    .as_mut()
                    .filter(|c| c.sid == id && c.side == Side::Initiator && c.state == CallState::Proposed)
                else {
                    return;
                };
                // XEP-0353 §3.2: initiate to the full JID that sent proceed. The first proceed
                // takes the call; the state moves on at once (the session-initiate may still wait
                // for gathering), so a sibling device's proceed crossing it is ignored, as
                // Conversations does. XEP-0353 gives the caller nothing to send that device: a
                // retract to its full JID would also reach the answering device as a carbon. It
                // learns the call went elsewhere from the carbons of the finish (`on_carbon`).
                c.peer_full = Some(from);
                c.state = CallState::Proceeded;
                self.send_initiate(now);
            }
            // A reject declines a call still proposed; once a device proceeded, a reject from another
            // of the callee's devices (one that never heard of the answer) changes nothing. A retract
            // cancels a call still ringing or proceeded.
            "reject" | "retract" => {
                let live = |c: &Call| match x.name() {
                    "reject" => c.side == Side::Initiator && c.state == CallState::Proposed,
                    _ => c.side == Side::Responder && matches!(c.state, CallState::Ringing | CallState::Proceeded),
                };
                if let Some(c) = self.call.as_mut().filter(|c| c.sid == id && live(c)) {
                    c.state = CallState::Ended;
                    self.claim(if x.name() == "reject" { "rejected" } else { "cancelled" });
                }
            }
            _ => {}
        }
    }

    /// The peer's session description as this endpoint takes it: under `ignore-component-2`
    /// without any candidate of component 2 (JMP's Asterisk patch, docs/field-failures.md §Firefox
    /// component 2 and per-candidate restarts).
    fn read_remote(&self, j: &Element) -> signalling::RemoteSession {
        let mut r = signalling::read_session(j);
        if self.knobs.ignore_component_2 {
            r.candidates.retain(|c| c.component != 2);
        }
        r
    }

    fn on_iq(&mut self, now: SimTime, iq: &Element) {
        let typ = iq.attr("type").unwrap_or("");
        let me = self.cfg.jid.clone();
        if typ == "result" {
            if let (Some(q), Some(from)) = (iq.get_child("query", ns::DISCO_INFO), iq.attr("from")) {
                let features: Vec<String> = q
                    .children()
                    .filter(|c| c.is("feature", ns::DISCO_INFO))
                    .filter_map(|c| c.attr("var").map(str::to_string))
                    .collect();
                let direct = !features.iter().any(|x| x == ns::JMI) && features.iter().any(|x| x == ns::JINGLE);
                self.features.insert(from.to_string(), features);
                // The call was proposed before the callee's caps were known, and this device of it
                // speaks no JMI, so it ignores the propose: initiate to it directly (XEP-0353 §2), as
                // if the user had called a moment later.
                if let Some(c) = self.call.as_mut().filter(|c| {
                    direct && c.side == Side::Initiator && c.state == CallState::Proposed && c.peer_bare == bare(from)
                }) {
                    c.peer_full = Some(from.to_string());
                    c.via_jmi = false;
                    c.state = CallState::Proceeded;
                    // A session of its own: the propose's id stays with the JMI attempt that device
                    // never saw, so no JMI finish is owed for this session (XEP-0353 §3.6).
                    c.sid = self.rng.uuid_v4();
                    self.send_initiate(now);
                }
                return;
            }
            if let Some(s) = iq.get_child("services", ns::EXTDISCO) {
                if self.gather.started.is_some() {
                    return;
                }
                self.gather.started = Some(now);
                for svc in s.children().filter(|c| c.is("service", ns::EXTDISCO)) {
                    let addr = (|| {
                        Some(SocketAddr::new(
                            svc.attr("host")?.parse().ok()?,
                            svc.attr("port")?.parse().ok()?,
                        ))
                    })();
                    let Some(addr) = addr else { continue };
                    // Conversations' filter (Services.java `getIceServers`): a transport is required;
                    // TURN needs credentials.
                    let transport = match (svc.attr("type"), svc.attr("transport")) {
                        (Some("stun"), Some("udp")) => {
                            if !self.knobs.relay_only {
                                self.stun.get_or_insert(addr);
                            }
                            continue;
                        }
                        (Some("turn"), Some("udp")) => TurnTransport::Udp,
                        (Some("turn"), Some("tcp")) => TurnTransport::Tcp,
                        (Some("turns"), Some("tcp")) => TurnTransport::Tls,
                        _ => continue,
                    };
                    let (Some(username), Some(password)) = (svc.attr("username"), svc.attr("password")) else {
                        continue;
                    };
                    if self.turn.iter().any(|t| t.client.service.transport == transport) {
                        continue;
                    }
                    let local = if transport == TurnTransport::Udp {
                        self.socket
                    } else {
                        SocketAddr::new(self.socket.ip(), self.rng.range(49152, 65535) as u16)
                    };
                    let rng = self.rng.fork("turn");
                    self.turn.push(Turn {
                        client: TurnClient::new(
                            TurnService {
                                addr,
                                transport,
                                username: username.into(),
                                password: password.into(),
                            },
                            rng,
                        ),
                        stream: None,
                        local,
                        component: 1,
                    });
                }
                self.turn.sort_by_key(|t| t.client.service.transport);
                self.begin_gathering(now);
            }
            return;
        }
        if typ == "error" {
            if iq.attr("id").is_some_and(|i| i.starts_with("extdisco")) {
                self.gather.stun.resolved = true;
                self.check_gathering(now);
            }
            return;
        }
        if typ == "get" {
            if let Some(q) = iq.get_child("query", ns::DISCO_INFO) {
                let info =
                    signalling::disco_info_element(q.attr("node"), !self.knobs.no_jmi, !self.knobs.no_dtls_feature);
                let mut r = iq_result(iq, &me);
                r.append_child(info);
                self.send(r);
            } else {
                self.send(endpoint_contract::xml::iq_error(
                    iq,
                    &me,
                    "cancel",
                    "service-unavailable",
                    None,
                ));
            }
            return;
        }
        let Some(j) = iq.get_child("jingle", ns::JINGLE) else {
            self.send(endpoint_contract::xml::iq_error(
                iq,
                &me,
                "cancel",
                "service-unavailable",
                None,
            ));
            return;
        };
        let sid = j.attr("sid").unwrap_or("").to_string();
        let action = j.attr("action").unwrap_or("").to_string();
        let from = iq.attr("from").unwrap_or("").to_string();
        let mut refused = self.refusal(&action, &sid, &from);
        if action == "transport-info" && refused.is_none() {
            let r = signalling::read_session(j);
            if self.crossing_restart_loses(r.ufrag.as_deref(), r.candidates.len()) {
                // This side's restart offer stands; the responder answers it (XEP-0166 §7.2.16).
                refused = Some(signalling::JingleError::TieBreak);
            }
        }
        if let Some(e) = refused {
            self.send(signalling::jingle_error(iq, &me, e));
            return;
        }
        self.send(iq_result(iq, &me));
        match action.as_str() {
            "session-initiate" => {
                let remote = self.read_remote(j);
                let remote_ufrag = remote.ufrag.clone();
                if let Some(c) = self.call.as_mut().filter(|c| c.crosses(&from)) {
                    // Both initiated at once and theirs has the lower sid (`refusal` let it
                    // through): ours is overruled and theirs is handled as any incoming call
                    // (XEP-0166 §7.2.16). The peer answers ours with conflict + tie-break, so no
                    // session-terminate is owed for it.
                    c.state = CallState::Ended;
                    if let Some(a) = c.ice.as_mut() {
                        a.close();
                    }
                    c.rtp = None;
                }
                let busy = self
                    .call
                    .as_ref()
                    .is_some_and(|c| c.state != CallState::Ended && c.sid != sid);
                if busy {
                    let id = self.next_id("jingle");
                    self.send(signalling::jingle_iq(
                        &from,
                        &id,
                        signalling::terminate(&sid, Reason::Busy),
                    ));
                    return;
                }
                let pre_approved = self
                    .call
                    .as_ref()
                    .is_some_and(|c| c.sid == sid && c.state == CallState::Proceeded);
                if let Some(text) = self.security_error(&remote, pre_approved) {
                    let id = self.next_id("jingle");
                    self.send(signalling::jingle_iq(
                        &from,
                        &id,
                        signalling::terminate_with_text(&sid, Reason::SecurityError, Some(text)),
                    ));
                    if let Some(c) = self.call.as_mut().filter(|c| c.sid == sid) {
                        c.state = CallState::Ended;
                    }
                    if pre_approved {
                        self.send_finish(&from, &sid, "security-error");
                    }
                    self.claim("ended");
                    return;
                }
                // RFC 5761: rtcp-mux holds when the offer has it and this side accepts it; else RTCP
                // has its own component (XEP-0167 §3).
                let rtcp_mux = remote.rtcp_mux && self.knobs.rtcp_mux;
                if !rtcp_mux {
                    self.begin_rtcp_gathering(now);
                } else {
                    // Gathered for this side's own offers (`components-before-answer`): as the
                    // answerer it knows rtcp-mux holds, so component 2 is neither signalled nor kept.
                    self.end_rtcp_gathering(now);
                }
                let mut agent = self.new_agent(Role::Controlled, now);
                agent.set_components(if rtcp_mux { 1 } else { 2 });
                if let (Some(u), Some(p)) = (&remote.ufrag, &remote.pwd) {
                    agent.set_remote_credentials(u, p);
                }
                agent.set_peer_renomination(remote.renomination);
                for c in remote.candidates {
                    agent.add_remote_candidate(c);
                }
                if self.knobs.start_checks_at != StartChecksAt::SessionAccept {
                    // Checks start while the user is still rung (chan_motif; docs/field-failures.md
                    // §Asterisk 2021 Failed pairs and early checks).
                    agent.start(now);
                }
                let early_proceed = self.call.as_ref().is_some_and(|c| c.proceeded_early);
                if pre_approved && early_proceed {
                    // Proceed went out before the user answered: ring on; Answer accepts the session.
                    let c = self.call.as_mut().expect("checked");
                    c.peer_full = Some(from);
                    c.media = remote.media;
                    c.ice = Some(agent);
                    c.rtcp_mux = rtcp_mux;
                    c.state = CallState::Ringing;
                } else if pre_approved {
                    let c = self.call.as_mut().expect("checked");
                    c.peer_full = Some(from);
                    c.media = remote.media;
                    c.ice = Some(agent);
                    c.rtcp_mux = rtcp_mux;
                    self.send_accept(now);
                } else {
                    let mut call = Call::new(
                        sid,
                        Side::Responder,
                        bare(&from).to_string(),
                        Some(from),
                        remote.media,
                        CallState::Ringing,
                    );
                    call.ice = Some(agent);
                    call.via_jmi = false;
                    call.rtcp_mux = rtcp_mux;
                    self.call = Some(call);
                    self.claim("ringing");
                }
                if let Some(c) = self
                    .call
                    .as_mut()
                    .filter(|c| c.ice.is_some() && c.remote_ufrags.is_empty())
                {
                    c.remote_ufrags.extend(remote_ufrag);
                }
            }
            "session-accept" => {
                let remote = self.read_remote(j);
                if let Some(text) = self.unknown_content(&remote) {
                    // Gajim's handlers have already acked; the error follows for the same IQ id.
                    // RFC 6120 §8.3.2: <text/> rides in the error next to the condition.
                    let text = el("text", ns::STANZAS).append(text).build();
                    self.send(endpoint_contract::xml::iq_error(
                        iq,
                        &me,
                        "modify",
                        "bad-request",
                        Some(text),
                    ));
                    return;
                }
                let Some(c) = self.call.as_mut() else { return };
                c.state = CallState::Active;
                c.remote_ufrags.extend(remote.ufrag.clone());
                // The answer settles rtcp-mux (RFC 5761), so the component count (RFC 8445
                // §6.1.2.2).
                c.rtcp_mux &= remote.rtcp_mux;
                let rtcp_mux = c.rtcp_mux;
                if let Some(a) = c.ice.as_mut() {
                    a.set_components(if rtcp_mux { 1 } else { 2 });
                    if let (Some(u), Some(p)) = (&remote.ufrag, &remote.pwd) {
                        a.set_remote_credentials(u, p);
                    }
                    a.set_peer_renomination(remote.renomination);
                    for cand in remote.candidates {
                        a.add_remote_candidate(cand);
                    }
                    a.start(now);
                }
                if rtcp_mux {
                    self.end_rtcp_gathering(now);
                } else if self.rtcp.is_none() {
                    self.begin_rtcp_gathering(now);
                    self.trickle(now);
                }
                self.claim("accepted");
            }
            "transport-info" => {
                let remote = self.read_remote(j);
                let restart = self.knobs.restart_on_each_trickled_candidate;
                let Some(call) = self.call.as_mut() else { return };
                // Which ICE session the transport belongs to: its credentials say (RFC 8838 §8,
                // XEP-0176 §5).
                let creds = remote.ufrag.clone().zip(remote.pwd.clone());
                let current = call.remote_ufrags.last().cloned();
                let new_ufrag = creds.as_ref().filter(|(u, _)| current.as_ref() != Some(u));
                if new_ufrag.is_some_and(|(u, _)| call.remote_ufrags.contains(u)) {
                    return; // candidates of an ICE session the peer has restarted since: stale
                }
                if let (Some((u, p)), true) = (new_ufrag.cloned(), call.state == CallState::Active && !restart) {
                    if current.is_some() {
                        return self.remote_restart(now, &u, &p, remote.candidates);
                    }
                }
                if let (Some((u, p)), Some(a)) = (new_ufrag, call.ice.as_mut()) {
                    // An agent that starts over per transport-info takes the credentials it carries.
                    if restart && current.is_some() {
                        a.set_remote_credentials(u, p);
                    }
                }
                if let Some((u, _)) = new_ufrag {
                    call.remote_ufrags.push(u.clone());
                }
                let active = call.state == CallState::Active;
                if let Some(a) = call.ice.as_mut() {
                    if restart && !remote.candidates.is_empty() {
                        a.restart_with_remote_candidates(now, remote.candidates);
                        // The remote list starts over: its candidates are asked TURN permissions
                        // again (the client skips those it has), as no check leaves a relayed
                        // candidate before its permission (RFC 8445 §7.2.1).
                        call.permitted = 0;
                        // chan_motif calls ice->start() on every transport it reads
                        // (docs/field-failures.md §Firefox component 2 and per-candidate restarts): in
                        // an answered call that includes the peer's answer to this side's own ICE
                        // restart, which left the agent stopped (`start` is a no-op when running).
                        if active {
                            a.start(now);
                        }
                    } else {
                        // Trickled candidates join the checklist (RFC 8838 §11).
                        for cand in remote.candidates {
                            a.add_remote_candidate(cand);
                        }
                    }
                }
            }
            "session-terminate" => self.end_call(Reason::Success, false),
            _ => {}
        }
    }

    fn on_datagram(&mut self, now: SimTime, local: SocketAddr, remote: SocketAddr, payload: &Bytes) {
        if let Some(r) = self
            .rtcp
            .as_mut()
            .filter(|r| r.socket == local && Some(remote) == self.stun && !r.stun.resolved)
        {
            if r.stun.on_response(payload) {
                self.check_gathering(now);
                self.trickle(now);
            }
            return;
        }
        if Some(remote) == self.stun && !self.gather.done {
            if self.gather.stun.on_response(payload) {
                // UDP works: the TCP/TLS fallback is not needed.
                self.turn_fallback_at = None;
                self.check_gathering(now);
                self.trickle(now);
            }
            return;
        }
        if let Some(i) = self
            .turn
            .iter()
            .position(|t| t.stream.is_none() && t.local == local && t.client.service.addr == remote)
        {
            return self.on_turn_message(now, i, payload);
        }
        if let Some(a) = self.call.as_mut().and_then(|c| c.ice.as_mut()) {
            a.handle_packet(now, local, remote, payload);
        }
    }

    /// The error that replaces the ack of a Jingle IQ-set `action` for `sid` from `from`, if it is
    /// refused (XEP-0166 §8):
    /// - a sid with no live call here → unknown-session (§6.7: also once this side terminated);
    /// - an action the session's state does not allow → out-of-order: anything but
    ///   session-initiate before the Jingle session exists (the sid is only known from JMI, or
    ///   this side's own session-initiate has not gone out yet), session-initiate for a session
    ///   that already exists or that this side proposed, session-accept at the responder, or a
    ///   second session-accept;
    /// - a session-initiate crossing this side's own pending one to the same peer and losing the
    ///   tie-break (a higher sid, §7.2.16) → tie-break. The winning one is acked and handled.
    fn refusal(&self, action: &str, sid: &str, from: &str) -> Option<signalling::JingleError> {
        use signalling::JingleError::{OutOfOrder, TieBreak, UnknownSession};
        let live = self.call.as_ref().filter(|c| c.state != CallState::Ended);
        let this = live.filter(|c| c.sid == sid);
        if action == "session-initiate" {
            // Glare is judged first: two random sids that happen to be equal are still glare,
            // settled by the JIDs.
            if let Some(c) = live.filter(|c| c.crosses(from)) {
                let theirs_wins = signalling::initiate_overrules((sid, from), (&c.sid, &self.cfg.jid));
                return (!theirs_wins).then_some(TieBreak);
            }
            return this
                .filter(|c| c.jingle_started() || c.side == Side::Initiator)
                .map(|_| OutOfOrder);
        }
        let Some(c) = this else {
            return Some(UnknownSession);
        };
        let out_of_order = match action {
            _ if !c.jingle_started() => true,
            "session-accept" => c.side == Side::Responder || c.state == CallState::Active,
            _ => false,
        };
        out_of_order.then_some(OutOfOrder)
    }

    /// Why a session-initiate must be refused with security-error, in Conversations' words
    /// (docs/field-failures.md §JMI propose and session-initiate media, §Missing DTLS fingerprint): its
    /// media differ from the JMI propose this side proceeded with, or a content has no DTLS
    /// fingerprint.
    fn security_error(&self, remote: &signalling::RemoteSession, after_jmi: bool) -> Option<String> {
        if after_jmi {
            let proposed = self.call.as_ref().map(|c| c.media.clone()).unwrap_or_default();
            let mut a = proposed.clone();
            let mut b = remote.media.clone();
            a.sort();
            b.sort();
            if a != b {
                return Some(format!(
                    "Your session proposal (Jingle Message Initiation) included media {a:?} but your session-initiate was {b:?}"
                ));
            }
        }
        remote
            .contents
            .iter()
            .find(|(_, _, fp)| !fp)
            .map(|(_, name, _)| format!("Use of DTLS-SRTP (XEP-0320) is required for content {name}"))
    }

    /// With `strict-creator`, the first content whose (creator, name) the session-initiate did not
    /// create, in Gajim's words: `Content NAME (created by CREATOR) does not exist`.
    fn unknown_content(&self, remote: &signalling::RemoteSession) -> Option<String> {
        if !self.knobs.strict_creator {
            return None;
        }
        let media = &self.call.as_ref()?.media;
        remote
            .contents
            .iter()
            .find(|(creator, name, _)| creator != "initiator" || !media.contains(name))
            .map(|(creator, name, _)| format!("Content {name} (created by {creator}) does not exist"))
    }

    /// A message from TURN allocation `i`'s server; relayed data goes to the ICE agent as if it
    /// had arrived on the relayed address.
    fn on_turn_message(&mut self, now: SimTime, i: usize, payload: &Bytes) {
        let relayed = self.turn[i].client.relayed();
        let data = self.turn[i].client.on_message(now, payload);
        self.flush_turn(now);
        if let (Some((peer, data)), Some(relayed)) = (data, relayed) {
            if let Some(a) = self.call.as_mut().and_then(|c| c.ice.as_mut()) {
                a.handle_packet(now, relayed, peer, &data);
            }
        }
    }

    fn drain_ice(&mut self, now: SimTime) {
        // Permissions for remote candidates learned since the last input (signalled or peer-reflexive);
        // most inputs (media, retransmissions) learn none, so nothing is collected for them.
        let relayed = self.turn.iter().any(|t| t.client.relayed().is_some());
        let new_ips: Vec<std::net::IpAddr> = match self.call.as_mut() {
            Some(c) if relayed => match &c.ice {
                Some(a) if a.remote_candidates().len() > c.permitted => {
                    let ips = a.remote_candidates()[c.permitted..]
                        .iter()
                        .map(|r| r.addr.ip())
                        .collect();
                    c.permitted = a.remote_candidates().len();
                    ips
                }
                _ => Vec::new(),
            },
            _ => Vec::new(),
        };
        if !new_ips.is_empty() {
            self.permit_remotes(now, &new_ips);
        }
        let Some(call) = self.call.as_mut() else { return };
        let Some(agent) = call.ice.as_mut() else { return };
        let mut out = Vec::new();
        let mut transmits = Vec::new();
        while let Some(t) = agent.poll_transmit() {
            transmits.push(t);
        }
        let mut failed = false;
        let mut consent_lost = false;
        while let Some(e) = agent.poll_event() {
            match e {
                DriverEvent::State(s) => {
                    failed |= s == DriverState::Failed;
                    if s == DriverState::Failed {
                        // Nothing works: no media goes anywhere any more.
                        call.rtp = None;
                    }
                    out.push(Output::Event(EndpointEvent::IceState(s.as_str().into())));
                }
                // Component 2 carries only the agent's own keepalives: RTCP is not simulated.
                DriverEvent::Selected { component: 2.., .. } => {}
                DriverEvent::Selected { local, remote, .. } => {
                    out.push(Output::Event(EndpointEvent::SelectedPair { local, remote }));
                    if call.rtp.is_none() {
                        call.rtp = Some(resume_rtp(&mut call.parked_rtp, &mut self.rng, local, remote, now));
                    }
                    out.push(Output::Event(EndpointEvent::CallState("connected".into())));
                }
                DriverEvent::ConsentLost { .. } => {
                    // RFC 7675 §5.1: nothing more goes on that 5-tuple with these credentials.
                    call.rtp = None;
                    consent_lost = true;
                }
            }
        }
        // Where media goes (the selected pair unless a knob says otherwise): started before
        // nomination, or moved to another valid pair after it.
        if let Some((local, remote)) = agent.media_pair() {
            match call.rtp.as_mut() {
                Some(r) => (r.local, r.remote) = (local, remote),
                None => call.rtp = Some(resume_rtp(&mut call.parked_rtp, &mut self.rng, local, remote, now)),
            }
        }
        for t in transmits {
            self.emit(now, t.local, t.remote, t.payload);
        }
        self.out.extend(out);
        if failed && call_side(&self.call) == Some(Side::Initiator) {
            // RFC 8445 §8.1.2: the controlling agent ends the session when ICE failed.
            self.end_call(Reason::ConnectivityError, true);
        } else if consent_lost {
            self.consent_lost(now);
        }
    }

    fn send_rtp(&mut self, now: SimTime) {
        let Some(rtp) = self.call.as_mut().and_then(|c| c.rtp.as_mut()) else {
            return;
        };
        let mut packets = Vec::new();
        while rtp.next <= now {
            // RTP header (RFC 3550 §5.1): V=2, PT 111 (opus), then 20 bytes of payload.
            let mut p = Vec::with_capacity(32);
            p.extend_from_slice(&[0x80, 111]);
            p.extend_from_slice(&rtp.seq.to_be_bytes());
            p.extend_from_slice(&rtp.ts.to_be_bytes());
            p.extend_from_slice(&rtp.ssrc.to_be_bytes());
            p.extend_from_slice(&[0u8; 20]);
            packets.push((rtp.local, rtp.remote, p));
            rtp.seq = rtp.seq.wrapping_add(1);
            rtp.ts = rtp.ts.wrapping_add(9600);
            rtp.next += RTP_INTERVAL;
        }
        let last = packets.last().map(|(l, r, _)| (*l, *r));
        for (local, remote, p) in packets {
            self.emit(now, local, remote, p);
        }
        if let (Some((local, remote)), Some(a)) = (last, self.call.as_mut().and_then(|c| c.ice.as_mut())) {
            a.media_sent(now, local, remote);
        }
    }
}

/// A JMI `reject` or `retract` ending the losing propose of a tie-break: reason `expired` and
/// `<tie-break/>` (XEP-0353 §3.8).
fn tie_break(name: &str, sid: &str) -> Element {
    let mut e = signalling::jmi_simple(name, sid, Some("expired"));
    e.append_child(el("tie-break", ns::JMI).build());
    e
}

/// The media stream for a newly selected pair: the one parked while ICE restarted, moved to the
/// pair (same SSRC, sequence numbers going on, RFC 3550 §5.1), or a new one.
fn resume_rtp(parked: &mut Option<Rtp>, rng: &mut SimRng, local: SocketAddr, remote: SocketAddr, now: SimTime) -> Rtp {
    match parked.take() {
        Some(mut r) => {
            (r.local, r.remote, r.next) = (local, remote, now);
            r
        }
        None => Rtp::new(rng, local, remote, now),
    }
}

fn call_side(c: &Option<Call>) -> Option<Side> {
    c.as_ref().map(|c| c.side)
}

impl Endpoint for ReferenceEndpoint {
    fn ics(&self) -> &Ics {
        &self.ics
    }

    fn handle_input(&mut self, now: SimTime, input: Input) {
        let mut media_due = false;
        match input {
            Input::Timeout => {
                let mut gave_up = false;
                if !self.started {
                    self.start(now);
                }
                // STUN retransmissions; a transaction that gives up leaves no server-reflexive
                // candidate.
                let server = self.stun;
                let rtcp = self.rtcp.as_mut().map(|r| (r.socket, &mut r.stun));
                for (local, b) in [(self.socket, &mut self.gather.stun)].into_iter().chain(rtcp) {
                    if !b.due(now) {
                        continue;
                    }
                    match (b.on_timeout(now), server) {
                        (Some(req), Some(remote)) => self.out.push_back(Output::Datagram {
                            local,
                            remote,
                            payload: Bytes::from(req),
                        }),
                        (Some(_), None) => {}
                        (None, _) => gave_up = true,
                    }
                }
                if gave_up {
                    self.check_gathering(now);
                }
                if self.turn_fallback_at.is_some_and(|t| t <= now) {
                    self.start_stream_turn();
                }
                for t in &mut self.turn {
                    if t.client.poll_timeout().is_some_and(|x| x <= now) {
                        t.client.handle_timeout(now);
                    }
                }
                self.flush_turn(now);
                if !self.gather.done && self.gather.started.is_some_and(|s| now >= s + GATHER_GRACE) {
                    self.check_gathering(now);
                }
                if let Some(a) = self.call.as_mut().and_then(|c| c.ice.as_mut()) {
                    if a.poll_timeout().is_some_and(|t| t <= now) {
                        a.handle_timeout(now);
                    }
                }
                // Media goes after the agent's news is heard (below): consent lost at this very
                // instant stops it before another packet leaves (RFC 7675 §5.1).
                media_due = true;
            }
            Input::User(a) => self.user(now, a),
            Input::Stanza(s) => match s.name() {
                "message" => self.on_message(now, &s),
                "iq" => self.on_iq(now, &s),
                "presence" => {
                    if let Some(f) = s.attr("from") {
                        if bare(f) == bare(&self.cfg.jid) {
                            // Another device of this account came online.
                            if s.attr("type").is_none() && f != self.cfg.jid {
                                self.enable_carbons();
                            }
                        } else if s.attr("type").is_none() {
                            self.contacts.insert(bare(f).to_string(), f.to_string());
                            // A call placed without JMI before this presence goes to the device now.
                            if let Some(c) = self.call.as_mut().filter(|c| {
                                c.side == Side::Initiator
                                    && c.state == CallState::Proposed
                                    && !c.via_jmi
                                    && c.peer_full.is_none()
                                    && c.peer_bare == bare(f)
                            }) {
                                c.peer_full = Some(f.to_string());
                                c.state = CallState::Proceeded;
                                self.send_initiate(now);
                            }
                            // Learn what the device supports before the user presses call (XEP-0115 §6.2).
                            if let Some(c) = s.get_child("c", ns::CAPS) {
                                let id = self.next_id("disco");
                                let q = signalling::disco_query(f, &id, c);
                                self.send(q);
                            }
                        }
                    }
                }
                _ => {}
            },
            Input::Datagram { local, remote, payload } => self.on_datagram(now, local, remote, &payload),
            Input::StreamOpened { id, .. } => {
                if let Some(t) = self.turn.iter_mut().find(|t| t.stream == Some(id)) {
                    t.client.start(now);
                }
                self.flush_turn(now);
            }
            // The allocation on that stream is over; gathering goes on without it.
            Input::StreamFailed { id, .. } => {
                if let Some(t) = self.turn.iter_mut().find(|t| t.stream == Some(id)) {
                    t.client.close(now);
                }
                self.check_gathering(now);
            }
            Input::StreamData { id, payload } => {
                if let Some(i) = self.turn.iter().position(|t| t.stream == Some(id)) {
                    self.on_turn_message(now, i, &payload);
                }
            }
            Input::InterfacesChanged(ips) => self.interfaces_changed(now, &ips),
        }
        // A call that ended for any reason (a hang-up, a reject while checks already ran, a lost
        // tie-break) stops its agent, so nothing more goes out for it.
        if let Some(a) = self
            .call
            .as_mut()
            .filter(|c| c.state == CallState::Ended)
            .and_then(|c| c.ice.as_mut())
        {
            if a.state() != DriverState::Closed {
                a.close();
            }
        }
        self.drain_ice(now);
        if media_due {
            self.send_rtp(now);
        }
        // A call that ended gives its relay back (Refresh with LIFETIME 0, RFC 8656 §7.2) instead of
        // refreshing it and its permissions while idle.
        if self.call.as_ref().is_some_and(|c| c.state == CallState::Ended)
            && self.turn.iter().any(|t| t.client.relayed().is_some())
        {
            for t in &mut self.turn {
                t.client.close(now);
            }
            self.flush_turn(now);
        }
    }

    fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    fn poll_timeout(&self) -> Option<SimTime> {
        if !self.started {
            return Some(SimTime::ZERO);
        }
        let ice = self
            .call
            .as_ref()
            .and_then(|c| c.ice.as_ref())
            .and_then(|a| a.poll_timeout());
        let rtp = self.call.as_ref().and_then(|c| c.rtp.as_ref()).map(|r| r.next);
        let turn = self.turn.iter().filter_map(|t| t.client.poll_timeout()).min();
        let grace = match (self.gather.done, self.gather.started) {
            (false, Some(s)) if self.relayed().is_some() => Some(s + GATHER_GRACE),
            _ => None,
        };
        let rtcp = self.rtcp.as_ref().and_then(|r| r.stun.next);
        // Asked after every input: a chain of pairwise minima, not an iterator over the seven.
        let earliest = |a: Option<SimTime>, b: Option<SimTime>| match (a, b) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, None) => x,
            (None, y) => y,
        };
        let t = earliest(self.gather.stun.next, ice);
        let t = earliest(t, rtp);
        let t = earliest(t, turn);
        let t = earliest(t, self.turn_fallback_at);
        let t = earliest(t, grace);
        earliest(t, rtcp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SID: &str = "s1";

    fn device(n: u32, knobs: &[(&str, &str)]) -> ReferenceEndpoint {
        let cfg = EndpointConfig {
            party: "callee".into(),
            jid: format!("callee@example.org/device{n}"),
            server: "example.org".into(),
            interfaces: vec!["10.0.2.2".parse().unwrap()],
            rng: SimRng::derive(1, "test"),
            knobs: knobs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        };
        let mut ep = ReferenceEndpoint::with_knobs(cfg, "reference", &Knobs::default());
        ep.handle_input(SimTime::ZERO, Input::Timeout);
        ep
    }

    fn drain(ep: &mut ReferenceEndpoint) -> Vec<Output> {
        std::iter::from_fn(|| ep.poll_output()).collect()
    }

    fn stanzas(out: &[Output]) -> Vec<&Element> {
        out.iter()
            .filter_map(|o| match o {
                Output::Stanza(s) => Some(s),
                _ => None,
            })
            .collect()
    }

    fn claims(out: &[Output]) -> Vec<&str> {
        out.iter()
            .filter_map(|o| match o {
                Output::Event(EndpointEvent::CallState(s)) => Some(s.as_str()),
                _ => None,
            })
            .collect()
    }

    fn input(ep: &mut ReferenceEndpoint, xml: &str) -> Vec<Output> {
        ep.handle_input(
            SimTime::ZERO,
            Input::Stanza(xml.parse::<minidom::Element>().unwrap().into()),
        );
        drain(ep)
    }

    fn propose(ep: &mut ReferenceEndpoint) -> Vec<Output> {
        input(
            ep,
            &format!(
                "<message xmlns='jabber:client' from='caller@example.org/device1' to='callee@example.org' type='chat'>\
                 <propose xmlns='urn:xmpp:jingle-message:0' id='{SID}'><description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'/></propose></message>"
            ),
        )
    }

    /// The `<sent/>` copy of device 2's `what` as the server writes it, from `account`.
    fn sent_carbon(account: &str, what: &str) -> String {
        format!(
            "<message xmlns='jabber:client' from='{account}' to='callee@example.org/device1' type='chat'>\
             <sent xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'>\
             <message xmlns='jabber:client' from='callee@example.org/device2' to='caller@example.org/device1' type='chat'>\
             <{what} xmlns='urn:xmpp:jingle-message:0' id='{SID}'/></message></forwarded></sent></message>"
        )
    }

    #[test]
    fn a_sibling_comes_online_and_carbons_are_enabled_once() {
        let mut ep = device(1, &[]);
        drain(&mut ep);
        let sibling = "<presence xmlns='jabber:client' from='callee@example.org/device2'/>";
        let out = input(&mut ep, sibling);
        let s = stanzas(&out);
        assert_eq!(s.len(), 1, "no disco query to the own account, one enable");
        assert!(s[0].has_child("enable", ns::CARBONS));
        assert_eq!((s[0].attr("type"), s[0].attr("to")), (Some("set"), None));
        assert!(input(&mut ep, sibling).is_empty());
    }

    #[test]
    fn the_carbon_of_a_siblings_proceed_or_reject_stops_the_ringing_silently() {
        for (what, claim) in [("proceed", "answered-elsewhere"), ("reject", "rejected-elsewhere")] {
            let mut ep = device(1, &[]);
            drain(&mut ep);
            assert_eq!(claims(&propose(&mut ep)), vec!["ringing"]);
            let out = input(&mut ep, &sent_carbon("callee@example.org", what));
            assert_eq!(claims(&out), vec![claim]);
            assert!(stanzas(&out).is_empty());
            // No longer ringing: answering does nothing.
            ep.handle_input(SimTime::ZERO, Input::User(UserAction::Answer));
            assert!(drain(&mut ep).is_empty());
        }
    }

    #[test]
    fn a_carbon_not_from_the_own_account_is_ignored() {
        let mut ep = device(1, &[]);
        drain(&mut ep);
        propose(&mut ep);
        assert!(input(&mut ep, &sent_carbon("mallory@example.org", "proceed")).is_empty());
        ep.handle_input(SimTime::ZERO, Input::User(UserAction::Answer));
        assert_eq!(claims(&drain(&mut ep)), vec!["proceeding"]);
    }

    #[test]
    fn jmi_addressing_bare_sends_replies_to_the_bare_jid() {
        for (value, to) in [("full", "caller@example.org/device1"), ("bare", "caller@example.org")] {
            let mut ep = device(1, &[("jmi-addressing", value)]);
            drain(&mut ep);
            let out = propose(&mut ep);
            assert_eq!(stanzas(&out)[0].attr("to"), Some(to), "ringing with {value}");
            ep.handle_input(SimTime::ZERO, Input::User(UserAction::Answer));
            let out = drain(&mut ep);
            assert_eq!(stanzas(&out)[0].attr("to"), Some(to), "proceed with {value}");
        }
        assert!(Knobs::check(&[("jmi-addressing".to_string(), "resource".to_string())].into()).is_err());
    }
}
