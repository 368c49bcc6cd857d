//! What each ICE agent's Binding requests say about its role, and whether it answers the checks it
//! receives: the STUN client and server sides of RFC 8445 §7.

use std::collections::BTreeSet;
use std::time::Duration;

use super::{result, CheckDef, CheckResult, Ctx, Level, Verdict};
use crate::stun::{attr_type, method, Attribute, Class};
use crate::time::SimTime;
use crate::trace::Dir;
use crate::wire::Party;

/// A check carries the role attribute of the agent's role (RFC 8445 §7.1.3: "The controlling agent
/// MUST include the ICE-CONTROLLING attribute ... The controlled agent MUST include the
/// ICE-CONTROLLED attribute"), and only the controlling agent's carry USE-CANDIDATE (§7.1.2: "The
/// controlled agent MUST NOT include the USE-CANDIDATE attribute in a Binding request").
pub const ROLE_ATTRIBUTES: CheckDef = CheckDef {
    id: "ice.role-attributes",
    level: Level::Must,
    cite: "RFC 8445 §7.1.2, §7.1.3",
    summary: "each check carries ICE-CONTROLLING from the controlling agent (the Jingle initiator, XEP-0176) and ICE-CONTROLLED from the controlled one until a 487 role conflict switches them, and the controlled agent never sends USE-CANDIDATE",
};

/// A check that reaches an agent under its current credentials is answered: "the agent MUST
/// immediately generate a response" (RFC 8445 §7.3), and after nomination it "MUST continue to
/// respond to any Binding request it might still receive" (§8.1.2).
pub const REQUEST_ANSWERED: CheckDef = CheckDef {
    id: "ice.request-answered",
    level: Level::Must,
    cite: "RFC 8445 §7.3",
    summary: "an agent answers (success or error response) every connectivity check that reaches it under its current ufrag while its session lasts",
};

/// How long an agent may take to answer a check before the end of the observation excuses it.
const ANSWER_GRACE: Duration = Duration::from_secs(1);

/// When `party` first received a 487 (Role Conflict) error response: from then on its role may
/// have switched (RFC 8445 §7.2.5.1).
fn role_switched(ctx: &Ctx, party: Party) -> Option<SimTime> {
    ctx.wire
        .stun
        .iter()
        .find(|s| {
            s.party == party
                && s.dir == Dir::Rx
                && s.msg.class == Class::Error
                && s.msg.method == method::BINDING
                && matches!(s.msg.get(attr_type::ERROR_CODE), Some(Ok(Attribute::ErrorCode(e))) if e.code == 487)
        })
        .map(|s| s.time)
}

/// See [`ROLE_ATTRIBUTES`].
pub fn role_attributes(ctx: &Ctx) -> CheckResult {
    let d = &ROLE_ATTRIBUTES;
    let mut n = 0;
    for party in [ctx.caller, ctx.callee] {
        let controlling = party == ctx.controlling;
        let switched = role_switched(ctx, party);
        for c in ctx.wire.checks_sent_by(&party) {
            if switched.is_some_and(|t| c.time >= t) {
                continue;
            }
            n += 1;
            let (has_ing, has_ed) = (c.msg.has(attr_type::ICE_CONTROLLING), c.msg.has(attr_type::ICE_CONTROLLED));
            let wrong = if has_ing && has_ed {
                Some("both ICE-CONTROLLING and ICE-CONTROLLED".to_string())
            } else if controlling && !has_ing {
                Some("ICE-CONTROLLED although it initiated the session (the controlling agent, XEP-0176 §2)".into())
            } else if !controlling && !has_ed {
                Some("ICE-CONTROLLING although it is the controlled agent (its peer initiated the session)".into())
            } else if !controlling && c.msg.has(attr_type::USE_CANDIDATE) {
                Some("USE-CANDIDATE, which only the controlling agent sends".into())
            } else {
                None
            };
            if let Some(what) = wrong {
                return result(
                    d,
                    Verdict::Fail,
                    format!("{party}'s check {} -> {} at {} carries {what}, with no 487 role conflict before it", c.src, c.dst, c.time),
                    vec![c.index],
                )
                .by(&party);
            }
        }
    }
    if n == 0 {
        return result(d, Verdict::Inconclusive, "no connectivity check was sent".into(), vec![]);
    }
    result(
        d,
        Verdict::Pass,
        format!("{n} checks, each with its sender's role attribute; USE-CANDIDATE only from {}", ctx.controlling),
        vec![],
    )
}

/// See [`REQUEST_ANSWERED`].
pub fn request_answered(ctx: &Ctx) -> CheckResult {
    let d = &REQUEST_ANSWERED;
    let mut answered = 0;
    for party in [ctx.caller, ctx.callee] {
        // Its session ends with the first session-terminate it sent or received.
        let ended = ctx
            .wire
            .jingle
            .iter()
            .find(|j| j.party == party && j.action == "session-terminate")
            .map_or(ctx.end, |j| j.time);
        // Its ufrags as signalled, with when each became current.
        let mut own: Vec<(SimTime, &str)> = Vec::new();
        for j in ctx.wire.jingle.iter().filter(|j| j.party == party && j.dir == Dir::Tx) {
            if let Some(u) = j.contents.iter().find_map(|c| c.ufrag.as_deref()) {
                if own.last().is_none_or(|(_, last)| *last != u) {
                    own.push((j.time, u));
                }
            }
        }
        let current = |t: SimTime| own.iter().rev().find(|(at, _)| *at <= t).map(|(_, u)| *u);
        let mut seen: BTreeSet<[u8; 12]> = BTreeSet::new();
        // Its responses, by (transaction id, trace index): one ordered look-up per request.
        let answers: BTreeSet<([u8; 12], usize)> = ctx
            .wire
            .stun
            .iter()
            .filter(|s| s.party == party && s.dir == Dir::Tx && matches!(s.msg.class, Class::Success | Class::Error))
            .map(|s| (s.msg.transaction_id, s.index))
            .collect();
        for r in ctx.wire.stun.iter().filter(|s| {
            s.party == party
                && s.dir == Dir::Rx
                && s.msg.class == Class::Request
                && s.msg.method == method::BINDING
                && (s.msg.has(attr_type::ICE_CONTROLLING) || s.msg.has(attr_type::ICE_CONTROLLED))
        }) {
            if r.time + ANSWER_GRACE > ended || !seen.insert(r.msg.transaction_id) {
                continue;
            }
            let to = r
                .msg
                .raw(attr_type::USERNAME)
                .and_then(|a| std::str::from_utf8(a.value).ok())
                .and_then(|u| u.split_once(':'))
                .map(|(to, _)| to);
            if to.is_none() || to != current(r.time) {
                continue;
            }
            let reply = answers
                .range((r.msg.transaction_id, r.index)..)
                .next()
                .filter(|(id, _)| *id == r.msg.transaction_id);
            match reply {
                Some(_) => answered += 1,
                None => {
                    return result(
                        d,
                        Verdict::Fail,
                        format!(
                            "{party} never answered the check from {} to {} at {} under its current ufrag {}, while \
                             its session lasted (until {ended})",
                            r.src,
                            r.dst,
                            r.time,
                            to.unwrap_or("")
                        ),
                        vec![r.index],
                    )
                    .by(&party)
                }
            }
        }
    }
    if answered == 0 {
        return result(
            d,
            Verdict::Inconclusive,
            "no check reached an agent under its current ufrag while its session lasted".into(),
            vec![],
        );
    }
    result(
        d,
        Verdict::Pass,
        format!("{answered} checks reached an agent under its current ufrag; each was answered"),
        vec![],
    )
}
