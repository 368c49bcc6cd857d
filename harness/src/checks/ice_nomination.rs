//! ICE nomination checks (RFC 8445 §8).

use std::net::SocketAddr;

use super::Nominated;
use super::{result, CheckDef, CheckResult, Ctx, Level, Verdict};
use crate::stun::{attr_type, Attribute, Class};
use crate::trace::Dir;
use crate::wire::{Party, Wire};

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

/// See [`CONTROLLING_NOMINATES`]: judges the controlling agent.
pub fn controlling_nominates(ctx: &Ctx) -> CheckResult {
    controlling_nominates_verdict(ctx).or_by(&ctx.controlling)
}

fn controlling_nominates_verdict(ctx: &Ctx) -> CheckResult {
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
            // RFC 8445 §6.1.2: a checklist pairs local with remote candidates; with no local
            // candidate (a relay-only policy whose allocation the server refused, say) there is
            // nothing to check, and that is the deployment's outcome, not a broken rule.
            let candidateless = super::candidateless(ctx);
            if let (true, Some((who, true))) = (started, candidateless) {
                result(
                    d,
                    Verdict::Inconclusive,
                    format!(
                        "the session was accepted but {who} signalled no candidate, the TURN server having \
                         refused its allocation, so {} had no pair to check",
                        ctx.controlling
                    ),
                    vec![],
                )
            } else if let (true, Some((who, false))) = (started, candidateless) {
                result(
                    d,
                    Verdict::Fail,
                    format!(
                        "the session was accepted but {who} signalled no candidate at all, so no pair could be checked"
                    ),
                    vec![],
                )
                .by(who)
            } else if started {
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
        (false, Some(ok)) => {
            let by_attr = ctx
                .wire
                .checks_sent_by(&ctx.controlling)
                .find(|c| c.msg.has(attr_type::NOMINATION_LEGACY) || c.msg.has(attr_type::NOMINATION_RENOMINATION2));
            let why = match by_attr {
                Some(c) => format!(
                    "; it marked a check to {} with a NOMINATION attribute instead, which nominates nothing at a peer \
                     that never advertised renomination",
                    c.dst
                ),
                None => String::new(),
            };
            result(
                d,
                Verdict::Fail,
                format!(
                    "{} had a valid pair ({} -> {}) but never sent a USE-CANDIDATE check that succeeded{why}",
                    ctx.controlling, ok.src, ok.dst
                ),
                [Some(ok.index), by_attr.map(|c| c.index)]
                    .into_iter()
                    .flatten()
                    .collect(),
            )
        }
        (false, None) => result(
            d,
            Verdict::Inconclusive,
            format!(
                "none of {}'s {} checks succeeded, so there was no valid pair to nominate",
                ctx.controlling,
                checks.len()
            ),
            checks.into_iter().take(8).collect(),
        )
        .network(),
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

/// See [`CONTROLLED_USES_NOMINATED`]: judges the controlled agent.
pub fn controlled_uses_nominated(ctx: &Ctx) -> CheckResult {
    let controlled = if ctx.controlling == ctx.caller {
        &ctx.callee
    } else {
        &ctx.caller
    };
    controlled_uses_nominated_verdict(ctx, controlled).or_by(controlled)
}

/// Whether `party` had a valid pair `(local, remote)` by `at`: one of its own checks on it got a
/// success response by then (RFC 8445 §7.2.5.3.2).
fn valid_by(ctx: &Ctx, party: &Party, pair: (SocketAddr, SocketAddr), at: crate::time::SimTime) -> bool {
    ctx.wire
        .checks_sent_by(party)
        .filter(|c| (c.src, c.dst) == pair && c.time <= at)
        .any(|c| {
            ctx.wire
                .response_to(c)
                .is_some_and(|r| r.msg.class == Class::Success && r.time <= at)
        })
}

fn controlled_uses_nominated_verdict(ctx: &Ctx, controlled: &Party) -> CheckResult {
    let d = &CONTROLLED_USES_NOMINATED;
    let sent: Vec<_> = ctx
        .wire
        .rtp
        .iter()
        .filter(|r| &r.party == controlled && r.dir == Dir::Tx)
        .collect();
    let Some(n) = &ctx.nominated else {
        // Media before nomination is allowed on a valid pair (RFC 8445 §12.1), only there.
        let off_valid = sent.iter().find(|r| !valid_by(ctx, controlled, (r.src, r.dst), r.time));
        return match (sent.first(), off_valid) {
            (_, Some(r)) => result(
                d,
                Verdict::Fail,
                format!(
                    "{controlled} sent media ({} -> {}) at {} on a pair none of its checks had validated, and no \
                     pair was ever nominated",
                    r.src, r.dst, r.time
                ),
                vec![r.index],
            ),
            (Some(r), None) => result(
                d,
                Verdict::Inconclusive,
                format!(
                    "no pair was nominated; {controlled} sent media only on pairs it had validated (first {} -> {}), \
                     which RFC 8445 §12.1 allows before nomination",
                    r.src, r.dst
                ),
                vec![r.index],
            ),
            (None, None) => result(
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
            format!(
                "the nominating check never reached {controlled}{}",
                super::network::fate(ctx, n.request)
            ),
            vec![n.request],
        )
        .network();
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
    // With several pairs nominated in the session (RFC 5245 aggressive nomination; RFC 8445
    // §8.1.1 forbids it, ice.nomination.once-per-session says so), the controlled agent uses the
    // highest-priority one by its own reckoning of priorities, which the wire cannot replay
    // exactly: any nominated pair of the session is its choice to make.
    let nominated_here: Vec<(SocketAddr, SocketAddr)> = ctx
        .nominations
        .iter()
        .filter(|m| m.session == n.session && m.component == n.component)
        .filter_map(|m| m.controlled_view.map(|(l, r, _)| (l, r)))
        .collect();
    if let Some(bad) = after.iter().find(|r| !nominated_here.contains(&(r.src, r.dst))) {
        let others = if nominated_here.len() > 1 {
            format!(
                " (or any of the {} pairs nominated in the session)",
                nominated_here.len()
            )
        } else {
            String::new()
        };
        return result(
            d,
            Verdict::Fail,
            format!(
                "nominated pair at {controlled} is {local} -> {remote}{others}, but it sent media {} -> {} at {}",
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
        None => match super::media_waits_for_dtls(ctx, controlled) {
            Some(why) => result(d, Verdict::Inconclusive, why, vec![n.request, arrived]),
            None => result(
                d,
                Verdict::Fail,
                format!("{controlled} sent no media on the nominated pair {local} -> {remote}"),
                vec![n.request, arrived],
            ),
        },
    }
}

/// Whether the controlling agent nominated the best (highest-priority) pair valid at the time:
/// informational, as RFC 8445 §8.1.1 leaves the choice of pair to the agent ("the controlling agent
/// MAY nominate ... Deciding when to stop checks and nominate is a local matter").
pub const BEST_VALID: CheckDef = CheckDef {
    id: "ice.nomination.best-valid",
    level: Level::Info,
    cite: "RFC 8445 §8.1.1",
    summary: "which pair the controlling agent nominated, against the highest-priority pair valid then (the RFC leaves the choice open)",
};

/// Every nomination of `controlling` that took effect, in trace order: a check with USE-CANDIDATE
/// (or, when renomination was `negotiated`, a NOMINATION attribute) that got a success response
/// (RFC 8445 §7.2.5.3.4), with the pair's priority, ICE session and component. Retransmissions and
/// repeated nominations of the same pair in the same session count once.
pub(super) fn nominations<'a>(
    wire: &Wire<'a>,
    controlling: Party<'a>,
    controlled: Party<'a>,
    negotiated: bool,
) -> Vec<Nominated<'a>> {
    let mut out: Vec<Nominated<'a>> = Vec::new();
    let priorities = Priorities::of(wire, controlling);
    for req in wire.checks_sent_by(&controlling) {
        let by_attr = !req.msg.has(attr_type::USE_CANDIDATE);
        if by_attr
            && !(negotiated
                && (req.msg.has(attr_type::NOMINATION_LEGACY) || req.msg.has(attr_type::NOMINATION_RENOMINATION2)))
        {
            continue;
        }
        // A nomination takes effect at the controlled agent when it answers with success, at the
        // controlling agent when that success arrives (RFC 8445 §7.3.1.5, §7.2.5.3.4): a response
        // the network lost still nominated the pair at the controlled side.
        let at_controlling = wire.response_to(req).filter(|r| r.msg.class == Class::Success);
        let at_controlled = || {
            wire.stun.iter().find(|s| {
                s.party == controlled
                    && s.dir == Dir::Tx
                    && s.msg.class == Class::Success
                    && s.msg.transaction_id == req.msg.transaction_id
            })
        };
        let Some(resp) = at_controlling.or_else(at_controlled) else {
            continue;
        };
        let (session, component) = (session_of(req), component_of(req));
        if out
            .iter()
            .any(|n| n.controlling_view == (req.src, req.dst) && n.session == session && !by_attr)
        {
            continue;
        }
        let seen = wire.received_by(&controlled, req).map(|r| (r.dst, r.src, r.index));
        out.push(Nominated {
            request: req.index,
            response: resp.index,
            time: resp.time,
            at_controlling: at_controlling.is_some(),
            controlling,
            controlled,
            controlling_view: (req.src, req.dst),
            controlled_view: seen,
            by_nomination_attr: by_attr,
            priority: priorities.valid_pair(wire, controlling, req).and_then(|v| v.2),
            session,
            component,
        });
    }
    out
}

/// The ICE session (generation) of check `c`: its USERNAME, empty when absent.
fn session_of(c: &crate::wire::StunSeen) -> String {
    match c.msg.get(attr_type::USERNAME) {
        Some(Ok(Attribute::Username(u))) => u,
        _ => String::new(),
    }
}

/// The component of check `c` (RFC 8445 §5.1.2.1: 256 minus its PRIORITY's low byte), 1 when
/// unreadable.
fn component_of(c: &crate::wire::StunSeen) -> u16 {
    match c.msg.get(attr_type::PRIORITY) {
        Some(Ok(Attribute::Priority(p))) => 256 - (p & 0xff) as u16,
        _ => 1,
    }
}

/// The selected pair of the first ICE session: of its component-1 nominations, the one the
/// controlled agent last sent media on (several nominated pairs leave the choice to its reckoning
/// of priorities, RFC 8445 §8.1.1); failing that the highest-priority one (the first of equals),
/// or the first when priorities cannot be read.
pub(super) fn selected<'n, 'a>(wire: &Wire<'a>, nominations: &'n [Nominated<'a>]) -> Option<&'n Nominated<'a>> {
    let first = nominations.first()?;
    let here = || {
        nominations
            .iter()
            .filter(|n| n.session == first.session && n.component == first.component)
    };
    let used = wire
        .rtp
        .iter()
        .rev()
        .filter(|r| r.party == first.controlled && r.dir == Dir::Tx)
        .find_map(|r| here().find(|n| n.controlled_view.is_some_and(|(l, rr, _)| (l, rr) == (r.src, r.dst))));
    used.or_else(|| {
        here().fold(None, |best: Option<&Nominated>, n| match best {
            Some(b) if n.priority <= b.priority => Some(b),
            _ => Some(n),
        })
    })
}

/// The candidate priorities the controlling agent's checks are judged with: its own and its
/// peer's, as signalled in Jingle (XEP-0176 §5). Built once per run.
pub(super) struct Priorities {
    local: Vec<(SocketAddr, u32)>,
    remote: Vec<(SocketAddr, u32)>,
}

impl Priorities {
    /// The signalled priorities of `controlling`'s candidates and of its peer's.
    pub(super) fn of(wire: &Wire, controlling: Party) -> Priorities {
        let signalled = |dir: Dir| -> Vec<(SocketAddr, u32)> {
            wire.jingle
                .iter()
                .filter(|j| j.party == controlling && j.dir == dir)
                .flat_map(|j| j.contents.iter().flat_map(|c| c.candidates.iter()))
                .filter_map(|c| Some((c.addr, c.priority?)))
                .collect()
        };
        Priorities {
            local: signalled(Dir::Tx),
            remote: signalled(Dir::Rx),
        }
    }

    /// A valid pair from the controlling agent's check `req` (RFC 8445 §7.2.5.3.2): (the mapped
    /// address of its success response, the check's destination, the pair priority when both
    /// candidates' priorities can be read: signalled, or carried by a check as a peer-reflexive's).
    pub(super) fn valid_pair(
        &self,
        wire: &Wire,
        controlling: Party,
        req: &crate::wire::StunSeen,
    ) -> Option<(SocketAddr, SocketAddr, Option<u64>)> {
        let find = |list: &[(SocketAddr, u32)], a: SocketAddr| list.iter().find(|x| x.0 == a).map(|x| x.1);
        let resp = wire.response_to(req).filter(|r| r.msg.class == Class::Success)?;
        let mapped = match resp.msg.get(attr_type::XOR_MAPPED_ADDRESS) {
            Some(Ok(Attribute::XorMappedAddress(a))) => a,
            _ => req.src,
        };
        // A local peer-reflexive candidate has the PRIORITY its check carried.
        let g = find(&self.local, mapped).or(match req.msg.get(attr_type::PRIORITY) {
            Some(Ok(Attribute::Priority(p))) => Some(p),
            _ => None,
        });
        // A remote peer-reflexive candidate has the PRIORITY of the peer's check that revealed it.
        let dd = find(&self.remote, req.dst).or_else(|| {
            wire.stun
                .iter()
                .filter(|s| s.party == controlling && s.dir == Dir::Rx && s.src == req.dst)
                .find_map(|s| match s.msg.get(attr_type::PRIORITY) {
                    Some(Ok(Attribute::Priority(p))) => Some(p),
                    _ => None,
                })
        });
        let prio = g.zip(dd).map(|(g, dd)| pair_priority(g, dd));
        Some((mapped, req.dst, prio))
    }
}

/// Pair priority, RFC 8445 §6.1.2.3: `2^32·min(G,D) + 2·max(G,D) + (G>D ? 1 : 0)`, G the controlling
/// agent's candidate priority, D the controlled agent's.
fn pair_priority(g: u32, d: u32) -> u64 {
    (1u64 << 32) * u64::from(g.min(d)) + 2 * u64::from(g.max(d)) + u64::from(g > d)
}

/// See [`BEST_VALID`]: informational about the controlling agent.
pub fn best_valid(ctx: &Ctx) -> CheckResult {
    best_valid_verdict(ctx).or_by(&ctx.controlling)
}

fn best_valid_verdict(ctx: &Ctx) -> CheckResult {
    let d = &BEST_VALID;
    let Some(n) = &ctx.nominated else {
        return result(d, Verdict::Inconclusive, "no pair was nominated".into(), vec![]);
    };
    let controlling = &n.controlling;
    let priorities = Priorities::of(&ctx.wire, *controlling);
    let valid_pair = |req: &crate::wire::StunSeen| priorities.valid_pair(&ctx.wire, *controlling, req);
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
            Verdict::Informational,
            format!(
                "{controlling} nominated {nl} -> {nr} (pair priority {np}) while {l} -> {r} (priority {p}) was \
                 already valid"
            ),
            vec![n.request, i],
        ),
        _ => result(
            d,
            Verdict::Informational,
            format!(
                "{controlling} nominated {nl} -> {nr} (pair priority {np}), the best of the {} pairs valid then",
                valid.len().max(1)
            ),
            vec![n.request],
        ),
    }
}

/// A controlling agent nominates one pair per component and ICE session, unless renomination was
/// negotiated (a second nomination needs an ICE restart).
pub const ONCE_PER_SESSION: CheckDef = CheckDef {
    id: "ice.nomination.once-per-session",
    level: Level::Must,
    cite: "RFC 8445 §8.1.1",
    summary: "without negotiated renomination, the controlling agent nominates no second pair for a component within one ICE session",
};

/// See [`ONCE_PER_SESSION`]: judges the controlling agent.
pub fn once_per_session(ctx: &Ctx) -> CheckResult {
    once_per_session_verdict(ctx).or_by(&ctx.controlling)
}

fn once_per_session_verdict(ctx: &Ctx) -> CheckResult {
    let d = &ONCE_PER_SESSION;
    let by_use_candidate: Vec<&Nominated> = ctx.nominations.iter().filter(|n| !n.by_nomination_attr).collect();
    let Some(first) = by_use_candidate.first() else {
        return result(d, Verdict::Inconclusive, "no nomination took effect".into(), vec![]);
    };
    if super::renomination::peer_offered(ctx, &ctx.controlling) {
        return result(
            d,
            Verdict::Inconclusive,
            format!(
                "renomination was negotiated, so {} may nominate again (the renomination checks judge it)",
                ctx.controlling
            ),
            vec![first.request],
        );
    }
    // USE-CANDIDATE on every check (RFC 5245 aggressive nomination) nominates only the pairs whose
    // checks succeed: one is within the rule, a second is not.
    for (i, n) in by_use_candidate.iter().enumerate() {
        let again = by_use_candidate[i + 1..]
            .iter()
            .find(|m| m.session == n.session && m.component == n.component && m.controlling_view != n.controlling_view);
        if let Some(m) = again {
            return result(
                d,
                Verdict::Fail,
                format!(
                    "{} nominated {} -> {} at {}, then another pair of the same component, {} -> {}, at {}, within the \
                     same ICE session and without negotiated renomination (RFC 5245 aggressive nomination, which RFC \
                     8445 removed)",
                    n.controlling,
                    n.controlling_view.0,
                    n.controlling_view.1,
                    n.time,
                    m.controlling_view.0,
                    m.controlling_view.1,
                    m.time
                ),
                vec![n.request, n.response, m.request, m.response],
            );
        }
    }
    // USE-CANDIDATE on another pair that the network kept from succeeding: whether it would have
    // been a second nomination is the network's doing.
    let lost = ctx.wire.checks_sent_by(&ctx.controlling).find(|c| {
        c.msg.has(attr_type::USE_CANDIDATE)
            && (c.src, c.dst) != first.controlling_view
            && super::network::stun_dropped(ctx, &c.msg.transaction_id)
            && session_of(c) == first.session
            && component_of(c) == first.component
    });
    if let Some(c) = lost {
        return result(
            d,
            Verdict::Inconclusive,
            format!(
                "{} nominated {} -> {} and also sent USE-CANDIDATE on {} -> {}, which the network kept from \
                 succeeding{}: whether that would have been a second nomination is undecided",
                ctx.controlling,
                first.controlling_view.0,
                first.controlling_view.1,
                c.src,
                c.dst,
                super::network::stun_fate(ctx, &c.msg.transaction_id)
            ),
            vec![first.request, c.index],
        )
        .network();
    }
    let sessions: std::collections::BTreeSet<&str> = by_use_candidate.iter().map(|n| n.session.as_str()).collect();
    result(
        d,
        Verdict::Pass,
        format!(
            "{} nominated one pair per component in each of its {} ICE session(s)",
            ctx.controlling,
            sessions.len()
        ),
        vec![first.request, first.response],
    )
}
