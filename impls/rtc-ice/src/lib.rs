//! webrtc-rs `rtc-ice` 0.21 as the ICE agent of the reference endpoint ([`IceDriver`]), so its
//! behaviour meets every other implementation under the same JMI/Jingle signalling, STUN and TURN
//! gathering.
//!
//! What the stack does, unpatched (rtc-ice 0.21.1 sources, `agent/`):
//! - **Regular nomination only** (RFC 8445 §8.1.1): the controlling side waits for the best
//!   succeeded pair, then sends a separate Binding request with USE-CANDIDATE, repeated every check
//!   tick until answered, and never changes the selected pair afterwards (`agent_selector.rs`).
//! - **The controlled side takes only the first nomination**: a later USE-CANDIDATE is answered
//!   but ignored; USE-CANDIDATE on a pair it has not yet seen succeed gets no response, only a
//!   triggered check (`agent_selector.rs`, controlled `handle_binding_request`).
//! - **No Ta and no per-transaction RTO**: every 200 ms tick checks all Waiting and In-Progress
//!   pairs at once, each request with a new transaction ID; a pair fails after 7 requests
//!   (`DEFAULT_CHECK_INTERVAL`, `DEFAULT_MAX_BINDING_REQUESTS`).
//! - **Failed is terminal and time-based**: 5 s + 25 s in Checking, or as long without anything
//!   received on the selected pair (`DEFAULT_DISCONNECTED_TIMEOUT`, `DEFAULT_FAILED_TIMEOUT`); it
//!   then drops every candidate. Keepalives are Binding requests every 2 s.
//! - Requests that arrive before the remote credentials are known are dropped unanswered; the
//!   credentials are handed over at [`IceDriver::start`], as `start_connectivity_checks` takes them.
//! - No NOMINATION (0xC001) attribute, no renomination, no end-of-candidates.
//!
//! **Time.** The agent counts in [`Instant`], which has no constructor but the clock. Each driver
//! reads the clock once, at creation, as an opaque base: simulated time `t` is `base + t`. Only
//! differences between instants reach the agent's decisions, the base never reaches a datagram,
//! and deadlines come back as `deadline − base`, exact to the microsecond.
//!
//! **Randomness.** The tie-breaker and the local ufrag and pwd come from the crypto provider's
//! random source, which this driver seeds from the endpoint's [`SimRng`]. STUN transaction IDs do
//! not: rtc-stun draws them from `rand::rng()` (`TransactionId::new`, "independent of
//! RTCCryptoProvider"), which cannot be seeded through any API. So every Binding request this
//! stack sends, and the peer's response to it (which echoes the ID), differs from run to run in its
//! 12 transaction-ID bytes (offset 8..20) and, because both are computed over the header, in its
//! MESSAGE-INTEGRITY and FINGERPRINT values. A trace hash that is to repeat must mask those three.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use endpoint_contract::endpoint::Ics;
use endpoint_contract::SimRng;
use endpoint_contract::SimTime;
use reference::ice::{Candidate, CandidateType, DriverEvent, DriverState, IceConfig, IceDriver, Role, Transmit};
use rtc_ice::agent::agent_config::AgentConfig;
use rtc_ice::agent::{Agent, Event};
use rtc_ice::candidate::candidate_host::CandidateHostConfig;
use rtc_ice::candidate::candidate_peer_reflexive::CandidatePeerReflexiveConfig;
use rtc_ice::candidate::candidate_relay::CandidateRelayConfig;
use rtc_ice::candidate::candidate_server_reflexive::CandidateServerReflexiveConfig;
use rtc_ice::candidate::{Candidate as RtcCandidate, CandidateConfig, CandidateType as RtcType};
use rtc_ice::crypto::{CryptoError, RTCCrypto, RTCCryptoProvider, RTCRandom};
use rtc_ice::mdns::MulticastDnsMode;
use rtc_ice::state::ConnectionState;
use rtc_shared::{TaggedBytesMut, TransportContext, TransportProtocol};
use sansio::Protocol as _;

/// The ICS name this driver registers under.
pub const NAME: &str = "rtc-ice";

/// The crate version driven here, for descriptions and reports.
pub const STACK_VERSION: &str = "rtc-ice 0.21.1";

/// What rtc-ice under the reference signalling supports (ICS). JMI, Jingle and trickle are the
/// signalling's (and follow its knobs); ICE is rtc-ice's: one component, no renomination to
/// negotiate (regular nomination only), no ICE restart driven by the signalling.
pub fn ics() -> Ics {
    Ics {
        name: NAME.into(),
        jmi: true,
        // rtc-ice pairs a remote candidate as soon as it is added (`add_remote_candidate`).
        trickle: true,
        rtcp_mux: true,
        renomination: endpoint_contract::Renomination::None,
        turn_transports: vec!["udp".into(), "tcp".into(), "tls".into()],
        ice_restart: false,
        unseeded_stun_transaction_ids: true,
        dtls_srtp_media: false,
        stack: None,
    }
}

