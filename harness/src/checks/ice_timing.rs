//! ICE timing checks: pacing, retransmission timer, triggered checks on Failed pairs, and failure
//! neither before the PAC bound nor never.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use rustc_hash::{FxHashMap, FxHashSet};

use super::{result, CheckDef, CheckResult, Ctx, Level, Verdict};
use crate::stun::{attr_type, method, Class};
use crate::time::SimTime;
use crate::trace::Dir;

/// New connectivity checks are paced at Ta.
pub const PACING: CheckDef = CheckDef {
    id: "ice.pacing",
    level: Level::Should,
    cite: "RFC 8445 §14.2",
    summary: "a party starts new connectivity checks (first transmissions) no closer together than Ta = 50 ms",
};

/// Retransmissions of one check are spaced by at least the minimum RTO.
pub const RETRANSMISSION_TIMER: CheckDef = CheckDef {
    id: "ice.retransmission-timer",
    level: Level::Should,
    cite: "RFC 8445 §14.3",
    summary: "retransmissions of a connectivity check are at least 500 ms apart",
};

/// No ICE failure is declared while the PAC timer runs: RFC 8863 §4 requires the timer (MUST) and
/// recommends its length, the agent's own connectivity-check transaction timeout with all
/// retransmissions (39.5 s with RFC 8489 defaults). The floor judged as a MUST is the agent's own
/// transaction time as its checks show on the wire; failing after that floor but before 39.5 s
/// misses the recommendation only (non-strict).
pub const NO_FAILURE_BEFORE_PAC: CheckDef = CheckDef {
    id: "ice.no-failure-before-pac",
    level: Level::Must,
    cite: "RFC 8863 §4",
    summary: "a session is not ended for connectivity failure before the agent's own check transaction time has passed since it started ICE (39.5 s recommended)",
};

const TA: Duration = Duration::from_millis(50);
const MIN_RTO: Duration = Duration::from_millis(500);
const PAC: Duration = Duration::from_millis(39_500);
/// Consent expiry (RFC 7675 §5.1: 30 s), less a second for timer granularity.
const CONSENT_LAPSE: Duration = Duration::from_secs(29);

/// Every transmission of the checks a party sent as (transaction id, time, trace index), ordered
/// by transaction id and each transaction's in the order sent: [`slice::chunk_by`] on the id gives
/// each check's first and later transmissions. One sorted list rather than a map of lists, as a
/// list per transaction cost more than the checks using them.
fn transmissions(ctx: &Ctx, party: &str) -> Vec<([u8; 12], SimTime, usize)> {
    let mut sends: Vec<([u8; 12], SimTime, usize)> = ctx
        .wire
        .checks_sent_by(party)
        .map(|c| (c.msg.transaction_id, c.time, c.index))
        .collect();
    // Stable: a transaction's transmissions keep their trace order.
    sends.sort_by_key(|s| s.0);
    sends
}

/// See [`PACING`].
pub fn pacing(ctx: &Ctx) -> CheckResult {
    let d = &PACING;
    let mut n = 0;
    let mut tolerated = 0;
    for party in [&ctx.caller, &ctx.callee] {
        let mut firsts: Vec<(SimTime, usize)> = transmissions(ctx, party)
            .chunk_by(|a, b| a.0 == b.0)
            .map(|v| (v[0].1, v[0].2))
            .collect();
        firsts.sort();
        n += firsts.len();
        let slack = ctx.timing_slack();
        tolerated += firsts
            .windows(2)
            .filter(|w| w[1].0 - w[0].0 < TA && w[1].0 - w[0].0 + slack >= TA)
            .count();
        if let Some(w) = firsts.windows(2).find(|w| w[1].0 - w[0].0 + slack < TA) {
            return result(
                d,
                Verdict::Fail,
                format!(
                    "{party} started two checks {} µs apart (at {} and {}), closer than Ta = 50 ms",
                    (w[1].0 - w[0].0).as_micros(),
                    w[0].0,
                    w[1].0
                ),
                vec![w[0].1, w[1].1],
            )
            .by(party);
        }
    }
    if n < 2 {
        return result(
            d,
            Verdict::Inconclusive,
            "fewer than two checks were sent".into(),
            vec![],
        );
    }
    result(
        d,
        Verdict::Pass,
        format!(
            "{n} checks, each started at least 50 ms after the previous{}",
            live_tolerance(ctx, tolerated)
        ),
        vec![],
    )
}

