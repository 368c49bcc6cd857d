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

    /// Whether renomination is in force: the controlling agent may nominate a better pair later and
    /// the controlled agent follows the highest NOMINATION value (draft-thatcher-ice-renomination-01
    /// §3–§4; draft-thatcher-tsvwg-renomination-00; libwebrtc p2p/base/p2p_transport_channel.cc
    /// `PingConnection`). Negotiated through `<renomination/>` both ways, except for
    /// `Renomination2Always`, which assumes it.
    fn renomination_in_force(&self) -> bool {
        match self.cfg.nomination {
            Nomination::C001Negotiated | Nomination::Renomination2 => self.peer_renomination,
            Nomination::Renomination2Always => true,
            _ => false,
        }
    }

    /// Whether this agent implements renomination2's NOMINATION 0x0030; without it the attribute is
    /// an unknown comprehension-required one (RFC 8489 §7.3.1: 420).
    fn comprehends_0x0030(&self) -> bool {
        matches!(
            self.cfg.nomination,
            Nomination::Renomination2 | Nomination::Renomination2Always
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

    /// While consent is kept on a pair: when its next consent check goes (paced like every new
    /// check, RFC 8445 §14.2) and when consent expires without a fresh response (RFC 7675 §5.1).
    fn consent_due(&self) -> Option<(SimTime, SimTime)> {
        let (p, next) = self.session.consent?;
        if self.session.pairs[p].consent_lost || matches!(self.state, IceState::Closed | IceState::Failed) {
            return None;
        }
        let paced = self.last_check_at.map_or(next, |t| next.max(t + self.cfg.ta));
        let expiry = self.session.pairs[p].consent_at? + CONSENT_EXPIRY;
        Some((paced, expiry))
    }

    /// RFC 7675 §5.1: a consent check on the pair in use when due (a Binding request with the
    /// session's short-term credentials and a new transaction id, sent once), and consent lost
    /// when no valid response came for 30 s.
    fn consent_tick(&mut self, now: SimTime) {
        let Some((next, expiry)) = self.consent_due() else {
            return;
        };
        let Some((p, _)) = self.session.consent else { return };
        if now >= expiry {
            return self.lose_consent(p);
        }
        if now < next {
            return;
        }
        let Some((txid, request)) = self.check_request(p, false) else {
            return;
        };
        self.last_check_at = Some(now);
        let (local, remote) = self.pair_addrs(p);
        self.transmits.push_back(Transmit {
            local,
            remote,
            payload: request,
        });
        // A response later than the expiry no longer counts, so older entries can go.
        self.session
            .consent_pending
            .retain(|(_, _, at)| now < *at + CONSENT_EXPIRY);
        self.session.consent_pending.push((txid, p, now));
        let wait = self.rng.range(CONSENT_INTERVAL_US.0, CONSENT_INTERVAL_US.1);
        self.session.consent = Some((p, now + Duration::from_micros(wait)));
    }

    /// Consent on pair `p` is gone: its outstanding consent transactions are discarded (RFC 7675
    /// §5.1), no media goes there, and the owner hears of it.
    fn lose_consent(&mut self, p: usize) {
        if self.session.pairs[p].consent_lost {
            return;
        }
        self.session.pairs[p].consent_lost = true;
        self.session.consent_pending.retain(|(_, q, _)| *q != p);
        let (local, remote) = self.pair_addrs(p);
        self.events.push_back(IceEvent::ConsentLost { local, remote });
        if self.session.selected[0] == Some(p) || self.session.consent.is_some_and(|(q, _)| q == p) {
            self.set_state(IceState::Disconnected);
        }
    }

    /// When the next keepalive is due on a selected pair: Tr after the last packet sent on it
    /// (RFC 8445 §11), the earliest over the components. Nothing is due before every component
    /// has its selected pair or once the agent stopped.
    fn keepalive_due(&self) -> Option<SimTime> {
        (1..=self.components).filter_map(|c| self.keepalive_due_for(c)).min()
    }

    /// [`IceAgent::keepalive_due`] for one component.
    fn keepalive_due_for(&self, component: u8) -> Option<SimTime> {
        if self.state != IceState::Completed {
            return None;
        }
        self.session.selected_sent_at[slot(component)].map(|t| t + self.cfg.keepalive)
    }

    /// The owner sent media from `local` to `remote` at `now`: on the selected pair it resets the
    /// keepalive clock, since any packet keeps the NAT bindings open (RFC 8445 §11).
    ///
    /// Consent freshness starts on the pair the first time media goes there, and follows the
    /// media to another pair (RFC 7675 §5.1: consent is kept on the pair data is sent on).
    pub fn media_sent(&mut self, now: SimTime, local: SocketAddr, remote: SocketAddr) {
        if self.session.selected[0].is_some_and(|p| self.pair_addrs(p) == (local, remote)) {
            self.session.selected_sent_at[0] = Some(now);
        }
        if !self.cfg.consent_freshness
            || self
                .session
                .consent
                .is_some_and(|(p, _)| self.pair_addrs(p) == (local, remote))
        {
            return;
        }
        if let Some(p) = self
            .media_pair_index()
            .filter(|&p| self.pair_addrs(p) == (local, remote))
        {
            let wait = self.rng.range(CONSENT_INTERVAL_US.0, CONSENT_INTERVAL_US.1);
            self.session.consent = Some((p, now + Duration::from_micros(wait)));
        }
    }

    /// Whatever was queued for a selected pair by this input counts as sent on it now.
    fn note_sent(&mut self, now: SimTime) {
        for k in 0..self.session.selected.len() {
            let Some(p) = self.session.selected[k] else { continue };
            let addrs = self.pair_addrs(p);
            if self.transmits.iter().any(|t| (t.local, t.remote) == addrs) {
                self.session.selected_sent_at[k] = Some(now);
            }
        }
    }

    /// RFC 8445 §11: a Binding indication, FINGERPRINT only (no authentication, no other
    /// attributes), on each selected pair when nothing went out on it for Tr.
    fn keepalive(&mut self, now: SimTime) {
        for c in 1..=self.components {
            let (Some(p), Some(due)) = (self.session.selected[slot(c)], self.keepalive_due_for(c)) else {
                continue;
            };
            if now < due {
                continue;
            }
            let mut txid = [0u8; 12];
            self.rng.fill(&mut txid);
            let payload = MessageBuilder::new(method::BINDING, Class::Indication, txid).build(None, true);
            let (local, remote) = self.pair_addrs(p);
            self.transmits.push_back(Transmit { local, remote, payload });
            self.session.selected_sent_at[slot(c)] = Some(now);
        }
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

    fn compute_priority(&self, li: usize, ri: usize) -> u64 {
        let (l, r) = (self.local[li].priority, self.session.remote[ri].priority);
        match self.role {
            Role::Controlling => pair_priority(l, r),
            Role::Controlled => pair_priority(r, l),
        }
    }

    fn add_pair(&mut self, li: usize, ri: usize) -> Option<usize> {
        let (l, r) = (&self.local[li], &self.session.remote[ri]);
        if l.component != r.component || l.component > self.components || l.base.is_ipv4() != r.addr.is_ipv4() {
            return None;
        }
        let base = l.base;
        if let Some(i) = self
            .session
            .pairs
            .iter()
            .position(|p| self.local[p.local].base == base && p.remote == ri)
        {
            return Some(i); // pruned: same base and remote (§6.1.2.4)
        }
        let foundation = format!("{}:{}", l.foundation, r.foundation);
        let prio = self.compute_priority(li, ri);
        // A new pair is Waiting if checks are running and nothing of its foundation is under way;
        // otherwise Frozen (RFC 8838 §12 for pairs added while checking).
        let state = if self.session.started_at.is_some()
            && !self
                .session
                .pairs
                .iter()
                .any(|p| p.foundation == foundation && p.state != PairState::Failed)
        {
            PairState::Waiting
        } else {
            PairState::Frozen
        };
        self.session.pairs.push(Pair {
            local: li,
            remote: ri,
            priority: prio,
            state,
            foundation,
            nominate_on_success: false,
            consent_at: None,
            consent_lost: false,
        });
        if let Some(now) = self.session.started_at {
            if self.session.next_check.is_none() {
                self.session.next_check = Some(now);
            }
        }
        Some(self.session.pairs.len() - 1)
    }

    /// Pairs by descending priority; ties by creation order, so the order is deterministic.
    fn ordered(&self) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..self.session.pairs.len()).collect();
        idx.sort_by(|a, b| {
            self.session.pairs[*b]
                .priority
                .cmp(&self.session.pairs[*a].priority)
                .then(a.cmp(b))
        });
        idx
    }

    /// RFC 8445 §6.1.2.6: per foundation, the highest-priority pair (lowest component) goes Waiting.
    fn unfreeze_initial(&mut self) {
        let mut seen: Vec<String> = Vec::new();
        for i in self.ordered() {
            if self.session.pairs[i].state == PairState::Frozen && !seen.contains(&self.session.pairs[i].foundation) {
                seen.push(self.session.pairs[i].foundation.clone());
                self.session.pairs[i].state = PairState::Waiting;
            }
        }
    }

    /// Drives timers: retransmissions, the next paced check, nomination, failure.
    pub fn handle_timeout(&mut self, now: SimTime) {
        if matches!(self.state, IceState::Closed | IceState::Failed) {
            return;
        }
        self.retransmit(now);
        if self.role == Role::Controlling && self.session.nominating.is_none() && !self.complete() {
            self.maybe_nominate(now);
        }
        self.maybe_renominate(now);
        if let Some(t) = self.session.next_check {
            if t <= now && self.remote_pwd.is_some() {
                if self.send_next_check(now) {
                    self.session.next_check = Some(now + self.cfg.ta);
                } else {
                    // Nothing to check: the next trigger re-arms pacing.
                    self.session.next_check = Some(now + self.cfg.ta).filter(|_| self.has_check_work());
                }
            }
        }
        self.maybe_fail(now);
        self.consent_tick(now);
        self.note_sent(now);
        self.keepalive(now);
    }

    fn retransmit(&mut self, now: SimTime) {
        let mut k = 0;
        while k < self.session.transactions.len() {
            let tx = &mut self.session.transactions[k];
            if tx.next > now {
                k += 1;
                continue;
            }
            if tx.cancelled {
                // Its window for a late response is over; its silence is not failure (§7.3.1.4).
                self.session.transactions.remove(k);
                continue;
            }
            if tx.sends >= self.cfg.max_sends {
                let tx = self.session.transactions.remove(k);
                self.pair_failed(tx.pair);
                continue;
            }
            tx.sends += 1;
            tx.next = match self.cfg.check_interval {
                Some(interval) => now + interval,
                None if tx.sends >= self.cfg.max_sends => now + self.cfg.rto * self.cfg.final_wait,
                None => now + self.cfg.rto * (1 << (tx.sends - 1)),
            };
            let (pair, payload) = (tx.pair, tx.request.clone());
            let (local, remote) = self.pair_addrs(pair);
            self.transmits.push_back(Transmit { local, remote, payload });
            k += 1;
        }
    }

    fn pair_failed(&mut self, p: usize) {
        if self.session.pairs[p].state == PairState::InProgress {
            self.session.pairs[p].state = PairState::Failed;
        }
        if self.session.nominating == Some(p) {
            // §8.1.1: a failed nomination check removes the pair from the valid list.
            self.session.nominating = None;
            self.session.pairs[p].state = PairState::Failed;
        }
    }

    fn send_next_check(&mut self, now: SimTime) -> bool {
        if self.remote_pwd.is_none() {
            return false;
        }
        // A relayed pair waits for its TURN permission; the queue keeps its order.
        if let Some(k) = self.session.triggered.iter().position(|t| self.sendable(t.pair)) {
            let Triggered { pair: p, nominate } = self.session.triggered.remove(k).expect("found");
            self.send_check(now, p, nominate);
            return true;
        }
        let order = self.ordered();
        let waiting = order
            .iter()
            .copied()
            .find(|&i| self.session.pairs[i].state == PairState::Waiting && self.sendable(i));
        let pick =
            waiting.or_else(|| {
                // §6.1.4.2: nothing Waiting: unfreeze a Frozen pair whose foundation has nothing in flight.
                order.iter().copied().find(|&i| {
                    let f = &self.session.pairs[i].foundation;
                    self.sendable(i)
                        && self.session.pairs[i].state == PairState::Frozen
                        && !self.session.pairs.iter().any(|q| {
                            &q.foundation == f && matches!(q.state, PairState::Waiting | PairState::InProgress)
                        })
                })
            });
        match pick {
            Some(p) => {
                self.send_check(now, p, false);
                true
            }
            None => false,
        }
    }

    fn send_check(&mut self, now: SimTime, p: usize, use_candidate: bool) {
        self.last_check_at = Some(now);
        let use_candidate =
            use_candidate || (self.cfg.nomination == Nomination::Aggressive && self.role == Role::Controlling);
        let Some((txid, request)) = self.check_request(p, use_candidate) else {
            return;
        };
        let (local, remote) = self.pair_addrs(p);
        self.transmits.push_back(Transmit {
            local,
            remote,
            payload: request.clone(),
        });
        if self.session.pairs[p].state != PairState::Succeeded {
            self.session.pairs[p].state = PairState::InProgress;
        }
        self.session.transactions.push(Transaction {
            txid,
            pair: p,
            request,
            sends: 1,
            next: now + self.cfg.check_interval.unwrap_or(self.cfg.rto),
            use_candidate,
            cancelled: false,
        });
    }

    /// A connectivity check on pair `p` (RFC 8445 §7.2.2): USERNAME, PRIORITY, the role attribute,
    /// the nomination marking when `use_candidate`, MESSAGE-INTEGRITY with the peer's pwd and
    /// FINGERPRINT; with its new transaction id. `None` before the peer's credentials are known.
    fn check_request(&mut self, p: usize, use_candidate: bool) -> Option<([u8; 12], Vec<u8>)> {
        let (Some(ru), Some(rp)) = (self.remote_ufrag.clone(), self.remote_pwd.clone()) else {
            return None;
        };
        let mut txid = [0u8; 12];
        self.rng.fill(&mut txid);
        let l = &self.local[self.session.pairs[p].local];
        // PRIORITY is the local candidate's priority as if it were peer-reflexive (§7.1.1).
        let prio = priority(
            CandidateType::PeerReflexive,
            ((l.priority >> 8) & 0xFFFF) as u16,
            l.component,
        );
        let mut b = MessageBuilder::new(method::BINDING, Class::Request, txid)
            .attr(&Attribute::Username(
                [ru.as_str(), ":", self.local_ufrag.as_str()].concat(),
            ))
            .attr(&Attribute::Priority(prio))
            .attr(&match self.role {
                Role::Controlling => Attribute::IceControlling(self.tiebreaker),
                Role::Controlled => Attribute::IceControlled(self.tiebreaker),
            });
        if use_candidate {
            let renomination2 = !self.peer_lacks_0x0030 && self.peer_renomination;
            let marking = match self.cfg.nomination {
                Nomination::UseCandidate | Nomination::Aggressive => Marking::UseCandidate,
                Nomination::C001Always => Marking::C001,
                Nomination::C001Negotiated if self.peer_renomination => Marking::C001,
                Nomination::C001Negotiated => Marking::UseCandidate,
                Nomination::Renomination2 if renomination2 => Marking::With0030,
                Nomination::Renomination2 if self.peer_renomination => Marking::C001,
                Nomination::Renomination2 => Marking::UseCandidate,
                Nomination::Renomination2Always => Marking::With0030,
            };
            match marking {
                Marking::UseCandidate => b = b.attr(&Attribute::UseCandidate),
                Marking::C001 => {
                    // libwebrtc sends NOMINATION instead of, never with, USE-CANDIDATE
                    // (p2p/base/p2p_transport_channel.cc, `PingConnection`).
                    self.nomination_counter += 1;
                    b = b.attr(&Attribute::NominationLegacy(self.nomination_counter));
                }
                Marking::With0030 => {
                    // renomination2 keeps USE-CANDIDATE and adds a strictly increasing value
                    // (draft-thatcher-tsvwg-renomination-00); a retransmission repeats the same
                    // bytes, so the same value.
                    self.nomination_counter += 1;
                    b = b
                        .attr(&Attribute::UseCandidate)
                        .attr(&Attribute::NominationRenomination2(self.nomination_counter));
                }
            }
        }
        Some((txid, b.build(Some(rp.as_bytes()), true)))
    }

    /// The controlling agent's stopping point (RFC 8445 §8.1.1), for the first component without a
    /// selected pair: nominate its best valid pair once every pair of the component is done, the
    /// component's best pair is valid, or the nomination delay has passed since the first valid
    /// pair.
    fn maybe_nominate(&mut self, now: SimTime) {
        let Some(c) = (1..=self.components).find(|&c| self.session.selected[slot(c)].is_none()) else {
            return;
        };
        let order: Vec<usize> = self
            .ordered()
            .into_iter()
            .filter(|&i| self.component_of(i) == c)
            .collect();
        let valid: Vec<usize> = order
            .iter()
            .copied()
            .filter(|&i| self.session.pairs[i].state == PairState::Succeeded)
            .collect();
        let Some(&best_valid) = valid.first() else { return };
        let all_done = order
            .iter()
            .all(|&i| matches!(self.session.pairs[i].state, PairState::Succeeded | PairState::Failed));
        let best_overall_valid = order.first() == Some(&best_valid);
        let waited = self
            .session
            .first_valid_at
            .is_some_and(|f| now >= f + self.cfg.nomination_delay);
        if all_done || best_overall_valid || waited {
            self.nominate(now, best_valid);
        }
    }

    /// Regular nomination (§8.1.1): repeat the check that produced the valid pair `p`, marked as a
    /// nomination, ahead of everything else, paced Ta after the last check.
    fn nominate(&mut self, now: SimTime, p: usize) {
        self.session.nominating = Some(p);
        self.session.triggered.push_front(Triggered {
            pair: p,
            nominate: true,
        });
        let due = self.last_check_at.map_or(now, |t| (t + self.cfg.ta).max(now));
        if due <= now {
            self.send_next_check(now);
            self.session.next_check = Some(now + self.cfg.ta);
        } else {
            self.session.next_check = Some(due);
        }
    }

    /// Renomination, controlling side: once a pair is selected, a valid pair of higher priority is
    /// nominated again with a higher NOMINATION value (libwebrtc switches its selected connection
    /// and increments its counter, p2p/base/p2p_transport_channel.cc; renomination2,
    /// draft-thatcher-tsvwg-renomination-00). One nomination at a time.
    fn maybe_renominate(&mut self, now: SimTime) {
        if self.role != Role::Controlling || !self.renomination_in_force() || self.session.nominating.is_some() {
            return;
        }
        let Some(s) = self.session.selected[0] else { return };
        let floor = self.session.pairs[s].priority;
        let better = self
            .ordered()
            .into_iter()
            .find(|&i| self.session.pairs[i].state == PairState::Succeeded && self.component_of(i) == 1)
            .filter(|&i| self.session.pairs[i].priority > floor);
        if let Some(p) = better {
            self.nominate(now, p);
        }
    }

    fn maybe_fail(&mut self, now: SimTime) {
        let Some(s) = self.session.started_at else { return };
        if self.complete() || now < s + self.cfg.pac {
            return;
        }
        // RFC 8445 §6.1.2.6: the checklist fails when a component has no valid pair and nothing
        // left to try.
        let hopeless = |c: u8| {
            let of_c = |p: usize| self.component_of(p) == c;
            let in_flight = self.session.transactions.iter().any(|t| !t.cancelled && of_c(t.pair));
            let pending = (0..self.session.pairs.len()).any(|p| {
                of_c(p)
                    && matches!(
                        self.session.pairs[p].state,
                        PairState::Waiting | PairState::Frozen | PairState::InProgress | PairState::Succeeded
                    )
            });
            !in_flight && !pending
        };
        if (1..=self.components).any(|c| self.session.selected[slot(c)].is_none() && hopeless(c)) {
            self.session.transactions.clear();
            self.session.next_check = None;
            self.set_state(IceState::Failed);
        } else {
            self.session.pac_passed = true;
        }
    }

    /// The first selection of `p`'s component (RFC 8445 §8.1.1–§8.1.2): records it, stops the checks
    /// that no longer matter, and completes the agent when every component has one.
    fn select_first(&mut self, now: SimTime, p: usize) {
        let c = self.component_of(p);
        if self.session.selected[slot(c)].is_some() {
            return;
        }
        self.session.selected[slot(c)] = Some(p);
        self.session.selected_sent_at[slot(c)] = Some(now);
        let complete = self.complete();
        if self.session.nominating == Some(p) && !complete {
            // The next component's nomination may go.
            self.session.nominating = None;
        }
        // §8.1.2: once a component has a selected pair, stop checking the others. Under best-valid,
        // RFC 5245 §8.1.2 as pjnath reads it: In-Progress checks of higher priority go on. Under
        // renomination both agents keep checking every pair of higher priority, so a better path
        // that opens later becomes valid and can be nominated (libwebrtc keeps pinging its other
        // connections on both sides: p2p/base/p2p_transport_channel.cc).
        // Another component's pairs go on as they were.
        let floor = self.session.pairs[p].priority;
        let keep_higher = self.cfg.pair_selection == PairSelection::BestValid;
        let renominates = self.renomination_in_force();
        let other: Vec<bool> = (0..self.session.pairs.len())
            .map(|q| self.component_of(q) != c)
            .collect();
        let pairs = &self.session.pairs;
        let goes_on = |q: usize| {
            other[q]
                || pairs[q].priority > floor
                    && match pairs[q].state {
                        PairState::InProgress => keep_higher || renominates,
                        PairState::Waiting | PairState::Frozen => renominates,
                        _ => false,
                    }
        };
        self.session
            .transactions
            .retain(|t| t.pair == p || (!t.cancelled && goes_on(t.pair)) || other[t.pair]);
        let going_on: Vec<bool> = (0..self.session.pairs.len()).map(goes_on).collect();
        self.session
            .triggered
            .retain(|t| other[t.pair] || (renominates && !t.nominate && going_on[t.pair]));
        for (i, q) in self.session.pairs.iter_mut().enumerate() {
            if i != p
                && !going_on[i]
                && matches!(q.state, PairState::Waiting | PairState::Frozen | PairState::InProgress)
            {
                q.state = PairState::Failed;
            }
        }
        let paced = Some(self.last_check_at.map_or(now, |t| (t + self.cfg.ta).max(now)));
        self.session.next_check = None;
        if (renominates || !complete) && self.has_check_work() {
            self.session.next_check = paced;
        }
        let (local, remote) = self.pair_addrs(p);
        self.events.push_back(IceEvent::Selected {
            component: c,
            local,
            remote,
        });
        if complete {
            self.session.completed_at = Some(now);
            self.set_state(IceState::Completed);
        }
    }

    /// Selects `p`, or, once a pair is selected and renomination is in force, moves the selection
    /// to `p` (draft-thatcher-ice-renomination-01 §3: the last, highest nomination wins). Without
    /// renomination the first selection stands (RFC 8445 §8.1.1).
    fn select_or_renominate(&mut self, now: SimTime, p: usize) {
        let c = self.component_of(p);
        match self.session.selected[slot(c)] {
            None => self.select_first(now, p),
            Some(s) if s != p && self.renomination_in_force() => {
                self.session.selected[slot(c)] = Some(p);
                self.session.selected_sent_at[slot(c)] = Some(now);
                let (local, remote) = self.pair_addrs(p);
                self.events.push_back(IceEvent::Selected {
                    component: c,
                    local,
                    remote,
                });
            }
            Some(_) => {}
        }
    }

    /// Handles a datagram that arrived on `local` from `remote`. Returns false when it is not STUN for
    /// this agent (the caller then treats it as media).
    pub fn handle_packet(&mut self, now: SimTime, local: SocketAddr, remote: SocketAddr, data: &[u8]) -> bool {
        if !stun_codec::is_stun(data) {
            return false;
        }
        let Ok(msg) = Message::decode(data) else { return true };
        if msg.method != method::BINDING {
            return false;
        }
        match msg.class {
            Class::Request => self.handle_request(now, local, remote, &msg),
            Class::Success | Class::Error => self.handle_response(now, local, remote, &msg),
            Class::Indication => {} // keepalive (§11)
        }
        self.note_sent(now);
        true
    }

    fn reply(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
        msg: &Message,
        class: Class,
        attrs: &[Attribute],
        integrity: bool,
    ) {
        let mut b = MessageBuilder::new(method::BINDING, class, msg.transaction_id);
        for a in attrs {
            b = b.attr(a);
        }
        let key = self.local_pwd.clone();
        let payload = b.build(integrity.then_some(key.as_bytes()), true);
        self.transmits.push_back(Transmit { local, remote, payload });
    }

    fn error(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
        msg: &Message,
        code: u16,
        reason: &str,
        integrity: bool,
    ) {
        let e = Attribute::ErrorCode(ErrorCode {
            code,
            reason: reason.into(),
        });
        self.reply(local, remote, msg, Class::Error, &[e], integrity);
    }

    fn handle_request(&mut self, now: SimTime, local: SocketAddr, remote: SocketAddr, msg: &Message) {
        // RFC 5389 §10.1.2: missing USERNAME or MESSAGE-INTEGRITY → 400; wrong → 401.
        let Some(Ok(Attribute::Username(user))) = msg.get(attr_type::USERNAME) else {
            return self.error(local, remote, msg, 400, "Bad Request", false);
        };
        let ours = user
            .strip_prefix(self.local_ufrag.as_str())
            .is_some_and(|rest| rest.starts_with(':'));
        if !ours || !msg.verify_integrity(self.local_pwd.as_bytes()) {
            return self.error(local, remote, msg, 401, "Unauthorized", false);
        }
        let mut unknown = msg.unknown_comprehension_required();
        if msg.has(attr_type::NOMINATION_RENOMINATION2) && !self.comprehends_0x0030() {
            // The codec knows 0x0030, this agent does not implement renomination2
            // (draft-thatcher-tsvwg-renomination-00).
            unknown.push(attr_type::NOMINATION_RENOMINATION2);
        }
        if !unknown.is_empty() {
            let attrs = [
                Attribute::ErrorCode(ErrorCode {
                    code: 420,
                    reason: "Unknown Attribute".into(),
                }),
                Attribute::UnknownAttributes(unknown),
            ];
            return self.reply(local, remote, msg, Class::Error, &attrs, true);
        }
        // Role conflict, §7.3.1.1.
        let theirs = match (msg.get(attr_type::ICE_CONTROLLING), msg.get(attr_type::ICE_CONTROLLED)) {
            (Some(Ok(Attribute::IceControlling(t))), _) => Some((Role::Controlling, t)),
            (_, Some(Ok(Attribute::IceControlled(t)))) => Some((Role::Controlled, t)),
            _ => None,
        };
        if let Some((their_role, their_tb)) = theirs {
            if their_role == self.role {
                let i_win = self.tiebreaker >= their_tb;
                match (self.role, i_win) {
                    (Role::Controlling, true) | (Role::Controlled, false) => {
                        return self.error(local, remote, msg, 487, "Role Conflict", true);
                    }
                    _ => self.switch_role(),
                }
            }
        }
        self.reply(
            local,
            remote,
            msg,
            Class::Success,
            &[Attribute::XorMappedAddress(remote)],
            true,
        );

        if self.session.dormant {
            return;
        }
        // Triggered check, §7.3.1.4: learn a peer-reflexive remote candidate if needed.
        let Some(li) = self
            .local
            .iter()
            .position(|c| c.base == local && matches!(c.typ, CandidateType::Host | CandidateType::Relayed))
        else {
            return;
        };
        let component = self.local[li].component;
        let ri = match self
            .session
            .remote
            .iter()
            .position(|r| r.addr == remote && r.component == component)
        {
            Some(ri) => ri,
            // Answered above; the source is neither learned nor checked.
            None if !self.cfg.pair_remote_prflx => return,
            None => {
                let prio = match msg.get(attr_type::PRIORITY) {
                    Some(Ok(Attribute::Priority(p))) => p,
                    _ => priority(CandidateType::PeerReflexive, 65535, 1),
                };
                self.prflx_count += 1;
                self.session.remote.push(Candidate {
                    addr: remote,
                    base: remote,
                    typ: CandidateType::PeerReflexive,
                    priority: prio,
                    foundation: format!("prflx{}", self.prflx_count),
                    component,
                });
                self.session.remote.len() - 1
            }
        };
        let Some(p) = self
            .session
            .pairs
            .iter()
            .position(|q| self.local[q.local].base == local && q.remote == ri)
            .or_else(|| self.add_pair(li, ri))
        else {
            return;
        };
        // 0xC001 counts as a nomination when renomination was negotiated both ways, or by tolerance.
        let c001_negotiated = self.offers_renomination() && self.peer_renomination;
        let c001 = msg.has(attr_type::NOMINATION_LEGACY) && (self.cfg.accept_c001_as_use_candidate || c001_negotiated);
        let value = match (
            msg.get(attr_type::NOMINATION_RENOMINATION2),
            msg.get(attr_type::NOMINATION_LEGACY),
        ) {
            (Some(Ok(Attribute::NominationRenomination2(v))), _) if self.comprehends_0x0030() => Some(v),
            (_, Some(Ok(Attribute::NominationLegacy(v)))) if c001_negotiated => Some(v),
            _ => None,
        };
        let use_candidate =
            (msg.has(attr_type::USE_CANDIDATE) || c001 || value.is_some()) && self.role == Role::Controlled;
        let follow = self.renomination_in_force();
        let takes = use_candidate
            && if follow {
                // The largest value wins and any value beats none; a USE-CANDIDATE without a value
                // counts only before anything was selected (draft-thatcher-ice-renomination-01
                // §3–§4, draft-thatcher-tsvwg-renomination-00).
                match (value, self.session.highest_nomination) {
                    (Some(v), Some(h)) => v > h,
                    (Some(_), None) => true,
                    (None, h) => h.is_none() && self.session.selected[slot(component)].is_none(),
                }
            } else {
                self.session.selected[slot(component)].is_none()
            };
        if takes && follow {
            self.session.highest_nomination = value.or(self.session.highest_nomination);
            for q in self.session.pairs.iter_mut() {
                q.nominate_on_success = false;
            }
        }
        if takes && self.session.pairs[p].state == PairState::Succeeded {
            self.select_or_renominate(now, p);
            return;
        }
        if !follow
            && self
                .session
                .completed_at
                .is_some_and(|c| now >= c + QUIET_AFTER_COMPLETED)
        {
            // §8.1.2: three seconds after Completed an agent may stop generating triggered checks;
            // it keeps answering. Under renomination a later path may still be nominated.
            return;
        }
        match self.session.pairs[p].state {
            PairState::Succeeded => return,
            PairState::InProgress => {
                let window = now + self.cfg.rto * self.cfg.final_wait;
                for t in self.session.transactions.iter_mut().filter(|t| t.pair == p) {
                    t.cancelled = true;
                    t.next = window;
                }
                self.session.pairs[p].state = PairState::Waiting;
                self.enqueue_triggered(now, p);
            }
            // pjnath: no triggered check for a Failed pair, and it stays off the valid list, so a
            // nomination on it is lost too (a deviation from §7.3.1.4).
            PairState::Failed if !self.cfg.retrigger_failed_pairs => return,
            PairState::Waiting | PairState::Frozen | PairState::Failed => {
                self.session.pairs[p].state = PairState::Waiting;
                self.enqueue_triggered(now, p);
            }
        }
        if takes {
            self.session.pairs[p].nominate_on_success = true;
        }
    }

    fn enqueue_triggered(&mut self, now: SimTime, p: usize) {
        if !self.session.triggered.iter().any(|t| t.pair == p) {
            self.session.triggered.push_back(Triggered {
                pair: p,
                nominate: false,
            });
        }
        if self.session.started_at.is_some() && self.session.next_check.is_none() {
            // Paced like every new check: Ta after the last one (RFC 8445 §14.2).
            self.session.next_check = Some(self.last_check_at.map_or(now, |t| (t + self.cfg.ta).max(now)));
        }
    }

    fn switch_role(&mut self) {
        self.role = match self.role {
            Role::Controlling => Role::Controlled,
            Role::Controlled => Role::Controlling,
        };
        for i in 0..self.session.pairs.len() {
            self.session.pairs[i].priority =
                self.compute_priority(self.session.pairs[i].local, self.session.pairs[i].remote);
        }
    }

    fn handle_response(&mut self, now: SimTime, local: SocketAddr, remote: SocketAddr, msg: &Message) {
        if let Some(k) = self
            .session
            .consent_pending
            .iter()
            .position(|t| t.0 == msg.transaction_id)
        {
            return self.consent_response(now, k, local, remote, msg);
        }
        let Some(k) = self
            .session
            .transactions
            .iter()
            .position(|t| t.txid == msg.transaction_id)
        else {
            return;
        };
        let Some(pwd) = self.remote_pwd.clone() else { return };
        if !msg.verify_integrity(pwd.as_bytes()) {
            return; // dropped as if never received (RFC 5389 §10.1.3)
        }
        let tx = self.session.transactions.remove(k);
        let p = tx.pair;
        if self.pair_addrs(p) != (local, remote) {
            // Non-symmetric, §7.2.5.2.1.
            self.session.pairs[p].state = PairState::Failed;
            return;
        }
        if msg.class == Class::Error {
            if let Some(Ok(Attribute::ErrorCode(e))) = msg.get(attr_type::ERROR_CODE) {
                if e.code == 487 {
                    // §7.2.5.1: switch role, new tiebreaker, recheck.
                    self.switch_role();
                    self.tiebreaker = self.rng.next_u64();
                    self.session.pairs[p].state = PairState::Waiting;
                    self.session.triggered.push_back(Triggered {
                        pair: p,
                        nominate: false,
                    });
                    return;
                }
                let lists_0030 = matches!(msg.get(attr_type::UNKNOWN_ATTRIBUTES),
                    Some(Ok(Attribute::UnknownAttributes(l))) if l.contains(&attr_type::NOMINATION_RENOMINATION2));
                if e.code == 420 && lists_0030 && self.cfg.nomination == Nomination::Renomination2 && tx.use_candidate {
                    // The transaction failed (RFC 8489 §7.3.4), not the path: the peer advertised
                    // renomination but speaks only the legacy flavour, so nominate again with 0xC001.
                    self.peer_lacks_0x0030 = true;
                    self.session.nominating = None;
                    self.nominate(now, p);
                    return;
                }
            }
            self.pair_failed(p);
            self.session.pairs[p].state = PairState::Failed;
            return;
        }
        self.session.pairs[p].state = PairState::Succeeded;
        if !self.session.pairs[p].consent_lost {
            self.session.pairs[p].consent_at = Some(now);
        }
        if self.session.first_valid_at.is_none() {
            self.session.first_valid_at = Some(now);
        }
        // §7.2.5.3.3: unfreeze pairs with the same foundation.
        let f = self.session.pairs[p].foundation.clone();
        for q in self
            .session
            .pairs
            .iter_mut()
            .filter(|q| q.foundation == f && q.state == PairState::Frozen)
        {
            q.state = PairState::Waiting;
        }
        // Controlling: our USE-CANDIDATE check succeeded. Controlled: the peer nominated this pair before
        // our own check on it succeeded (§7.3.1.5).
        let nominated = match self.role {
            Role::Controlling => tx.use_candidate,
            Role::Controlled => self.session.pairs[p].nominate_on_success,
        };
        if nominated {
            self.session.pairs[p].nominate_on_success = false;
            self.select_or_renominate(now, p);
            if self.session.nominating == Some(p) && self.renomination_in_force() {
                // This nomination is done; a better pair may be nominated next.
                self.session.nominating = None;
            }
        }
        if self.role == Role::Controlling && self.session.nominating.is_none() && !self.complete() {
            self.maybe_nominate(now);
        }
        self.maybe_renominate(now);
    }

    /// The response to consent check `k` of `consent_pending`, arrived on `local` from `remote`
    /// (RFC 7675 §5): an authenticated success from the checked address refreshes consent on the
    /// pair; an authenticated 403 revokes it at once (§5.2). Anything unauthenticated is dropped
    /// as never received (RFC 5389 §10.1.3), so it neither refreshes nor revokes.
    fn consent_response(&mut self, now: SimTime, k: usize, local: SocketAddr, remote: SocketAddr, msg: &Message) {
        let Some(pwd) = self.remote_pwd.as_deref() else { return };
        if !msg.verify_integrity(pwd.as_bytes()) {
            return;
        }
        let (_, p, _) = self.session.consent_pending.remove(k);
        if self.session.pairs[p].consent_lost || self.pair_addrs(p) != (local, remote) {
            return; // late responses do not restore consent (§5.1)
        }
        match msg.class {
            Class::Success => self.session.pairs[p].consent_at = Some(now),
            _ => {
                if matches!(msg.get(attr_type::ERROR_CODE), Some(Ok(Attribute::ErrorCode(e))) if e.code == 403) {
                    self.lose_consent(p);
                }
            }
        }
    }
}
