//! The ICE-agent seam: everything the session logic asks of an ICE agent, so that an ICE stack
//! nobody here wrote (webrtc-rs `rtc-ice`, str0m's `is`) can run under the reference endpoint's
//! signalling — JMI, Jingle, STUN and TURN gathering — in place of [`IceAgent`].
//!
//! A driver is sans-IO like the agent: time and datagrams are inputs, transmits and events wait in
//! queues. Times are [`SimTime`] (microseconds of simulated time); a stack that counts in
//! `std::time::Instant` maps them onto a fixed base of its own (see the driver crates). A driver
//! reports its stack's behaviour as it is: nomination style, timers and failure rules are the
//! stack's, and none of [`IceConfig`]'s knobs apply to a foreign stack.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use endpoint_contract::SimRng;
use endpoint_contract::SimTime;

use super::agent::{IceAgent, IceConfig, IceEvent, IceState, Role, Transmit};
use super::candidate::{priority, Candidate, CandidateType};

/// ICE connection state as a driver reports it: the contract's claimed state, which the session
/// logic passes on as `EndpointEvent::IceState`.
pub use endpoint_contract::endpoint::IceState as DriverState;

impl From<IceState> for DriverState {
    fn from(s: IceState) -> DriverState {
        match s {
            IceState::New => DriverState::New,
            IceState::Checking => DriverState::Checking,
            IceState::Completed => DriverState::Completed,
            IceState::Disconnected => DriverState::Disconnected,
            IceState::Failed => DriverState::Failed,
            IceState::Closed => DriverState::Closed,
        }
    }
}

/// What a driver tells the session logic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DriverEvent {
    /// The state changed.
    State(DriverState),
    /// A pair was selected for `component` (or, for a stack that renominates, selected again):
    /// for component 1, send media from `local` (a local base) to `remote`; component 2 (RTCP
    /// without rtcp-mux) carries only the stack's keepalives here.
    Selected {
        /// 1 = RTP, 2 = RTCP (XEP-0167 §3).
        component: u8,
        /// Local base.
        local: SocketAddr,
        /// Remote candidate.
        remote: SocketAddr,
    },
    /// Consent to send from `local` to `remote` expired or was revoked (RFC 7675 §5): the session
    /// logic stops media there and restarts ICE or ends the session.
    ConsentLost {
        /// Local base.
        local: SocketAddr,
        /// Remote candidate.
        remote: SocketAddr,
    },
    /// A stack that gathers on its own sockets ([`IceDriver::sends_media`]) gathered this local
    /// candidate, already the last of [`IceDriver::local_candidates`]: the session logic signals it
    /// (in its offer or answer if not yet sent, else in its own transport-info, RFC 8838 §10).
    LocalCandidate(Candidate),
}