/// What a live run's pass rests on, when some intervals were short by less than
/// [`Ctx::timing_slack`].
fn live_tolerance(ctx: &Ctx, tolerated: usize) -> String {
    if tolerated == 0 {
        return String::new();
    }
    format!(
        " ({tolerated} within this live run's timing uncertainty of {} µs)",
        ctx.timing_slack().as_micros()
    )
}

/// See [`RETRANSMISSION_TIMER`].
pub fn retransmission_timer(ctx: &Ctx) -> CheckResult {
    let d = &RETRANSMISSION_TIMER;
    let mut retransmits = 0;
    let mut tolerated = 0;
    let slack = ctx.timing_slack();
    for party in [&ctx.caller, &ctx.callee] {
        for sends in transmissions(ctx, party).chunk_by(|a, b| a.0 == b.0) {
            for w in sends.windows(2) {
                retransmits += 1;
                if w[1].1 - w[0].1 < MIN_RTO && w[1].1 - w[0].1 + slack >= MIN_RTO {
                    tolerated += 1;
                }
                if w[1].1 - w[0].1 + slack < MIN_RTO {
                    return result(
                        d,
                        Verdict::Fail,
                        format!(
                            "{party} retransmitted a check after {} ms, less than the 500 ms minimum RTO",
                            (w[1].1 - w[0].1).as_millis()
                        ),
                        vec![w[0].2, w[1].2],
                    )
                    .by(party);
                }
            }
        }
    }
    if retransmits == 0 {
        return result(d, Verdict::Inconclusive, "no check was retransmitted".into(), vec![]);
    }
    result(
        d,
        Verdict::Pass,
        format!(
            "{retransmits} retransmissions, each at least 500 ms after the one before{}",
            live_tolerance(ctx, tolerated)
        ),
        vec![],
    )
}

/// When `party` started ICE in the sense of RFC 8863 §4: it had sent its ICE credentials (ufrag and
/// pwd in a Jingle action) and received its peer's. `None` before both happened.
pub(super) fn ice_started(ctx: &Ctx, party: &str) -> Option<SimTime> {
    let first = |dir: Dir| {
        ctx.wire
            .jingle
            .iter()
            .find(|j| {
                j.party == party && j.dir == dir && j.contents.iter().any(|c| c.ufrag.is_some() && c.pwd.is_some())
            })
            .map(|j| j.time)
    };
    Some(first(Dir::Tx)?.max(first(Dir::Rx)?))
}

/// The longest a transaction of `party`'s checks was seen to last on the wire (first transmission to
/// last retransmission): a lower bound of its own check transaction timeout.
fn longest_transaction(ctx: &Ctx, party: &str, until: SimTime) -> Duration {
    transmissions(ctx, party)
        .chunk_by(|a, b| a.0 == b.0)
        .filter(|v| v[0].1 <= until)
        .map(|v| v[v.len() - 1].1 - v[0].1)
        .max()
        .unwrap_or(Duration::ZERO)
}

