//! The reference's RFC 8445 ICE agent, sans-IO: its configuration, state and session types and its
//! public surface here; the checklist and the checks it sends in `checks`, STUN it receives in
//! `incoming`, nomination and selection in `nomination`, keepalives and consent in `consent`.

mod checks;
mod consent;
mod incoming;
mod nomination;

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use endpoint_contract::SimRng;
use endpoint_contract::SimTime;
use stun_codec::{attr_type, method, Attribute, Class, ErrorCode, Message, MessageBuilder};

use super::candidate::{pair_priority, priority, Candidate, CandidateType};

/// RFC 8445 §8.1.2: an agent goes on generating triggered checks for this long after Completed,
/// then may cease.
const QUIET_AFTER_COMPLETED: Duration = Duration::from_secs(3);

/// RFC 7675 §5.1: consent expires when no valid response came for this long.
const CONSENT_EXPIRY: Duration = Duration::from_secs(30);
/// RFC 7675 §5.1: consent checks go every 5 s × U(0.8, 1.2), never less than 4 s apart (µs).
const CONSENT_INTERVAL_US: (u64, u64) = (4_000_000, 6_000_000);

/// Index of `component` (1 or 2) in per-component arrays.
fn slot(component: u8) -> usize {
    usize::from(component.clamp(1, 2) - 1)
}

/// Which side decides nomination, RFC 8445 §6.1.1. In Jingle the initiator is controlling (XEP-0176 §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Nominates.
    Controlling,
    /// Follows the nomination.
    Controlled,
}

/// Timers and limits; defaults are RFC 8445 / RFC 5389 values.
#[derive(Clone, Debug)]
pub struct IceConfig {
    /// Ta, the pacing interval between new checks (RFC 8445 §14.2: 50 ms).
    pub ta: Duration,
    /// Initial retransmission timeout of a check (RFC 8445 §14.3: at least 500 ms).
    pub rto: Duration,
    /// Rc, requests sent per transaction (RFC 5389 §7.2.1: 7).
    pub max_sends: u32,
    /// Rm, the final wait after the last request as a multiple of `rto` (RFC 5389 §7.2.1: 16).
    pub final_wait: u32,
    /// How long the controlling agent keeps checking after the first valid pair before it nominates the
    /// best valid pair (its "stopping point", RFC 8445 §8.1.1), unless the best pair succeeds first.
    pub nomination_delay: Duration,
    /// The PAC timer: no failure is declared before this much time since checks began (RFC 8863 §4:
    /// 39.5 s with the RFC 5389 defaults).
    pub pac: Duration,
    /// How a nomination is marked on the wire.
    pub nomination: Nomination,
    /// As the controlled agent, take a 0xC001 NOMINATION as a nomination even when renomination was
    /// not negotiated (libwebrtc's tolerance, p2p/base/connection.cc; JMP's Asterisk patch:
    /// docs/field-failures.md §Conversations 2.9.7 unnegotiated renomination).
    pub accept_c001_as_use_candidate: bool,
    /// A fixed time between the requests of a check and after the last one, instead of the doubling
    /// RTO and the final wait of RFC 5389 §7.2.1: sends at 0, I, …, (Rc − 1)·I, failure at Rc·I.
    /// `None` (conforming) uses `rto` and `final_wait`. Asterisk's pjnath as JMP found it: 7 × 1 s
    /// (docs/field-failures.md §Asterisk 2021 Failed pairs and early checks).
    pub check_interval: Option<Duration>,
    /// RFC 8445 §7.3.1.4: an incoming check on a Failed pair sets it Waiting and enqueues a triggered
    /// check (conforming, `true`). `false` models pjnath, which answers but never re-checks a Failed
    /// pair (pjnath ice_session.c `handle_incoming_check`; docs/field-failures.md §Asterisk 2021
    /// Failed pairs and early checks).
    pub retrigger_failed_pairs: bool,
    /// Which pair media goes on once nominated (RFC 8445 §8.1.1: the nominated one).
    pub pair_selection: PairSelection,
    /// Before a pair is nominated, send media on the best valid pair (RFC 8445 §12.1 allows it;
    /// libwebrtc sends once a pair is writable). `false` (the reference): media waits for the
    /// selected pair.
    pub media_before_nomination: bool,
    /// Pair remote peer-reflexive candidates learned from incoming checks (RFC 8445 §7.3.1.3).
    /// `false` models an agent under a relay-only policy that answers such checks but never
    /// checks or uses the new pair (Firefox; docs/field-failures.md §Relay-only policy and
    /// peer-reflexive candidates).
    pub pair_remote_prflx: bool,
    /// Tr: once a pair is selected, a keepalive (a STUN Binding indication with FINGERPRINT and
    /// nothing else) goes on it when nothing was sent on it for this long (RFC 8445 §11: 15 s by
    /// default and never less). Media the owner reports through [`IceAgent::media_sent`] counts.
    pub keepalive: Duration,
    /// Consent freshness (RFC 7675): once the owner sends media on a pair, a Binding request goes
    /// on it every 4–6 s (uniform, from the agent's random stream), each once, never
    /// retransmitted; without a valid response for 30 s, or on an authenticated 403, consent is
    /// lost: no media on that pair any more, and [`IceEvent::ConsentLost`] tells the owner, who
    /// restarts ICE or ends the session (conforming: `true`).
    pub consent_freshness: bool,
}

