//! str0m's ICE crate `is` 0.12 as the ICE agent of the reference endpoint ([`IceDriver`]), so its
//! behaviour meets every other implementation under the same JMI/Jingle signalling, STUN and TURN
//! gathering.
//!
//! What the stack does, unpatched (`is` 0.12.0 sources, `agent.rs`, `pair.rs`, `stun.rs`):
//! - **Regular nomination that moves upward**: the controlling side nominates the best succeeded
//!   pair and puts USE-CANDIDATE on every later check of it; when a better pair succeeds it
//!   nominates that one too and reports a new `NominatedSend`. No NOMINATION (0xC001) attribute.
//! - **The controlled side follows**: it sends on the highest-priority pair that is nominated and
//!   succeeded by its own check, so it accepts later nominations; it answers every valid request,
//!   USE-CANDIDATE on a pair it has not checked included.
//! - **Timers**: Ta 50 ms, one new check per `handle_timeout`; each retransmission is a new
//!   transaction, RTO 250 ms doubling to at most 3 s, 9 retransmits; a succeeded pair is re-checked
//!   at most every 3 s (its keepalive).
//! - **No Failed state**: the agent treats trickle as never ending, so with every pair gone it
//!   reports Disconnected and waits for candidates (the `Failed` variant is commented out).
//!   This driver reports what the agent reports and never declares failure itself.
//! - Requests that arrive before the remote credentials are queued (up to 100) and answered once
//!   they are known.
//!
//! **Time.** The agent counts in [`Instant`], which has no constructor but the clock. Each driver
//! reads the clock once, at creation, as an opaque base: simulated time `t` is `base + t`. Only
//! differences between instants reach the agent, the base never reaches a datagram, and deadlines
//! come back as `deadline − base`, exact to the microsecond. `poll_timeout` is `None` until the
//! first `handle_timeout`, so [`IceDriver::start`] calls it once.
//!
//! **Driving.** The driver calls `handle_timeout` where str0m's `Rtc` does: when `poll_timeout` is
//! due and before each received datagram. `Rtc`'s other timers (DTLS, RTCP, SCTP, stats) are not
//! modelled, so they wake nothing here.
//!
//! **Randomness.** Everything the stack draws — tie-breaker, credentials, STUN transaction IDs —
//! comes from `fastrand`'s thread-local generator (through str0m-proto's `NonCryptographicRng`).
//! Before every call into the agent the driver seeds that generator from the endpoint's
//! [`SimRng`], so what a driver draws depends on its own stream only, not on the thread or on other
//! agents sharing it: the same seed gives the same bytes.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use endpoint_contract::endpoint::Ics;
use endpoint_contract::SimRng;
use endpoint_contract::SimTime;
use is::stun::{StunMessage, StunPacket};
use is::{Candidate as IsCandidate, CandidateKind, IceAgent, IceAgentEvent, IceConnectionState, IceCreds, Protocol};
use reference::ice::{Candidate, CandidateType, DriverEvent, DriverState, IceConfig, IceDriver, Role, Transmit};

/// The ICS name this driver registers under.
pub const NAME: &str = "str0m";

/// The crate version driven here, for descriptions and reports.
pub const STACK_VERSION: &str = "is 0.12.0 (str0m 0.25)";

/// What str0m's `is` under the reference signalling supports (ICS). JMI, Jingle and trickle are
/// the signalling's (and follow its knobs); ICE is `is`'s: one component (component 2 is
/// refused), renomination only as un-negotiated USE-CANDIDATE on a better pair (no 0xC001, so
/// `none`), no ICE restart driven by the signalling.
pub fn ics() -> Ics {
    Ics {
        name: NAME.into(),
        jmi: true,
        // `is` always runs as a trickle agent (RFC 8838): candidates join at any time.
        trickle: true,
        rtcp_mux: true,
        renomination: endpoint_contract::Renomination::None,
        turn_transports: vec!["udp".into(), "tcp".into(), "tls".into()],
        ice_restart: false,
        unseeded_stun_transaction_ids: false,
        dtls_srtp_media: false,
        stack: None,
    }
}

/// [`reference::ice::DriverFactory`] for `is`; the reference agent's [`IceConfig`] does not apply
/// to it.
pub fn factory(role: Role, _cfg: &IceConfig, rng: SimRng, now: SimTime) -> Box<dyn IceDriver> {
    Box::new(Str0mDriver::new(role, rng, now))
}

