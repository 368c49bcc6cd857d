//! After selection: keepalives on the pair in use (RFC 8445 §11) and consent freshness (RFC 7675).
//!
//! Both rules hold a party to the pair it sends media on, from its first media packet there until
//! it is released from it: it moves its media to another pair, the session ends (session-terminate
//! sent or received), ICE restarts (either party signals new credentials, RFC 8445 §9), or its
//! host moves to another interface.

use std::net::SocketAddr;
use std::time::Duration;

use super::{result, CheckDef, CheckResult, Ctx, Level, Verdict};
use crate::stun::{method, Class};
use crate::time::SimTime;
use crate::trace::{Dir, TraceKind};
use crate::wire::Party;

/// Keepalives on the pair in use. RFC 8445 §11: "An agent MUST send a keepalive on each candidate
/// pair that is used for sending data if no packet has been sent on that pair in the last Tr
/// seconds. Agents SHOULD use a Tr value of 15 seconds. Agents MAY use a bigger value but MUST NOT
/// use a value smaller than 15 seconds." A silence longer than 15 s is a bigger Tr, which the text
/// allows; what fails is a NAT binding actually lost to the silence (the peer's packets dropped by a
/// NAT for want of a mapping or filter entry after Tr of silence).
pub const KEEPALIVE_INTERVAL: CheckDef = CheckDef {
    id: "ice.keepalive-interval",
    level: Level::Must,
    cite: "RFC 8445 §11",
    summary: "while a party sends media on a pair, it keeps the pair's NAT bindings alive: no binding is lost to a silence of more than Tr = 15 s (a longer Tr is allowed; the longest silence is reported)",
};

/// Tr, RFC 8445 §11.
const TR: Duration = Duration::from_secs(15);
/// Slack on Tr before a silence is a fault (timer granularity of real agents).
const TR_SLACK: Duration = Duration::from_secs(1);
/// Consent expires this long after the last valid response (RFC 7675 §5.1).
const CONSENT_EXPIRY: Duration = Duration::from_secs(30);

/// A pair one party sent media on, and how long it was bound to it.
pub(super) struct InUse<'a> {
    party: Party<'a>,
    local: SocketAddr,
    remote: SocketAddr,
    /// The first media packet on it: (time, trace index).
    start: (SimTime, usize),
    /// When the party was released from it, and why.
    end: SimTime,
    why: String,
}

/// When ICE restarted: each time a party sends a transport-info with ICE credentials other than
/// those it signalled before in the same session (RFC 8445 §9: a restart changes ufrag and pwd),
/// as (time, party).
pub(crate) fn restarts<'a>(ctx: &Ctx<'a>) -> Vec<(SimTime, Party<'a>)> {
    let mut last: Vec<(Party, &str, String)> = Vec::new();
    let mut out = Vec::new();
    for j in ctx.wire.jingle.iter().filter(|j| j.dir == Dir::Tx) {
        let Some(ufrag) = j.contents.iter().find_map(|c| c.ufrag.clone()) else {
            continue;
        };
        match last.iter_mut().find(|(p, sid, _)| *p == j.party && *sid == j.sid) {
            Some((_, _, u)) if *u != ufrag && j.action == "transport-info" => {
                *u = ufrag;
                out.push((j.time, j.party));
            }
            Some(_) => {}
            None => last.push((j.party, &j.sid, ufrag)),
        }
    }
    out
}