/// [`reference::ice::DriverFactory`] for rtc-ice; the reference agent's [`IceConfig`] does not
/// apply to it.
pub fn factory(role: Role, _cfg: &IceConfig, rng: SimRng, now: SimTime) -> Box<dyn IceDriver> {
    Box::new(RtcIceDriver::new(role, rng, now))
}

/// rtc-ice's crypto (ring) with the random source replaced by the endpoint's seeded stream.
struct SeededProvider {
    crypto: Arc<dyn RTCCryptoProvider>,
    random: SeededRandom,
}

struct SeededRandom(Mutex<SimRng>);

impl RTCRandom for SeededRandom {
    fn fill(&self, output: &mut [u8]) -> Result<(), CryptoError> {
        // A poisoned lock means a panic elsewhere already failed the run; the stream is still whole.
        self.0.lock().unwrap_or_else(|e| e.into_inner()).fill(output);
        Ok(())
    }
}

impl RTCCryptoProvider for SeededProvider {
    fn name(&self) -> &'static str {
        "ring, seeded random"
    }
    fn crypto(&self) -> &dyn RTCCrypto {
        self.crypto.crypto()
    }
    fn random(&self) -> &dyn RTCRandom {
        &self.random
    }
}

/// One rtc-ice [`Agent`] behind the [`IceDriver`] seam.
pub struct RtcIceDriver {
    agent: Agent,
    /// The instant simulated time 0 maps to (see the crate docs).
    base: Instant,
    role: Role,
    ufrag: String,
    pwd: String,
    remote_credentials: Option<(String, String)>,
    /// Local candidates with the priorities and foundations rtc-ice computed.
    local: Vec<Candidate>,
    /// Remote candidates, signalled and learned, for TURN permissions.
    remote: Vec<Candidate>,
    /// [`IceDriver::start`] was called.
    started: bool,
    /// `start_connectivity_checks` ran (it needs the remote credentials).
    checking: bool,
    closed: bool,
    /// The last time given to the driver.
    now: SimTime,
    /// `poll_timeout` of the agent as of the last input (rtc-ice's takes `&mut self`).
    next_timeout: Option<SimTime>,
    events: VecDeque<DriverEvent>,
    state: DriverState,
    /// Counter for candidate ids, which rtc-ice would otherwise draw from the thread RNG (they
    /// never reach the wire).
    candidate_ids: u32,
}

impl RtcIceDriver {
    /// A new agent in `role`, created at `now`, drawing its tie-breaker and credentials from `rng`.
    ///
    /// Panics if rtc-ice rejects its own default configuration (a build-time fact).
    pub fn new(role: Role, rng: SimRng, now: SimTime) -> RtcIceDriver {
        let base = Instant::now();
        let provider = Arc::new(SeededProvider {
            crypto: rtc_ice::crypto::default_provider().expect("rtc-ice is built with its ring provider"),
            random: SeededRandom(Mutex::new(rng)),
        });
        let cfg = AgentConfig {
            is_controlling: role == Role::Controlling,
            // No multicast DNS in the simulator; a fixed name, since an empty one is drawn from
            // the thread RNG.
            multicast_dns_mode: MulticastDnsMode::Disabled,
            multicast_dns_local_name: "rtc-ice.local".into(),
            ..Default::default()
        };
        let agent = Agent::new(at(base, now), Arc::new(cfg), provider).expect("rtc-ice accepts its default config");
        let creds = agent.get_local_credentials();
        let (ufrag, pwd) = (creds.ufrag.clone(), creds.pwd.clone());
        RtcIceDriver {
            agent,
            base,
            role,
            ufrag,
            pwd,
            remote_credentials: None,
            local: Vec::new(),
            remote: Vec::new(),
            started: false,
            checking: false,
            closed: false,
            now,
            next_timeout: None,
            events: VecDeque::new(),
            state: DriverState::New,
            candidate_ids: 0,
        }
    }

    fn config(&mut self, c: &Candidate, signalled: bool) -> CandidateConfig {
        self.candidate_ids += 1;
        CandidateConfig {
            candidate_id: format!("candidate:{}", self.candidate_ids),
            network: "udp".into(),
            address: c.addr.ip().to_string(),
            port: c.addr.port(),
            component: c.component.into(),
            // Local candidates get rtc-ice's own priority and foundation (zero and empty mean
            // "compute"); remote ones keep what the peer signalled.
            priority: if signalled { c.priority } else { 0 },
            foundation: if signalled { c.foundation.clone() } else { String::new() },
        }
    }

