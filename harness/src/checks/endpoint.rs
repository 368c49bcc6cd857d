//! Faults of an implementation as such: what the harness refused or could not get from it.

use super::{result, CheckDef, CheckResult, Ctx, Level, Verdict};
use crate::trace::{Dir, TraceKind};

/// No fault recorded for an implementation: it did not crash, hang or write garbage (external
/// programs), and did not send from an address its host does not have.
pub const NO_FAULT: CheckDef = CheckDef {
    id: "endpoint.no-fault",
    level: Level::Must,
    cite: "impls/external/PROTOCOL.md §Failures",
    summary: "no implementation crashed, hung, wrote a line outside the endpoint protocol, or sent from an address its host does not have",
};

/// See [`NO_FAULT`].
pub fn no_fault(ctx: &Ctx) -> CheckResult {
    let d = &NO_FAULT;
    let mut sent = 0;
    for e in &ctx.out.trace.events {
        match &e.kind {
            TraceKind::Violation { party, what } => {
                return result(d, Verdict::Fail, format!("{party}: {what}"), vec![e.index]).by(party);
            }
            TraceKind::Stanza { dir: Dir::Tx, .. } => sent += 1,
            _ => {}
        }
    }
    if sent == 0 {
        return result(
            d,
            Verdict::Inconclusive,
            "no implementation sent a stanza, so nothing shows it ran".into(),
            vec![],
        );
    }
    result(
        d,
        Verdict::Pass,
        format!("no fault recorded; the implementations sent {sent} stanzas"),
        vec![],
    )
}