impl Default for IceConfig {
    fn default() -> Self {
        IceConfig {
            ta: Duration::from_millis(50),
            rto: Duration::from_millis(500),
            max_sends: 7,
            final_wait: 16,
            nomination_delay: Duration::from_millis(1000),
            pac: Duration::from_millis(39_500),
            nomination: Nomination::UseCandidate,
            accept_c001_as_use_candidate: false,
            check_interval: None,
            retrigger_failed_pairs: true,
            pair_selection: PairSelection::Nominated,
            media_before_nomination: false,
            pair_remote_prflx: true,
            keepalive: Duration::from_secs(15),
            consent_freshness: true,
        }
    }
}

/// How the controlling agent marks its nomination (RFC 8445 §8.1.1;
/// draft-thatcher-ice-renomination-01 §3–§4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Nomination {
    /// USE-CANDIDATE, RFC 8445 §7.2.2 (conforming).
    #[default]
    UseCandidate,
    /// libwebrtc's NOMINATION attribute 0xC001 instead of USE-CANDIDATE, to every peer, negotiated or
    /// not (Conversations ≤ 2.9.7 hard-coded `renomination` into the remote SDP:
    /// docs/field-failures.md §Conversations 2.9.7 unnegotiated renomination).
    C001Always,
    /// 0xC001 instead of USE-CANDIDATE only when the peer's transport carried Conversations'
    /// `<renomination/>` child (Conversations since 2023-10), else USE-CANDIDATE.
    C001Negotiated,
    /// Aggressive nomination (RFC 5245 §8.1.1.2, gone from RFC 8445): USE-CANDIDATE on every check
    /// the controlling agent sends, so the first pair that succeeds is selected. libnice's default
    /// (`NICE_NOMINATION_MODE_AGGRESSIVE`, agent/conncheck.c), as Dino and Gajim use it.
    Aggressive,
    /// renomination2 (draft-thatcher-tsvwg-renomination-00): when the peer's transport
    /// carried `<renomination/>`, every check with USE-CANDIDATE also carries NOMINATION 0x0030
    /// (32-bit, comprehension-required) with a strictly increasing value, and a better pair that
    /// becomes valid later is nominated again. The agent advertises `<renomination/>` itself (Jingle
    /// has no other carrier), so a peer may also be a legacy one: on a 420 listing 0x0030 it
    /// nominates with 0xC001 instead, as libwebrtc does. Without the peer's `<renomination/>`:
    /// USE-CANDIDATE alone, regular nomination.
    Renomination2,
    /// 0x0030 on every nominating check, advertised or not, and no fallback on 420: pion/ice's
    /// default from August 2025 to March 2026 (pion/ice renomination.go, commits 4b50bc8 and
    /// 8e16375). A peer without renomination2 answers 420 Unknown Attribute, so no nomination ever
    /// succeeds.
    Renomination2Always,
}