/// One ICE agent for one data stream, UDP, with one component (rtcp-mux) or, for a stack that has
/// them, two ([`IceDriver::set_components`]), as the session logic drives it: credentials and candidates from the Jingle transport (XEP-0176), then datagrams and timers.
///
/// Call order: create, [`add_local_candidate`](IceDriver::add_local_candidate) for each gathered
/// candidate, signal [`local_credentials`](IceDriver::local_credentials) and
/// [`local_candidates`](IceDriver::local_candidates); once the peer's transport is known
/// [`set_remote_credentials`](IceDriver::set_remote_credentials) and
/// [`add_remote_candidate`](IceDriver::add_remote_candidate), then [`start`](IceDriver::start).
/// After every input, drain [`poll_transmit`](IceDriver::poll_transmit) and
/// [`poll_event`](IceDriver::poll_event) and call [`handle_timeout`](IceDriver::handle_timeout)
/// once [`poll_timeout`](IceDriver::poll_timeout) is due.
pub trait IceDriver: Send {
    /// Local ufrag and pwd for the transport element (RFC 8445 §5.3: at least 4 and 22 characters).
    fn local_credentials(&self) -> (&str, &str);
    /// Local candidates as the stack holds them (its own priorities and foundations, RFC 8445
    /// §5.1.2), for signalling.
    fn local_candidates(&self) -> &[Candidate];
    /// Adds a gathered local candidate: host, server-reflexive (base = the host socket) or relayed
    /// (base = the relayed address, sent through TURN by the caller).
    fn add_local_candidate(&mut self, c: Candidate);
    /// Remote candidates, signalled and peer-reflexive (learned from checks, RFC 8445 §7.3.1.3), in
    /// the order learned; the caller asks TURN permissions for their IPs (RFC 8656 §9).
    fn remote_candidates(&self) -> &[Candidate];
    /// Sets the peer's ufrag and pwd (from session-initiate or session-accept).
    fn set_remote_credentials(&mut self, ufrag: &str, pwd: &str);
    /// Adds a signalled remote candidate (XEP-0176 `<candidate/>`).
    fn add_remote_candidate(&mut self, c: Candidate);
    /// Starts over with `candidates` as the only remote candidates, keeping credentials, role and
    /// local candidates; checks restart at once if they had started. What an agent without trickle
    /// does when it takes each transport-info as a whole new remote description (the
    /// `restart-on-each-trickled-candidate` knob, docs/field-failures.md §Firefox component 2 and
    /// per-candidate restarts); another stack does it with its own ICE-restart call.
    fn restart_with_remote_candidates(&mut self, now: SimTime, candidates: Vec<Candidate>);
    /// Whether this agent advertises renomination in its transport (Conversations' `<renomination/>`).
    fn offers_renomination(&self) -> bool;
    /// Records whether the peer's transport advertised renomination.
    fn set_peer_renomination(&mut self, on: bool);
    /// The peer's XEP-0320 fingerprint (SHA-256) and `setup`, from its session-initiate or
    /// session-accept, given before [`set_remote_credentials`](IceDriver::set_remote_credentials):
    /// a stack that does its own DTLS (a browser) needs them to verify the peer and take its role
    /// (RFC 5763 §5). Default: ignored (the session logic's own DTLS, or none, uses them).
    fn set_remote_dtls(&mut self, _fingerprint: Option<[u8; 32]>, _setup: Option<&str>) {}
    /// Starts connectivity checks at `now` (RFC 8445 §6.1.4); before this the driver may answer
    /// checks but sends none of its own.
    fn start(&mut self, now: SimTime);
    /// Stops everything: no more transmits or timeouts.
    fn close(&mut self);
    /// Handles a datagram that arrived on `local` from `remote` at `now`. Returns false when it is
    /// not STUN for this agent (the caller then treats it as media).
    fn handle_packet(&mut self, now: SimTime, local: SocketAddr, remote: SocketAddr, data: &[u8]) -> bool;
    /// Drives timers at `now`: checks, retransmissions, nomination, keepalives, failure.
    fn handle_timeout(&mut self, now: SimTime);
    /// The earliest time the driver needs [`handle_timeout`](IceDriver::handle_timeout); `None` when
    /// it waits for nothing. Never earlier than the last time it was given.
    fn poll_timeout(&self) -> Option<SimTime>;
    /// Next datagram to send (STUN bytes from a local base).
    fn poll_transmit(&mut self) -> Option<Transmit>;
    /// Next event.
    fn poll_event(&mut self) -> Option<DriverEvent>;
    /// The selected pair (local base, remote), once nominated (RFC 8445 §8.1.1).
    fn selected(&self) -> Option<(SocketAddr, SocketAddr)>;
    /// The pair media goes on now, as (local base, remote); nothing once closed or failed.
    fn media_pair(&self) -> Option<(SocketAddr, SocketAddr)>;
    /// Current state.
    fn state(&self) -> DriverState;
    /// The session logic sent media from `local` to `remote` at `now` (RTP on the media pair). An
    /// agent that keeps its selected pair alive counts it as traffic on that pair, so no keepalive
    /// is due while media flows (RFC 8445 §11). Default: ignored (a stack that sends its own
    /// keepalives regardless).
    fn media_sent(&mut self, _now: SimTime, _local: SocketAddr, _remote: SocketAddr) {}
    /// Restarts ICE (RFC 8445 §9): new local ufrag and pwd, every pair, check and remote candidate
    /// dropped, local candidates too (the caller adds those it has now), the role kept; then the
    /// caller sets the peer's new credentials and candidates and calls
    /// [`start`](IceDriver::start). Returns false, changing nothing, when the stack cannot restart
    /// this way (the default); its ICS then says `ice_restart: false`.
    fn ice_restart(&mut self, _now: SimTime) -> bool {
        false
    }
    /// The XEP-0176 `generation` of the local candidates: 0, plus one per ICE restart.
    fn generation(&self) -> u8 {
        0
    }
    /// Sets the components of the data stream: 1 when rtcp-mux was agreed, 2 when it was not
    /// (RFC 8445 §6.1.2.2, XEP-0167 §3). Default: ignored, for a stack with one component only
    /// (its ICS says so); it then never pairs component 2.
    fn set_components(&mut self, _n: u8) {}
    /// The TURN permission for `ip` on the relayed address `relayed` is installed (RFC 8656 §9).
    /// Default: ignored, for a stack that sends at once and lets the TURN client hold the data.
    fn relay_permitted(&mut self, _now: SimTime, _relayed: SocketAddr, _ip: IpAddr) {}
    /// The TURN permission for `ip` on `relayed` could not be installed. Default: ignored.
    fn relay_refused(&mut self, _relayed: SocketAddr, _ip: IpAddr) {}
    /// The selected pair of `component` (local base, remote). Default: [`IceDriver::selected`]
    /// for component 1, nothing for another.
    fn selected_for(&self, component: u8) -> Option<(SocketAddr, SocketAddr)> {
        if component == 1 {
            self.selected()
        } else {
            None
        }
    }
    /// True for a stack that owns its sockets (a real stack in live mode, [`StackFactory`]): it
    /// gathers, checks and sends media itself, so the session logic sends no datagram for it, no
    /// RTP included. Default: false (the session logic carries the driver's transmits and media).
    fn sends_media(&self) -> bool {
        false
    }
    /// For a stack that does its own DTLS (a browser): the SHA-256 fingerprint of its certificate
    /// and its `setup` role, which the session logic signals in place of its own (XEP-0320 §3:
    /// the fingerprint of the certificate the endpoint will use). Default: `None`, the session
    /// logic's own.
    fn local_dtls(&self) -> Option<([u8; 32], xmpp_parsers::jingle_dtls_srtp::Setup)> {
        None
    }
}

