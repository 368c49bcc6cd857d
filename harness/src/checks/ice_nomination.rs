//! ICE nomination checks (RFC 8445 §8).

use std::net::SocketAddr;

use super::{result, CheckDef, CheckResult, Ctx, Level, Verdict};
use crate::stun::{attr_type, Attribute, Class};
use crate::trace::Dir;
use crate::wire::Party;

/// The controlling agent nominates a pair with USE-CANDIDATE and gets a success response.
pub const CONTROLLING_NOMINATES: CheckDef = CheckDef {
    id: "ice.nomination.controlling-nominates",
    level: Level::Must,
    cite: "RFC 8445 §8.1.1",
    summary: "the controlling agent nominates a valid pair with a USE-CANDIDATE check that succeeds",
};

/// The controlled agent sends media on the pair that was nominated, not on another valid pair.
pub const CONTROLLED_USES_NOMINATED: CheckDef = CheckDef {
    id: "ice.nomination.controlled-uses-nominated",
    level: Level::Must,
    cite: "RFC 8445 §8.1.1",
    summary: "after nomination, the controlled agent sends media only on the nominated (selected) pair",
};

/// Grace after nomination during which media on the previously used valid pair is tolerated (§12.1
/// allows media on any valid pair before nomination; a switch takes a moment).
const SWITCH_GRACE_MS: u64 = 3000;

/// See [`CONTROLLING_NOMINATES`].
pub fn controlling_nominates(ctx: &Ctx) -> CheckResult {
    let d = &CONTROLLING_NOMINATES;
    if let Some(n) = ctx.nominated.as_ref().filter(|n| n.by_nomination_attr) {
        if super::renomination::peer_offered(ctx, &n.controlling) {
            return result(
                d,
                Verdict::Pass,
                format!(
                    "{} nominated {} -> {} with a NOMINATION attribute, as renomination was negotiated",
                    n.controlling, n.controlling_view.0, n.controlling_view.1
                ),
                vec![n.request, n.response],
            );
        }
        return result(
            d,
            Verdict::Fail,
            format!(
                "{} marked its nomination of {} -> {} with a NOMINATION attribute, never with USE-CANDIDATE",
                n.controlling, n.controlling_view.0, n.controlling_view.1
            ),
            vec![n.request, n.response],
        );
    }
    if let Some(n) = &ctx.nominated {
        return result(
            d,
            Verdict::Pass,
            format!(
                "{} nominated {} -> {} and the check succeeded",
                n.controlling, n.controlling_view.0, n.controlling_view.1
            ),
            vec![n.request, n.response],
        );
    }
    let checks: Vec<usize> = ctx.wire.checks_sent_by(&ctx.controlling).map(|c| c.index).collect();
    let succeeded = ctx.wire.checks_sent_by(&ctx.controlling).find(|c| {
        ctx.wire
            .response_to(c)
            .is_some_and(|r| r.msg.class == crate::stun::Class::Success)
    });
    match (checks.is_empty(), succeeded) {
        (true, _) => {
            let started = ctx.wire.accepted_by(&ctx.controlling).is_some();
            if started {
                result(
                    d,
                    Verdict::Fail,
                    format!(
                        "the session was accepted but {} sent no connectivity check",
                        ctx.controlling
                    ),
                    vec![],
                )
            } else {
                let refused = ctx.wire.jingle.iter().any(|j| j.action == "session-accept");
                result(
                    d,
                    Verdict::Inconclusive,
                    if refused {
                        format!("{} refused the session-accept, so ICE never ran", ctx.controlling)
                    } else {
                        "no session was accepted, so ICE never ran".into()
                    },
                    vec![],
                )
            }
        }
        (false, Some(ok)) => result(
            d,
            Verdict::Fail,
            format!(
                "{} had a valid pair ({} -> {}) but never sent a USE-CANDIDATE check that succeeded",
                ctx.controlling, ok.src, ok.dst
            ),
            vec![ok.index],
        ),
        (false, None) => result(
            d,
            Verdict::Inconclusive,
            format!(
                "none of {}'s {} checks succeeded, so there was no valid pair to nominate",
                ctx.controlling,
                checks.len()
            ),
            checks.into_iter().take(8).collect(),
        ),
    }
}

