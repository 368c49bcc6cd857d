//! Entity capabilities (XEP-0115): the advertised `ver` matches the disco#info the client serves.

use std::cell::RefCell;

use minidom::Element;
use rustc_hash::FxHashMap;
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

/// How many distinct disco#info results [`computed_ver`] remembers per thread before it starts over.
const VER_MEMO_CAP: usize = 256;

thread_local! {
    /// [`computed_ver`]'s results by the query element's canonical bytes ([`crate::trace::put_element`]).
    /// An implementation answers with the same disco#info in every run of a matrix, and parsing and
    /// hashing it cost more than the rest of the judge's stanza work together.
    static VER_MEMO: RefCell<FxHashMap<Vec<u8>, Option<String>>> = RefCell::default();
}

/// The XEP-0115 §5.1 `ver` (hashed with `algo`, base64) of the disco#info `<query/>` `q`, or `None`
/// when `q` is not a valid disco#info result. A pure function of `q` and `algo`, remembered per
/// thread.
fn computed_ver(q: &Element, algo: &Algo) -> Option<String> {
    use base64::Engine;
    let mut key = Vec::with_capacity(512);
    key.extend_from_slice(String::from(algo.clone()).as_bytes());
    key.push(0);
    crate::trace::put_element(&mut key, q);
    if let Some(v) = VER_MEMO.with(|m| m.borrow().get(&key).cloned()) {
        return v;
    }
    let v = DiscoInfoResult::try_from(q.clone())
        .ok()
        .and_then(|info| xmpp_parsers::caps::hash_caps(&xmpp_parsers::caps::compute_disco(&info), algo.clone()).ok())
        .map(|h| base64::engine::general_purpose::STANDARD.encode(h.hash));
    VER_MEMO.with(|m| {
        let mut m = m.borrow_mut();
        if m.len() >= VER_MEMO_CAP {
            m.clear();
        }
        m.insert(key, v.clone());
    });
    v
}

/// The `hash` each party advertised with each caps `node#ver` in its presence (XEP-0115 §4):
/// (party, node, ver) → algorithm name.
fn advertised(ctx: &Ctx) -> Vec<(String, String, String, String)> {
    let mut out = Vec::new();
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
        if element.name() != "presence" {
            continue;
        }
        if let Some(c) = element.get_child("c", ns::CAPS) {
            if let (Some(h), Some(n), Some(v)) = (c.attr("hash"), c.attr("node"), c.attr("ver")) {
                let k = (party.clone(), n.to_string(), v.to_string(), h.to_string());
                if !out.contains(&k) {
                    out.push(k);
                }
            }
        }
    }
    out
}

/// See [`VER_VALID`]: the `ver` is checked with the hash function the presence advertised
/// (`hash=`), SHA-1 when no presence named one; an algorithm the judge does not know leaves that
/// result unjudged (XEP-0115 §5.4 has a receiver skip validation then too).
pub fn ver_valid(ctx: &Ctx) -> CheckResult {
    let d = &VER_VALID;
    let mut verified = 0;
    let mut unknown: Option<String> = None;
    let hashes = advertised(ctx);
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
        let node = q.attr("node").and_then(|n| n.split_once('#')).map_or("", |(n, _)| n);
        let named = hashes
            .iter()
            .find(|(p, n, v, _)| p == party && n == node && v == ver)
            .map(|h| h.3.as_str());
        let algo = match named.map(|h| h.parse::<Algo>()) {
            None => Algo::Sha_1,
            Some(Ok(a)) if !matches!(a, Algo::Unknown(_)) => a,
            Some(_) => {
                unknown.get_or_insert_with(|| named.unwrap_or_default().to_string());
                continue;
            }
        };
        let ver = ver.to_string();
        match computed_ver(q, &algo) {
            Some(c) if c == ver => verified += 1,
            Some(c) => {
                return result(
                    d,
                    Verdict::Fail,
                    format!("{party} advertises caps ver {ver} but its disco#info hashes to {c}"),
                    vec![e.index],
                )
                .by(party)
            }
            None => {
                return result(
                    d,
                    Verdict::Fail,
                    format!("{party}'s disco#info result for node#{ver} is not a valid disco#info"),
                    vec![e.index],
                )
                .by(party)
            }
        }
    }
    if verified == 0 {
        let why = match unknown {
            Some(h) => format!("the only caps advertised use hash `{h}`, which the judge does not know"),
            None => "no disco#info result for a caps node was sent".to_string(),
        };
        return result(d, Verdict::Inconclusive, why, vec![]);
    }
    result(
        d,
        Verdict::Pass,
        format!("{verified} disco#info results match their caps ver"),
        vec![],
    )
}
