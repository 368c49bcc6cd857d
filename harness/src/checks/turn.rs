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
                        party: party.to_string(),
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
                        party: party.to_string(),
                        ok: false,
                        text: format!("{party}'s Allocate on {} drew {code} {reason}", req.dst),
                        index: resp.index,
                    }
                }
            };
            last = Some(o);
        }
        out.push(last.unwrap_or(Outcome {
            party: party.to_string(),
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
        )
        .network();
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
    .network()
}

/// The TURN credentials a client uses are the ones its XMPP server handed out.
pub const CREDENTIALS_FROM_XEP0215: CheckDef = CheckDef {
    id: "turn.credentials-from-xep0215",
    level: Level::Should,
    cite: "XEP-0215 §3",
    summary: "a client authenticates its TURN Allocate with a username its XMPP server handed out through XEP-0215",
};

/// Allocations are refreshed before they expire.
pub const REFRESH_BEFORE_EXPIRY: CheckDef = CheckDef {
    id: "turn.refresh-before-expiry",
    level: Level::Must,
    cite: "RFC 8656 §8",
    summary: "a client still using its allocation refreshes it before the lifetime the server granted runs out",
};

/// See [`CREDENTIALS_FROM_XEP0215`].
pub fn credentials_from_xep0215(ctx: &Ctx) -> CheckResult {
    let d = &CREDENTIALS_FROM_XEP0215;
    let mut n = 0;
    for party in [&ctx.caller, &ctx.callee] {
        // Usernames the server handed this party.
        let handed: Vec<String> = ctx
            .out
            .trace
            .events
            .iter()
            .filter_map(|e| match &e.kind {
                crate::trace::TraceKind::Stanza {
                    party: p,
                    dir: Dir::Rx,
                    element,
                    ..
                } if p == party => element.get_child("services", crate::xml::ns::EXTDISCO),
                _ => None,
            })
            .flat_map(|s| s.children())
            .filter_map(|svc| svc.attr("username").map(str::to_string))
            .collect();
        for a in ctx.wire.stun.iter().filter(|s| {
            &s.party == party && s.dir == Dir::Tx && s.msg.method == method::ALLOCATE && s.msg.class == Class::Request
        }) {
            let Some(Ok(Attribute::Username(u))) = a.msg.get(attr_type::USERNAME) else {
                continue;
            };
            n += 1;
            if !handed.contains(&u) {
                return result(
                    d,
                    Verdict::Fail,
                    format!("{party} authenticated an Allocate as `{u}`, which its XMPP server never handed out"),
                    vec![a.index],
                )
                .by(party);
            }
        }
    }
    if n == 0 {
        return result(
            d,
            Verdict::Inconclusive,
            "no authenticated Allocate was sent".into(),
            vec![],
        );
    }
    result(
        d,
        Verdict::Pass,
        format!("{n} authenticated Allocates, all with XEP-0215 credentials"),
        vec![],
    )
}

/// Whether `party` sent anything but a new Allocate from `local` to the TURN server `server` in
/// (`after`, `until`]: relayed data (Send indication, ChannelData), a permission, a channel binding
/// or a late Refresh all show it still wanted the allocation.
fn used_after(
    ctx: &Ctx,
    party: &str,
    local: std::net::SocketAddr,
    server: std::net::SocketAddr,
    after: crate::time::SimTime,
    until: crate::time::SimTime,
) -> Option<usize> {
    ctx.out.trace.events.iter().find_map(|e| {
        if e.time <= after || e.time > until {
            return None;
        }
        let (point, dir, src, dst, payload) = match &e.kind {
            crate::trace::TraceKind::Datagram {
                point,
                dir,
                src,
                dst,
                payload,
            }
            | crate::trace::TraceKind::Segment {
                point,
                dir,
                src,
                dst,
                payload,
                ..
            } => (point, dir, src, dst, payload),
            _ => return None,
        };
        let new_allocate = crate::stun::Message::decode(payload).is_ok_and(|m| m.method == method::ALLOCATE);
        (**point == *party && *dir == Dir::Tx && *src == local && *dst == server && !new_allocate).then_some(e.index)
    })
}

/// See [`REFRESH_BEFORE_EXPIRY`]: every lifetime of every allocation, granted by the Allocate or
/// a later Refresh, is judged; an allocation the client stops using may lapse (RFC 8656 §8: a
/// client refreshes "if [it] wishes to continue to have an allocation").
pub fn refresh_before_expiry(ctx: &Ctx) -> CheckResult {
    let d = &REFRESH_BEFORE_EXPIRY;
    let end = ctx.end;
    let mut due = 0;
    let mut lapsed = 0;
    for party in [&ctx.caller, &ctx.callee] {
        let party_stun: Vec<_> = ctx
            .wire
            .stun
            .iter()
            .filter(|s| &s.party == party && !s.relayed)
            .collect();
        let lifetime = |m: &crate::stun::Message| match m.get(attr_type::LIFETIME) {
            Some(Ok(Attribute::Lifetime(l))) => Some(l),
            _ => None,
        };
        for ok in party_stun
            .iter()
            .filter(|s| s.dir == Dir::Rx && s.msg.method == method::ALLOCATE && s.msg.class == Class::Success)
        {
            let (local, server) = (ok.dst, ok.src);
            let Some(mut granted) = lifetime(&ok.msg) else {
                continue;
            };
            let mut from = ok.time;
            loop {
                let expiry = from + std::time::Duration::from_secs(granted.into());
                if expiry > end {
                    break; // the run ended before a refresh was due
                }
                // The Refresh sent in this lifetime that succeeded, and the lifetime it granted.
                let renewed = party_stun
                    .iter()
                    .filter(|s| {
                        s.dir == Dir::Tx
                            && s.msg.method == method::REFRESH
                            && s.msg.class == Class::Request
                            && (s.src, s.dst) == (local, server)
                            && s.time > from
                            && s.time < expiry
                    })
                    .find_map(|req| {
                        let resp = ctx
                            .wire
                            .response_to(req)
                            .filter(|r| r.msg.class == Class::Success && r.time <= expiry)?;
                        Some((resp.time, lifetime(&resp.msg).unwrap_or(600)))
                    });
                match renewed {
                    Some((_, 0)) => break, // deleted by the client (RFC 8656 §7.3)
                    Some((at, l)) => {
                        due += 1;
                        from = at;
                        granted = l;
                    }
                    None => match used_after(ctx, party, local, server, expiry, end) {
                        Some(late) => {
                            return result(
                                d,
                                Verdict::Fail,
                                format!(
                                    "{party}'s allocation granted {granted} s at {from} on {server} expired at \
                                     {expiry} without a Refresh, yet {party} went on using it"
                                ),
                                vec![ok.index, late],
                            )
                            .by(party);
                        }
                        None => {
                            lapsed += 1;
                            break;
                        }
                    },
                }
            }
        }
    }
    if due == 0 {
        let why = if lapsed > 0 {
            format!("{lapsed} allocations lapsed unused, which a client may let happen")
        } else {
            "no allocation reached the end of a lifetime within the run".to_string()
        };
        return result(d, Verdict::Inconclusive, why, vec![]);
    }
    result(
        d,
        Verdict::Pass,
        format!("{due} allocation lifetimes renewed by a Refresh before they ran out; {lapsed} lapsed unused"),
        vec![],
    )
}