/// One `is` [`IceAgent`] behind the [`IceDriver`] seam.
pub struct Str0mDriver {
    agent: IceAgent,
    /// The instant simulated time 0 maps to (see the crate docs).
    base: Instant,
    /// Seeds `fastrand` before each call into the agent.
    rng: SimRng,
    ufrag: String,
    pwd: String,
    remote_credentials: Option<IceCreds>,
    /// Local candidates with the priorities and foundations `is` computed.
    local: Vec<Candidate>,
    /// Remote candidates, signalled and learned, for TURN permissions.
    remote: Vec<Candidate>,
    started: bool,
    closed: bool,
    /// The last time given to the driver.
    now: SimTime,
    /// `poll_timeout` of the agent as of the last input (`is` takes `&mut self` for it).
    next_timeout: Option<SimTime>,
    events: VecDeque<DriverEvent>,
    state: DriverState,
    /// The last `NominatedSend`: where media goes.
    nominated: Option<(SocketAddr, SocketAddr)>,
}

impl Str0mDriver {
    /// A new agent in `role`, created at `now`; its credentials and tie-breaker are drawn by `is`
    /// itself from `fastrand` seeded with `rng`.
    pub fn new(role: Role, mut rng: SimRng, now: SimTime) -> Str0mDriver {
        fastrand::seed(rng.next_u64());
        let creds = IceCreds::new();
        let mut agent = IceAgent::new(creds.clone());
        agent.set_controlling(role == Role::Controlling);
        Str0mDriver {
            agent,
            base: Instant::now(),
            rng,
            ufrag: creds.ufrag,
            pwd: creds.pass,
            remote_credentials: None,
            local: Vec::new(),
            remote: Vec::new(),
            started: false,
            closed: false,
            now,
            next_timeout: None,
            events: VecDeque::new(),
            state: DriverState::New,
            nominated: None,
        }
    }

    /// Seeds `fastrand` on this thread from the driver's own stream; called before the agent can
    /// draw.
    fn reseed(&mut self) {
        fastrand::seed(self.rng.next_u64());
    }

    fn at(&self, t: SimTime) -> Instant {
        self.base + Duration::from_micros(t.as_micros())
    }

    /// Collects events and learned candidates and caches the next timeout, after every input.
    fn sync(&mut self) {
        while let Some(e) = self.agent.poll_event() {
            match e {
                IceAgentEvent::IceConnectionStateChange(s) => {
                    self.state = match s {
                        IceConnectionState::New => DriverState::New,
                        IceConnectionState::Checking => DriverState::Checking,
                        IceConnectionState::Connected => DriverState::Connected,
                        IceConnectionState::Completed => DriverState::Completed,
                        IceConnectionState::Disconnected => DriverState::Disconnected,
                    };
                    self.events.push_back(DriverEvent::State(self.state));
                }
                IceAgentEvent::NominatedSend {
                    source, destination, ..
                } => {
                    self.nominated = Some((source, destination));
                    self.events.push_back(DriverEvent::Selected {
                        component: 1,
                        local: source,
                        remote: destination,
                    });
                }
                // IceRestart (the start) and DiscoveredRecv (where media may come from) ask nothing
                // of the session logic.
                _ => {}
            }
        }
        for r in self.agent.remote_candidates() {
            if !self.remote.iter().any(|k| k.addr == r.addr()) {
                self.remote.push(candidate(&r, r.addr()));
            }
        }
        self.next_timeout = if self.started && !self.closed {
            let now = self.now;
            let base = self.base;
            self.agent
                .poll_timeout()
                .map(|t| SimTime::from_micros(t.saturating_duration_since(base).as_micros() as u64).max(now))
        } else {
            None
        };
    }
}

/// `is`'s view of a candidate in the reference's terms, with `base` as its base.
fn candidate(c: &IsCandidate, base: SocketAddr) -> Candidate {
    // The foundation is private; the SDP line carries it first: `candidate:<foundation> …`.
    let sdp = c.to_sdp_string();
    let foundation = sdp
        .strip_prefix("candidate:")
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_default()
        .to_string();
    Candidate {
        addr: c.addr(),
        base,
        typ: match c.kind() {
            CandidateKind::Host => CandidateType::Host,
            CandidateKind::ServerReflexive => CandidateType::ServerReflexive,
            CandidateKind::PeerReflexive => CandidateType::PeerReflexive,
            CandidateKind::Relayed => CandidateType::Relayed,
        },
        priority: c.prio(),
        foundation,
        component: 1,
    }
}

impl IceDriver for Str0mDriver {
    fn local_credentials(&self) -> (&str, &str) {
        (&self.ufrag, &self.pwd)
    }

    fn local_candidates(&self) -> &[Candidate] {
        &self.local
    }

    fn add_local_candidate(&mut self, c: Candidate) {
        let made = match c.typ {
            CandidateType::Host => IsCandidate::host(c.addr, "udp"),
            CandidateType::ServerReflexive => IsCandidate::server_reflexive(c.addr, c.base, "udp"),
            // Checks from a relayed candidate leave from the relayed address (its base); the
            // caller sends them through the TURN allocation.
            CandidateType::Relayed => IsCandidate::relayed(c.addr, c.addr, "udp"),
            CandidateType::PeerReflexive => return,
        };
        let Ok(ic) = made else { return };
        self.reseed();
        if let Some(added) = self.agent.add_local_candidate(ic) {
            let view = candidate(added, c.base);
            self.local.push(view);
        }
        self.sync();
    }

