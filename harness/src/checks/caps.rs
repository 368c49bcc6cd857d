//! Entity capabilities (XEP-0115): the advertised `ver` matches the disco#info the client serves.

use xmpp_parsers::disco::DiscoInfoResult;
use xmpp_parsers::hashes::Algo;

use super::{result, CheckDef, CheckResult, Ctx, Level, Verdict};
use crate::trace::{Dir, TraceKind};
use crate::xml::ns;

/// The caps `ver` is the hash of the disco#info result for `node#ver`.
pub const VER_VALID: CheckDef = CheckDef {
    id: "disco.caps-ver-valid",
    level: Level::Must,
    cite: "XEP-0115 §5.4",
    summary: "the caps ver a client advertises is the SHA-1 hash of the disco#info it answers for node#ver",
};

/// See [`VER_VALID`].
pub fn ver_valid(ctx: &Ctx) -> CheckResult {
    use base64::Engine;
    let d = &VER_VALID;
    let mut verified = 0;
    for e in &ctx.out.trace.events {
        let TraceKind::Stanza {
            party,
            dir: Dir::Tx,
            element,
            ..
        } = &e.kind
        else {
            continue;
        };
        if element.name() != "iq" || element.attr("type") != Some("result") {
            continue;
        }
        let Some(q) = element.get_child("query", ns::DISCO_INFO) else {
            continue;
        };
        let Some((_, ver)) = q.attr("node").and_then(|n| n.split_once('#')) else {
            continue;
        };
        let ver = ver.to_string();
        let computed = DiscoInfoResult::try_from(q.clone())
            .ok()
            .and_then(|info| xmpp_parsers::caps::hash_caps(&xmpp_parsers::caps::compute_disco(&info), Algo::Sha_1).ok())
            .map(|h| base64::engine::general_purpose::STANDARD.encode(h.hash));
        match computed {
            Some(c) if c == ver => verified += 1,
            Some(c) => {
                return result(
                    d,
                    Verdict::Fail,
                    format!("{party} advertises caps ver {ver} but its disco#info hashes to {c}"),
                    vec![e.index],
                )
            }
            None => {
                return result(
                    d,
                    Verdict::Fail,
                    format!("{party}'s disco#info result for node#{ver} is not a valid disco#info"),
                    vec![e.index],
                )
            }
        }
    }
    if verified == 0 {
        return result(
            d,
            Verdict::Inconclusive,
            "no disco#info result for a caps node was sent".into(),
            vec![],
        );
    }
    result(
        d,
        Verdict::Pass,
        format!("{verified} disco#info results match their caps ver"),
        vec![],
    )
}