/// A STUN or TURN server from XEP-0215, as handed to a stack that gathers on its own sockets, in
/// the form of WebRTC's `RTCIceServer` (W3C webrtc-pc §4.2.2): `urls` is `stun:HOST:PORT` or
/// `turn:HOST:PORT?transport=udp` (RFC 7064, RFC 7065).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IceServer {
    /// `stun:…` or `turn:…?transport=udp`.
    pub urls: String,
    /// TURN long-term credential user name (RFC 8489 §9.2); `None` for STUN.
    pub username: Option<String>,
    /// TURN password; `None` for STUN.
    pub credential: Option<String>,
}

/// What a call's agent is made with, for a stack that owns its sockets.
#[derive(Clone, Copy, Debug)]
pub struct StackCall<'a> {
    /// XEP-0176 §2: the initiator controls.
    pub role: Role,
    /// The servers learned through XEP-0215.
    pub servers: &'a [IceServer],
    /// Gather relayed candidates only (WebRTC's `iceTransportPolicy: "relay"`, W3C webrtc-pc
    /// §4.2.1): the `relay-only` knob.
    pub relay_only: bool,
    /// When the agent is made.
    pub now: SimTime,
}

/// Makes the ICE driver of a call for a stack that owns its sockets. The driver gathers from then
/// on and reports each candidate as [`DriverEvent::LocalCandidate`].
pub type StackFactory = std::sync::Arc<dyn Fn(StackCall) -> Box<dyn IceDriver> + Send + Sync>;

/// Makes the ICE driver of a call: role (XEP-0176 §2: the initiator controls), the endpoint's ICE
/// settings (read by the reference agent only), a random stream forked for the agent, and the time
/// it is created (a stack whose timers count from its construction needs it).
pub type DriverFactory = fn(Role, &IceConfig, SimRng, SimTime) -> Box<dyn IceDriver>;

/// The reference agent as a driver: the default [`DriverFactory`]. Its timers count from
/// [`IceDriver::start`], so the creation time is not needed.
pub fn reference_driver(role: Role, cfg: &IceConfig, rng: SimRng, _now: SimTime) -> Box<dyn IceDriver> {
    Box::new(IceAgent::new(role, cfg.clone(), rng))
}