/// Which pair an agent sends media on once a pair is nominated (docs/field-failures.md §Asterisk
/// 2021 media on a valid pair).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PairSelection {
    /// The nominated (selected) pair, RFC 8445 §8.1.1 (conforming).
    #[default]
    Nominated,
    /// The highest-priority valid pair, re-evaluated as more pairs succeed, nominated or not; checks
    /// of higher priority than the nominated pair go on after nomination (RFC 5245 §8.1.2, as
    /// pjnath does). Asterisk before JMP's fix read `valid_check`, not `nominated_check`
    /// (JMP's "Adventures in WebRTC: Making Phone Calls from XMPP").
    BestValid,
}

/// ICE state as RFC 8445 §6.1.3 and the W3C names describe it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IceState {
    /// Not started.
    New,
    /// Checks under way.
    Checking,
    /// A pair is selected for every component.
    Completed,
    /// Consent to send on the pair in use expired or was revoked (RFC 7675 §5): media stopped;
    /// the owner restarts ICE or ends the session.
    Disconnected,
    /// Every pair failed and the PAC timer has fired.
    Failed,
    /// Closed by the application.
    Closed,
}

impl IceState {
    /// Lower-case name for claims.
    pub fn as_str(self) -> &'static str {
        match self {
            IceState::New => "new",
            IceState::Checking => "checking",
            IceState::Completed => "completed",
            IceState::Disconnected => "disconnected",
            IceState::Failed => "failed",
            IceState::Closed => "closed",
        }
    }
}

/// What the agent tells its owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IceEvent {
    /// The state changed.
    State(IceState),
    /// A pair was selected for `component`: send media (component 1, RTP) from `local` to
    /// `remote`; component 2 (RTCP without rtcp-mux) needs only its keepalives.
    Selected {
        /// 1 = RTP, 2 = RTCP (XEP-0167 §3).
        component: u8,
        /// Local base.
        local: SocketAddr,
        /// Remote candidate.
        remote: SocketAddr,
    },
    /// Consent to send from `local` to `remote` is gone (RFC 7675 §5.1: 30 s without a valid
    /// response; §5.2: an authenticated 403): nothing more may be sent there with these
    /// credentials. The owner restarts ICE (RFC 8445 §9) or ends the session.
    ConsentLost {
        /// Local base.
        local: SocketAddr,
        /// Remote candidate.
        remote: SocketAddr,
    },
}

/// A datagram to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Source (a local base).
    pub local: SocketAddr,
    /// Destination.
    pub remote: SocketAddr,
    /// STUN bytes.
    pub payload: Vec<u8>,
}

/// How one nominating check is marked on the wire (libwebrtc p2p/base/p2p_transport_channel.cc;
/// draft-thatcher-tsvwg-renomination-00).
enum Marking {
    /// USE-CANDIDATE alone (RFC 8445 §7.2.2).
    UseCandidate,
    /// libwebrtc's NOMINATION 0xC001 instead of USE-CANDIDATE.
    C001,
    /// USE-CANDIDATE and renomination2's NOMINATION 0x0030.
    With0030,
}

/// Candidate pair state, RFC 8445 §6.1.2.6.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PairState {
    Frozen,
    Waiting,
    InProgress,
    Succeeded,
    Failed,
}

#[derive(Clone, Debug)]
struct Pair {
    local: usize,
    remote: usize,
    priority: u64,
    state: PairState,
    foundation: String,
    /// The controlled side saw USE-CANDIDATE on this pair before it succeeded (RFC 8445 §7.3.1.5).
    nominate_on_success: bool,
    /// The last valid success response on this pair (a check's or a consent check's): consent
    /// runs for 30 s from it (RFC 7675 §5).
    consent_at: Option<SimTime>,
    /// Consent expired or was revoked: no media here any more (RFC 7675 §5.1).
    consent_lost: bool,
}

#[derive(Clone, Debug)]
struct Transaction {
    txid: [u8; 12],
    pair: usize,
    request: Vec<u8>,
    sends: u32,
    next: SimTime,
    use_candidate: bool,
    /// Cancelled by a triggered check (§7.3.1.4): no more retransmits, silence is not failure, a late
    /// response still counts.
    cancelled: bool,
}

