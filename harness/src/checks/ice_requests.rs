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
            let (has_ing, has_ed) = (
                c.msg.has(attr_type::ICE_CONTROLLING),
                c.msg.has(attr_type::ICE_CONTROLLED),
            );
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
                    format!(
                        "{party}'s check {} -> {} at {} carries {what}, with no 487 role conflict before it",
                        c.src, c.dst, c.time
                    ),
                    vec![c.index],
                )
                .by(&party);
            }
        }
    }
    if n == 0 {
        return result(
            d,
            Verdict::Inconclusive,
            "no connectivity check was sent".into(),
            vec![],
        );
    }
    result(
        d,
        Verdict::Pass,
        format!(
            "{n} checks, each with its sender's role attribute; USE-CANDIDATE only from {}",
            ctx.controlling
        ),
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
                             its session lasted (until {ended}){}",
                            r.src,
                            r.dst,
                            r.time,
                            to.unwrap_or(""),
                            how_relayed(ctx, r)
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

/// A check's PRIORITY is its local candidate's priority with the peer-reflexive type preference.
pub const CHECK_PRIORITY: CheckDef = CheckDef {
    id: "ice.check-priority",
    level: Level::Must,
    cite: "RFC 8445 §7.1.1, §5.1.2.1",
    summary: "a check's PRIORITY is its local candidate's priority (RFC 8445 §5.1.2.1: the same local preference and component) with one peer-reflexive type preference, above the agent's server-reflexive one",
};

/// See [`CHECK_PRIORITY`]. §7.1.1: "The PRIORITY attribute MUST be included in a Binding request and
/// be set to the value computed by the algorithm in Section 5.1.2 for the local candidate, but with
/// the candidate type preference of peer-reflexive candidates"; §5.1.2.2: the type preference "MUST
/// be identical for all candidates of the same type" and that of peer-reflexive candidates "MUST be
/// higher than that of server-reflexive candidates". The local candidate of a check is the one
/// signalled at its source (its base: host or relayed); checks from unsignalled addresses are not
/// judged.
pub fn check_priority(ctx: &Ctx) -> CheckResult {
    let d = &CHECK_PRIORITY;
    let mut judged = 0;
    for party in [ctx.caller, ctx.callee] {
        let signalled: Vec<&crate::wire::CandidateSeen> = ctx
            .wire
            .jingle
            .iter()
            .filter(|j| j.party == party && j.dir == Dir::Tx)
            .flat_map(|j| j.contents.iter().flat_map(|c| c.candidates.iter()))
            .collect();
        let srflx_pref = signalled
            .iter()
            .filter(|c| c.typ == "srflx")
            .filter_map(|c| c.priority)
            .map(|p| p >> 24)
            .max();
        let mut prflx_pref: Option<(u32, usize)> = None;
        for c in ctx.wire.checks_sent_by(&party) {
            let Some(Ok(Attribute::Priority(p))) = c.msg.get(attr_type::PRIORITY) else {
                continue; // ice.check-attributes reports a missing PRIORITY
            };
            let Some(local) = signalled
                .iter()
                .find(|s| s.addr == c.src && s.typ != "srflx" && s.priority.is_some())
            else {
                continue;
            };
            judged += 1;
            let lp = local.priority.unwrap_or_default();
            let fail = |what: String| {
                result(
                    d,
                    Verdict::Fail,
                    format!("{party}'s check {} -> {} at {}: {what}", c.src, c.dst, c.time),
                    vec![c.index],
                )
                .by(&party)
            };
            if p & 0xff != lp & 0xff {
                return fail(format!(
                    "PRIORITY {p} says component {}, its local {} candidate's priority {lp} component {} (§5.1.2.1)",
                    256 - (p & 0xff),
                    local.typ,
                    256 - (lp & 0xff)
                ));
            }
            if (p >> 8) & 0xffff != (lp >> 8) & 0xffff {
                return fail(format!(
                    "PRIORITY {p} has local preference {}, its local {} candidate {} (priority {lp}) has {} (§7.1.1: \
                     the local candidate's priority but for the type preference)",
                    (p >> 8) & 0xffff,
                    local.typ,
                    local.addr,
                    (lp >> 8) & 0xffff
                ));
            }
            let tp = p >> 24;
            if tp == lp >> 24 {
                // §5.1.2.2: type preferences "MUST be different for candidates of different types".
                return fail(format!(
                    "PRIORITY {p} is its local {} candidate's own priority, type preference {tp} included, not the \
                     peer-reflexive type preference (§7.1.1)",
                    local.typ
                ));
            }
            match prflx_pref {
                Some((other, at)) if other != tp => {
                    return result(
                        d,
                        Verdict::Fail,
                        format!(
                            "{party}'s checks carry two peer-reflexive type preferences, {other} and {tp} (§5.1.2.2: \
                             identical for all candidates of the same type)"
                        ),
                        vec![at, c.index],
                    )
                    .by(&party)
                }
                None => prflx_pref = Some((tp, c.index)),
                _ => {}
            }
            if let Some(s) = srflx_pref.filter(|s| tp <= *s) {
                return fail(format!(
                    "PRIORITY {p} has type preference {tp}, not above its server-reflexive candidates' {s} \
                     (§5.1.2.2: peer-reflexive MUST be higher)"
                ));
            }
        }
    }
    if judged == 0 {
        return result(
            d,
            Verdict::Inconclusive,
            "no check left from a signalled host or relayed candidate with a priority".into(),
            vec![],
        );
    }
    result(
        d,
        Verdict::Pass,
        format!("{judged} checks carry their local candidate's priority with the peer-reflexive type preference"),
        vec![],
    )
}

/// A pair whose only successes came back non-symmetric is Failed, and carries no media.
pub const SYMMETRIC_RESPONSE: CheckDef = CheckDef {
    id: "ice.symmetric-response",
    level: Level::Must,
    cite: "RFC 8445 §7.2.5.2.1",
    summary: "a pair whose checks only drew success responses from another address than the request went to (or to another than it came from) is Failed: its agent sends no media on it",
};

/// See [`SYMMETRIC_RESPONSE`]. §7.2.5.2.1: "the source IP address and port of the response MUST be
/// equal to the destination IP address and port to which the Binding request was sent, and the
/// destination IP address and port of the response MUST be equal to the source IP address and port
/// from which the Binding request was sent. If the addresses are not symmetric, the agent MUST set
/// the candidate pair state to Failed."
pub fn symmetric_response(ctx: &Ctx) -> CheckResult {
    let d = &SYMMETRIC_RESPONSE;
    let mut asymmetric = 0;
    for party in [ctx.caller, ctx.callee] {
        // (local, remote) → (a non-symmetric success, whether a symmetric one came too).
        let mut pairs: Vec<((std::net::SocketAddr, std::net::SocketAddr), usize, bool)> = Vec::new();
        for c in ctx.wire.checks_sent_by(&party) {
            let Some(r) = ctx.wire.response_to(c).filter(|r| r.msg.class == Class::Success) else {
                continue;
            };
            let symmetric = (r.src, r.dst) == (c.dst, c.src);
            match pairs.iter_mut().find(|p| p.0 == (c.src, c.dst)) {
                Some(p) => p.2 |= symmetric,
                None if !symmetric => pairs.push(((c.src, c.dst), r.index, false)),
                None => pairs.push(((c.src, c.dst), usize::MAX, true)),
            }
        }
        for (pair, resp, _) in pairs.iter().filter(|p| !p.2) {
            asymmetric += 1;
            let media = ctx
                .wire
                .rtp
                .iter()
                .find(|m| m.party == party && m.dir == Dir::Tx && (m.src, m.dst) == *pair && m.index > *resp);
            if let Some(m) = media {
                let r = &ctx
                    .wire
                    .stun
                    .iter()
                    .find(|s| s.index == *resp)
                    .expect("the response is a view");
                return result(
                    d,
                    Verdict::Fail,
                    format!(
                        "{party}'s check {} -> {} drew a success from {} to {}, not symmetric, so the pair is \
                         Failed; yet {party} sent media on it at {}",
                        pair.0, pair.1, r.src, r.dst, m.time
                    ),
                    vec![*resp, m.index],
                )
                .by(&party);
            }
        }
    }
    if asymmetric == 0 {
        return result(
            d,
            Verdict::Inconclusive,
            "every success response came back symmetric".into(),
            vec![],
        );
    }
    result(
        d,
        Verdict::Pass,
        format!("{asymmetric} pairs drew only non-symmetric successes; no media went on them"),
        vec![],
    )
}

/// How a relayed check reached the party's host, for the detail: a TURN client delivers the data
/// of a Data indication and of ChannelData alike (RFC 8656 §10.4, §12.6).
fn how_relayed(ctx: &Ctx, r: &crate::wire::StunSeen) -> &'static str {
    if !r.relayed {
        return "";
    }
    let first = match &ctx.out.trace.events[r.index].kind {
        crate::trace::TraceKind::Datagram { payload, .. } => payload.first().copied(),
        _ => None,
    };
    match first {
        Some(0..=3) => "; it reached its host in a TURN Data indication, whose data a client delivers (RFC 8656 §10.4)",
        Some(64..=79) => "; it reached its host as TURN ChannelData, whose data a client delivers (RFC 8656 §12.6)",
        _ => "",
    }
}