/// Every pair each party sent media on, in the order used: a new stretch starts when its media
/// moves to another pair, or goes on after an ICE restart (a new ICE session, even on the same
/// 5-tuple).
///
/// Several checks judge these pairs: they take them from [`Ctx`], which works them out once.
pub(super) fn pairs_in_use<'a>(ctx: &Ctx<'a>) -> Vec<InUse<'a>> {
    let run_end = ctx.out.trace.events.last().map(|e| e.time).unwrap_or(SimTime::ZERO);
    let restarts = restarts(ctx);
    let mut out: Vec<InUse<'a>> = Vec::new();
    for party in [ctx.caller, ctx.callee] {
        let ended = ctx
            .wire
            .jingle
            .iter()
            .find(|j| j.party == party && j.action == "session-terminate")
            .map(|j| (j.time, format!("the session ended ({} at {})", j.action, j.time)));
        let switched = ctx.out.trace.events.iter().find_map(|e| match &e.kind {
            TraceKind::User { party: p, action }
                if action.starts_with("switch-interface") && p.split('/').next() == Some(party.as_str()) =>
            {
                Some((e.time, format!("{party}'s host switched interface at {}", e.time)))
            }
            _ => None,
        });
        let mut mine: Vec<InUse<'a>> = Vec::new();
        let mut last_rtp = SimTime::ZERO;
        for r in ctx.wire.rtp.iter().filter(|r| r.party == party && r.dir == Dir::Tx) {
            // A packet sent at the very instant of a restart belongs to the session before it.
            let restarted = restarts.iter().any(|(t, _)| *t >= last_rtp && *t <= r.time);
            let prev_at = last_rtp;
            last_rtp = r.time;
            if !restarted && mine.last().is_some_and(|m| (m.local, m.remote) == (r.src, r.dst)) {
                continue;
            }
            if let Some(prev) = mine.last_mut() {
                if r.time < prev.end {
                    prev.end = prev_at.max(prev.start.0);
                    prev.why = format!("{party} sent its media on {} -> {} from {}", r.src, r.dst, r.time);
                }
            }
            let restart = restarts
                .iter()
                .find(|(t, _)| *t >= r.time)
                .map(|(t, p)| (*t, format!("{p} restarted ICE at {t}")));
            let (end, why) = [ended.clone(), switched.clone(), restart]
                .into_iter()
                .flatten()
                .filter(|(t, _)| *t >= r.time)
                .min_by_key(|(t, _)| *t)
                .unwrap_or((run_end, "the run ended".into()));
            mine.push(InUse {
                party,
                local: r.src,
                remote: r.dst,
                start: (r.time, r.index),
                end,
                why,
            });
        }
        out.extend(mine);
    }
    out
}

/// When consent on `u` expired at the party, if it did by `u.end`: 30 s after the last valid
/// Binding success response from the remote address (RFC 7675 §5.1; the first is the check that
/// made the pair valid, before any media), or after the first media packet when none came.
/// Returns (expiry, last response time).
fn consent_expiry(ctx: &Ctx, u: &InUse) -> Option<(SimTime, Option<SimTime>)> {
    let responses = ctx.wire.stun.iter().filter(|s| {
        s.party == u.party
            && s.dir == Dir::Rx
            && s.msg.method == method::BINDING
            && s.msg.class == Class::Success
            && (s.dst, s.src) == (u.local, u.remote)
    });
    let mut last: Option<SimTime> = None;
    for r in responses {
        // Up to the first media packet only the latest response counts (the check that made the
        // pair valid); from then on a gap longer than the expiry ends consent.
        if r.time > u.start.0 && r.time > last.unwrap_or(u.start.0) + CONSENT_EXPIRY {
            break;
        }
        last = Some(r.time);
    }
    let expiry = last.unwrap_or(u.start.0) + CONSENT_EXPIRY;
    (expiry <= u.end).then_some((expiry, last))
}

/// Times and trace indices of everything `u.party` sent on its pair (media, STUN), in order.
fn sends(ctx: &Ctx, u: &InUse) -> Vec<(SimTime, usize)> {
    let rtp = ctx
        .wire
        .rtp
        .iter()
        .map(|r| (r.party, r.dir, r.src, r.dst, r.time, r.index));
    let stun = ctx
        .wire
        .stun
        .iter()
        .map(|s| (s.party, s.dir, s.src, s.dst, s.time, s.index));
    let mut v: Vec<(SimTime, usize)> = rtp
        .chain(stun)
        .filter(|(p, d, src, dst, _, _)| *p == u.party && *d == Dir::Tx && (*src, *dst) == (u.local, u.remote))
        .map(|(_, _, _, _, t, i)| (t, i))
        .collect();
    v.sort();
    v
}