/// The agent. One data stream, UDP, with one component (rtcp-mux) or two (RTP and RTCP, RFC 8445
/// §6.1.2.2: as many as both sides use, set by [`IceAgent::set_components`]).
pub struct IceAgent {
    cfg: IceConfig,
    role: Role,
    tiebreaker: u64,
    rng: SimRng,
    local_ufrag: String,
    local_pwd: String,
    remote_ufrag: Option<String>,
    remote_pwd: Option<String>,
    local: Vec<Candidate>,
    /// What belongs to the current ICE session: replaced whole by a restart (RFC 8445 §9).
    session: Session,
    /// The peer's transport advertised renomination (`<renomination/>`).
    peer_renomination: bool,
    /// When the last new check (not a retransmission) went out: every new check, triggered and
    /// nominating ones included, waits Ta after it (RFC 8445 §14.2).
    last_check_at: Option<SimTime>,
    /// Last NOMINATION value sent (libwebrtc's counter starts at 1).
    nomination_counter: u32,
    /// The peer answered a NOMINATION 0x0030 with 420: it speaks legacy renomination only.
    peer_lacks_0x0030: bool,
    /// Components in use: 1 with rtcp-mux, 2 without (RFC 8445 §6.1.2.2). Candidates of a higher
    /// component are kept (they were signalled) but never paired.
    components: u8,
    /// ICE restarts so far: the XEP-0176 `generation` of the local candidates (RFC 8445 §9).
    generation: u8,
    /// (relayed address, peer IP) whose TURN permission is installed: checks from a relayed
    /// candidate go only where its allocation relays (RFC 8445 §7.2.1, RFC 8656 §9).
    relay_permits: Vec<(SocketAddr, IpAddr)>,
    state: IceState,
    transmits: VecDeque<Transmit>,
    events: VecDeque<IceEvent>,
    prflx_count: u32,
}

/// What belongs to one ICE session (RFC 8445 §9: a restart begins a new one): the remote candidates,
/// the checklist with its triggered-check queue and transactions, nominations, the selected pairs,
/// consent and the timers. [`IceAgent`] replaces it whole, so a new field cannot be left over from the
/// session before.
#[derive(Default)]
struct Session {
    /// The peer's candidates, signalled or learned (peer-reflexive).
    remote: Vec<Candidate>,
    /// The checklist (RFC 8445 §6.1.2), in priority order.
    pairs: Vec<Pair>,
    /// The triggered-check queue (RFC 8445 §7.3.1.4), first out first.
    triggered: VecDeque<Triggered>,
    /// Checks sent and awaiting a response or their retransmission.
    transactions: Vec<Transaction>,
    /// When checks began: the PAC bound counts from here (RFC 8863 §4).
    started_at: Option<SimTime>,
    /// When the next ordinary or triggered check may go (Ta pacing, RFC 8445 §14.2).
    next_check: Option<SimTime>,
    /// When the first pair became valid.
    first_valid_at: Option<SimTime>,
    /// The PAC bound has passed without failing the agent (a check was still pending or a pair was
    /// valid); later events re-evaluate failure, so the bound is no longer a wake-up time.
    pac_passed: bool,
    /// The pair whose nominating check is under way: one nomination at a time, components in
    /// order.
    nominating: Option<usize>,
    /// As the controlled agent under renomination: the highest NOMINATION value accepted (a value at
    /// or below it changes nothing, draft-thatcher-ice-renomination-01 §3).
    highest_nomination: Option<u32>,
    /// The selected pair per component, indexed by component − 1 (RFC 8445 §8.1.1).
    selected: [Option<usize>; 2],
    /// When every component had a selected pair (the agent Completed).
    completed_at: Option<SimTime>,
    /// Per component: when anything (a check, a response, media, a keepalive) last went out on
    /// its selected pair: the keepalive clock (RFC 8445 §11).
    selected_sent_at: [Option<SimTime>; 2],
    /// The pair whose consent is kept fresh (the one the owner sends media on) and when its next
    /// consent check is due.
    consent: Option<(usize, SimTime)>,
    /// Consent checks awaiting a response: (transaction id, pair, sent at). Never retransmitted.
    consent_pending: Vec<([u8; 12], usize, SimTime)>,
    /// Started over by [`IceAgent::restart_with_remote_candidates`] with no candidate of a
    /// component in use: the agent answers checks and does nothing else (no checks, no learning,
    /// no nomination) until the next start-over.
    dormant: bool,
}