impl IceDriver for IceAgent {
    fn local_credentials(&self) -> (&str, &str) {
        IceAgent::local_credentials(self)
    }
    fn local_candidates(&self) -> &[Candidate] {
        IceAgent::local_candidates(self)
    }
    fn add_local_candidate(&mut self, c: Candidate) {
        IceAgent::add_local_candidate(self, c)
    }
    fn remote_candidates(&self) -> &[Candidate] {
        IceAgent::remote_candidates(self)
    }
    fn set_remote_credentials(&mut self, ufrag: &str, pwd: &str) {
        IceAgent::set_remote_credentials(self, ufrag, pwd)
    }
    fn add_remote_candidate(&mut self, c: Candidate) {
        IceAgent::add_remote_candidate(self, c)
    }
    fn restart_with_remote_candidates(&mut self, now: SimTime, candidates: Vec<Candidate>) {
        IceAgent::restart_with_remote_candidates(self, now, candidates)
    }
    fn offers_renomination(&self) -> bool {
        IceAgent::offers_renomination(self)
    }
    fn set_peer_renomination(&mut self, on: bool) {
        IceAgent::set_peer_renomination(self, on)
    }
    fn start(&mut self, now: SimTime) {
        IceAgent::start(self, now)
    }
    fn close(&mut self) {
        IceAgent::close(self)
    }
    fn handle_packet(&mut self, now: SimTime, local: SocketAddr, remote: SocketAddr, data: &[u8]) -> bool {
        IceAgent::handle_packet(self, now, local, remote, data)
    }
    fn handle_timeout(&mut self, now: SimTime) {
        IceAgent::handle_timeout(self, now)
    }
    fn poll_timeout(&self) -> Option<SimTime> {
        IceAgent::poll_timeout(self)
    }
    fn poll_transmit(&mut self) -> Option<Transmit> {
        IceAgent::poll_transmit(self)
    }
    fn poll_event(&mut self) -> Option<DriverEvent> {
        IceAgent::poll_event(self).map(|e| match e {
            IceEvent::State(s) => DriverEvent::State(s.into()),
            IceEvent::Selected {
                component,
                local,
                remote,
            } => DriverEvent::Selected {
                component,
                local,
                remote,
            },
            IceEvent::ConsentLost { local, remote } => DriverEvent::ConsentLost { local, remote },
        })
    }
    fn selected(&self) -> Option<(SocketAddr, SocketAddr)> {
        IceAgent::selected(self)
    }
    fn media_pair(&self) -> Option<(SocketAddr, SocketAddr)> {
        IceAgent::media_pair(self)
    }
    fn state(&self) -> DriverState {
        IceAgent::state(self).into()
    }
    fn media_sent(&mut self, now: SimTime, local: SocketAddr, remote: SocketAddr) {
        IceAgent::media_sent(self, now, local, remote)
    }
    fn ice_restart(&mut self, _now: SimTime) -> bool {
        IceAgent::restart(self);
        true
    }
    fn generation(&self) -> u8 {
        IceAgent::generation(self)
    }
    fn set_components(&mut self, n: u8) {
        IceAgent::set_components(self, n)
    }
    fn relay_permitted(&mut self, now: SimTime, relayed: SocketAddr, ip: IpAddr) {
        IceAgent::relay_permitted(self, now, relayed, ip)
    }
    fn relay_refused(&mut self, relayed: SocketAddr, ip: IpAddr) {
        IceAgent::relay_refused(self, relayed, ip)
    }
    fn selected_for(&self, component: u8) -> Option<(SocketAddr, SocketAddr)> {
        IceAgent::selected_for(self, component)
    }
}

/// A datagram one driver of a [`Loopback`] sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sent {
    /// When it was sent.
    pub at: SimTime,
    /// Index of the sending driver (0 or 1).
    pub from: usize,
    /// The datagram.
    pub transmit: Transmit,
}

impl Sent {
    /// The STUN message the datagram carries. Panics when it carries none: a [`Loopback`] carries
    /// only ICE checks and their responses.
    pub fn stun(&self) -> stun_codec::Message {
        stun_codec::Message::decode(&self.transmit.payload).expect("every datagram in a loopback is STUN")
    }

