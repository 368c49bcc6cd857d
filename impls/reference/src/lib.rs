//! The reference endpoint: a conforming XMPP call client as a sans-IO state machine.
//!
//! It discovers STUN through XEP-0215, gathers host and server-reflexive candidates, calls with
//! XEP-0353 JMI (propose → ringing → proceed) and a Jingle RTP session (XEP-0166/0167) over ICE-UDP
//! (XEP-0176) with a DTLS fingerprint (XEP-0320), runs RFC 8445 ICE with regular nomination, sends
//! small RTP packets on the selected pair while consent holds (RFC 7675), restarts ICE in
//! transport-info when its host changes interface or consent is lost (RFC 8445 §9), and ends with
//! session-terminate and JMI finish.
#![warn(missing_docs)]

mod call;
mod dtls;
mod gathering;
pub mod ice;
mod jmi;
mod knobs;
mod media;
mod restart;
mod session;
pub mod signalling;
pub mod turn;

pub use dtls::parse_fingerprint;
pub use knobs::{CreatorMode, JmiAddressing, Knobs, RestartForm, StartChecksAt, KNOB_NAMES};

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use endpoint_contract::endpoint::{
    CallClaim, Endpoint, EndpointConfig, EndpointEvent, Ics, Input, Output, Renomination, UserAction,
};
use endpoint_contract::xml::{bare, el, iq_result, ns, BuilderExt};
use endpoint_contract::xml::{carbon_payload, CarbonKind};
use endpoint_contract::SimRng;
use endpoint_contract::SimTime;
use minidom::Element;
use stun_codec::{attr_type, method, Attribute, Class, Message, MessageBuilder};
use xmpp_parsers::jingle::{Action, Creator, Reason};
use xmpp_parsers::jingle_dtls_srtp::Setup;