/// A check waiting in the triggered-check queue (RFC 8445 §7.3.1.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Triggered {
    /// The pair to check.
    pair: usize,
    /// The check nominates (USE-CANDIDATE, or NOMINATION under renomination).
    nominate: bool,
}

impl IceAgent {
    /// A new agent in `role`. Credentials are drawn from `rng`: ufrag 8 and pwd 24 ICE characters
    /// (RFC 8445 §5.3: at least 4 and 22).
    pub fn new(role: Role, cfg: IceConfig, mut rng: SimRng) -> IceAgent {
        let local_ufrag = rng.ice_chars(8);
        let local_pwd = rng.ice_chars(24);
        let tiebreaker = rng.next_u64();
        IceAgent {
            cfg,
            role,
            tiebreaker,
            rng,
            session: Session::default(),
            local_ufrag,
            local_pwd,
            remote_ufrag: None,
            remote_pwd: None,
            local: Vec::new(),
            peer_renomination: false,
            last_check_at: None,
            nomination_counter: 0,
            peer_lacks_0x0030: false,
            components: 1,
            generation: 0,
            relay_permits: Vec::new(),
            state: IceState::New,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            prflx_count: 0,
        }
    }

    /// Local ufrag and pwd, for the transport element.
    pub fn local_credentials(&self) -> (&str, &str) {
        (&self.local_ufrag, &self.local_pwd)
    }

    /// Current role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Current state.
    pub fn state(&self) -> IceState {
        self.state
    }

    /// Local candidates (as gathered, srflx included), for signalling.
    pub fn local_candidates(&self) -> &[Candidate] {
        &self.local
    }

    /// Adds a gathered local candidate. A server-reflexive candidate is never paired itself: pairs use
    /// its base (RFC 8445 §6.1.2.4).
    pub fn add_local_candidate(&mut self, c: Candidate) {
        if self.local.iter().any(|l| l.addr == c.addr && l.base == c.base) {
            return; // redundant, §5.1.3
        }
        self.local.push(c);
        let li = self.local.len() - 1;
        if self.local[li].typ == CandidateType::Host || self.local[li].typ == CandidateType::Relayed {
            for ri in 0..self.session.remote.len() {
                self.add_pair(li, ri);
            }
        }
    }

    /// Records whether the peer's transport advertised renomination (Conversations' `<renomination/>`).
    pub fn set_peer_renomination(&mut self, on: bool) {
        self.peer_renomination = on;
    }

    /// Whether this agent advertises renomination in its own transport (`<renomination/>`, for
    /// either flavour: Jingle has no other carrier, docs/field-failures.md §Renomination2 and
    /// NOMINATION 0x0030).
    pub fn offers_renomination(&self) -> bool {
        matches!(
            self.cfg.nomination,
            Nomination::C001Negotiated | Nomination::Renomination2
        )
    }

    /// Remote candidates, signalled and peer-reflexive, in the order learned.
    pub fn remote_candidates(&self) -> &[Candidate] {
        &self.session.remote
    }

    /// Sets the peer's ufrag and pwd (from session-initiate / session-accept).
    pub fn set_remote_credentials(&mut self, ufrag: &str, pwd: &str) {
        self.remote_ufrag = Some(ufrag.to_string());
        self.remote_pwd = Some(pwd.to_string());
        if let Some(s) = self.session.started_at {
            self.session.next_check.get_or_insert(s);
        }
    }