/// When `controlled` first accepted (answered with success) a NOMINATION (0xC001 or 0x0030) of a
/// pair other than `pair` after trace index `since`, renomination having been negotiated.
fn renominated_at(
    ctx: &Ctx,
    controlled: Party,
    pair: (SocketAddr, SocketAddr),
    since: usize,
) -> Option<crate::time::SimTime> {
    if !super::renomination::peer_offered(ctx, &ctx.controlling) {
        return None;
    }
    ctx.wire
        .stun
        .iter()
        .filter(|s| {
            s.party == controlled
                && s.dir == Dir::Rx
                && s.index > since
                && s.msg.class == Class::Request
                && (s.dst, s.src) != pair
                && (s.msg.has(attr_type::NOMINATION_LEGACY) || s.msg.has(attr_type::NOMINATION_RENOMINATION2))
        })
        .find(|s| {
            ctx.wire.stun.iter().any(|r| {
                r.party == controlled
                    && r.dir == Dir::Tx
                    && r.msg.class == Class::Success
                    && r.msg.transaction_id == s.msg.transaction_id
            })
        })
        .map(|s| s.time)
}

/// See [`CONTROLLED_USES_NOMINATED`].
pub fn controlled_uses_nominated(ctx: &Ctx) -> CheckResult {
    let d = &CONTROLLED_USES_NOMINATED;
    let controlled = if ctx.controlling == ctx.caller {
        &ctx.callee
    } else {
        &ctx.caller
    };
    let sent: Vec<_> = ctx
        .wire
        .rtp
        .iter()
        .filter(|r| &r.party == controlled && r.dir == Dir::Tx)
        .collect();
    let Some(n) = &ctx.nominated else {
        return match sent.first() {
            Some(r) => result(
                d,
                Verdict::Fail,
                format!(
                    "{controlled} sent media ({} -> {}) although no pair was ever nominated",
                    r.src, r.dst
                ),
                vec![r.index],
            ),
            None => result(
                d,
                Verdict::Inconclusive,
                "no pair was nominated and the controlled agent sent no media".into(),
                vec![],
            ),
        };
    };
    let Some((local, remote, arrived)) = n.controlled_view else {
        return result(
            d,
            Verdict::Inconclusive,
            format!("the nominating check never reached {controlled}"),
            vec![n.request],
        );
    };
    if n.by_nomination_attr && sent.is_empty() {
        // A conforming controlled agent ignores an un-negotiated NOMINATION: waiting is not its fault.
        return result(
            d,
            Verdict::Inconclusive,
            format!(
                "the only nomination was a NOMINATION attribute without USE-CANDIDATE; {controlled} did not take it \
                 as one and sent no media"
            ),
            vec![n.request, arrived],
        );
    }
    let cutoff = n.time.as_millis() + SWITCH_GRACE_MS;
    // Under negotiated renomination a later NOMINATION of another pair moves the media; this check
    // covers the time before it, ice.renomination.controlled-follows-highest the time after.
    let until = renominated_at(ctx, *controlled, (local, remote), arrived);
    // An ICE restart selects anew (RFC 8445 §9): ice.restart judges the time after it.
    let restart = super::consent::restarts(ctx)
        .into_iter()
        .map(|(t, _)| t)
        .find(|t| *t >= n.time);
    let until = until.into_iter().chain(restart).min();
    let after: Vec<_> = sent
        .iter()
        .filter(|r| r.time.as_millis() >= cutoff && until.is_none_or(|u| r.time < u))
        .collect();
    if let Some(bad) = after.iter().find(|r| (r.src, r.dst) != (local, remote)) {
        return result(
            d,
            Verdict::Fail,
            format!(
                "nominated pair at {controlled} is {local} -> {remote}, but it sent media {} -> {} at {}",
                bad.src, bad.dst, bad.time
            ),
            vec![n.request, arrived, bad.index],
        );
    }
    let on_pair: Vec<_> = sent.iter().filter(|r| (r.src, r.dst) == (local, remote)).collect();
    match on_pair.first() {
        Some(first) => result(
            d,
            Verdict::Pass,
            format!(
                "{controlled} sent {} media packets, all on the nominated pair {local} -> {remote}",
                on_pair.len()
            ),
            vec![n.request, arrived, first.index],
        ),
        None => result(
            d,
            Verdict::Fail,
            format!("{controlled} sent no media on the nominated pair {local} -> {remote}"),
            vec![n.request, arrived],
        ),
    }
}

/// The pair the controlling agent nominates is the best (highest-priority) pair valid at the time.
pub const BEST_VALID: CheckDef = CheckDef {
    id: "ice.nomination.best-valid",
    level: Level::Should,
    cite: "RFC 8445 §8.1.1",
    summary: "the controlling agent nominates the highest-priority pair among those valid when it nominates",
};