/// See [`KEEPALIVE_INTERVAL`].
pub fn keepalive_interval(ctx: &Ctx) -> CheckResult {
    let d = &KEEPALIVE_INTERVAL;
    let mut judged = Vec::new();
    for u in ctx.pairs_in_use() {
        // After consent expired the party must not send there at all (RFC 7675 §5.1).
        let (end, why) = match consent_expiry(ctx, u) {
            Some((t, _)) => (t, format!("consent on it expired at {t}")),
            None => (u.end, u.why.clone()),
        };
        if end - u.start.0 <= TR + TR_SLACK {
            continue;
        }
        let mut sent = sends(ctx, u);
        sent.retain(|(t, _)| *t <= end);
        // The longest silence, the stretch after the last packet up to the end included.
        let mut longest = (Duration::ZERO, u.start, None);
        for w in sent.windows(2) {
            if w[1].0 - w[0].0 > longest.0 {
                longest = (w[1].0 - w[0].0, w[0], Some(w[1]));
            }
        }
        if let Some(&last) = sent.last() {
            if end - last.0 > longest.0 {
                longest = (end - last.0, last, None);
            }
        }
        let (gap, from, to) = longest;
        if gap > TR + TR_SLACK {
            let until = match to {
                Some((t, _)) => format!("until {t}"),
                None => format!("until {end}, when {why}"),
            };
            let silent_until = to.map_or(end, |t| t.0);
            // The binding lost: a packet from the remote end of the pair, dropped by a NAT for want
            // of a mapping or a filter entry, after Tr of silence and before the party spoke again.
            let lost = ctx.wire.drops.iter().find(|x| {
                x.src == u.remote
                    && x.time > from.0 + TR
                    && x.time <= silent_until
                    && (x.reason.starts_with("no mapping") || x.reason.starts_with("filtered"))
            });
            let mut evidence: Vec<usize> = [Some(from.1), to.map(|t| t.1)].into_iter().flatten().collect();
            if let Some(x) = lost {
                evidence.push(x.index);
                return result(
                    d,
                    Verdict::Fail,
                    format!(
                        "{} sent nothing on its pair {} -> {} for {} ms, from {} {until}, and its NAT binding was lost: \
                         {} dropped a packet from {} at {} ({})",
                        u.party,
                        u.local,
                        u.remote,
                        gap.as_millis(),
                        from.0,
                        x.point,
                        x.src,
                        x.time,
                        x.reason
                    ),
                    evidence,
                )
                .by(&u.party);
            }
            judged.push(format!(
                "{} on {} -> {}: {} s in use, silent for {} ms from {} (a Tr above the recommended 15 s, which RFC \
                 8445 §11 allows; no binding was lost)",
                u.party,
                u.local,
                u.remote,
                (end - u.start.0).as_secs(),
                gap.as_millis(),
                from.0
            ));
            continue;
        }
        judged.push(format!(
            "{} on {} -> {}: {} s in use, longest silence {} ms",
            u.party,
            u.local,
            u.remote,
            (end - u.start.0).as_secs(),
            gap.as_millis()
        ));
    }
    if judged.is_empty() {
        return result(
            d,
            Verdict::Inconclusive,
            "no party used a pair for more than 16 s, so no keepalive was ever due".into(),
            vec![],
        );
    }
    result(d, Verdict::Pass, judged.join("; "), vec![])
}

/// Media stops on a pair whose consent expired.
pub const CONSENT_FRESHNESS: CheckDef = CheckDef {
    id: "ice.consent-freshness",
    level: Level::Must,
    cite: "RFC 7675 §5.1",
    summary: "a party stops sending media on a pair within 30 s of the last valid Binding response its peer sent there, and keeps consent fresh to send longer",
};

/// Consent checks go once each, at least 4 s apart.
pub const CONSENT_CHECK_SCHEDULE: CheckDef = CheckDef {
    id: "ice.consent-check-schedule",
    level: Level::Should,
    cite: "RFC 7675 §5.1",
    summary: "once media flows on a pair, each Binding request a party sends there is a new transaction sent once, at least 4 s after the one before",
};

/// Slack after consent expiry before media still sent is a fault.
const EXPIRY_SLACK: Duration = Duration::from_secs(1);
/// RFC 7675 §5.1: never less than 4 s between consent checks.
const MIN_CONSENT_INTERVAL: Duration = Duration::from_secs(4);