    /// Adds a signalled remote candidate and pairs it with every local base.
    pub fn add_remote_candidate(&mut self, c: Candidate) {
        if let Some(i) = self
            .session
            .remote
            .iter()
            .position(|r| r.addr == c.addr && r.component == c.component)
        {
            // Already learned as prflx from a check: keep the pair, take the signalled priority (RFC 8838 §11).
            if self.session.remote[i].typ == CandidateType::PeerReflexive {
                self.session.remote[i].priority = c.priority;
            }
            return;
        }
        self.session.remote.push(c);
        let ri = self.session.remote.len() - 1;
        for li in 0..self.local.len() {
            if matches!(self.local[li].typ, CandidateType::Host | CandidateType::Relayed) {
                self.add_pair(li, ri);
            }
        }
    }

    /// Starts connectivity checks at `now` (both sides' credentials are known once the offer/answer is
    /// done). Starts the PAC timer.
    pub fn start(&mut self, now: SimTime) {
        if self.session.started_at.is_some() || self.session.dormant {
            return;
        }
        self.session.started_at = Some(now);
        self.set_state(IceState::Checking);
        self.unfreeze_initial();
        self.session.next_check = Some(now);
    }

    /// Starts over with `candidates` as the only remote candidates, keeping credentials, role,
    /// tiebreaker and local candidates; checks restart at once if they had started. What an agent
    /// without trickle does with each transport-info when it treats it as a whole new remote
    /// description (Asterisk chan_motif calls `ice->start()` per transport it reads,
    /// docs/field-failures.md §Firefox component 2 and per-candidate restarts).
    ///
    /// When none of `candidates` is of a component in use (Firefox's component-2 candidates,
    /// trickled after each component-1 one, to an agent with rtcp-mux), the new session has no
    /// checklist to run: the agent goes dormant — it answers checks and does nothing else — until
    /// the next start-over. JMP found Asterisk so: the session rebuilt from component-2
    /// candidates alone is "not in a nominating mood, so it just doesn't do anything"
    /// (JMP's "Adventures in WebRTC: Making Phone Calls from XMPP"; docs/field-failures.md §Firefox
    /// component 2 and per-candidate restarts, cause 2).
    pub fn restart_with_remote_candidates(&mut self, now: SimTime, candidates: Vec<Candidate>) {
        let started = self.session.started_at.is_some() || self.session.dormant;
        self.begin_session();
        self.session.dormant = !candidates.iter().any(|c| c.component <= self.components);
        for c in candidates {
            self.add_remote_candidate(c);
        }
        if started {
            self.start(now);
        }
    }

    /// Restarts ICE (RFC 8445 §9): new local ufrag and pwd from the agent's random stream, and all
    /// state but the role and tiebreaker flushed — remote credentials and candidates, local
    /// candidates (the owner adds the ones it has now, re-gathered or not), pairs, checks, the
    /// selected pair and consent. The owner signals the new credentials, sets the peer's new ones
    /// and calls [`IceAgent::start`] again, which restarts the PAC timer. The local candidates'
    /// generation goes up by one (XEP-0176 §5).
    pub fn restart(&mut self) {
        self.local_ufrag = self.rng.ice_chars(8);
        self.local_pwd = self.rng.ice_chars(24);
        self.remote_ufrag = None;
        self.remote_pwd = None;
        self.local.clear();
        self.peer_lacks_0x0030 = false;
        self.generation = self.generation.wrapping_add(1);
        self.begin_session();
    }

    /// Forgets the remote candidates and everything checking built on them — pairs, queued and
    /// in-flight checks, the PAC and nomination state, the selected pair, consent — and goes back to
    /// `New`; credentials, local candidates, role and tiebreaker stay.
    /// Begins a new ICE session: everything of the last one goes in one assignment.
    fn begin_session(&mut self) {
        self.session = Session::default();
        self.set_state(IceState::New);
    }

    /// ICE restarts so far: the XEP-0176 `generation` the local candidates carry.
    pub fn generation(&self) -> u8 {
        self.generation
    }

    /// Stops everything; no more transmits.
    pub fn close(&mut self) {
        self.session.transactions.clear();
        self.session.triggered.clear();
        self.session.next_check = None;
        self.set_state(IceState::Closed);
    }

