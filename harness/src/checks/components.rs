//! ICE components (RFC 8445 §6.1.2.2; XEP-0167 §3): without rtcp-mux, RTCP has its own component,
//! 2, and ICE completes only when it has a nominated pair too (docs/field-failures.md §Firefox
//! component 2 and per-candidate restarts).

use std::collections::BTreeSet;
use std::net::SocketAddr;

use super::{result, CheckDef, CheckResult, Ctx, Level, Verdict};
use crate::stun::{attr_type, Class};
use crate::trace::Dir;
use crate::wire::{JingleSeen, Party, StunSeen};

/// Component 2 is checked and nominated when rtcp-mux was not agreed.
pub const COMPONENT_2_CHECKED: CheckDef = CheckDef {
    id: "ice.component-2-checked",
    level: Level::Must,
    cite: "RFC 8445 §6.1.2.2",
    summary: "when the offer or the answer lacks <rtcp-mux/>, both parties signal component-2 (RTCP) candidates and check them, and the controlling party nominates a component-2 pair; ICE is complete only with a nominated pair per component (XEP-0167 §3: an agent without RTCP still accepts and mirrors component 2)",
};

/// Every RTP description of `j` carried `<rtcp-mux/>`.
fn muxed(j: &JingleSeen) -> bool {
    let mut described = j.contents.iter().filter(|c| c.media.is_some()).peekable();
    described.peek().is_some() && described.all(|c| c.rtcp_mux)
}

/// See [`COMPONENT_2_CHECKED`]. Judged on the session that went ahead
/// ([`crate::wire::Wire::session_initiate`]). A
/// component-2 check is a Binding request with a role attribute that leaves one of the sender's
/// own signalled component-2 candidates or goes to one of the peer's. When no component-2 check
/// ever got a success response, the network may have offered no path for it, so a missing
/// nomination is then inconclusive.
pub fn component_2_checked(ctx: &Ctx) -> CheckResult {
    let d = &COMPONENT_2_CHECKED;
    let Some(offer) = ctx.wire.session_initiate() else {
        return result(d, Verdict::Inconclusive, "no session-initiate was sent".into(), vec![]);
    };
    let Some(answer) = ctx
        .wire
        .jingle
        .iter()
        .find(|j| j.dir == Dir::Tx && j.action == "session-accept" && j.sid == offer.sid)
    else {
        return result(
            d,
            Verdict::Inconclusive,
            format!("{}'s session-initiate was never accepted", offer.party),
            vec![offer.index],
        );
    };
    let signalled = |party: Party| -> BTreeSet<SocketAddr> {
        ctx.wire
            .jingle
            .iter()
            .filter(|j| j.dir == Dir::Tx && j.party == party && j.sid == offer.sid)
            .flat_map(|j| j.contents.iter())
            .flat_map(|c| c.candidates.iter())
            .filter(|c| c.component == 2)
            .map(|c| c.addr)
            .collect()
    };
    let (offerer, answerer) = (offer.party, answer.party);
    if muxed(offer) && muxed(answer) {
        let early = signalled(offerer).len();
        let note = if early > 0 {
            format!("; {offerer} signalled {early} component-2 candidate(s) before the answer, which need no checks")
        } else {
            String::new()
        };
        return result(
            d,
            Verdict::Inconclusive,
            format!("rtcp-mux agreed in session-initiate and session-accept: one component{note}"),
            vec![offer.index, answer.index],
        );
    }
    let without = if muxed(offer) { answerer } else { offerer };
    let (ours, theirs) = (signalled(offerer), signalled(answerer));
    for (party, set, j) in [(offerer, &ours, offer), (answerer, &theirs, answer)] {
        if set.is_empty() {
            return result(
                d,
                Verdict::Fail,
                format!(
                    "rtcp-mux was not agreed ({without}'s description has no <rtcp-mux/>), but {party} signalled no \
                     component-2 candidate"
                ),
                vec![offer.index, answer.index, j.index],
            )
            .by(&party);
        }
    }
    let on_component_2 = |s: &StunSeen| {
        let (own, peer) = if s.party == offerer {
            (&ours, &theirs)
        } else {
            (&theirs, &ours)
        };
        own.contains(&s.src) || peer.contains(&s.dst)
    };
    let first_check = |party: Party| {
        ctx.wire
            .checks_sent_by(&party)
            .find(|s| on_component_2(s))
            .map(|s| (s.index, s.time))
    };
    let (Some(a), Some(b)) = (first_check(offerer), first_check(answerer)) else {
        let any_check =
            ctx.wire.checks_sent_by(&offerer).next().is_some() || ctx.wire.checks_sent_by(&answerer).next().is_some();
        if !any_check {
            return result(
                d,
                Verdict::Inconclusive,
                "rtcp-mux was not agreed, but no connectivity check was sent at all".into(),
                vec![offer.index, answer.index],
            );
        }
        let silent = if first_check(offerer).is_none() {
            offerer
        } else {
            answerer
        };
        return result(
            d,
            Verdict::Fail,
            format!(
                "rtcp-mux was not agreed ({without}'s description has no <rtcp-mux/>) and both signalled component-2 \
                 candidates, but {silent} never sent a check on component 2"
            ),
            vec![offer.index, answer.index],
        )
        .by(&silent);
    };
    let controlling = ctx.controlling;
    let succeeded = |s: &&StunSeen| ctx.wire.response_to(s).is_some_and(|r| r.msg.class == Class::Success);
    let nomination = ctx
        .wire
        .checks_sent_by(&controlling)
        .filter(|s| on_component_2(s))
        .filter(|s| {
            s.msg.has(attr_type::USE_CANDIDATE)
                || s.msg.has(attr_type::NOMINATION_LEGACY)
                || s.msg.has(attr_type::NOMINATION_RENOMINATION2)
        })
        .find(succeeded);
    let Some(n) = nomination else {
        let any_success = [offerer, answerer].iter().any(|p| {
            ctx.wire
                .checks_sent_by(p)
                .filter(|s| on_component_2(s))
                .any(|s| succeeded(&s))
        });
        let verdict = if any_success {
            Verdict::Fail
        } else {
            Verdict::Inconclusive
        };
        let why = if any_success {
            "a component-2 check succeeded"
        } else {
            "no component-2 check ever succeeded (the network may offer no path for it)"
        };
        let r = result(
            d,
            verdict,
            format!(
                "both checked component 2 ({offerer} at {}, {answerer} at {}), {why}, but {controlling} nominated no \
                 component-2 pair",
                a.1, b.1
            ),
            vec![a.0, b.0],
        );
        return if any_success { r.by(&controlling) } else { r.network() };
    };
    result(
        d,
        Verdict::Pass,
        format!(
            "rtcp-mux not agreed ({without}'s description has no <rtcp-mux/>): {offerer} checked component 2 at {}, \
             {answerer} at {}; {controlling} nominated {} -> {} at {}",
            a.1, b.1, n.src, n.dst, n.time
        ),
        vec![a.0, b.0, n.index],
    )
}
