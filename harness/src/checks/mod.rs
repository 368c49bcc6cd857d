//! The judge: conformance checks evaluated from the Trace, one module per area.
//!
//! Every check has a stable id, a level, and a citation. "Nothing ran" is never a pass: a check whose
//! precondition never happened says `inconclusive` or `fail`, with a detail saying which.

mod caps;
mod components;
mod consent;
mod dtls;
mod endpoint;
mod ice_nomination;
mod ice_requests;
mod ice_timing;
mod jingle;
mod jmi;
mod media;
mod network;
mod renomination;
mod restart;
mod stun_wire;
mod triggered;
mod turn;
mod wire_format;

use std::cell::OnceCell;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::run::RunOutput;
use crate::time::SimTime;
use crate::trace::Dir;
use crate::wire::{Party, Wire};

/// How binding a rule is (RFC 2119 keyword of the cited clause).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// MUST / MUST NOT.
    Must,
    /// SHOULD / SHOULD NOT.
    Should,
    /// MAY.
    May,
    /// Not a requirement; reported for information.
    Info,
}

/// A graded verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// The rule held, and the evidence shows it was exercised.
    Pass,
    /// A MUST was broken.
    Fail,
    /// A SHOULD was missed.
    NonStrict,
    /// Reported for information.
    Informational,
    /// The implementation declares it does not support this (its ICS).
    Unsupported,
    /// The run never reached the point where the rule applies (and that is not itself a fault).
    Inconclusive,
    /// The harness could not evaluate the check.
    HarnessError,
}

/// A check in the catalogue.
#[derive(Clone, Debug, Serialize)]
pub struct CheckDef {
    /// Stable id, e.g. `ice.nomination.controlled-uses-nominated`.
    pub id: &'static str,
    /// Level.
    pub level: Level,
    /// Document and section.
    pub cite: &'static str,
    /// One line.
    pub summary: &'static str,
}

/// Whom a check result judges: the party whose behaviour the verdict is about.
///
/// A failure always names one party, the one that broke the rule (never its peer, never the
/// network); a pass that covered both parties' behaviour says `both`; a fact of the network or the
/// servers (what a TURN server granted, that no path existed) says `none`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Judged {
    /// The party that places the call.
    Caller,
    /// The party called.
    Callee,
    /// Both parties' behaviour was judged, and neither is singled out.
    #[default]
    Both,
    /// No implementation is judged: a fact of the network or of the servers.
    None,
}

impl Judged {
    /// The party named `name` (`caller` or `callee`, or one of its devices, `callee/device2`); any
    /// other name judges nobody in particular.
    pub fn party(name: &str) -> Judged {
        // A device of a party (`callee/device2`) is that party.
        match name.split('/').next().unwrap_or(name) {
            "caller" => Judged::Caller,
            "callee" => Judged::Callee,
            _ => Judged::Both,
        }
    }

    /// The party's name, for a single party.
    pub fn name(self) -> Option<&'static str> {
        match self {
            Judged::Caller => Some("caller"),
            Judged::Callee => Some("callee"),
            Judged::Both | Judged::None => None,
        }
    }
}

/// The result of one check in one run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CheckResult {
    /// Check id.
    pub id: String,
    /// Level.
    pub level: Level,
    /// Verdict.
    pub verdict: Verdict,
    /// Whom the verdict judges (`caller`, `callee`, `both`, `none`).
    #[serde(default)]
    pub party: Judged,
    /// The implementation of the judged party, when it is one party (filled in by the report from
    /// the run's parties).
    #[serde(rename = "impl", default, skip_serializing_if = "Option::is_none")]
    pub implementation: Option<String>,
    /// The run is a negative test (its scenario injects a fault through knobs and expects it
    /// found), the judged party ran with knobs, and this is a failure or a miss: held against
    /// nobody; the scenario's expectation judges the run.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub injected: bool,
    /// Document and section.
    pub cite: String,
    /// What was expected and what was seen.
    pub detail: String,
    /// Trace event numbers.
    pub evidence: Vec<usize>,
}