/// See [`NO_FAILURE_BEFORE_PAC`]: judges the party that ended the session.
pub fn no_failure_before_pac(ctx: &Ctx) -> CheckResult {
    let d = &NO_FAILURE_BEFORE_PAC;
    let Some(term) = ctx.wire.jingle.iter().find(|j| {
        j.dir == Dir::Tx
            && j.action == "session-terminate"
            && matches!(j.reason.as_deref(), Some("connectivity-error" | "failed-transport"))
    }) else {
        return result(
            d,
            Verdict::Inconclusive,
            "no session ended for connectivity failure".into(),
            vec![],
        );
    };
    let party = term.party;
    let Some(started) = ice_started(ctx, &party) else {
        return result(
            d,
            Verdict::Inconclusive,
            format!("{party} ended the session for connectivity failure before ICE had started (credentials sent and received)"),
            vec![term.index],
        )
        .by(&party);
    };
    // A call that had connected (media flowed) and then lost its path ends once consent expired
    // (RFC 7675 §5.1), which the PAC bound on establishing connectivity does not cover.
    let connected = ctx
        .wire
        .rtp
        .iter()
        .any(|r| r.party == party && r.dir == Dir::Tx && r.time < term.time);
    let last_ok = ctx
        .wire
        .checks_sent_by(&party)
        .filter_map(|c| ctx.wire.response_to(c))
        .filter(|r| r.msg.class == Class::Success && r.time <= term.time)
        .map(|r| r.time)
        .max();
    if let Some(ok) = last_ok.filter(|ok| connected && term.time >= *ok + CONSENT_LAPSE) {
        return result(
            d,
            Verdict::Inconclusive,
            format!(
                "{party} ended the session {} ms after its last check succeeded: consent had lapsed (RFC 7675 §5.1), a \
                 failure the PAC bound does not cover",
                (term.time - ok).as_millis()
            ),
            vec![term.index],
        )
        .by(&party);
    }
    let waited = term.time.saturating_since(started);
    let floor = longest_transaction(ctx, &party, term.time);
    let first = ctx.wire.checks_sent_by(&party).next().map(|c| c.index);
    let evidence: Vec<usize> = first.into_iter().chain([term.index]).collect();
    let verdict = if waited < floor {
        Verdict::Fail
    } else if waited < PAC {
        Verdict::NonStrict
    } else {
        Verdict::Pass
    };
    let detail = match verdict {
        Verdict::Fail => format!(
            "{party} declared failure {} ms after it started ICE ({started}), sooner than its own check transactions \
             last on the wire ({} ms): no PAC timer held the checklist",
            waited.as_millis(),
            floor.as_millis()
        ),
        Verdict::NonStrict => format!(
            "{party} declared failure {} ms after it started ICE ({started}): {}, but short of the RECOMMENDED full \
             transaction timeout (39.5 s with RFC 8489 defaults)",
            waited.as_millis(),
            if floor.is_zero() {
                "its checks were never retransmitted, so the wire shows no transaction time to hold it to".to_string()
            } else {
                format!("after its own longest check transaction ({} ms)", floor.as_millis())
            }
        ),
        _ => format!(
            "{party} declared failure {} ms after it started ICE ({started}), past its own longest check transaction \
             ({} ms) and 39.5 s",
            waited.as_millis(),
            floor.as_millis()
        ),
    };
    result(d, verdict, detail, evidence).by(&party)
}

/// A check that arrives on a pair whose own checks stopped without success gets a new check back.
pub const TRIGGERED_AFTER_FAILED: CheckDef = CheckDef {
    id: "ice.triggered-check-after-failed",
    level: Level::Must,
    cite: "RFC 8445 §7.3.1.4",
    summary: "a check arriving on a pair whose own checks stopped without success (Failed, or cancelled) is answered by a new check on that pair",
};

/// When no pair ever works, the session is ended for connectivity failure, in bounded time.
pub const FAILURE_WITHIN_BOUND: CheckDef = CheckDef {
    id: "ice.failure-declared-within-bound",
    level: Level::Must,
    cite: "RFC 8445 §8.1.2",
    summary: "when no candidate pair ever succeeds, a party ends the session (connectivity-error or failed-transport) within 5 s after the PAC bound and its last check's timeout",
};

/// How soon after the peer's check the triggered check must leave: triggered checks are served
/// before ordinary ones at the next Ta (RFC 8445 §6.1.4.2), so 2 s covers any sane pacing.
const TRIGGER_WINDOW: Duration = Duration::from_secs(2);
/// A check transaction's full life with the RFC 5389 §7.2.1 defaults (Rc = 7, Rm = 16, RTO 500 ms).
const TRANSACTION_LIFE: Duration = Duration::from_millis(39_500);
/// Slack after the latest moment ICE may fail before a missing session-terminate is a fault.
const FAILURE_GRACE: Duration = Duration::from_secs(5);

/// One party's own checks on one pair (local, remote as seen at its host).
#[derive(Default)]
struct PairSends {
    /// (transaction id, first send, last send).
    transactions: Vec<([u8; 12], SimTime, SimTime)>,
    /// When the first success response to any of them arrived.
    succeeded: Option<SimTime>,
}