    /// True for a Binding request (a connectivity check).
    pub fn is_request(&self) -> bool {
        self.stun().class == stun_codec::Class::Request
    }

    /// True for a success response.
    pub fn is_success(&self) -> bool {
        self.stun().class == stun_codec::Class::Success
    }

    /// True for a check carrying USE-CANDIDATE (a nomination, RFC 8445 §7.2.2).
    pub fn has_use_candidate(&self) -> bool {
        self.stun().has(stun_codec::attr_type::USE_CANDIDATE)
    }
}

/// Two drivers wired back to back in memory, for driver tests: each one's host candidates and
/// credentials are given to the other, datagrams take a fixed one-way `delay` and are never lost,
/// and [`Loopback::run_until`] jumps to the next delivery or timeout. Driver 0 is meant to be the
/// controlling one.
pub struct Loopback {
    /// The two drivers.
    pub drivers: [Box<dyn IceDriver>; 2],
    /// One-way delay of every datagram.
    pub delay: Duration,
    /// Current time.
    pub now: SimTime,
    /// Every datagram sent, in order.
    pub sent: Vec<Sent>,
    /// Every event, with its time and driver index, in order.
    pub events: Vec<(SimTime, usize, DriverEvent)>,
    /// Datagrams in flight: (delivery time, destination driver, datagram), in send order.
    in_flight: Vec<(SimTime, usize, Transmit)>,
}

impl Loopback {
    /// Wires `a` and `b` together: exchanges their credentials and local candidates (the Jingle
    /// offer/answer, with no signalling delay) and starts both at `start`.
    pub fn new(mut a: Box<dyn IceDriver>, mut b: Box<dyn IceDriver>, delay: Duration, start: SimTime) -> Loopback {
        let (ua, pa) = {
            let (u, p) = a.local_credentials();
            (u.to_string(), p.to_string())
        };
        let (ub, pb) = {
            let (u, p) = b.local_credentials();
            (u.to_string(), p.to_string())
        };
        let ca = a.local_candidates().to_vec();
        let cb = b.local_candidates().to_vec();
        a.set_remote_credentials(&ub, &pb);
        b.set_remote_credentials(&ua, &pa);
        for c in cb {
            a.add_remote_candidate(remote_view(c));
        }
        for c in ca {
            b.add_remote_candidate(remote_view(c));
        }
        let mut l = Loopback {
            drivers: [a, b],
            delay,
            now: start,
            sent: Vec::new(),
            events: Vec::new(),
            in_flight: Vec::new(),
        };
        for i in 0..2 {
            l.drivers[i].start(start);
            l.drain(i);
        }
        l
    }

    /// Runs until nothing is due before `end` (inclusive). Panics when a driver asks to be woken at
    /// the same instant 10 000 times in a row (a runaway loop, not a hang of the test suite).
    pub fn run_until(&mut self, end: SimTime) {
        let mut same_instant = 0u32;
        loop {
            let next = self
                .in_flight
                .iter()
                .map(|(t, _, _)| *t)
                .chain(self.drivers.iter().filter_map(|d| d.poll_timeout()))
                .min();
            let Some(next) = next.filter(|t| *t <= end) else {
                self.now = end;
                return;
            };
            let next = next.max(self.now);
            same_instant = if next == self.now { same_instant + 1 } else { 0 };
            assert!(same_instant < 10_000, "a driver asks to be woken at {next} forever");
            self.now = next;
            let mut k = 0;
            while k < self.in_flight.len() {
                if self.in_flight[k].0 <= next {
                    let (_, to, t) = self.in_flight.remove(k);
                    self.drivers[to].handle_packet(next, t.remote, t.local, &t.payload);
                    self.drain(to);
                } else {
                    k += 1;
                }
            }
            for i in 0..2 {
                if self.drivers[i].poll_timeout().is_some_and(|t| t <= next) {
                    self.drivers[i].handle_timeout(next);
                    self.drain(i);
                }
            }
        }
    }

