//! Renomination checks (digest §8, §9.5): NOMINATION attributes only towards a peer that agreed.

use super::{result, CheckDef, CheckResult, Ctx, Level, Verdict};
use crate::stun::attr_type;
use crate::trace::Dir;

/// A NOMINATION attribute (0xC001 or 0x0030) goes only to a peer that advertised renomination.
pub const ONLY_WHEN_NEGOTIATED: CheckDef = CheckDef {
    id: "ice.renomination.only-when-negotiated",
    level: Level::Must,
    cite: "draft-thatcher-ice-renomination-01 §3",
    summary: "NOMINATION (0xC001 or 0x0030) is sent only to a peer whose transport advertised renomination",
};

/// Whether `party`'s peer advertised renomination: a transport it received carried `<renomination/>`.
pub(super) fn peer_offered(ctx: &Ctx, party: &str) -> bool {
    ctx.wire
        .jingle
        .iter()
        .filter(|j| j.party == party && j.dir == Dir::Rx)
        .flat_map(|j| j.contents.iter())
        .any(|c| c.renomination)
}

/// See [`ONLY_WHEN_NEGOTIATED`].
pub fn only_when_negotiated(ctx: &Ctx) -> CheckResult {
    let d = &ONLY_WHEN_NEGOTIATED;
    let mut checks = 0;
    for party in [&ctx.caller, &ctx.callee] {
        let peer_offers = peer_offered(ctx, party);
        for c in ctx.wire.checks_sent_by(party) {
            checks += 1;
            let attr = [attr_type::NOMINATION_LEGACY, attr_type::NOMINATION_RENOMINATION2]
                .into_iter()
                .find(|a| c.msg.has(*a));
            if let (Some(a), false) = (attr, peer_offers) {
                let use_candidate = ctx
                    .wire
                    .checks_sent_by(party)
                    .any(|x| x.msg.has(attr_type::USE_CANDIDATE));
                return result(
                    d,
                    Verdict::Fail,
                    format!(
                        "{party} sent NOMINATION {a:#06x} to {} although the peer's transport never advertised \
                         <renomination/>{}; a peer without renomination ignores it and never sees a nomination",
                        c.dst,
                        if use_candidate {
                            ""
                        } else {
                            ", and it never sent USE-CANDIDATE"
                        }
                    ),
                    vec![c.index],
                );
            }
        }
    }
    if checks == 0 {
        return result(
            d,
            Verdict::Inconclusive,
            "no connectivity check was sent".into(),
            vec![],
        );
    }
    result(
        d,
        Verdict::Pass,
        format!("{checks} connectivity checks, none with an un-negotiated NOMINATION"),
        vec![],
    )
}