/// Pair priority, RFC 8445 §6.1.2.3: `2^32·min(G,D) + 2·max(G,D) + (G>D ? 1 : 0)`, G the controlling
/// agent's candidate priority, D the controlled agent's.
fn pair_priority(g: u32, d: u32) -> u64 {
    (1u64 << 32) * u64::from(g.min(d)) + 2 * u64::from(g.max(d)) + u64::from(g > d)
}

/// See [`BEST_VALID`].
pub fn best_valid(ctx: &Ctx) -> CheckResult {
    let d = &BEST_VALID;
    let Some(n) = &ctx.nominated else {
        return result(d, Verdict::Inconclusive, "no pair was nominated".into(), vec![]);
    };
    let controlling = &n.controlling;
    // Candidate priorities as signalled (XEP-0176 §5): the controlling agent's own, and its peer's.
    let signalled = |party: Party, dir: Dir| -> Vec<(SocketAddr, u32)> {
        ctx.wire
            .jingle
            .iter()
            .filter(|j| j.party == party && j.dir == dir)
            .flat_map(|j| j.contents.iter().flat_map(|c| c.candidates.iter()))
            .filter_map(|c| Some((c.addr, c.priority?)))
            .collect()
    };
    let local = signalled(*controlling, Dir::Tx);
    let remote = signalled(*controlling, Dir::Rx);
    let find = |list: &[(SocketAddr, u32)], a: SocketAddr| list.iter().find(|x| x.0 == a).map(|x| x.1);
    // A valid pair is (mapped address of the success response, destination of the check), §7.2.5.3.2;
    // a local peer-reflexive candidate has the PRIORITY its check carried.
    let valid_pair = |req: &crate::wire::StunSeen| -> Option<(SocketAddr, SocketAddr, Option<u64>)> {
        let resp = ctx.wire.response_to(req).filter(|r| r.msg.class == Class::Success)?;
        let mapped = match resp.msg.get(attr_type::XOR_MAPPED_ADDRESS) {
            Some(Ok(Attribute::XorMappedAddress(a))) => a,
            _ => req.src,
        };
        let g = find(&local, mapped).or(match req.msg.get(attr_type::PRIORITY) {
            Some(Ok(Attribute::Priority(p))) => Some(p),
            _ => None,
        });
        // A remote peer-reflexive candidate has the PRIORITY of the peer's check that revealed it.
        let dd = find(&remote, req.dst).or_else(|| {
            ctx.wire
                .stun
                .iter()
                .filter(|s| &s.party == controlling && s.dir == Dir::Rx && s.src == req.dst)
                .find_map(|s| match s.msg.get(attr_type::PRIORITY) {
                    Some(Ok(Attribute::Priority(p))) => Some(p),
                    _ => None,
                })
        });
        let prio = g.zip(dd).map(|(g, dd)| pair_priority(g, dd));
        Some((mapped, req.dst, prio))
    };
    let Some(req) = ctx.wire.stun.iter().find(|s| s.index == n.request) else {
        return result(
            d,
            Verdict::HarnessError,
            "the nominating check is not in the trace".into(),
            vec![],
        );
    };
    let Some((nl, nr, Some(np))) = valid_pair(req) else {
        return result(
            d,
            Verdict::Inconclusive,
            format!(
                "the priority of the nominated pair {} -> {} could not be read from the signalled candidates",
                req.src, req.dst
            ),
            vec![n.request],
        );
    };
    let mut valid = std::collections::BTreeSet::new();
    let mut best: Option<(u64, SocketAddr, SocketAddr, usize)> = None;
    for c in ctx.wire.checks_sent_by(controlling).filter(|c| c.index < n.request) {
        if ctx.wire.response_to(c).is_none_or(|r| r.index > n.request) {
            continue;
        }
        let Some((l, r, Some(p))) = valid_pair(c) else {
            continue;
        };
        valid.insert((l, r));
        if best.is_none_or(|b| p > b.0) {
            best = Some((p, l, r, c.index));
        }
    }
    match best {
        Some((p, l, r, i)) if p > np => result(
            d,
            Verdict::Fail,
            format!(
                "{controlling} nominated {nl} -> {nr} (pair priority {np}) while {l} -> {r} (priority {p}) was \
                 already valid"
            ),
            vec![n.request, i],
        ),
        _ => result(
            d,
            Verdict::Pass,
            format!(
                "{controlling} nominated {nl} -> {nr} (pair priority {np}), the best of the {} pairs valid then",
                valid.len().max(1)
            ),
            vec![n.request],
        ),
    }
}