/// A check's judging function: its result over one run.
type Judge = fn(&Ctx<'_>) -> CheckResult;

/// Every check with the function that judges it, in report order: one table, so a check cannot be
/// listed without its function or out of step with it.
const CHECKS: &[(CheckDef, Judge)] = &[
    (jmi::PROPOSE_MATCHES_INITIATE, jmi::propose_matches_initiate),
    (jmi::ADDRESSED_TO_FULL_JID, jmi::addressed_to_full_jid),
    (jmi::FINISH_SENT, jmi::finish_sent),
    (jmi::PROPOSE_DELIVERY, jmi::propose_delivery),
    (jmi::OTHER_DEVICES_STOP_RINGING, jmi::other_devices_stop_ringing),
    (jmi::CALL_ONLY_TO_CAPABLE_PEER, jmi::call_only_to_capable_peer),
    (jingle::CONTENT_CREATOR_CONSISTENT, jingle::content_creator_consistent),
    (jingle::FINGERPRINT_PRESENT, jingle::fingerprint_present),
    (jingle::IQ_ACKED, jingle::iq_acked),
    (jingle::TERMINATE_REASON, jingle::terminate_reason_valid),
    (jingle::INITIATE_TO_PROCEEDER, jingle::initiate_to_proceeder),
    (jingle::ACCEPT_WITHIN_INITIATE, jingle::accept_within_initiate),
    (jingle::IQ_ERROR_CONDITIONS, jingle::iq_error_conditions),
    (caps::VER_VALID, caps::ver_valid),
    (
        dtls::FINGERPRINT_MATCHES_CERTIFICATE,
        dtls::fingerprint_matches_certificate,
    ),
    (dtls::SETUP_ROLES, dtls::setup_roles),
    (stun_wire::CREDENTIALS_SIGNALLED, stun_wire::credentials_signalled),
    (stun_wire::CHECK_ATTRIBUTES, stun_wire::check_attributes),
    (stun_wire::FINGERPRINT_VALID, stun_wire::fingerprint_valid),
    (wire_format::WELL_FORMED, wire_format::well_formed),
    (ice_timing::PACING, ice_timing::pacing),
    (ice_timing::RETRANSMISSION_TIMER, ice_timing::retransmission_timer),
    (ice_timing::NO_FAILURE_BEFORE_PAC, ice_timing::no_failure_before_pac),
    (ice_timing::TRIGGERED_AFTER_FAILED, ice_timing::triggered_after_failed),
    (triggered::TRIGGERED_ON_INCOMING, triggered::triggered_on_incoming),
    (ice_timing::FAILURE_WITHIN_BOUND, ice_timing::failure_within_bound),
    (
        ice_nomination::CONTROLLING_NOMINATES,
        ice_nomination::controlling_nominates,
    ),
    (
        ice_nomination::CONTROLLED_USES_NOMINATED,
        ice_nomination::controlled_uses_nominated,
    ),
    (ice_nomination::BEST_VALID, ice_nomination::best_valid),
    (ice_nomination::ONCE_PER_SESSION, ice_nomination::once_per_session),
    (ice_requests::ROLE_ATTRIBUTES, ice_requests::role_attributes),
    (ice_requests::REQUEST_ANSWERED, ice_requests::request_answered),
    (ice_requests::CHECK_PRIORITY, ice_requests::check_priority),
    (ice_requests::SYMMETRIC_RESPONSE, ice_requests::symmetric_response),
    (
        media::BIDIRECTIONAL_ON_SELECTED_PAIR,
        media::bidirectional_on_selected_pair,
    ),
    (consent::KEEPALIVE_INTERVAL, consent::keepalive_interval),
    (consent::CONSENT_FRESHNESS, consent::consent_freshness),
    (consent::CONSENT_CHECK_SCHEDULE, consent::consent_check_schedule),
    (restart::RESTART, restart::restart),
    (components::COMPONENT_2_CHECKED, components::component_2_checked),
    (renomination::ONLY_WHEN_NEGOTIATED, renomination::only_when_negotiated),
    (
        renomination::CONTROLLED_FOLLOWS_HIGHEST,
        renomination::controlled_follows_highest,
    ),
    (
        renomination::UNKNOWN_0X0030_DRAWS_420,
        renomination::unknown_0x0030_draws_420,
    ),
    (turn::ALLOCATION, turn::allocation),
    (stun_wire::PERMISSION_BEFORE_SEND, stun_wire::permission_before_send),
    (turn::CREDENTIALS_FROM_XEP0215, turn::credentials_from_xep0215),
    (turn::REFRESH_BEFORE_EXPIRY, turn::refresh_before_expiry),
    (endpoint::NO_FAULT, endpoint::no_fault),
];

/// Every check, in report order.
pub fn catalogue() -> Vec<CheckDef> {
    CHECKS.iter().map(|(def, _)| def.clone()).collect()
}

/// The ICS of `party`'s first device (its implementation's conformance statement).
fn party_ics<'c>(ctx: &'c Ctx, party: &str) -> Option<&'c crate::endpoint::Ics> {
    ctx.out
        .parties
        .iter()
        .find(|p| p.name == party)
        .and_then(|p| p.devices.first())
        .map(|d| &d.ics)
}