    fn drain(&mut self, i: usize) {
        while let Some(t) = self.drivers[i].poll_transmit() {
            self.sent.push(Sent {
                at: self.now,
                from: i,
                transmit: t.clone(),
            });
            // A datagram to an address neither driver owns is lost, as on a real network.
            let owner = (0..2).find(|&j| self.drivers[j].local_candidates().iter().any(|c| c.base == t.remote));
            if let Some(j) = owner {
                self.in_flight.push((self.now + self.delay, j, t));
            }
        }
        while let Some(e) = self.drivers[i].poll_event() {
            self.events.push((self.now, i, e));
        }
    }
}

/// A host candidate as the reference endpoint gathers it (RFC 8445 §5.1.2.1, local preference
/// 65535, component 1), for fixtures.
pub fn host_candidate(addr: SocketAddr) -> Candidate {
    Candidate {
        addr,
        base: addr,
        typ: CandidateType::Host,
        priority: priority(CandidateType::Host, 65535, 1),
        foundation: "1".into(),
        component: 1,
    }
}

/// Where [`Loopback::against_reference`] puts the driver under test and the reference agent.
pub const FOREIGN_ADDR: &str = "10.0.1.2:50000";
/// See [`FOREIGN_ADDR`].
pub const REFERENCE_ADDR: &str = "10.0.2.2:50000";

impl Loopback {
    /// The fixture of the foreign-driver tests: the driver `foreign` makes (for a role and a random
    /// stream) on [`FOREIGN_ADDR`] against the reference agent on [`REFERENCE_ADDR`], host candidates
    /// only, 10 ms one way; driver 0 is the controlling one, the foreign driver when
    /// `foreign_controls`. Runs until `ms` of simulated time.
    pub fn against_reference(
        foreign: &dyn Fn(Role, SimRng) -> Box<dyn IceDriver>,
        label: &str,
        foreign_controls: bool,
        seed: u64,
        ms: u64,
    ) -> Loopback {
        let make = |ours: bool, role| {
            let (mut d, at) = if ours {
                (foreign(role, SimRng::derive(seed, label)), FOREIGN_ADDR)
            } else {
                let rng = SimRng::derive(seed, "reference");
                (
                    reference_driver(role, &IceConfig::default(), rng, SimTime::ZERO),
                    REFERENCE_ADDR,
                )
            };
            d.add_local_candidate(host_candidate(at.parse().expect("a socket address")));
            d
        };
        let (a, b) = (
            make(foreign_controls, Role::Controlling),
            make(!foreign_controls, Role::Controlled),
        );
        let mut l = Loopback::new(a, b, Duration::from_millis(10), SimTime::ZERO);
        l.run_until(SimTime::from_millis(ms));
        l
    }
}

/// A local candidate as its peer learns it from signalling: the base is not signalled.
fn remote_view(mut c: Candidate) -> Candidate {
    c.base = c.addr;
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(addr: &str) -> Candidate {
        host_candidate(addr.parse().unwrap())
    }

    fn agent(role: Role, label: &str, addr: &str) -> Box<dyn IceDriver> {
        let mut d = reference_driver(role, &IceConfig::default(), SimRng::derive(1, label), SimTime::ZERO);
        d.add_local_candidate(host(addr));
        d
    }

    #[test]
    fn two_reference_agents_select_the_host_pair_through_the_seam() {
        let a = agent(Role::Controlling, "a", "10.0.1.2:5000");
        let b = agent(Role::Controlled, "b", "10.0.2.2:6000");
        let mut l = Loopback::new(a, b, Duration::from_millis(10), SimTime::ZERO);
        l.run_until(SimTime::from_millis(2000));
        let (pa, pb) = ("10.0.1.2:5000".parse().unwrap(), "10.0.2.2:6000".parse().unwrap());
        assert_eq!(l.drivers[0].selected(), Some((pa, pb)));
        assert_eq!(l.drivers[1].selected(), Some((pb, pa)));
        assert_eq!(l.drivers[1].media_pair(), Some((pb, pa)));
        assert_eq!(l.drivers[1].state(), DriverState::Completed);
        let selected: Vec<usize> = l
            .events
            .iter()
            .filter(|(_, _, e)| matches!(e, DriverEvent::Selected { .. }))
            .map(|(_, i, _)| *i)
            .collect();
        assert_eq!(selected.len(), 2, "{:?}", l.events);
        assert!(l.sent.len() >= 4, "checks and responses both ways: {:?}", l.sent);
    }
}
