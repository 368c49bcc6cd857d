//! XEP-0353 Jingle Message Initiation checks.

use super::{result, CheckDef, CheckResult, Ctx, Level, Verdict};
use crate::trace::Dir;

/// The media of a propose equal those of the session-initiate with the same id.
pub const PROPOSE_MATCHES_INITIATE: CheckDef = CheckDef {
    id: "jmi.propose-matches-initiate",
    level: Level::Must,
    cite: "XEP-0353 §3.2",
    summary: "the session-initiate that follows a propose carries the same set of media as the propose",
};

/// See [`PROPOSE_MATCHES_INITIATE`].
pub fn propose_matches_initiate(ctx: &Ctx) -> CheckResult {
    let d = &PROPOSE_MATCHES_INITIATE;
    let w = &ctx.wire;
    let Some(propose) = w.jmi.iter().find(|j| j.kind == "propose" && j.dir == Dir::Tx) else {
        let direct = w
            .jingle
            .iter()
            .find(|j| j.action == "session-initiate" && j.dir == Dir::Tx);
        return match direct {
            Some(si) => result(
                d,
                Verdict::Inconclusive,
                "no propose was sent: the session was initiated directly, so there is nothing to match".into(),
                vec![si.index],
            ),
            None => result(
                d,
                Verdict::Fail,
                "neither a propose nor a session-initiate was sent: no call was attempted".into(),
                vec![],
            ),
        };
    };
    let initiate = w.jingle.iter().find(|j| {
        j.action == "session-initiate" && j.dir == Dir::Tx && j.sid == propose.id && j.party == propose.party
    });
    let Some(si) = initiate else {
        let proceeded = w
            .jmi
            .iter()
            .find(|j| j.kind == "proceed" && j.id == propose.id && j.dir == Dir::Rx && j.party == propose.party);
        return match proceeded {
            Some(p) => result(
                d,
                Verdict::Fail,
                format!(
                    "{} received proceed for {} but never sent a session-initiate with that sid",
                    propose.party, propose.id
                ),
                vec![propose.index, p.index],
            ),
            None => result(
                d,
                Verdict::Inconclusive,
                "the propose was never answered with proceed, so no session-initiate was due".into(),
                vec![propose.index],
            ),
        };
    };
    let pm: Vec<_> = propose.media.iter().cloned().collect();
    let sm: Vec<_> = si.media().into_iter().collect();
    if pm == sm {
        result(
            d,
            Verdict::Pass,
            format!("propose and session-initiate both carry media [{}]", pm.join(", ")),
            vec![propose.index, si.index],
        )
    } else {
        result(
            d,
            Verdict::Fail,
            format!(
                "propose carried media [{}] but session-initiate carried [{}]",
                pm.join(", "),
                sm.join(", ")
            ),
            vec![propose.index, si.index],
        )
    }
}
