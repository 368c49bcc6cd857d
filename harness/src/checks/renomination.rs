//! Renomination checks (draft-thatcher-ice-renomination-01 §3–§4; docs/field-failures.md
//! §Conversations 2.9.7 unnegotiated renomination, §Renomination2 and NOMINATION 0x0030): NOMINATION
//! attributes only towards a peer that agreed, the controlled side following the highest, and the
//! loud 420 of renomination2's 0x0030.

use std::net::SocketAddr;

use super::{result, CheckDef, CheckResult, Ctx, Level, Verdict};
use crate::endpoint::Renomination;
use crate::stun::{attr_type, method, Attribute, Class};
use crate::trace::Dir;

/// A NOMINATION attribute (0xC001 or 0x0030) goes only to a peer that advertised renomination.
pub const ONLY_WHEN_NEGOTIATED: CheckDef = CheckDef {
    id: "ice.renomination.only-when-negotiated",
    level: Level::Must,
    cite: "draft-thatcher-ice-renomination-01 §3",
    summary: "NOMINATION (0xC001 or 0x0030) is sent only to a peer whose transport advertised renomination",
};

/// Whether `party`'s peer advertised renomination: a transport it received carried `<renomination/>`.
pub(super) fn peer_offered(ctx: &Ctx, party: &str) -> bool {
    peer_offered_in(&ctx.wire, party)
}

/// [`peer_offered`] on the wire views alone.
pub(super) fn peer_offered_in(wire: &crate::wire::Wire, party: &str) -> bool {
    wire.jingle
        .iter()
        .filter(|j| j.party == party && j.dir == Dir::Rx)
        .flat_map(|j| j.contents.iter())
        .any(|c| c.renomination)
}

/// See [`ONLY_WHEN_NEGOTIATED`].
pub fn only_when_negotiated(ctx: &Ctx) -> CheckResult {
    let d = &ONLY_WHEN_NEGOTIATED;
    let mut checks = 0;
    for party in [&ctx.caller, &ctx.callee] {
        let peer_offers = peer_offered(ctx, party);
        for c in ctx.wire.checks_sent_by(party) {
            checks += 1;
            let attr = [attr_type::NOMINATION_LEGACY, attr_type::NOMINATION_RENOMINATION2]
                .into_iter()
                .find(|a| c.msg.has(*a));
            if let (Some(a), false) = (attr, peer_offers) {
                let use_candidate = ctx
                    .wire
                    .checks_sent_by(party)
                    .any(|x| x.msg.has(attr_type::USE_CANDIDATE));
                return result(
                    d,
                    Verdict::Fail,
                    format!(
                        "{party} sent NOMINATION {a:#06x} to {} although the peer's transport never advertised \
                         <renomination/>{}; a peer without renomination ignores it and never sees a nomination",
                        c.dst,
                        if use_candidate {
                            ""
                        } else {
                            ", and it never sent USE-CANDIDATE"
                        }
                    ),
                    vec![c.index],
                )
                .by(party);
            }
        }
    }
    if checks == 0 {
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
        format!("{checks} connectivity checks, none with an un-negotiated NOMINATION"),
        vec![],
    )
}

/// Renomination: the controlled agent uses the pair of the highest NOMINATION value it received.
pub const CONTROLLED_FOLLOWS_HIGHEST: CheckDef = CheckDef {
    id: "ice.renomination.controlled-follows-highest",
    level: Level::Must,
    cite: "draft-thatcher-ice-renomination-01 §3",
    summary: "after renominations, the controlled agent sends media on the pair with the highest NOMINATION value it accepted",
};

/// A NOMINATION 0x0030 (renomination2, comprehension-required) to an agent that does not implement it
/// draws 420 Unknown Attribute.
pub const UNKNOWN_0X0030_DRAWS_420: CheckDef = CheckDef {
    id: "ice.renomination.unknown-0x0030-draws-420",
    level: Level::Must,
    cite: "RFC 8489 §7.3.1",
    summary: "an agent without renomination2 answers a check carrying NOMINATION 0x0030 (comprehension-required) with 420 Unknown Attribute listing 0x0030",
};

/// Grace after the highest nomination before media must have moved to it (as for a first nomination).
const SWITCH_GRACE: std::time::Duration = std::time::Duration::from_millis(3000);

/// The NOMINATION value a check carries (0xC001 or 0x0030), if any.
fn nomination_value(m: &crate::stun::Message) -> Option<u32> {
    [attr_type::NOMINATION_LEGACY, attr_type::NOMINATION_RENOMINATION2]
        .into_iter()
        .find_map(|a| match m.get(a) {
            Some(Ok(Attribute::NominationLegacy(v) | Attribute::NominationRenomination2(v))) => Some(v),
            _ => None,
        })
}