    /// The selected pair of component 1 (local base, remote), once nominated.
    pub fn selected(&self) -> Option<(SocketAddr, SocketAddr)> {
        self.selected_for(1)
    }

    /// The selected pair of `component` (1 = RTP, 2 = RTCP), once nominated.
    pub fn selected_for(&self, component: u8) -> Option<(SocketAddr, SocketAddr)> {
        self.session.selected[slot(component)].map(|p| self.pair_addrs(p))
    }

    /// Components in use (1 or 2).
    pub fn components(&self) -> u8 {
        self.components
    }

    /// Sets how many components the data stream has: 1 when rtcp-mux was agreed, 2 when it was
    /// not (RFC 8445 §6.1.2.2: the lower of both sides' counts; XEP-0167 §3). More components pair
    /// the candidates already known; fewer leave the higher component's candidates unpaired and
    /// its pairs Failed, with their checks dropped. Values outside 1..=2 are clamped.
    pub fn set_components(&mut self, n: u8) {
        let n = n.clamp(1, 2);
        if n == self.components {
            return;
        }
        self.components = n;
        if n == 2 {
            for li in 0..self.local.len() {
                if matches!(self.local[li].typ, CandidateType::Host | CandidateType::Relayed) {
                    for ri in 0..self.session.remote.len() {
                        self.add_pair(li, ri);
                    }
                }
            }
            return;
        }
        let dropped: Vec<bool> = (0..self.session.pairs.len())
            .map(|p| self.component_of(p) > n)
            .collect();
        for (p, q) in self.session.pairs.iter_mut().enumerate() {
            if dropped[p] {
                q.state = PairState::Failed;
            }
        }
        self.session.transactions.retain(|t| !dropped[t.pair]);
        self.session.triggered.retain(|t| !dropped[t.pair]);
        if self.session.nominating.is_some_and(|q| dropped[q]) {
            self.session.nominating = None;
        }
        self.session.selected[1] = None;
        self.session.selected_sent_at[1] = None;
    }

    /// The TURN permission for `ip` on the allocation whose relayed address is `relayed` is
    /// installed (RFC 8656 §9): pairs from that relayed candidate to that IP may be checked now,
    /// paced like any other (RFC 8445 §7.2.1: permissions before checks). Until then they wait,
    /// so a check never sits in the TURN client while newer ones leave.
    pub fn relay_permitted(&mut self, now: SimTime, relayed: SocketAddr, ip: IpAddr) {
        if self.relay_permits.contains(&(relayed, ip)) {
            return;
        }
        self.relay_permits.push((relayed, ip));
        if self.session.started_at.is_some() && self.session.next_check.is_none() && self.has_check_work() {
            self.session.next_check = Some(self.last_check_at.map_or(now, |t| (t + self.cfg.ta).max(now)));
        }
    }

    /// The TURN permission for `ip` on the allocation whose relayed address is `relayed` could not
    /// be installed: pairs from that relayed candidate to that IP fail (nothing can be relayed
    /// there).
    pub fn relay_refused(&mut self, relayed: SocketAddr, ip: IpAddr) {
        self.relay_permits.retain(|x| *x != (relayed, ip));
        let refused: Vec<bool> = (0..self.session.pairs.len())
            .map(|p| {
                let (local, remote) = self.pair_addrs(p);
                self.local[self.session.pairs[p].local].typ == CandidateType::Relayed
                    && local == relayed
                    && remote.ip() == ip
            })
            .collect();
        for (p, q) in self.session.pairs.iter_mut().enumerate() {
            if refused[p] && matches!(q.state, PairState::Waiting | PairState::Frozen) {
                q.state = PairState::Failed;
            }
        }
        self.session.triggered.retain(|t| !refused[t.pair]);
    }

    /// Whether a new check may go on pair `p` now: always, except from a relayed candidate to an
    /// IP its allocation has no permission for yet.
    fn sendable(&self, p: usize) -> bool {
        let l = &self.local[self.session.pairs[p].local];
        l.typ != CandidateType::Relayed
            || self
                .relay_permits
                .contains(&(l.base, self.session.remote[self.session.pairs[p].remote].addr.ip()))
    }