/// Why `party`'s media cannot be judged: it sends media only after a DTLS-SRTP handshake (its ICS,
/// `dtls_srtp_media`; XEP-0320, RFC 5763 §5) and no handshake could happen: its peer declares
/// none, or no DTLS record (RFC 7983: first byte 20–63) crossed the wire at all while it waited
/// for its peer to start one. A party the signalled `setup` made the DTLS client had to start the
/// handshake itself (RFC 5763 §5), so its silence excuses nothing. `None` when its media can be
/// judged.
fn media_waits_for_dtls(ctx: &Ctx, party: &str) -> Option<String> {
    let peer = if party == ctx.caller.as_str() {
        ctx.callee
    } else {
        ctx.caller
    };
    let (mine, theirs) = (party_ics(ctx, party)?, party_ics(ctx, &peer)?);
    if !mine.dtls_srtp_media {
        return None;
    }
    if !theirs.dtls_srtp_media {
        return Some(format!(
            "{party} ({}) sends media only after a DTLS-SRTP handshake, and {peer} ({}) declares none, so its \
             media cannot be judged",
            mine.name, theirs.name
        ));
    }
    let dtls_seen = ctx.out.trace.events.iter().any(|e| {
        matches!(&e.kind, crate::trace::TraceKind::Datagram { payload, .. }
            if payload.first().is_some_and(|b| (20..=63).contains(b)))
    });
    if dtls::dtls_client(ctx).is_some_and(|c| c == party) {
        return None;
    }
    (!dtls_seen).then(|| {
        format!(
            "{party} ({}) sends media only after a DTLS-SRTP handshake, and no DTLS record crossed the wire, so its \
             media cannot be judged",
            mine.name
        )
    })
}

/// A party that signalled no candidate at all in its Jingle transports (session-initiate,
/// session-accept, transport-info), if one did, and whether the wire excuses it: the TURN server
/// refused its allocation (an Allocate error other than the 401 challenge, RFC 8656 §7.2) and it
/// then had nothing else to offer, as under a relay-only policy. Without a candidate on either side
/// neither has a pair to check (RFC 8445 §6.1.2).
fn candidateless<'c>(ctx: &'c Ctx) -> Option<(&'c str, bool)> {
    let p = [&ctx.caller, &ctx.callee].into_iter().find(|p| {
        ctx.wire
            .jingle
            .iter()
            .filter(|j| j.party == **p && j.dir == Dir::Tx)
            .all(|j| j.contents.iter().all(|c| c.candidates.is_empty()))
    })?;
    let refused = ctx.wire.stun.iter().any(|s| {
        s.party == *p
            && s.dir == Dir::Rx
            && s.msg.method == crate::stun::method::ALLOCATE
            && s.msg.class == crate::stun::Class::Error
            && !matches!(
                s.msg.get(crate::stun::attr_type::ERROR_CODE),
                Some(Ok(crate::stun::Attribute::ErrorCode(e))) if e.code == 401
            )
    });
    Some((p.as_str(), refused))
}