/// See [`CONTROLLED_FOLLOWS_HIGHEST`].
pub fn controlled_follows_highest(ctx: &Ctx) -> CheckResult {
    let d = &CONTROLLED_FOLLOWS_HIGHEST;
    let controlled = if ctx.controlling == ctx.caller {
        &ctx.callee
    } else {
        &ctx.caller
    };
    if !peer_offered(ctx, &ctx.controlling) {
        return result(
            d,
            Verdict::Inconclusive,
            format!("{controlled} never advertised renomination, so there was nothing to follow"),
            vec![],
        );
    }
    // The nominations the controlled agent accepted (answered with success), by value in arrival order;
    // one at or below the highest so far changes nothing.
    let mut accepted: Vec<(u32, SocketAddr, SocketAddr, usize, crate::time::SimTime)> = Vec::new();
    for s in ctx.wire.stun.iter().filter(|s| {
        &s.party == controlled && s.dir == Dir::Rx && s.msg.class == Class::Request && s.msg.method == method::BINDING
    }) {
        let Some(v) = nomination_value(&s.msg) else { continue };
        let ok = ctx.wire.stun.iter().any(|r| {
            &r.party == controlled
                && r.dir == Dir::Tx
                && r.msg.class == Class::Success
                && r.msg.transaction_id == s.msg.transaction_id
        });
        if ok && accepted.last().is_none_or(|h| v > h.0) {
            accepted.push((v, s.dst, s.src, s.index, s.time));
        }
    }
    let switches = accepted
        .windows(2)
        .filter(|w| (w[0].1, w[0].2) != (w[1].1, w[1].2))
        .count();
    let Some(&(v, local, remote, at, time)) = accepted.last() else {
        return result(
            d,
            Verdict::Inconclusive,
            format!("{controlled} accepted no NOMINATION"),
            vec![],
        );
    };
    if switches == 0 {
        return result(
            d,
            Verdict::Inconclusive,
            format!(
                "every NOMINATION {controlled} accepted named one pair ({local} -> {remote}); \
                 ice.nomination.controlled-uses-nominated judges it"
            ),
            vec![at],
        );
    }
    let late: Vec<_> = ctx
        .wire
        .rtp
        .iter()
        .filter(|r| &r.party == controlled && r.dir == Dir::Tx && r.time >= time + SWITCH_GRACE)
        .collect();
    if let Some(bad) = late.iter().find(|r| (r.src, r.dst) != (local, remote)) {
        return result(
            d,
            Verdict::Fail,
            format!(
                "the highest nomination {controlled} accepted ({v}) named {local} -> {remote}, but at {} it sent \
                 media {} -> {}",
                bad.time, bad.src, bad.dst
            ),
            vec![at, bad.index],
        )
        .by(controlled);
    }
    match late.first() {
        Some(first) => result(
            d,
            Verdict::Pass,
            format!(
                "{controlled} followed {switches} renomination(s) to {local} -> {remote} (value {v}); {} media packets \
                 after it, all on that pair",
                late.len()
            ),
            vec![at, first.index],
        ),
        None => result(
            d,
            Verdict::Inconclusive,
            format!("{controlled} sent no media 3 s or more after the highest nomination ({v})"),
            vec![at],
        ),
    }
}

/// See [`UNKNOWN_0X0030_DRAWS_420`].
pub fn unknown_0x0030_draws_420(ctx: &Ctx) -> CheckResult {
    let d = &UNKNOWN_0X0030_DRAWS_420;
    let mut seen = 0;
    for party in [&ctx.caller, &ctx.callee] {
        if ics_renomination(ctx, party) == Some(Renomination::Renomination2) {
            continue;
        }
        for s in ctx.wire.stun.iter().filter(|s| {
            &s.party == party
                && s.dir == Dir::Rx
                && s.msg.class == Class::Request
                && s.msg.has(attr_type::NOMINATION_RENOMINATION2)
        }) {
            seen += 1;
            let reply = ctx.wire.stun.iter().find(|r| {
                &r.party == party
                    && r.dir == Dir::Tx
                    && r.index > s.index
                    && r.msg.transaction_id == s.msg.transaction_id
                    && matches!(r.msg.class, Class::Success | Class::Error)
            });
            let listed = |r: &crate::wire::StunSeen| {
                matches!(r.msg.get(attr_type::ERROR_CODE), Some(Ok(Attribute::ErrorCode(e))) if e.code == 420)
                    && matches!(r.msg.get(attr_type::UNKNOWN_ATTRIBUTES),
                        Some(Ok(Attribute::UnknownAttributes(l))) if l.contains(&attr_type::NOMINATION_RENOMINATION2))
            };
            match reply {
                Some(r) if listed(r) => {}
                Some(r) => {
                    return result(
                        d,
                        Verdict::Fail,
                        format!(
                            "{party} (renomination {}) answered a check carrying 0x0030 from {} with a {} instead of \
                             420 listing 0x0030: it acted on a comprehension-required attribute it does not know",
                            ics_renomination(ctx, party).map_or("", Renomination::as_str),
                            s.src,
                            match r.msg.class {
                                Class::Success => "success".to_string(),
                                _ => match r.msg.get(attr_type::ERROR_CODE) {
                                    Some(Ok(Attribute::ErrorCode(e))) => format!("{} error", e.code),
                                    _ => "error without ERROR-CODE".into(),
                                },
                            }
                        ),
                        vec![s.index, r.index],
                    )
                    .by(party)
                }
                None => {
                    return result(
                        d,
                        Verdict::Fail,
                        format!(
                            "{party} never answered a check carrying 0x0030 from {}; it owes a 420",
                            s.src
                        ),
                        vec![s.index],
                    )
                    .by(party)
                }
            }
        }
    }
    if seen == 0 {
        return result(
            d,
            Verdict::Inconclusive,
            "no check carrying 0x0030 reached an agent without renomination2".into(),
            vec![],
        );
    }
    result(
        d,
        Verdict::Pass,
        format!("{seen} checks carrying 0x0030 each drew 420 Unknown Attribute listing it"),
        vec![],
    )
}

fn ics_renomination(ctx: &Ctx, party: &str) -> Option<Renomination> {
    super::party_ics(ctx, party).map(|i| i.renomination)
}