    fn remote_candidates(&self) -> &[Candidate] {
        &self.remote
    }

    fn set_remote_credentials(&mut self, ufrag: &str, pwd: &str) {
        let creds = IceCreds {
            ufrag: ufrag.to_string(),
            pass: pwd.to_string(),
        };
        self.agent.set_remote_credentials(creds.clone());
        self.remote_credentials = Some(creds);
        self.sync();
    }

    fn add_remote_candidate(&mut self, c: Candidate) {
        let kind = match c.typ {
            CandidateType::Host => CandidateKind::Host,
            CandidateType::ServerReflexive => CandidateKind::ServerReflexive,
            CandidateType::PeerReflexive => CandidateKind::PeerReflexive,
            CandidateType::Relayed => CandidateKind::Relayed,
        };
        let ic = IsCandidate::from_parts(
            c.foundation.clone(),
            c.component.into(),
            Protocol::Udp,
            c.priority,
            c.addr,
            kind,
            None,
            None,
            None,
        );
        self.reseed();
        self.agent.add_remote_candidate(ic);
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
        // `is`'s own ICE restart, same credentials, local candidates kept (`ice_restart`): remote
        // credentials and candidates and every pair go.
        self.reseed();
        self.agent.ice_restart(
            IceCreds {
                ufrag: self.ufrag.clone(),
                pass: self.pwd.clone(),
            },
            true,
        );
        self.remote.clear();
        if let Some(creds) = self.remote_credentials.clone() {
            self.agent.set_remote_credentials(creds);
        }
        for c in candidates {
            self.add_remote_candidate(c);
        }
        if self.started {
            self.reseed();
            let at = self.at(self.now);
            self.agent.handle_timeout(at);
        }
        self.sync();
    }

    fn offers_renomination(&self) -> bool {
        false
    }

    fn set_peer_renomination(&mut self, _on: bool) {
        // `is` renominates with USE-CANDIDATE and negotiates nothing.
    }

    fn start(&mut self, now: SimTime) {
        if self.started || self.closed {
            return;
        }
        self.now = self.now.max(now);
        self.started = true;
        // `is` has no start call: its first `handle_timeout` begins checking. If requests were
        // queued for want of remote credentials, each call answers one of them and returns before
        // `is` records the time, so `poll_timeout` stays `None`. str0m's `Rtc` calls it again at
        // once (its `poll_output` loop and its other timers keep waking the agent); here it is
        // called until the queue (at most 100, `is` agent.rs) is drained and the agent asks for a
        // timer, so a peer that stopped sending does not leave it asleep.
        let at = self.at(self.now);
        for _ in 0..=100 {
            self.reseed();
            self.agent.handle_timeout(at);
            if self.agent.poll_timeout().is_some() {
                break;
            }
        }
        self.sync();
    }

    fn close(&mut self) {
        if self.closed {
            return;
        }
        // `is` has no close: the driver stops feeding it and drops what it queued.
        self.closed = true;
        while self.agent.poll_transmit().is_some() {}
        self.sync();
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
        // A datagram `is` cannot parse is one it would never see from its own demultiplexer.
        let Ok(message) = StunMessage::parse(data) else {
            return true;
        };
        self.now = self.now.max(now);
        let at = self.at(self.now);
        if self.started {
            // str0m's `Rtc` runs its timers, ICE's included, before every received datagram
            // (`Input::Receive` → `do_handle_timeout`); an agent whose `poll_timeout` is `None`
            // (see `start`) is woken this way.
            self.reseed();
            self.agent.handle_timeout(at);
        }
        self.reseed();
        self.agent.handle_packet(
            at,
            StunPacket {
                proto: Protocol::Udp,
                source: remote,
                destination: local,
                message,
            },
        );
        self.sync();
        true
    }

    fn handle_timeout(&mut self, now: SimTime) {
        if !self.started || self.closed {
            return;
        }
        self.now = self.now.max(now);
        self.reseed();
        let at = self.at(self.now);
        self.agent.handle_timeout(at);
        self.sync();
    }

    fn poll_timeout(&self) -> Option<SimTime> {
        self.next_timeout
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        if self.closed {
            return None;
        }
        self.agent.poll_transmit().map(|t| Transmit {
            local: t.source,
            remote: t.destination,
            payload: t.contents.to_vec(),
        })
    }

    fn poll_event(&mut self) -> Option<DriverEvent> {
        self.events.pop_front()
    }

    fn selected(&self) -> Option<(SocketAddr, SocketAddr)> {
        self.nominated
    }

    fn media_pair(&self) -> Option<(SocketAddr, SocketAddr)> {
        match self.state {
            DriverState::Closed => None,
            _ => self.nominated,
        }
    }

    fn state(&self) -> DriverState {
        self.state
    }
}