use call::{Call, CallState, Jingle, OwnRestart, Side};
use dtls::DtlsState;
use ice::{
    Candidate, CandidateType, DriverEvent, DriverFactory, DriverState, IceConfig, IceDriver, IceServer, Role,
    StackFactory,
};
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
    /// Set for a stack that owns its sockets (a real stack in live mode): it makes each call's
    /// agent, which gathers, checks and sends media itself; the endpoint then gathers nothing.
    stack: Option<StackFactory>,
    /// The XEP-0215 servers handed to `stack`'s agents.
    ice_servers: Vec<IceServer>,
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
    /// The SHA-256 fingerprint signalled in XEP-0320 `<fingerprint/>`: `identity`'s in a live run,
    /// else drawn from the seed.
    fingerprint: [u8; 32],
    /// The DTLS certificate of a live run (dtls.rs); `None` in simulated runs and around a stack,
    /// where no handshake is done by the session logic.
    identity: Option<dtls::Identity>,
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
        renomination: Renomination::None,
        turn_transports: vec!["udp".into(), "tcp".into(), "tls".into()],
        ice_restart: true,
        unseeded_stun_transaction_ids: false,
        dtls_srtp_media: false,
        stack: None,
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
            ice::Nomination::UseCandidate | ice::Nomination::Aggressive => Renomination::None,
            ice::Nomination::C001Always | ice::Nomination::C001Negotiated => Renomination::LegacyC001,
            ice::Nomination::Renomination2 | ice::Nomination::Renomination2Always => Renomination::Renomination2,
        };
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
            dtls_srtp_media: ep.ics.dtls_srtp_media,
            ..ics
        };
        ep.driver = driver;
        ep
    }

    /// The reference signalling around a stack that owns its sockets (live mode, impls/live): each
    /// call's agent comes from `stack`, with the role and the XEP-0215 servers, and gathers, checks
    /// and sends media on its own sockets; the endpoint sends no datagram. `knobs` (a profile's)
    /// and then the scenario's shape the signalling; their ICE settings reach no real stack.
    /// `ics` says what the stack supports; `jmi` and `trickle` follow the knobs. `switch-interface`
    /// and ICE restarts are not carried.
    pub fn with_stack(cfg: EndpointConfig, ics: Ics, knobs: &Knobs, stack: StackFactory) -> ReferenceEndpoint {
        let mut ep = Self::with_knobs(cfg, &ics.name, knobs);
        ep.ics = Ics {
            jmi: ep.ics.jmi,
            trickle: ep.ics.trickle,
            ..ics
        };
        // The stack does its own DTLS, or none.
        ep.identity = None;
        ep.stack = Some(stack);
        ep
    }

    fn conforming(cfg: EndpointConfig) -> ReferenceEndpoint {
        let mut rng = cfg.rng.clone();
        let port = rng.range(49152, 65535) as u16;
        let socket = SocketAddr::new(cfg.interfaces[0], port);
        let mut fingerprint = [0u8; 32];
        rng.fill(&mut fingerprint);
        // Key generation cannot fail on this curve in practice; if it did, the endpoint would go
        // on as in a simulated run, without a handshake.
        let identity = cfg.live.then(dtls::Identity::generate).and_then(Result::ok);
        if let Some(id) = &identity {
            fingerprint = id.fingerprint;
        }
        ReferenceEndpoint {
            ics: Ics {
                // In a live run, facing a peer that signals a fingerprint, media waits for the
                // DTLS-SRTP handshake: SRTP's keys come from it (RFC 5764 §4.2).
                dtls_srtp_media: identity.is_some(),
                ..ics()
            },
            identity,
            cfg,
            rng,
            ice_cfg: IceConfig::default(),
            driver: ice::reference_driver,
            stack: None,
            ice_servers: Vec::new(),
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

    fn claim(&mut self, c: CallClaim) {
        self.out.push_back(Output::Event(EndpointEvent::CallState(c)));
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

    fn new_agent(&mut self, role: Role, now: SimTime) -> Box<dyn IceDriver> {
        if let Some(stack) = &self.stack {
            // Its own gathering: what it finds comes as `DriverEvent::LocalCandidate`.
            return stack(ice::StackCall {
                role,
                servers: &self.ice_servers,
                relay_only: self.knobs.relay_only,
                now,
            });
        }
        let mut a = (self.driver)(role, &self.ice_cfg, self.rng.fork("ice"), now);
        for c in self.signalable_candidates() {
            a.add_local_candidate(c);
        }
        a
    }

    fn user(&mut self, now: SimTime, a: UserAction) {
        match a {
            UserAction::Call { to, media } => {
                if self.call.as_ref().is_some_and(|c| !c.state.is_ended()) {
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
                    self.claim(CallClaim::Unavailable {
                        peer: to.clone(),
                        missing: missing.iter().map(|m| m.to_string()).collect(),
                    });
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
                    self.claim(CallClaim::WaitingForPresence { peer: to.clone() });
                    return;
                }
                if let Some(full) = direct {
                    let mut call = Call::new(
                        sid,
                        Side::Initiator,
                        to.clone(),
                        Some(full),
                        media.clone(),
                        CallState::Proceeded(None),
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
                self.claim(CallClaim::Proposed);
            }
            UserAction::Answer => {
                let Some(call) = self.call.as_mut() else { return };
                if !call.state.is_ringing() {
                    return;
                }
                let (sid, to) = (call.sid.clone(), call.peer_full.clone().unwrap_or_default());
                if call.jingle_started() {
                    // Direct session-initiate (no JMI): answering accepts the session.
                    self.send_accept(now);
                } else {
                    call.state.proceed();
                    let id = format!("jm-proceed-{sid}");
                    self.send_jmi_reply(&to, &id, signalling::jmi_simple("proceed", &sid, None));
                    self.claim(CallClaim::Proceeding);
                }
            }
            UserAction::Reject => {
                let Some(call) = self.call.as_mut() else { return };
                if !call.state.is_ringing() {
                    return;
                }
                call.state.end();
                let (sid, to, jingle) = (
                    call.sid.clone(),
                    call.peer_full.clone().unwrap_or_default(),
                    call.jingle_started(),
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
                self.claim(CallClaim::Rejected);
            }
            // XEP-0352 nonzas on the client stream: the server decides what to hold meanwhile.
            UserAction::GoInactive => self.send(el("inactive", ns::CSI).build()),
            UserAction::GoActive => self.send(el("active", ns::CSI).build()),
            UserAction::Hangup => {
                let Some(call) = self.call.as_mut() else { return };
                match call.state {
                    // Proceeded: the proceed came, the session-initiate waits for gathering;
                    // Proposed without JMI: still waiting for the callee's presence.
                    CallState::Proceeded(_) | CallState::Proposed if call.side == Side::Initiator && !call.via_jmi => {
                        call.state.end();
                        call.waiting_for_gathering = false;
                        self.claim(CallClaim::Cancelled);
                    }
                    CallState::Proposed | CallState::Proceeded(_) if call.side == Side::Initiator => {
                        call.state.end();
                        call.waiting_for_gathering = false;
                        let (sid, to) = (call.sid.clone(), call.peer_bare.clone());
                        let id = self.next_id("jm-retract-");
                        self.send(signalling::jmi(
                            &to,
                            &id,
                            signalling::jmi_simple("retract", &sid, Some("cancel")),
                        ));
                        self.claim(CallClaim::Cancelled);
                    }
                    CallState::Pending(_) if call.side == Side::Initiator => self.end_call(Reason::Cancel, true),
                    CallState::Pending(_) | CallState::Active(_) => self.end_call(Reason::Success, true),
                    _ => {}
                }
            }
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

/// The side this device plays in its call, if it has one.
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
                if let Some(a) = self.call.as_mut().and_then(|c| c.agent_mut()) {
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
                                    && c.state.is_proposed()
                                    && !c.via_jmi
                                    && c.peer_full.is_none()
                                    && c.peer_bare == bare(f)
                            }) {
                                c.peer_full = Some(f.to_string());
                                c.state.proceed();
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
            .filter(|c| c.state.is_ended())
            .and_then(|c| c.agent_mut())
        {
            if a.state() != DriverState::Closed {
                a.close();
            }
        }
        self.drain_ice(now);
        self.drain_dtls(now);
        if media_due {
            self.send_rtp(now);
        }
        // A call that ended gives its relay back (Refresh with LIFETIME 0, RFC 8656 §7.2) instead of
        // refreshing it and its permissions while idle.
        if self.call.as_ref().is_some_and(|c| c.state.is_ended())
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
            .and_then(|c| c.agent())
            .and_then(|a| a.poll_timeout());
        let rtp = self
            .call
            .as_ref()
            .and_then(|c| c.state.jingle())
            .and_then(|j| j.media_flow.sending())
            .map(|r| r.next);
        let turn = self.turn.iter().filter_map(|t| t.client.poll_timeout()).min();
        let grace = match (self.gather.done, self.gather.started) {
            (false, Some(s)) if self.relayed().is_some() => Some(s + GATHER_GRACE),
            _ => None,
        };
        let rtcp = self.rtcp.as_ref().and_then(|r| r.stun.next);
        let dtls = self
            .call
            .as_ref()
            .and_then(|c| c.state.jingle())
            .and_then(|j| j.dtls.as_ref())
            .and_then(|d| d.poll_timeout());
        // Asked after every input: a chain of pairwise minima, not an iterator over the eight.
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
        let t = earliest(t, dtls);
        earliest(t, rtcp)
    }
}

#[cfg(test)]
mod tests;