    /// The component of pair `p` (its local candidate's).
    fn component_of(&self, p: usize) -> u8 {
        self.local[self.session.pairs[p].local].component
    }

    /// Every component in use has a selected pair (RFC 8445 §6.1.3: the checklist is Completed).
    fn complete(&self) -> bool {
        (1..=self.components).all(|c| self.session.selected[slot(c)].is_some())
    }

    /// The pair media goes on now, as (local base, remote), per `pair_selection` and
    /// `media_before_nomination`: with the conforming defaults, the selected pair once nominated and
    /// nothing before; nothing once the agent is closed or failed.
    pub fn media_pair(&self) -> Option<(SocketAddr, SocketAddr)> {
        self.media_pair_index().map(|p| self.pair_addrs(p))
    }

    /// See [`IceAgent::media_pair`]; never a pair whose consent was lost (RFC 7675 §5.1).
    fn media_pair_index(&self) -> Option<usize> {
        let best_valid = || {
            self.ordered()
                .into_iter()
                .find(|&i| self.session.pairs[i].state == PairState::Succeeded && self.component_of(i) == 1)
        };
        let p = match self.session.selected[0] {
            _ if matches!(self.state, IceState::Closed | IceState::Failed) => None,
            Some(p) if self.cfg.pair_selection == PairSelection::Nominated => Some(p),
            Some(_) => best_valid(),
            None if self.cfg.media_before_nomination => best_valid(),
            None => None,
        };
        p.filter(|&p| !self.session.pairs[p].consent_lost)
    }

    /// Next transmit.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// Next event.
    pub fn poll_event(&mut self) -> Option<IceEvent> {
        self.events.pop_front()
    }

    /// The earliest time the agent needs `handle_timeout`.
    pub fn poll_timeout(&self) -> Option<SimTime> {
        if matches!(self.state, IceState::Closed | IceState::Failed) {
            return None;
        }
        let mut t = self.session.next_check.filter(|_| self.has_check_work());
        for tx in &self.session.transactions {
            t = Some(t.map_or(tx.next, |x| x.min(tx.next)));
        }
        // The stopping point matters only while a pair is valid: after a failed nomination emptied
        // the valid list, a past stopping point would wake the agent for nothing, forever.
        // Only a component still without a selected pair has a stopping point.
        // Asked last: it walks every pair, and once the agent completed the other terms rule it out.
        let any_valid = || {
            (0..self.session.pairs.len()).any(|p| {
                self.session.pairs[p].state == PairState::Succeeded
                    && self.session.selected[slot(self.component_of(p))].is_none()
            })
        };
        if self.role == Role::Controlling && self.session.nominating.is_none() && !self.complete() && any_valid() {
            if let Some(f) = self.session.first_valid_at {
                let at = f + self.cfg.nomination_delay;
                t = Some(t.map_or(at, |x| x.min(at)));
            }
        }
        if let (Some(s), false, false) = (self.session.started_at, self.complete(), self.session.pac_passed) {
            let at = s + self.cfg.pac;
            t = Some(t.map_or(at, |x| x.min(at)));
        }
        if let Some(at) = self.keepalive_due() {
            t = Some(t.map_or(at, |x| x.min(at)));
        }
        if let Some((next, expiry)) = self.consent_due() {
            t = Some(t.map_or(next.min(expiry), |x| x.min(next).min(expiry)));
        }
        t
    }

    fn has_check_work(&self) -> bool {
        self.remote_pwd.is_some()
            && (self.session.triggered.iter().any(|t| self.sendable(t.pair))
                || (0..self.session.pairs.len()).any(|p| {
                    matches!(self.session.pairs[p].state, PairState::Waiting | PairState::Frozen) && self.sendable(p)
                }))
    }

    fn set_state(&mut self, s: IceState) {
        if self.state != s {
            self.state = s;
            self.events.push_back(IceEvent::State(s));
        }
    }

    fn pair_addrs(&self, p: usize) -> (SocketAddr, SocketAddr) {
        let pair = &self.session.pairs[p];
        (self.local[pair.local].base, self.session.remote[pair.remote].addr)
    }
}