fn result(def: &CheckDef, verdict: Verdict, detail: String, evidence: Vec<usize>) -> CheckResult {
    // A missed SHOULD is graded non-strict, not fail.
    let verdict = if verdict == Verdict::Fail && def.level == Level::Should {
        Verdict::NonStrict
    } else {
        verdict
    };
    CheckResult {
        id: def.id.to_string(),
        level: def.level,
        verdict,
        party: Judged::Both,
        implementation: None,
        injected: false,
        cite: def.cite.to_string(),
        detail,
        evidence,
    }
}

impl CheckResult {
    /// The same result, judging party `name` (`caller` or `callee`).
    pub fn by(mut self, name: &str) -> CheckResult {
        self.party = Judged::party(name);
        self
    }

    /// Whom the result judges, for people: `caller (conversations-2.9.7)`, `both`, `network`; an
    /// injected fault says so.
    pub fn judged_label(&self) -> String {
        let who = match (self.party, &self.implementation) {
            (Judged::None, _) => "network".to_string(),
            (Judged::Both, _) => "both".to_string(),
            (p, Some(i)) => format!("{} ({i})", p.name().unwrap_or("?")),
            (p, None) => p.name().unwrap_or("?").to_string(),
        };
        if self.injected {
            format!("{who}, injected by the scenario")
        } else {
            who
        }
    }

    /// The same result, judging party `name` unless it already names a party or the network: for
    /// a check that judges one party throughout.
    pub fn or_by(self, name: &str) -> CheckResult {
        if self.party == Judged::Both {
            self.by(name)
        } else {
            self
        }
    }

    /// The same result, judging no implementation: a network or server fact.
    pub fn network(mut self) -> CheckResult {
        self.party = Judged::None;
        self
    }
}

/// The nominated pair as the wire shows it: the controlling side's USE-CANDIDATE check that got a
/// success response (RFC 8445 §8.1.1), in both parties' views.
#[derive(Clone, Debug)]
pub struct Nominated<'a> {
    /// Trace index of the nominating request as the controlling side sent it.
    pub request: usize,
    /// Trace index of its success response at the controlling side (as the controlled side sent
    /// it, when it never arrived).
    pub response: usize,
    /// When the response arrived (at the controlled side's answer when it never arrived).
    pub time: SimTime,
    /// The success response reached the controlling agent; `false` when the network lost it and
    /// the nomination took effect at the controlled agent only.
    pub at_controlling: bool,
    /// Controlling party.
    pub controlling: Party<'a>,
    /// Controlled party.
    pub controlled: Party<'a>,
    /// (local, remote) at the controlling host.
    pub controlling_view: (SocketAddr, SocketAddr),
    /// (local, remote) at the controlled host, and the index where the request arrived there.
    pub controlled_view: Option<(SocketAddr, SocketAddr, usize)>,
    /// The nominating check carried a NOMINATION attribute (0xC001/0x0030) and no USE-CANDIDATE.
    pub by_nomination_attr: bool,
    /// Pair priority (RFC 8445 §6.1.2.3) from the candidates' priorities, as signalled or as the
    /// checks carried them; `None` when they cannot be read.
    pub priority: Option<u64>,
    /// The ICE session (generation) it belongs to: the request's USERNAME (`remote:local` ufrags at
    /// the controlling agent), empty when absent.
    pub session: String,
    /// Component (RFC 8445 §5.1.2: 256 minus the PRIORITY attribute's low byte), 1 when unreadable.
    pub component: u16,
}

