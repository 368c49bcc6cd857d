//! ICE timing checks: pacing, retransmission timer, and no failure before the PAC bound.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{result, CheckDef, CheckResult, Ctx, Level, Verdict};
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

/// No ICE failure is declared before the PAC timer (39.5 s) expires.
pub const NO_FAILURE_BEFORE_PAC: CheckDef = CheckDef {
    id: "ice.no-failure-before-pac",
    level: Level::Must,
    cite: "RFC 8863 §4",
    summary: "a session is not ended for connectivity failure earlier than 39.5 s after checks began",
};

const TA: Duration = Duration::from_millis(50);
const MIN_RTO: Duration = Duration::from_millis(500);
const PAC: Duration = Duration::from_millis(39_500);

/// First and later transmission times of each check a party sent, by transaction id.
fn transmissions(ctx: &Ctx, party: &str) -> BTreeMap<[u8; 12], Vec<(SimTime, usize)>> {
    let mut by_tx: BTreeMap<[u8; 12], Vec<(SimTime, usize)>> = BTreeMap::new();
    for c in ctx.wire.checks_sent_by(party) {
        by_tx.entry(c.msg.transaction_id).or_default().push((c.time, c.index));
    }
    by_tx
}

/// See [`PACING`].
pub fn pacing(ctx: &Ctx) -> CheckResult {
    let d = &PACING;
    let mut n = 0;
    for party in [&ctx.caller, &ctx.callee] {
        let mut firsts: Vec<(SimTime, usize)> = transmissions(ctx, party).values().map(|v| v[0]).collect();
        firsts.sort();
        n += firsts.len();
        if let Some(w) = firsts.windows(2).find(|w| w[1].0 - w[0].0 < TA) {
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
            );
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
        format!("{n} checks, each started at least 50 ms after the previous"),
        vec![],
    )
}

/// See [`RETRANSMISSION_TIMER`].
pub fn retransmission_timer(ctx: &Ctx) -> CheckResult {
    let d = &RETRANSMISSION_TIMER;
    let mut retransmits = 0;
    for party in [&ctx.caller, &ctx.callee] {
        for sends in transmissions(ctx, party).values() {
            for w in sends.windows(2) {
                retransmits += 1;
                if w[1].0 - w[0].0 < MIN_RTO {
                    return result(
                        d,
                        Verdict::Fail,
                        format!(
                            "{party} retransmitted a check after {} ms, less than the 500 ms minimum RTO",
                            (w[1].0 - w[0].0).as_millis()
                        ),
                        vec![w[0].1, w[1].1],
                    );
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
        format!("{retransmits} retransmissions, each at least 500 ms after the one before"),
        vec![],
    )
}

/// See [`NO_FAILURE_BEFORE_PAC`].
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
    let Some(first) = ctx.wire.checks_sent_by(&term.party).next() else {
        return result(
            d,
            Verdict::Fail,
            format!(
                "{} ended the session for connectivity failure without sending a single check",
                term.party
            ),
            vec![term.index],
        );
    };
    let waited = term.time - first.time;
    if waited < PAC {
        return result(
            d,
            Verdict::Fail,
            format!(
                "{} declared failure {} ms after its first check, before the 39.5 s PAC bound",
                term.party,
                waited.as_millis()
            ),
            vec![first.index, term.index],
        );
    }
    result(
        d,
        Verdict::Pass,
        format!(
            "{} declared failure {} ms after its first check",
            term.party,
            waited.as_millis()
        ),
        vec![first.index, term.index],
    )
}
