//! DTLS-SRTP as the wire shows it (RFC 5763 §5, RFC 8122 §5, RFC 8842 §5, XEP-0320 §3): the
//! certificate a party presents in its handshake is the one whose fingerprint it signalled, and the
//! side that starts the handshake is the one its `setup` made the client.
//!
//! Both read the handshake's clear epoch-0 records ([`crate::wire::DtlsSeen`]): DTLS 1.2 shows the
//! Certificate there, DTLS 1.3 encrypts it (RFC 9147 §4), which leaves the fingerprint check
//! inconclusive, never failed. Simulated runs carry no handshake (the reference does DTLS in live
//! runs only), so there both checks are inconclusive.

use super::{result, CheckDef, CheckResult, Ctx, Level, Verdict};
use crate::trace::Dir;
use crate::wire::{DtlsMessage, JingleSeen};

/// The certificate a party presents is the one it signalled the fingerprint of.
pub const FINGERPRINT_MATCHES_CERTIFICATE: CheckDef = CheckDef {
    id: "dtls.fingerprint-matches-certificate",
    level: Level::Must,
    cite: "RFC 8122 §5; RFC 5763 §5; XEP-0320 §3",
    summary: "the certificate a party presents in its DTLS handshake hashes to the fingerprint it signalled",
};

/// The DTLS client is the side whose XEP-0320 `setup` makes it active.
pub const SETUP_ROLES: CheckDef = CheckDef {
    id: "dtls.setup-roles",
    level: Level::Must,
    cite: "RFC 8842 §5.3; RFC 5763 §5; XEP-0320 §3",
    summary: "the answer's setup is active or passive (the other role than an offer that named one), and the side it makes active sends the ClientHello, the passive side none",
};

/// Every fingerprint `party` signalled in its session-initiate, session-accept and transport-info
/// (XEP-0320 §3), as (hash, value bytes).
fn signalled<'c>(ctx: &'c Ctx, party: &str) -> Vec<(&'c str, &'c [u8])> {
    ctx.wire
        .jingle
        .iter()
        .filter(|j| j.dir == Dir::Tx && j.party == party)
        .flat_map(|j| j.contents.iter())
        .filter_map(|c| c.fingerprint.as_ref())
        .map(|(h, v)| (h.as_str(), v.as_slice()))
        .collect()
}

fn hex(v: &[u8]) -> String {
    v.iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

/// See [`FINGERPRINT_MATCHES_CERTIFICATE`]: each Certificate a party sends (seen at its own host)
/// is compared with the SHA-256 fingerprints it signalled. A party that signalled only another
/// hash function is left unjudged; so is a run where no Certificate crossed in the clear.
pub fn fingerprint_matches_certificate(ctx: &Ctx) -> CheckResult {
    let d = &FINGERPRINT_MATCHES_CERTIFICATE;
    let mut matched = Vec::new();
    let mut unjudged = Vec::new();
    for party in [&ctx.caller, &ctx.callee] {
        let certs: Vec<_> = ctx
            .wire
            .dtls
            .iter()
            .filter(|m| m.party == **party && m.dir == Dir::Tx)
            .filter_map(|m| match m.message {
                DtlsMessage::Certificate { leaf_sha256 } => Some((m, leaf_sha256)),
                _ => None,
            })
            .collect();
        if certs.is_empty() {
            continue;
        }
        let fps = signalled(ctx, party);
        let sha256: Vec<&[u8]> = fps.iter().filter(|(h, _)| *h == "sha-256").map(|(_, v)| *v).collect();
        if sha256.is_empty() {
            unjudged.push(if fps.is_empty() {
                format!("{party} presented a certificate but signalled no fingerprint")
            } else {
                format!(
                    "{party} signalled its fingerprint with {}, which the judge does not compute",
                    fps[0].0
                )
            });
            continue;
        }
        for (m, leaf) in certs {
            let Some(leaf) = leaf else {
                return result(
                    d,
                    Verdict::Fail,
                    format!("{party} sent a DTLS Certificate message with no certificate in it"),
                    vec![m.index],
                )
                .by(party);
            };
            if !sha256.contains(&&leaf[..]) {
                return result(
                    d,
                    Verdict::Fail,
                    format!(
                        "{party} presented a certificate whose SHA-256 is {}, but signalled the fingerprint {}",
                        hex(&leaf),
                        hex(sha256[0])
                    ),
                    vec![m.index],
                )
                .by(party);
            }
            matched.push((party.to_string(), m.index));
        }
    }
    if matched.is_empty() {
        let why = if unjudged.is_empty() {
            "no DTLS Certificate crossed the wire in the clear (no handshake, or DTLS 1.3, which encrypts it)"
                .to_string()
        } else {
            unjudged.join("; ")
        };
        return result(d, Verdict::Inconclusive, why, vec![]);
    }
    let mut who: Vec<&str> = matched.iter().map(|(p, _)| p.as_str()).collect();
    who.dedup();
    result(
        d,
        Verdict::Pass,
        format!(
            "the certificates {} presented match the fingerprints signalled{}",
            who.join(" and "),
            if unjudged.is_empty() {
                String::new()
            } else {
                format!(" ({})", unjudged.join("; "))
            }
        ),
        matched.iter().map(|(_, i)| *i).collect(),
    )
}

/// The `setup` of the first content that carries a fingerprint in `j`.
fn setup_of<'j>(j: &'j JingleSeen) -> Option<&'j str> {
    j.contents.iter().find_map(|c| c.fingerprint_setup.as_deref())
}

