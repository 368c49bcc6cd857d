//! TURN checks: what each party's allocations came to, so a call that had no relay says why.

use super::{result, CheckDef, CheckResult, Ctx, Level, Verdict};
use crate::stun::{attr_type, method, Attribute, Class};
use crate::trace::Dir;

/// Each party's TURN allocation, as the server answered it.
pub const ALLOCATION: CheckDef = CheckDef {
    id: "turn.allocation",
    level: Level::Info,
    cite: "RFC 8656 §7.2",
    summary: "what each party's TURN Allocate came to: relayed address, error code and reason, or no answer",
};

/// One party's final Allocate outcome, in words, with its evidence index.
struct Outcome {
    party: String,
    ok: bool,
    text: String,
    index: usize,
}

fn outcomes(ctx: &Ctx) -> Vec<Outcome> {
    let mut out = Vec::new();
    for party in [&ctx.caller, &ctx.callee] {
        let reqs: Vec<_> = ctx
            .wire
            .stun
            .iter()
            .filter(|s| {
                &s.party == party
                    && s.dir == Dir::Tx
                    && s.msg.method == method::ALLOCATE
                    && s.msg.class == Class::Request
            })
            .collect();
        let Some(first) = reqs.first() else { continue };
        // The last answered request decides; the 401 challenge to an unauthenticated request is normal.
        let mut last: Option<Outcome> = None;
        for req in &reqs {
            let Some(resp) = ctx.wire.response_to(req) else {
                continue;
            };
            let o = match resp.msg.class {
                Class::Success => {
                    let relayed = match resp.msg.get(attr_type::XOR_RELAYED_ADDRESS) {
                        Some(Ok(Attribute::XorRelayedAddress(a))) => a.to_string(),
                        _ => "?".into(),
                    };
                    Outcome {
                        party: party.clone(),
                        ok: true,
                        text: format!("{party} allocated relay {relayed} on {}", req.dst),
                        index: resp.index,
                    }
                }
                _ => {
                    let (code, reason) = match resp.msg.get(attr_type::ERROR_CODE) {
                        Some(Ok(Attribute::ErrorCode(e))) => (e.code, e.reason),
                        _ => (0, String::new()),
                    };
                    if code == 401 && !req.msg.has(attr_type::MESSAGE_INTEGRITY) {
                        continue;
                    }
                    Outcome {
                        party: party.clone(),
                        ok: false,
                        text: format!("{party}'s Allocate on {} drew {code} {reason}", req.dst),
                        index: resp.index,
                    }
                }
            };
            last = Some(o);
        }
        out.push(last.unwrap_or(Outcome {
            party: party.clone(),
            ok: false,
            text: format!(
                "{party}'s Allocate to {} got no answer ({} sent)",
                first.dst,
                reqs.len()
            ),
            index: first.index,
        }));
    }
    out
}

/// The failed allocations in one sentence, for other checks' details; empty when none failed.
pub(super) fn failures(ctx: &Ctx) -> String {
    let failed: Vec<String> = outcomes(ctx).into_iter().filter(|o| !o.ok).map(|o| o.text).collect();
    if failed.is_empty() {
        String::new()
    } else {
        format!(" TURN could not help: {} (see turn.allocation).", failed.join("; "))
    }
}

/// See [`ALLOCATION`].
pub fn allocation(ctx: &Ctx) -> CheckResult {
    let d = &ALLOCATION;
    let all = outcomes(ctx);
    if all.is_empty() {
        return result(
            d,
            Verdict::Inconclusive,
            "no party sent a TURN Allocate (no TURN server offered, or none used)".into(),
            vec![],
        );
    }
    let mut text: Vec<String> = all.iter().map(|o| o.text.clone()).collect();
    let no_relay: Vec<&str> = all.iter().filter(|o| !o.ok).map(|o| o.party.as_str()).collect();
    if !no_relay.is_empty() {
        text.push(format!("so {} gathered no relayed candidate", no_relay.join(" and ")));
    }
    result(
        d,
        Verdict::Informational,
        text.join("; "),
        all.iter().map(|o| o.index).collect(),
    )
}
