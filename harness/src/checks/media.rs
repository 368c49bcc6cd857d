//! Media checks: the call works, proven by packets arriving both ways.

use super::{result, CheckDef, CheckResult, Ctx, Level, Verdict};
use crate::trace::Dir;
use crate::wire::Party;

/// Both parties send RTP on the selected pair and receive the other's.
pub const BIDIRECTIONAL_ON_SELECTED_PAIR: CheckDef = CheckDef {
    id: "media.bidirectional-on-selected-pair",
    level: Level::Must,
    cite: "RFC 8445 §12.1",
    summary: "media flows in both directions, each side sending on the selected (nominated) pair",
};

/// See [`BIDIRECTIONAL_ON_SELECTED_PAIR`].
pub fn bidirectional_on_selected_pair(ctx: &Ctx) -> CheckResult {
    let d = &BIDIRECTIONAL_ON_SELECTED_PAIR;
    if ctx.nominated.is_none() && ctx.wire.accepted_by(&ctx.controlling).is_none() {
        let why = ctx
            .wire
            .jingle
            .iter()
            .find(|j| j.action == "session-terminate")
            .map(|j| {
                format!(
                    " ({} ended it with {})",
                    j.party,
                    j.reason.as_deref().unwrap_or("no reason")
                )
            })
            .unwrap_or_default();
        return result(
            d,
            Verdict::Inconclusive,
            format!("the session was never accepted{why}, so no media was due"),
            vec![],
        );
    }
    let Some(n) = &ctx.nominated else {
        let checks: Vec<_> = [&ctx.caller, &ctx.callee]
            .into_iter()
            .flat_map(|p| ctx.wire.checks_sent_by(p))
            .collect();
        let succeeded = checks.iter().find(|c| {
            ctx.wire
                .response_to(c)
                .is_some_and(|r| r.msg.class == crate::stun::Class::Success)
        });
        return match (checks.first(), succeeded) {
            (None, _) if super::candidateless(ctx).is_some_and(|(_, excused)| excused) => result(
                d,
                Verdict::Inconclusive,
                format!(
                    "the session was accepted but {} signalled no candidate, the TURN server having refused its \
                     allocation, so no pair could carry media",
                    super::candidateless(ctx).map_or("", |(who, _)| who)
                ),
                vec![],
            ),
            (None, _) => result(
                d,
                Verdict::Fail,
                format!(
                    "the session was accepted but no connectivity check was ever sent, so no pair could carry \
                     media; {} is the controlling agent",
                    ctx.controlling
                ),
                vec![],
            )
            .by(&ctx.controlling),
            (Some(_), Some(ok)) => result(
                d,
                Verdict::Fail,
                format!(
                    "a pair was valid ({} -> {}) but none was nominated, so there is no selected pair to carry media",
                    ok.src, ok.dst
                ),
                vec![ok.index],
            )
            .by(&ctx.controlling),
            // The network offered no path (e.g. symmetric NATs without TURN): not the implementations' fault.
            (Some(first), None) => result(
                d,
                Verdict::Inconclusive,
                format!(
                    "none of the {} connectivity checks succeeded: the network offered no usable path.{}",
                    checks.len(),
                    super::turn::failures(ctx)
                ),
                vec![first.index],
            )
            .network(),
        };
    };
    let Some((cl, cr, _)) = n.controlled_view else {
        return result(
            d,
            Verdict::Inconclusive,
            format!(
                "the network did not deliver the nominating check to {}{}",
                n.controlled,
                super::network::fate(ctx, n.request)
            ),
            vec![n.request],
        )
        .network();
    };
    let views = [(n.controlling, n.controlling_view), (n.controlled, (cl, cr))];
    // Every pair nominated in the session, in each party's view: with several nominated (RFC 5245
    // aggressive nomination) each agent uses the highest-priority one by its own reckoning.
    let nominated_pairs = |controlling: bool| -> Vec<(std::net::SocketAddr, std::net::SocketAddr)> {
        ctx.nominations
            .iter()
            .filter(|m| m.session == n.session && m.component == n.component)
            .filter_map(|m| {
                if controlling {
                    Some(m.controlling_view)
                } else {
                    m.controlled_view.map(|(l, r, _)| (l, r))
                }
            })
            .collect()
    };
    let mut evidence = vec![n.request];
    let mut used = Vec::new();
    let mut excused: Option<String> = None;
    for (i, (party, (local, remote))) in views.into_iter().enumerate() {
        let pairs = nominated_pairs(i == 0);
        let sent = ctx
            .wire
            .rtp
            .iter()
            .rev()
            .find(|r| r.party == party && r.dir == Dir::Tx && pairs.contains(&(r.src, r.dst)));
        let Some(sent) = sent else {
            // Its peer's media is still judged: only this party's silence is excused.
            if let Some(why) = super::media_waits_for_dtls(ctx, &party) {
                excused.get_or_insert(why);
                continue;
            }
            let others = if pairs.len() > 1 {
                format!(" nor on any of the {} pairs nominated in the session", pairs.len())
            } else {
                String::new()
            };
            return result(
                d,
                Verdict::Fail,
                format!("{party} sent no media on its selected pair {local} -> {remote}{others}"),
                evidence,
            )
            .by(&party);
        };
        evidence.push(sent.index);
        used.push((party, sent.src, pairs));
    }
    if let Some(why) = excused {
        return result(d, Verdict::Inconclusive, why, evidence);
    }
    for (party, local, pairs) in used {
        let got = ctx
            .wire
            .rtp
            .iter()
            .find(|r| r.party == party && r.dir == Dir::Rx && pairs.iter().any(|p| p.0 == r.dst));
        let Some(got) = got else {
            // Its peer sent media on the pair (above): what kept it away was the network.
            return result(
                d,
                Verdict::Inconclusive,
                format!(
                    "both sent media on the selected pair, but the network delivered none of it to {party} at {local}"
                ),
                evidence,
            )
            .network();
        };
        evidence.push(got.index);
    }
    let count = |p: Party| ctx.wire.rtp.iter().filter(|r| r.party == p && r.dir == Dir::Rx).count();
    result(
        d,
        Verdict::Pass,
        format!(
            "media both ways on the selected pair: {} received {} packets, {} received {}",
            n.controlling,
            count(n.controlling),
            n.controlled,
            count(n.controlled)
        ),
        evidence,
    )
}