/// See [`TRIGGERED_AFTER_FAILED`].
pub fn triggered_after_failed(ctx: &Ctx) -> CheckResult {
    let d = &TRIGGERED_AFTER_FAILED;
    let end = ctx.end;
    // After nomination the checklist is Completed and other pairs may be dropped (RFC 8445 §8.1.2).
    let cutoff = ctx.nominated.as_ref().map(|n| n.time);
    let mut instances = 0;
    let mut example = vec![];
    for party in [&ctx.caller, &ctx.callee] {
        // Looked up only, never iterated: hashed, as the ordered maps cost more than the rest of the check.
        let mut pairs: FxHashMap<(SocketAddr, SocketAddr), PairSends> = FxHashMap::default();
        let mut answered_ok: FxHashSet<[u8; 12]> = FxHashSet::default();
        let mut inbound = Vec::new();
        let mut tx_pair: FxHashMap<[u8; 12], (SocketAddr, SocketAddr)> = FxHashMap::default();
        // Transaction id → when its first success response arrived.
        let mut succeeded_at: FxHashMap<[u8; 12], SimTime> = FxHashMap::default();
        for s in ctx.wire.stun.iter().filter(|s| &s.party == party) {
            let check = s.msg.method == method::BINDING
                && (s.msg.has(attr_type::ICE_CONTROLLING) || s.msg.has(attr_type::ICE_CONTROLLED));
            match (s.dir, s.msg.class) {
                (Dir::Tx, Class::Request) if check => {
                    let p = pairs.entry((s.src, s.dst)).or_default();
                    let id = s.msg.transaction_id;
                    match p.transactions.iter_mut().find(|t| t.0 == id) {
                        Some(t) => t.2 = s.time,
                        None => p.transactions.push((id, s.time, s.time)),
                    }
                    tx_pair.insert(id, (s.src, s.dst));
                }
                (Dir::Rx, Class::Success) => {
                    if let Some(p) = tx_pair.get(&s.msg.transaction_id).and_then(|k| pairs.get_mut(k)) {
                        p.succeeded.get_or_insert(s.time);
                        succeeded_at.entry(s.msg.transaction_id).or_insert(s.time);
                    }
                }
                (Dir::Tx, Class::Success) => {
                    answered_ok.insert(s.msg.transaction_id);
                }
                (Dir::Rx, Class::Request) if check => inbound.push(s),
                _ => {}
            }
        }
        let ended = |from: SimTime| {
            ctx.wire.jingle.iter().any(|j| {
                &j.party == party
                    && j.action == "session-terminate"
                    && j.time >= from
                    && j.time <= from + TRIGGER_WINDOW
            })
        };
        for r in inbound {
            let t = r.time;
            if cutoff.is_some_and(|c| t > c) || !answered_ok.contains(&r.msg.transaction_id) {
                continue;
            }
            let Some(p) = pairs.get(&(r.dst, r.src)) else {
                continue;
            };
            let prior: Vec<_> = p.transactions.iter().filter(|x| x.1 < t).collect();
            let stopped = prior.iter().all(|x| x.2 < t);
            // A success that comes back later to one of those checks, even one this check cancelled
            // (§7.3.1.4 lets a late response count), shows the pair was In-Progress, not Failed.
            let late_success = prior
                .iter()
                .any(|x| succeeded_at.get(&x.0).is_some_and(|s| *s <= t + TRIGGER_WINDOW));
            if prior.is_empty() || !stopped || p.succeeded.is_some_and(|s| s <= t) || late_success {
                continue;
            }
            let new = p.transactions.iter().find(|x| x.1 >= t && x.1 <= t + TRIGGER_WINDOW);
            if let Some(new) = new {
                instances += 1;
                if example.is_empty() {
                    let sent = ctx.wire.checks_sent_by(party).find(|c| c.msg.transaction_id == new.0);
                    example = [Some(r.index), sent.map(|c| c.index)].into_iter().flatten().collect();
                }
                continue;
            }
            if end < t + TRIGGER_WINDOW || ended(t) {
                continue;
            }
            // RFC 8445 §8.1.2: once a pair is nominated the component's pairs leave the checklist
            // and the triggered-check queue; how long the queued check waited before that is the
            // agent's pacing (its Ta), which the text leaves to it.
            if super::triggered::completed_in_session_of(ctx, *party, r)
                .is_some_and(|c| c > t && c <= t + TRIGGER_WINDOW)
            {
                continue;
            }
            let last = prior.iter().map(|x| x.2).max().unwrap_or(t);
            let first_sent = prior.iter().map(|x| x.1).min().unwrap_or(t);
            if let Some(x) = super::network::party_transaction_dropped(ctx, party, first_sent, t + TRIGGER_WINDOW) {
                // The pair's state at the party hangs on packets the network lost: the wire cannot
                // tell a Failed pair from one still In-Progress or held back by its TURN client.
                return result(
                    d,
                    Verdict::Inconclusive,
                    format!(
                        "{party} answered a check from {} at {} ({t}) on a pair whose own checks had stopped without \
                         success, and sent no new check within 2 s; but the network dropped one of its STUN \
                         transactions meanwhile, at {} ({}), so the pair's state cannot be judged",
                        r.src, r.dst, x.point, x.reason
                    ),
                    vec![r.index, x.index],
                )
                .network();
            }
            return result(
                d,
                Verdict::Fail,
                format!(
                    "{party} answered a check from {} at {} ({t}) on a pair whose own {} checks had stopped \
                     without success (last sent {last}), but sent no new check on it within 2 s: the pair stays \
                     Failed on its side",
                    r.src,
                    r.dst,
                    prior.len()
                ),
                vec![r.index],
            )
            .by(party);
        }
    }
    if instances == 0 {
        return result(
            d,
            Verdict::Inconclusive,
            "no check arrived on a pair whose receiver had stopped checking it without success".into(),
            vec![],
        );
    }
    result(
        d,
        Verdict::Pass,
        format!(
            "{instances} checks arrived on pairs whose receiver had stopped checking them; each got a new check \
             (evidence: the first and its answer)"
        ),
        example,
    )
}

