//! The judge: conformance checks evaluated from the Trace, one module per area.
//!
//! Every check has a stable id, a level, and a citation. "Nothing ran" is never a pass: a check whose
//! precondition never happened says `inconclusive` or `fail`, with a detail saying which.

mod caps;
mod components;
mod consent;
mod endpoint;
mod ice_nomination;
mod ice_timing;
mod jingle;
mod jmi;
mod media;
mod renomination;
mod restart;
mod stun_wire;
mod triggered;
mod turn;

use std::cell::OnceCell;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::run::RunOutput;
use crate::stun::{attr_type, Class};
use crate::time::SimTime;
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

/// The result of one check in one run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CheckResult {
    /// Check id.
    pub id: String,
    /// Level.
    pub level: Level,
    /// Verdict.
    pub verdict: Verdict,
    /// Document and section.
    pub cite: String,
    /// What was expected and what was seen.
    pub detail: String,
    /// Trace event numbers.
    pub evidence: Vec<usize>,
}

/// Every check, in report order.
pub fn catalogue() -> Vec<CheckDef> {
    vec![
        jmi::PROPOSE_MATCHES_INITIATE,
        jmi::ADDRESSED_TO_FULL_JID,
        jmi::FINISH_SENT,
        jmi::PROPOSE_DELIVERY,
        jmi::OTHER_DEVICES_STOP_RINGING,
        jmi::CALL_ONLY_TO_CAPABLE_PEER,
        jingle::CONTENT_CREATOR_CONSISTENT,
        jingle::FINGERPRINT_PRESENT,
        jingle::IQ_ACKED,
        jingle::TERMINATE_REASON,
        jingle::INITIATE_TO_PROCEEDER,
        jingle::ACCEPT_WITHIN_INITIATE,
        jingle::IQ_ERROR_CONDITIONS,
        caps::VER_VALID,
        stun_wire::CREDENTIALS_SIGNALLED,
        stun_wire::CHECK_ATTRIBUTES,
        stun_wire::FINGERPRINT_VALID,
        ice_timing::PACING,
        ice_timing::RETRANSMISSION_TIMER,
        ice_timing::NO_FAILURE_BEFORE_PAC,
        ice_timing::TRIGGERED_AFTER_FAILED,
        triggered::TRIGGERED_ON_INCOMING,
        ice_timing::FAILURE_WITHIN_BOUND,
        ice_nomination::CONTROLLING_NOMINATES,
        ice_nomination::CONTROLLED_USES_NOMINATED,
        ice_nomination::BEST_VALID,
        media::BIDIRECTIONAL_ON_SELECTED_PAIR,
        consent::KEEPALIVE_INTERVAL,
        consent::CONSENT_FRESHNESS,
        consent::CONSENT_CHECK_SCHEDULE,
        restart::RESTART,
        components::COMPONENT_2_CHECKED,
        renomination::ONLY_WHEN_NEGOTIATED,
        renomination::CONTROLLED_FOLLOWS_HIGHEST,
        renomination::UNKNOWN_0X0030_DRAWS_420,
        turn::ALLOCATION,
        stun_wire::PERMISSION_BEFORE_SEND,
        turn::CREDENTIALS_FROM_XEP0215,
        turn::REFRESH_BEFORE_EXPIRY,
        endpoint::NO_FAULT,
    ]
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
        cite: def.cite.to_string(),
        detail,
        evidence,
    }
}

/// The nominated pair as the wire shows it: the controlling side's USE-CANDIDATE check that got a
/// success response (RFC 8445 §8.1.1), in both parties' views.
#[derive(Clone, Debug)]
pub struct Nominated<'a> {
    /// Trace index of the nominating request as the controlling side sent it.
    pub request: usize,
    /// Trace index of its success response at the controlling side.
    pub response: usize,
    /// When the response arrived.
    pub time: SimTime,
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
    /// The nominated pair, if any.
    pub nominated: Option<Nominated<'a>>,
    /// The controlling party (the Jingle initiator, XEP-0176 §2).
    pub controlling: Party<'a>,
    /// The pairs each party sent media on, which several checks judge: worked out once.
    pairs_in_use: OnceCell<Vec<consent::InUse<'a>>>,
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
        // USE-CANDIDATE first; failing that, a NOMINATION attribute (0xC001/0x0030) check, which only a
        // peer that agreed to renomination, or tolerates it, takes as a nomination.
        let find = |by_attr: bool| {
            wire.checks_sent_by(&controlling)
                .filter(|c| {
                    if by_attr {
                        c.msg.has(attr_type::NOMINATION_LEGACY) || c.msg.has(attr_type::NOMINATION_RENOMINATION2)
                    } else {
                        c.msg.has(attr_type::USE_CANDIDATE)
                    }
                })
                .find_map(|req| {
                    let resp = wire.response_to(req).filter(|r| r.msg.class == Class::Success)?;
                    let seen = wire.received_by(&controlled, req).map(|r| (r.dst, r.src, r.index));
                    Some(Nominated {
                        request: req.index,
                        response: resp.index,
                        time: resp.time,
                        controlling,
                        controlled,
                        controlling_view: (req.src, req.dst),
                        controlled_view: seen,
                        by_nomination_attr: by_attr,
                    })
                })
        };
        let nominated = find(false).or_else(|| find(true));
        Ctx {
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
    vec![
        jmi::propose_matches_initiate(ctx),
        jmi::addressed_to_full_jid(ctx),
        jmi::finish_sent(ctx),
        jmi::propose_delivery(ctx),
        jmi::other_devices_stop_ringing(ctx),
        jmi::call_only_to_capable_peer(ctx),
        jingle::content_creator_consistent(ctx),
        jingle::fingerprint_present(ctx),
        jingle::iq_acked(ctx),
        jingle::terminate_reason_valid(ctx),
        jingle::initiate_to_proceeder(ctx),
        jingle::accept_within_initiate(ctx),
        jingle::iq_error_conditions(ctx),
        caps::ver_valid(ctx),
        stun_wire::credentials_signalled(ctx),
        stun_wire::check_attributes(ctx),
        stun_wire::fingerprint_valid(ctx),
        ice_timing::pacing(ctx),
        ice_timing::retransmission_timer(ctx),
        ice_timing::no_failure_before_pac(ctx),
        ice_timing::triggered_after_failed(ctx),
        triggered::triggered_on_incoming(ctx),
        ice_timing::failure_within_bound(ctx),
        ice_nomination::controlling_nominates(ctx),
        ice_nomination::controlled_uses_nominated(ctx),
        ice_nomination::best_valid(ctx),
        media::bidirectional_on_selected_pair(ctx),
        consent::keepalive_interval(ctx),
        consent::consent_freshness(ctx),
        consent::consent_check_schedule(ctx),
        restart::restart(ctx),
        components::component_2_checked(ctx),
        renomination::only_when_negotiated(ctx),
        renomination::controlled_follows_highest(ctx),
        renomination::unknown_0x0030_draws_420(ctx),
        turn::allocation(ctx),
        stun_wire::permission_before_send(ctx),
        turn::credentials_from_xep0215(ctx),
        turn::refresh_before_expiry(ctx),
        endpoint::no_fault(ctx),
    ]
}
