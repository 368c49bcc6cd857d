//! Checks on the STUN messages themselves: ICE check attributes and credentials, FINGERPRINTs, TURN
//! permission order.

use std::collections::BTreeSet;
use std::net::IpAddr;

use super::{result, CheckDef, CheckResult, Ctx, Level, Verdict};
use crate::stun::{attr_type, method, Attribute, Class};
use crate::trace::Dir;

/// Connectivity checks carry what RFC 8445 requires.
pub const CHECK_ATTRIBUTES: CheckDef = CheckDef {
    id: "ice.check-attributes",
    level: Level::Must,
    cite: "RFC 8445 §7.2.2",
    summary: "every connectivity check carries USERNAME (remote:local ufrag), PRIORITY, ICE-CONTROLLING or -CONTROLLED, MESSAGE-INTEGRITY and FINGERPRINT",
};

/// Transports signal ICE credentials.
pub const CREDENTIALS_SIGNALLED: CheckDef = CheckDef {
    id: "ice.credentials-signalled",
    level: Level::Must,
    cite: "XEP-0176 §5",
    summary: "the ICE-UDP transports of session-initiate and session-accept carry ufrag and pwd",
};

/// Every FINGERPRINT verifies.
pub const FINGERPRINT_VALID: CheckDef = CheckDef {
    id: "stun.fingerprint-valid",
    level: Level::Must,
    cite: "RFC 8489 §14.7",
    summary: "every STUN message a party sends with FINGERPRINT carries the right CRC-32",
};

/// Relayed data goes only to peers with an installed permission.
pub const PERMISSION_BEFORE_SEND: CheckDef = CheckDef {
    id: "turn.permission-before-send",
    level: Level::Should,
    cite: "RFC 8445 §7.2.1",
    summary: "a client relays data to a peer only after its CreatePermission for the peer's IP succeeded",
};

/// The ICE credentials `party` signalled (`Dir::Tx`) or was signalled (`Dir::Rx`) in Jingle, as
/// (ufrag, pwd), every generation (restarts add new ones), without repeats.
fn signalled_credentials<'w>(ctx: &'w Ctx, party: &str, dir: Dir) -> Vec<(&'w str, &'w str)> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for j in ctx.wire.jingle.iter().filter(|j| j.party == party && j.dir == dir) {
        for c in &j.contents {
            if let (Some(u), Some(p)) = (c.ufrag.as_deref(), c.pwd.as_deref()) {
                if !out.contains(&(u, p)) {
                    out.push((u, p));
                }
            }
        }
    }
    out
}

/// See [`CHECK_ATTRIBUTES`]: besides the attributes' presence, a check's USERNAME is
/// `peer-ufrag:own-ufrag` of credentials signalled in Jingle, and its MESSAGE-INTEGRITY verifies
/// with the password the peer signalled with that ufrag (RFC 8445 §7.2.2, RFC 8489 §9.1). Judges
/// the party that sent the check.
pub fn check_attributes(ctx: &Ctx) -> CheckResult {
    let d = &CHECK_ATTRIBUTES;
    let mut n = 0;
    let mut verified = 0;
    for party in [&ctx.caller, &ctx.callee] {
        let own = signalled_credentials(ctx, party, Dir::Tx);
        let peer = signalled_credentials(ctx, party, Dir::Rx);
        for c in ctx.wire.checks_sent_by(party) {
            n += 1;
            let missing: Vec<&str> = [
                (attr_type::USERNAME, "USERNAME"),
                (attr_type::PRIORITY, "PRIORITY"),
                (attr_type::MESSAGE_INTEGRITY, "MESSAGE-INTEGRITY"),
                (attr_type::FINGERPRINT, "FINGERPRINT"),
            ]
            .into_iter()
            .filter(|(t, _)| !c.msg.has(*t))
            .map(|(_, name)| name)
            .collect();
            // USERNAME read in place (its decoding is the UTF-8 check alone): no copy per check.
            let username = c.msg.raw(attr_type::USERNAME).map(|a| std::str::from_utf8(a.value));
            let username_ok = match username {
                Some(Ok(u)) => u.split_once(':').is_some_and(|(a, b)| !a.is_empty() && !b.is_empty()),
                _ => true, // reported as missing above
            };
            if !missing.is_empty() || !username_ok {
                let what = if missing.is_empty() {
                    "a USERNAME that is not remote:local".to_string()
                } else {
                    format!("no {}", missing.join(", "))
                };
                return result(
                    d,
                    Verdict::Fail,
                    format!("{party}'s check to {} has {what}", c.dst),
                    vec![c.index],
                )
                .by(party);
            }
            // Credentials are judged only when both sides' were signalled in Jingle.
            if own.is_empty() || peer.is_empty() {
                continue;
            }
            let Some(Ok((remote, local))) = username.map(|u| u.map(|u| u.split_once(':').unwrap_or((u, "")))) else {
                continue;
            };
            let known = peer.iter().find(|(u, _)| *u == remote);
            let Some((_, pwd)) = known.filter(|_| own.iter().any(|(u, _)| *u == local)) else {
                return result(
                    d,
                    Verdict::Fail,
                    format!(
                        "{party}'s check to {} has USERNAME {remote}:{local}, which is not the peer's ufrag and its own \
                         as signalled in Jingle (peer: {}; own: {})",
                        c.dst,
                        peer.iter().map(|p| p.0).collect::<Vec<_>>().join(", "),
                        own.iter().map(|p| p.0).collect::<Vec<_>>().join(", ")
                    ),
                    vec![c.index],
                )
                .by(party);
            };
            if !c.msg.verify_integrity(pwd.as_bytes()) {
                return result(
                    d,
                    Verdict::Fail,
                    format!(
                        "{party}'s check to {} has a MESSAGE-INTEGRITY that does not verify with the password its peer \
                         signalled for ufrag {remote}",
                        c.dst
                    ),
                    vec![c.index],
                )
                .by(party);
            }
            verified += 1;
        }
    }
    if n == 0 {
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
        format!(
            "{n} checks carry every required attribute; {verified} have the signalled USERNAME and a MESSAGE-INTEGRITY \
             that verifies with the signalled password"
        ),
        vec![],
    )
}