/// See [`FAILURE_WITHIN_BOUND`].
pub fn failure_within_bound(ctx: &Ctx) -> CheckResult {
    let d = &FAILURE_WITHIN_BOUND;
    let checks: Vec<_> = [&ctx.caller, &ctx.callee]
        .into_iter()
        .flat_map(|p| ctx.wire.checks_sent_by(p))
        .collect();
    let Some(first) = checks.iter().map(|c| c.time).min() else {
        return result(
            d,
            Verdict::Inconclusive,
            "no connectivity check was sent".into(),
            vec![],
        );
    };
    if let Some(ok) = checks
        .iter()
        .find(|c| ctx.wire.response_to(c).is_some_and(|r| r.msg.class == Class::Success))
    {
        return result(
            d,
            Verdict::Inconclusive,
            format!(
                "a path existed: {}'s check {} -> {} succeeded",
                ok.party, ok.src, ok.dst
            ),
            vec![ok.index],
        )
        .network();
    }
    // Latest first transmission of any transaction: ICE cannot fail before that one has timed out.
    let mut starts: BTreeMap<[u8; 12], SimTime> = BTreeMap::new();
    for c in &checks {
        starts.entry(c.msg.transaction_id).or_insert(c.time);
    }
    let last_start = starts.values().copied().max().unwrap_or(first);
    let bound = (first + PAC).max(last_start + TRANSACTION_LIFE) + FAILURE_GRACE;
    let end = ctx.end;
    let term = ctx
        .wire
        .jingle
        .iter()
        .find(|j| j.dir == Dir::Tx && j.action == "session-terminate");
    match term {
        Some(t) if !matches!(t.reason.as_deref(), Some("connectivity-error" | "failed-transport")) => result(
            d,
            Verdict::Inconclusive,
            format!(
                "{} ended the session ({}) before ICE could fail",
                t.party,
                t.reason.as_deref().unwrap_or("no reason")
            ),
            vec![t.index],
        )
        .by(&t.party),
        Some(t) if t.time <= bound => result(
            d,
            Verdict::Pass,
            format!(
                "no pair succeeded; {} ended the session with {} {} ms after the first check (bound {} ms)",
                t.party,
                t.reason.as_deref().unwrap_or(""),
                (t.time - first).as_millis(),
                (bound - first).as_millis()
            ),
            vec![t.index],
        )
        .by(&t.party),
        Some(t) => result(
            d,
            Verdict::Fail,
            format!(
                "no pair succeeded, and {} ended the session only {} ms after the first check, past the bound of {} ms \
                 (PAC, the last check's {} s timeout, 5 s grace)",
                t.party,
                (t.time - first).as_millis(),
                (bound - first).as_millis(),
                TRANSACTION_LIFE.as_secs_f32()
            ),
            vec![t.index],
        )
        .by(&t.party),
        // Both agents had to end it (§8.1.2); the controlling one, whose session it is, is named.
        None if end > bound => result(
            d,
            Verdict::Fail,
            format!(
                "no pair succeeded and neither party ended the session: the scenario's deadline came {} ms past the \
                 bound of {} ms after the first check, the call still connecting; {} is the controlling agent",
                (end - bound).as_millis(),
                (bound - first).as_millis(),
                ctx.controlling
            ),
            vec![],
        )
        .by(&ctx.controlling),
        None => result(
            d,
            Verdict::Inconclusive,
            format!(
                "no pair succeeded, but the run ended {} ms after the first check, before the bound of {} ms",
                (end - first).as_millis(),
                (bound - first).as_millis()
            ),
            vec![],
        ),
    }
}