/// Shared context of the checks of one run.
pub struct Ctx<'a> {
    /// The run.
    pub out: &'a RunOutput,
    /// Its wire views.
    pub wire: Wire<'a>,
    /// The caller (the party that places the call in the script).
    pub caller: Party<'a>,
    /// The callee.
    pub callee: Party<'a>,
    /// The selected pair of the first ICE session as the wire shows it: of the pairs the
    /// controlling agent nominated there (component 1), the one the controlled agent sends media
    /// on, else the highest-priority one (RFC 8445 §8.1.1: with several nominated, "the agents MUST
    /// ... use the pairs with the highest priority").
    pub nominated: Option<Nominated<'a>>,
    /// Every nomination that took effect, in trace order (several under RFC 5245 aggressive
    /// nomination, renomination, or across ICE restarts).
    pub nominations: Vec<Nominated<'a>>,
    /// The controlling party (the Jingle initiator, XEP-0176 §2).
    pub controlling: Party<'a>,
    /// The end of the observation: the scenario's deadline (last step plus settle), or the last
    /// event if one came later. A world that fell silent before the deadline was still watched.
    pub end: SimTime,
    /// The pairs each party sent media on, which several checks judge: worked out once.
    pairs_in_use: OnceCell<Vec<consent::InUse<'a>>>,
}

impl Ctx<'_> {
    /// How far apart two times on the wire may be from what the parties meant, beyond their own
    /// doing: zero in a simulated run. In a live run, the run's measured timing uncertainty: the
    /// worst lateness of the harness's own events plus the worst delay of a datagram in the TUN
    /// path. Real programs on the same host are delayed alike, so a tight timer (Ta = 50 ms, the
    /// 500 ms RTO) missed by less than this is not held against them.
    pub fn timing_slack(&self) -> std::time::Duration {
        self.out.live.as_ref().map_or(std::time::Duration::ZERO, |l| {
            std::time::Duration::from_micros(l.lateness_us.max + l.tun_in_us.max)
        })
    }
}

impl<'a> Ctx<'a> {
    /// Builds the context: wire views and the nominated pair.
    pub fn new(out: &'a RunOutput) -> Ctx<'a> {
        let names: Vec<String> = out.parties.iter().map(|p| p.name.clone()).collect();
        let mut wire = Wire::extract(&out.trace, &names);
        let caller = wire.party("caller");
        let callee = wire.party("callee");
        let controlling = wire.session_initiate().map_or(caller, |j| j.party);
        let controlled = if controlling == caller { callee } else { caller };
        // A NOMINATION attribute nominates only under negotiated renomination: a peer that never
        // advertised it ignores the unknown comprehension-optional 0xC001 (RFC 8489 §14), and sees
        // no nomination (RFC 8445 §7.3.1.5 takes USE-CANDIDATE alone).
        let negotiated = renomination::peer_offered_in(&wire, &controlling);
        let mut nominations = ice_nomination::nominations(&wire, controlling, controlled, negotiated);
        if nominations.is_empty() && !negotiated {
            // A controlled agent that takes an un-negotiated NOMINATION as one (JMP's patched
            // Asterisk) shows it by sending its media on that pair: judged as the pair it uses,
            // while controlling-nominates still fails the controlling side for it.
            nominations = ice_nomination::nominations(&wire, controlling, controlled, true)
                .into_iter()
                .filter(|n| {
                    n.controlled_view.is_some_and(|(l, r, at)| {
                        wire.rtp.iter().any(|m| {
                            m.party == controlled && m.dir == Dir::Tx && m.index > at && (m.src, m.dst) == (l, r)
                        })
                    })
                })
                .collect();
        }
        let nominated = ice_nomination::selected(&wire, &nominations).cloned();
        let last = out.trace.events.last().map_or(SimTime::ZERO, |e| e.time);
        let end = last.max(SimTime::ZERO + out.spec.scenario.deadline());
        Ctx {
            end,
            nominations,
            out,
            wire,
            caller,
            callee,
            nominated,
            controlling,
            pairs_in_use: OnceCell::new(),
        }
    }

    /// Every pair each party sent media on, in the order used (see [`consent::pairs_in_use`]).
    fn pairs_in_use(&self) -> &[consent::InUse<'a>] {
        self.pairs_in_use.get_or_init(|| consent::pairs_in_use(self))
    }
}

/// Runs every check of the catalogue over one run.
pub fn evaluate(ctx: &Ctx) -> Vec<CheckResult> {
    CHECKS.iter().map(|(_, judge)| judge(ctx)).collect()
}