    /// `c` as an rtc-ice candidate; `None` for a type rtc-ice cannot take in that position.
    fn rtc_candidate(&mut self, c: &Candidate, signalled: bool) -> Option<RtcCandidate> {
        let base_config = self.config(c, signalled);
        let r = match c.typ {
            CandidateType::Host => CandidateHostConfig {
                base_config,
                ..Default::default()
            }
            .new_candidate_host(),
            CandidateType::ServerReflexive => CandidateServerReflexiveConfig {
                base_config,
                // A local one is sent from its base (rtc-ice's `base_addr`); a remote one's base
                // is not signalled here.
                rel_addr: if signalled {
                    String::new()
                } else {
                    c.base.ip().to_string()
                },
                rel_port: if signalled { 0 } else { c.base.port() },
                url: None,
            }
            .new_candidate_server_reflexive(),
            CandidateType::Relayed => CandidateRelayConfig {
                base_config,
                ..Default::default()
            }
            .new_candidate_relay(),
            CandidateType::PeerReflexive if signalled => CandidatePeerReflexiveConfig {
                base_config,
                rel_addr: String::new(),
                rel_port: 0,
            }
            .new_candidate_peer_reflexive(),
            CandidateType::PeerReflexive => return None,
        };
        r.ok()
    }

    fn begin_checks(&mut self) {
        let Some((u, p)) = self.remote_credentials.clone() else {
            return;
        };
        let controlling = self.role == Role::Controlling;
        // Errors only for empty credentials, which the peer's transport would have to carry.
        if self
            .agent
            .start_connectivity_checks(at(self.base, self.now), controlling, u, p)
            .is_ok()
        {
            self.checking = true;
        }
    }

    /// Collects events and learned candidates and caches the next timeout, after every input.
    fn sync(&mut self) {
        while let Some(e) = self.agent.poll_event() {
            match e.event {
                Event::ConnectionStateChange(s) => {
                    self.state = state(s);
                    self.events.push_back(DriverEvent::State(self.state));
                }
                Event::SelectedCandidatePairChange(l, r) => self.events.push_back(DriverEvent::Selected {
                    component: 1,
                    local: l.base_addr(),
                    remote: r.addr(),
                }),
                // A role switch (RFC 8445 §7.3.1.1) is internal to the agent.
                _ => {}
            }
        }
        for r in self.agent.get_remote_candidates() {
            if !self.remote.iter().any(|k| k.addr == r.addr()) {
                self.remote.push(candidate(r, r.addr()));
            }
        }
        self.next_timeout = if self.checking && !self.closed {
            let now = self.now;
            self.agent.poll_timeout().map(|t| sim(self.base, t).max(now))
        } else {
            None
        };
    }
}

/// Simulated time `t` as an instant after `base`.
fn at(base: Instant, t: SimTime) -> Instant {
    base + Duration::from_micros(t.as_micros())
}

/// An instant as simulated time (instants before `base` clamp to 0).
fn sim(base: Instant, i: Instant) -> SimTime {
    SimTime::from_micros(i.saturating_duration_since(base).as_micros() as u64)
}

fn state(s: ConnectionState) -> DriverState {
    match s {
        ConnectionState::Checking => DriverState::Checking,
        ConnectionState::Connected => DriverState::Connected,
        ConnectionState::Completed => DriverState::Completed,
        ConnectionState::Failed => DriverState::Failed,
        ConnectionState::Disconnected => DriverState::Disconnected,
        ConnectionState::Closed => DriverState::Closed,
        _ => DriverState::New,
    }
}

/// rtc-ice's view of a candidate in the reference's terms, with `base` as its base.
fn candidate(c: &RtcCandidate, base: SocketAddr) -> Candidate {
    Candidate {
        addr: c.addr(),
        base,
        typ: match c.candidate_type() {
            RtcType::ServerReflexive => CandidateType::ServerReflexive,
            RtcType::PeerReflexive => CandidateType::PeerReflexive,
            RtcType::Relay => CandidateType::Relayed,
            _ => CandidateType::Host,
        },
        priority: c.priority(),
        foundation: c.foundation(),
        component: c.component() as u8,
    }
}

impl IceDriver for RtcIceDriver {
    fn local_credentials(&self) -> (&str, &str) {
        (&self.ufrag, &self.pwd)
    }

    fn local_candidates(&self) -> &[Candidate] {
        &self.local
    }