/// See [`CREDENTIALS_SIGNALLED`].
pub fn credentials_signalled(ctx: &Ctx) -> CheckResult {
    let d = &CREDENTIALS_SIGNALLED;
    let actions = ctx.wire.offers_and_answers();
    if actions.is_empty() {
        return result(
            d,
            Verdict::Inconclusive,
            "no session-initiate or session-accept was sent".into(),
            vec![],
        );
    }
    for j in &actions {
        for c in &j.contents {
            if c.ufrag.as_deref().unwrap_or("").is_empty() || c.pwd.as_deref().unwrap_or("").is_empty() {
                return result(
                    d,
                    Verdict::Fail,
                    format!(
                        "{}'s {} transport for content {} lacks ufrag or pwd",
                        j.party,
                        j.action,
                        c.name.as_deref().unwrap_or("?")
                    ),
                    vec![j.index],
                )
                .by(&j.party);
            }
        }
    }
    result(
        d,
        Verdict::Pass,
        format!("{} actions carry ufrag and pwd", actions.len()),
        actions.iter().map(|j| j.index).collect(),
    )
}

/// See [`FINGERPRINT_VALID`].
pub fn fingerprint_valid(ctx: &Ctx) -> CheckResult {
    let d = &FINGERPRINT_VALID;
    let mut n = 0;
    // Relayed messages too: a check inside a Send indication carries its own FINGERPRINT.
    for s in ctx.wire.stun.iter().filter(|s| s.dir == Dir::Tx) {
        if !(s.party == ctx.caller || s.party == ctx.callee) {
            continue;
        }
        match s.msg.verify_fingerprint() {
            Some(true) => n += 1,
            Some(false) => {
                return result(
                    d,
                    Verdict::Fail,
                    format!(
                        "{}'s STUN message to {}{} has a wrong FINGERPRINT",
                        s.party,
                        s.dst,
                        if s.relayed { " (relayed through TURN)" } else { "" }
                    ),
                    vec![s.index],
                )
                .by(&s.party)
            }
            None => {}
        }
    }
    if n == 0 {
        return result(
            d,
            Verdict::Inconclusive,
            "no STUN message with FINGERPRINT was sent".into(),
            vec![],
        );
    }
    result(d, Verdict::Pass, format!("{n} FINGERPRINTs verify"), vec![])
}

/// See [`PERMISSION_BEFORE_SEND`].
pub fn permission_before_send(ctx: &Ctx) -> CheckResult {
    let d = &PERMISSION_BEFORE_SEND;
    let mut sends = 0;
    for party in [&ctx.caller, &ctx.callee] {
        let mut permitted: BTreeSet<IpAddr> = BTreeSet::new();
        let party_stun = ctx.wire.stun.iter().filter(|s| &s.party == party && !s.relayed);
        for s in party_stun {
            if s.msg.method == method::CREATE_PERMISSION && s.msg.class == Class::Success && s.dir == Dir::Rx {
                // The request this answers names the peers.
                if let Some(req) = ctx.wire.stun.iter().find(|r| {
                    &r.party == party
                        && r.dir == Dir::Tx
                        && r.msg.transaction_id == s.msg.transaction_id
                        && r.msg.class == Class::Request
                }) {
                    for a in req.msg.decoded().into_iter().flatten() {
                        if let Attribute::XorPeerAddress(p) = a {
                            permitted.insert(p.ip());
                        }
                    }
                }
            }
            if s.dir == Dir::Tx && s.msg.method == method::SEND && s.msg.class == Class::Indication {
                sends += 1;
                if let Some(Ok(Attribute::XorPeerAddress(p))) = s.msg.get(attr_type::XOR_PEER_ADDRESS) {
                    if !permitted.contains(&p.ip()) {
                        return result(
                            d,
                            Verdict::Fail,
                            format!(
                                "{party} relayed data to {p} before a permission for {} succeeded",
                                p.ip()
                            ),
                            vec![s.index],
                        )
                        .by(party);
                    }
                }
            }
        }
    }
    if sends == 0 {
        return result(
            d,
            Verdict::Inconclusive,
            "no data was relayed through TURN".into(),
            vec![],
        );
    }
    result(
        d,
        Verdict::Pass,
        format!("{sends} Send indications, each after its peer's permission"),
        vec![],
    )
}