/// The session-initiate that went ahead and the session-accept of the same session, when sent.
fn offer_and_answer<'c, 'a>(ctx: &'c Ctx<'a>) -> (Option<&'c JingleSeen<'a>>, Option<&'c JingleSeen<'a>>) {
    let init = ctx.wire.session_initiate();
    let accept = init.and_then(|init| {
        ctx.wire
            .jingle
            .iter()
            .find(|j| j.dir == Dir::Tx && j.action == "session-accept" && j.sid == init.sid)
    });
    (init, accept)
}

/// The DTLS client by the signalled `setup` (RFC 5763 §5: the active side starts the handshake):
/// the responder when the session-accept says active, the initiator when it says passive; `None`
/// when the offer and answer do not settle it.
pub(super) fn dtls_client(ctx: &Ctx) -> Option<String> {
    let (Some(init), Some(accept)) = offer_and_answer(ctx) else {
        return None;
    };
    setup_of(init)?;
    match setup_of(accept)? {
        "active" => Some(accept.party.to_string()),
        "passive" => Some(init.party.to_string()),
        _ => None,
    }
}

/// See [`SETUP_ROLES`]: the session-accept that went ahead settles the roles (RFC 8842 §5.3: the
/// answerer says active or passive, never actpass, and the other role than an offer that named
/// one; RFC 8842 §5.2 lets an offer say active or passive as well as actpass); the party it made
/// passive must not send a ClientHello, and a ClientHello from the active one shows the rule was exercised. A handshake
/// that never started is not judged here: the wire cannot tell a waiting client from a lost path.
pub fn setup_roles(ctx: &Ctx) -> CheckResult {
    let d = &SETUP_ROLES;
    let (init, accept) = match offer_and_answer(ctx) {
        (Some(init), Some(accept)) => (init, accept),
        (None, _) => return result(d, Verdict::Inconclusive, "no session-initiate was sent".into(), vec![]),
        (Some(_), None) => return result(d, Verdict::Inconclusive, "no session-accept was sent".into(), vec![]),
    };
    let (Some(offered), Some(answered)) = (setup_of(init), setup_of(accept)) else {
        return result(
            d,
            Verdict::Inconclusive,
            "the offer or the answer carries no DTLS fingerprint, so no setup".into(),
            vec![],
        );
    };
    let (initiator, responder) = (init.party, accept.party);
    let client = match answered {
        "active" => responder,
        "passive" => initiator,
        other => {
            return result(
                d,
                Verdict::Fail,
                format!("{responder}'s session-accept says setup `{other}`; an answer must say active or passive"),
                vec![accept.index],
            )
            .by(&responder)
        }
    };
    if offered == answered {
        // RFC 8842 §5.3: to an offer that says active or passive, the answer says the other.
        return result(
            d,
            Verdict::Fail,
            format!("{responder} answered `{answered}` to {initiator}'s `{offered}` offer; the answer must take the other role"),
            vec![init.index, accept.index],
        )
        .by(&responder);
    }
    let server = if client == initiator { responder } else { initiator };
    let hellos = |p| {
        ctx.wire
            .dtls
            .iter()
            .filter(move |m| m.party == p && m.dir == Dir::Tx && m.message == DtlsMessage::ClientHello)
    };
    if let Some(h) = hellos(server).next() {
        return result(
            d,
            Verdict::Fail,
            format!(
                "{server} sent a DTLS ClientHello though the answer's setup `{answered}` makes it the server \
                 ({client} is the client)"
            ),
            vec![accept.index, h.index],
        )
        .by(&server);
    }
    match hellos(client).next() {
        Some(h) => result(
            d,
            Verdict::Pass,
            format!("{client}, made active by the answer's setup `{answered}`, started the DTLS handshake"),
            vec![accept.index, h.index],
        ),
        None => result(
            d,
            Verdict::Inconclusive,
            format!("no DTLS ClientHello crossed the wire ({client} is the client by the answer's setup `{answered}`)"),
            vec![accept.index],
        ),
    }
}