/// See [`CONSENT_FRESHNESS`].
pub fn consent_freshness(ctx: &Ctx) -> CheckResult {
    let d = &CONSENT_FRESHNESS;
    let mut judged = Vec::new();
    for u in ctx.pairs_in_use() {
        let media: Vec<_> = ctx
            .wire
            .rtp
            .iter()
            .filter(|r| {
                r.party == u.party
                    && r.dir == Dir::Tx
                    && (r.src, r.dst) == (u.local, u.remote)
                    && r.time >= u.start.0
                    && r.time <= u.end
            })
            .collect();
        match consent_expiry(ctx, u) {
            Some((expiry, last_ok)) => {
                let since = match last_ok {
                    Some(t) => format!("the last valid response there came at {t}"),
                    None => format!("no valid response came there after its first media at {}", u.start.0),
                };
                if let Some(late) = media.iter().find(|r| r.time > expiry + EXPIRY_SLACK) {
                    return result(
                        d,
                        Verdict::Fail,
                        format!(
                            "{} still sent media on {} -> {} at {}, {} ms after its consent expired at {expiry}: {since}",
                            u.party,
                            u.local,
                            u.remote,
                            late.time,
                            (late.time - expiry).as_millis()
                        ),
                        vec![u.start.1, late.index],
                    )
                    .by(&u.party);
                }
                let stopped = media.last().map_or(u.start.0, |r| r.time);
                judged.push(format!(
                    "{} stopped media on {} -> {} at {stopped}, when consent expired at {expiry} ({since})",
                    u.party, u.local, u.remote
                ));
            }
            None => {
                // Consent held to the end: the rule was exercised only if media went on for
                // longer than the expiry, refreshed by the peer's responses.
                if let Some(last) = media.last().filter(|r| r.time > u.start.0 + CONSENT_EXPIRY) {
                    judged.push(format!(
                        "{} kept consent fresh on {} -> {} for {} s of media",
                        u.party,
                        u.local,
                        u.remote,
                        (last.time - u.start.0).as_secs()
                    ));
                }
            }
        }
    }
    if judged.is_empty() {
        return result(
            d,
            Verdict::Inconclusive,
            "no party sent media on a pair for longer than 30 s, so consent never had to be refreshed".into(),
            vec![],
        );
    }
    result(d, Verdict::Pass, judged.join("; "), vec![])
}

/// See [`CONSENT_CHECK_SCHEDULE`].
///
/// RFC 7675 §5.1 makes both rules MUSTs for consent checks. The judge cannot tell a consent check
/// from any other Binding request on the pair (a stack may go on pinging its selected pair for
/// its own reasons: libwebrtc's lineage pings every 2–3 s and takes the answers as consent), so
/// a miss is graded as a SHOULD.
pub fn consent_check_schedule(ctx: &Ctx) -> CheckResult {
    let d = &CONSENT_CHECK_SCHEDULE;
    let mut n = 0;
    for u in ctx.pairs_in_use() {
        // Transactions first sent on the pair after media began there: (first send, index, sends).
        let mut checks: Vec<([u8; 12], SimTime, usize, usize)> = Vec::new();
        for s in ctx.wire.stun.iter().filter(|s| {
            s.party == u.party
                && s.dir == Dir::Tx
                && s.msg.method == method::BINDING
                && s.msg.class == Class::Request
                && (s.src, s.dst) == (u.local, u.remote)
                && s.time <= u.end
        }) {
            match checks.iter_mut().find(|c| c.0 == s.msg.transaction_id) {
                Some(c) => {
                    // A request the network lost, or whose answer it lost, is sent again by any
                    // STUN client: the loss made the retransmission, not the schedule.
                    if c.1 > u.start.0 && !super::network::stun_dropped(ctx, &c.0) {
                        return result(
                            d,
                            Verdict::Fail,
                            format!(
                                "{} sent its Binding request of {} on {} -> {} again at {}: a consent check goes \
                                 once, each with a new transaction id",
                                u.party, c.1, u.local, u.remote, s.time
                            ),
                            vec![c.2, s.index],
                        )
                        .by(&u.party);
                    }
                    c.3 += 1;
                }
                None => checks.push((s.msg.transaction_id, s.time, s.index, 1)),
            }
        }
        let after: Vec<_> = checks.iter().filter(|c| c.1 > u.start.0).collect();
        if let Some(w) = after.windows(2).find(|w| w[1].1 - w[0].1 < MIN_CONSENT_INTERVAL) {
            return result(
                d,
                Verdict::Fail,
                format!(
                    "{} sent Binding requests on {} -> {} at {} and {}, {} ms apart: consent checks go no \
                     closer than 4 s",
                    u.party,
                    u.local,
                    u.remote,
                    w[0].1,
                    w[1].1,
                    (w[1].1 - w[0].1).as_millis()
                ),
                vec![w[0].2, w[1].2],
            )
            .by(&u.party);
        }
        n += after.len();
    }
    if n < 2 {
        return result(
            d,
            Verdict::Inconclusive,
            "fewer than two Binding requests went on a pair after media began there".into(),
            vec![],
        );
    }
    result(
        d,
        Verdict::Pass,
        format!(
            "{n} Binding requests after media began, each sent once and at least 4 s after the one before on its pair"
        ),
        vec![],
    )
}