    fn add_local_candidate(&mut self, c: Candidate) {
        let Some(rc) = self.rtc_candidate(&c, false) else {
            return;
        };
        let view = candidate(&rc, c.base);
        if let Ok(true) = self.agent.add_local_candidate(rc) {
            self.local.push(view);
        }
        self.sync();
    }

    fn remote_candidates(&self) -> &[Candidate] {
        &self.remote
    }

    fn set_remote_credentials(&mut self, ufrag: &str, pwd: &str) {
        self.remote_credentials = Some((ufrag.to_string(), pwd.to_string()));
        if self.started && !self.checking && !self.closed {
            self.begin_checks();
        }
        self.sync();
    }

    fn add_remote_candidate(&mut self, c: Candidate) {
        if let Some(rc) = self.rtc_candidate(&c, true) {
            // An mDNS name or a TCP-active candidate is refused (Ok(false)); neither occurs here.
            let _ = self.agent.add_remote_candidate(rc);
        }
        if !self.remote.iter().any(|k| k.addr == c.addr) {
            self.remote.push(c);
        }
        self.sync();
    }

    fn restart_with_remote_candidates(&mut self, now: SimTime, candidates: Vec<Candidate>) {
        if self.closed {
            return;
        }
        self.now = self.now.max(now);
        // rtc-ice's own ICE restart, same credentials, local candidates kept (`Agent::restart`):
        // remote credentials and candidates, pairs and the selected pair go.
        let (u, p) = (self.ufrag.clone(), self.pwd.clone());
        let _ = self.agent.restart(at(self.base, self.now), u, p, true);
        self.checking = false;
        self.remote.clear();
        if self.started {
            self.begin_checks();
        }
        for c in candidates {
            self.add_remote_candidate(c);
        }
        self.sync();
    }

    fn offers_renomination(&self) -> bool {
        false
    }

    fn set_peer_renomination(&mut self, _on: bool) {
        // rtc-ice knows no renomination to negotiate.
    }

    fn start(&mut self, now: SimTime) {
        if self.started || self.closed {
            return;
        }
        self.now = self.now.max(now);
        self.started = true;
        self.begin_checks();
        self.sync();
    }

    fn close(&mut self) {
        if self.closed {
            return;
        }
        // Closing only fails if mDNS was running, which is disabled.
        let _ = self.agent.close();
        self.closed = true;
        self.sync();
        // rtc-ice reports Closed only through an event with a time, which `close` has not.
        self.state = DriverState::Closed;
        self.events.push_back(DriverEvent::State(DriverState::Closed));
    }

    fn handle_packet(&mut self, now: SimTime, local: SocketAddr, remote: SocketAddr, data: &[u8]) -> bool {
        if !stun_codec::is_stun(data) {
            return false;
        }
        if self.closed {
            return true;
        }
        self.now = self.now.max(now);
        // Errors are datagrams rtc-ice discards (unknown transaction, bad integrity, no remote
        // credentials yet); a real socket would drop them the same way.
        let _ = self.agent.handle_read(TaggedBytesMut {
            now: at(self.base, self.now),
            transport: TransportContext {
                local_addr: local,
                peer_addr: remote,
                transport_protocol: TransportProtocol::UDP,
                ecn: None,
            },
            message: BytesMut::from(data),
        });
        self.sync();
        true
    }

    fn handle_timeout(&mut self, now: SimTime) {
        if !self.checking || self.closed {
            return;
        }
        self.now = self.now.max(now);
        // Only mDNS timeouts can error, and mDNS is disabled.
        let _ = self.agent.handle_timeout(at(self.base, self.now));
        self.sync();
    }

    fn poll_timeout(&self) -> Option<SimTime> {
        self.next_timeout
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        let m = self.agent.poll_write()?;
        if self.closed {
            // Anything queued before close is not sent.
            while self.agent.poll_write().is_some() {}
            return None;
        }
        Some(Transmit {
            local: m.transport.local_addr,
            remote: m.transport.peer_addr,
            payload: m.message.to_vec(),
        })
    }

    fn poll_event(&mut self) -> Option<DriverEvent> {
        self.events.pop_front()
    }

    fn selected(&self) -> Option<(SocketAddr, SocketAddr)> {
        self.agent
            .get_selected_candidate_pair()
            .map(|(l, r)| (l.base_addr(), r.addr()))
    }

    fn media_pair(&self) -> Option<(SocketAddr, SocketAddr)> {
        match self.state {
            DriverState::Failed | DriverState::Closed => None,
            _ => self.selected(),
        }
    }

    fn state(&self) -> DriverState {
        self.state
    }
}
