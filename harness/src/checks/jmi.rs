//! XEP-0353 Jingle Message Initiation checks.

use super::{result, CheckDef, CheckResult, Ctx, Level, Verdict};
use crate::trace::{Dir, TraceKind};
use crate::wire::Party;
use crate::xml::ns;

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
    // With a tie-break both sides proposed; judge the propose that led to a session, if any.
    let proposes = || w.jmi.iter().filter(|j| j.kind == "propose" && j.dir == Dir::Tx);
    let chosen = proposes()
        .find(|p| {
            w.jingle
                .iter()
                .any(|j| j.action == "session-initiate" && j.dir == Dir::Tx && j.sid == p.id && j.party == p.party)
        })
        .or_else(|| proposes().next());
    let Some(propose) = chosen else {
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
            // Declining to call (a peer without the features needed) is no mismatch: the call
            // itself is judged by jmi.call-only-to-capable-peer and the scenario's outcome.
            None => result(
                d,
                Verdict::Inconclusive,
                "no call was made: neither a propose nor a session-initiate was sent".into(),
                vec![],
            )
            .by(&ctx.caller),
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
            )
            .by(&propose.party),
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
        .by(&propose.party)
    }
}

/// ringing, proceed, reject and finish go to the peer's full JID (XEP-0353 0.8).
pub const ADDRESSED_TO_FULL_JID: CheckDef = CheckDef {
    id: "jmi.addressed-to-full-jid",
    level: Level::Must,
    cite: "XEP-0353 §3.2",
    summary: "ringing, proceed, reject and finish are sent to the peer's full JID, not its bare JID",
};

/// After a session ends, each party sends finish to the other.
pub const FINISH_SENT: CheckDef = CheckDef {
    id: "jmi.finish-sent",
    level: Level::Should,
    cite: "XEP-0353 §3.6",
    summary: "after the Jingle session ends, both parties send finish to the peer's full JID",
};

/// See [`ADDRESSED_TO_FULL_JID`].
pub fn addressed_to_full_jid(ctx: &Ctx) -> CheckResult {
    let d = &ADDRESSED_TO_FULL_JID;
    let sent: Vec<_> = ctx
        .wire
        .jmi
        .iter()
        .filter(|j| j.dir == Dir::Tx && matches!(j.kind.as_str(), "ringing" | "proceed" | "reject" | "finish"))
        .collect();
    if sent.is_empty() {
        return result(
            d,
            Verdict::Inconclusive,
            "no ringing, proceed, reject or finish was sent".into(),
            vec![],
        );
    }
    if let Some(bad) = sent.iter().find(|j| !j.to.as_deref().is_some_and(|t| t.contains('/'))) {
        return result(
            d,
            Verdict::Fail,
            format!(
                "{} sent {} to `{}`, a bare JID (0.6/0.7 addressing)",
                bad.party,
                bad.kind,
                bad.to.as_deref().unwrap_or("")
            ),
            vec![bad.index],
        )
        .by(&bad.party);
    }
    result(
        d,
        Verdict::Pass,
        format!("{} JMI replies, all to full JIDs", sent.len()),
        sent.iter().map(|j| j.index).take(4).collect(),
    )
}

/// See [`FINISH_SENT`].
pub fn finish_sent(ctx: &Ctx) -> CheckResult {
    let d = &FINISH_SENT;
    let Some(term) = ctx.wire.jingle.iter().find(|j| j.action == "session-terminate") else {
        return result(
            d,
            Verdict::Inconclusive,
            "no session-terminate: the session never ended".into(),
            vec![],
        );
    };
    if !ctx.wire.jmi.iter().any(|j| j.kind == "propose" && j.id == term.sid) {
        return result(
            d,
            Verdict::Inconclusive,
            "the session was initiated without JMI, so no finish is due".into(),
            vec![term.index],
        );
    }
    let missing: Vec<&Party> = [&ctx.caller, &ctx.callee]
        .into_iter()
        .filter(|p| {
            !ctx.wire
                .jmi
                .iter()
                .any(|j| &j.party == *p && j.dir == Dir::Tx && j.kind == "finish" && j.id == term.sid)
        })
        .collect();
    if missing.is_empty() {
        return result(
            d,
            Verdict::Pass,
            "both parties sent finish after session-terminate".into(),
            vec![term.index],
        );
    }
    let who: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
    result(
        d,
        Verdict::Fail,
        format!("{} sent no finish for session {}", who.join(" and "), term.sid),
        vec![term.index],
    )
    .by(missing[0])
}

/// How long the propose took to reach the callee, and why when the server held it.
pub const PROPOSE_DELIVERY: CheckDef = CheckDef {
    id: "jmi.propose-delivery",
    level: Level::Info,
    cite: "XEP-0352 §2",
    summary: "when the propose reached the callee, and whether the server held it while the callee was CSI-inactive",
};

/// See [`PROPOSE_DELIVERY`].
pub fn propose_delivery(ctx: &Ctx) -> CheckResult {
    // What the server did with the propose: a fact of the network, nobody's conformance.
    propose_delivery_verdict(ctx).network()
}

fn propose_delivery_verdict(ctx: &Ctx) -> CheckResult {
    let d = &PROPOSE_DELIVERY;
    let w = &ctx.wire;
    let Some(sent) = w.jmi.iter().find(|j| j.kind == "propose" && j.dir == Dir::Tx) else {
        return result(d, Verdict::Inconclusive, "no propose was sent".into(), vec![]);
    };
    let Some(got) = w
        .jmi
        .iter()
        .find(|j| j.kind == "propose" && j.dir == Dir::Rx && j.id == sent.id && j.party != sent.party)
    else {
        return result(
            d,
            Verdict::Informational,
            format!("{}'s propose never reached the callee", sent.party),
            vec![sent.index],
        );
    };
    let ms = (got.time - sent.time).as_millis();
    // The callee's CSI state: its last <inactive/>/<active/> before the propose was sent.
    let csi = |name: &'static str| {
        ctx.out.trace.events.iter().filter(move |e| {
            matches!(&e.kind, crate::trace::TraceKind::Stanza { party, dir: Dir::Tx, element, .. }
                if *party == got.party && element.has_ns(crate::xml::ns::CSI) && element.name() == name)
        })
    };
    let inactive = csi("inactive").filter(|e| e.time <= sent.time).last();
    let active_after = csi("active").find(|e| e.time > sent.time);
    let detail = match (inactive, active_after) {
        (Some(i), Some(a)) if got.time >= a.time => format!(
            "the server held {}'s propose for {ms} ms: {} went CSI-inactive at {} and the propose arrived only after \
             it sent <active/> at {}, so the call could not ring meanwhile",
            sent.party, got.party, i.time, a.time
        ),
        (Some(i), _) => format!(
            "delivered after {ms} ms although {} was CSI-inactive since {} (the server does not hold JMI)",
            got.party, i.time
        ),
        _ => format!("delivered to {} after {ms} ms", got.party),
    };
    result(d, Verdict::Informational, detail, vec![sent.index, got.index])
}

/// Once a sibling device answered, the account's other devices stop ringing.
pub const OTHER_DEVICES_STOP_RINGING: CheckDef = CheckDef {
    id: "jmi.other-devices-stop-ringing",
    level: Level::Should,
    cite: "XEP-0353 §3.2",
    summary: "a device that got the <sent/> carbon of a sibling's proceed or reject sends no proceed, reject or ringing of its own for that session, even when its user answers later",
};

/// The JMI child of a message (XEP-0353), if any.
pub(super) fn jmi_element(m: &minidom::Element) -> Option<&minidom::Element> {
    m.children().find(|c| c.has_ns(ns::JMI))
}

/// See [`OTHER_DEVICES_STOP_RINGING`].
pub fn other_devices_stop_ringing(ctx: &Ctx) -> CheckResult {
    let d = &OTHER_DEVICES_STOP_RINGING;
    let events = &ctx.out.trace.events;
    let multi: Vec<&str> = ctx
        .out
        .parties
        .iter()
        .filter(|p| p.devices.len() > 1)
        .map(|p| p.name.as_str())
        .collect();
    if multi.is_empty() {
        return result(d, Verdict::Inconclusive, "no party has several devices".into(), vec![]);
    }
    let (mut carbons, mut exercised) = (0, 0);
    for (pos, e) in events.iter().enumerate() {
        let TraceKind::Stanza {
            party,
            device: Some(dev),
            dir: Dir::Rx,
            element,
        } = &e.kind
        else {
            continue;
        };
        let Some(inner) = sent_carbon(element) else {
            continue;
        };
        let Some(answer) = jmi_element(inner).filter(|j| matches!(j.name(), "proceed" | "reject")) else {
            continue;
        };
        let sid = answer.attr("id").unwrap_or("");
        carbons += 1;
        let label = crate::trace::stream_label(party, Some(*dev));
        let later = &events[pos + 1..];
        let tapped = later.iter().find(|x| {
            matches!(&x.kind, TraceKind::User { party: p, action } if *p == label && matches!(action.as_str(), "answer" | "reject"))
        });
        let own = later.iter().find(|x| {
            matches!(&x.kind, TraceKind::Stanza { party: p, device: Some(dv), dir: Dir::Tx, element: m }
            if p == party && dv == dev
                && jmi_element(m).is_some_and(|j| {
                    matches!(j.name(), "proceed" | "reject" | "ringing") && j.attr("id") == Some(sid)
                }))
        });
        if let Some(bad) = own {
            return result(
                d,
                Verdict::Fail,
                format!(
                    "{label} got the carbon of its sibling's {} for session {sid} and still sent a JMI reply of its \
                     own for it: it kept ringing",
                    answer.name()
                ),
                vec![e.index, bad.index],
            )
            .by(party);
        }
        if tapped.is_some() {
            exercised += 1;
        }
    }
    match (carbons, exercised) {
        (0, _) => result(
            d,
            Verdict::Inconclusive,
            "no device got the carbon of a sibling's proceed or reject".into(),
            vec![],
        ),
        (_, 0) => result(
            d,
            Verdict::Inconclusive,
            format!(
                "{carbons} sibling answers reached other devices as carbons, but no user acted on those devices \
                 afterwards, so the wire cannot show whether they stopped ringing"
            ),
            vec![],
        ),
        _ => result(
            d,
            Verdict::Pass,
            format!(
                "{carbons} sibling answers reached other devices as carbons; {exercised} of those devices were \
                 answered later by their user and sent nothing for the session"
            ),
            vec![],
        ),
    }
}

/// A call is offered only to a peer whose disco lists what the call needs.
pub const CALL_ONLY_TO_CAPABLE_PEER: CheckDef = CheckDef {
    id: "jmi.call-only-to-capable-peer",
    level: Level::Should,
    cite: "XEP-0353 §2",
    summary: "a caller proposes or initiates only to a peer whose disco#info lists Jingle, RTP, ICE-UDP, DTLS-SRTP and each medium; to one that lacks any, it offers no call",
};

/// See [`CALL_ONLY_TO_CAPABLE_PEER`].
pub fn call_only_to_capable_peer(ctx: &Ctx) -> CheckResult {
    call_only_to_capable_peer_verdict(ctx).or_by(&ctx.caller)
}

fn call_only_to_capable_peer_verdict(ctx: &Ctx) -> CheckResult {
    let d = &CALL_ONLY_TO_CAPABLE_PEER;
    let events = &ctx.out.trace.events;
    let Some(tap) = events
        .iter()
        .find(|e| matches!(&e.kind, TraceKind::User { party, action } if *party == ctx.caller && action == "call"))
    else {
        return result(d, Verdict::Inconclusive, "nobody placed a call".into(), vec![]);
    };
    let peer = format!("{}@", ctx.callee);
    // The callee's devices' disco#info as the caller had received it by time `t`.
    let features_by = |t: crate::time::SimTime| -> Option<(Vec<String>, usize)> {
        events
            .iter()
            .filter(|e| e.time <= t)
            .filter_map(|e| match &e.kind {
                TraceKind::Stanza {
                    party,
                    dir: Dir::Rx,
                    element,
                    ..
                } if *party == ctx.caller
                    && element.attr("type") == Some("result")
                    && element.attr("from").is_some_and(|f| f.starts_with(&peer)) =>
                {
                    let q = element.get_child("query", ns::DISCO_INFO)?;
                    let f = q
                        .children()
                        .filter(|c| c.is("feature", ns::DISCO_INFO))
                        .filter_map(|c| c.attr("var").map(str::to_string))
                        .collect();
                    Some((f, e.index))
                }
                _ => None,
            })
            .last()
    };
    let placed = ctx
        .wire
        .jmi
        .iter()
        .find(|j| j.party == ctx.caller && j.dir == Dir::Tx && j.kind == "propose");
    let initiated = ctx
        .wire
        .jingle
        .iter()
        .find(|j| j.party == ctx.caller && j.dir == Dir::Tx && j.action == "session-initiate");
    let (sent_at, sent_index, media) = match (placed, initiated) {
        (Some(p), _) => (Some(p.time), Some(p.index), p.media.clone()),
        (None, Some(i)) => (Some(i.time), Some(i.index), i.media()),
        (None, None) => (None, None, Default::default()),
    };
    let missing = |f: &[String]| -> Vec<&'static str> {
        let mut need = vec![
            ns::JINGLE,
            ns::JINGLE_RTP,
            ns::JINGLE_ICE_UDP,
            ns::JINGLE_DTLS,
            ns::JINGLE_RTP_AUDIO,
        ];
        if media.contains("video") {
            need.push(ns::JINGLE_RTP_VIDEO);
        }
        need.into_iter().filter(|n| !f.iter().any(|x| x == n)).collect()
    };
    match (sent_at, features_by(sent_at.unwrap_or(tap.time))) {
        (_, None) => result(
            d,
            Verdict::Inconclusive,
            format!("{} had no disco#info of {} when it called", ctx.caller, ctx.callee),
            vec![tap.index],
        ),
        (Some(_), Some((f, at))) => {
            let lack = missing(&f);
            if lack.is_empty() {
                result(
                    d,
                    Verdict::Pass,
                    format!(
                        "{} advertised everything the call needs, and {} called it",
                        ctx.callee, ctx.caller
                    ),
                    vec![at, sent_index.unwrap_or(tap.index)],
                )
            } else {
                result(
                    d,
                    Verdict::Fail,
                    format!(
                        "{} offered a call to {} although its disco#info lacks {}",
                        ctx.caller,
                        ctx.callee,
                        lack.join(", ")
                    ),
                    vec![at, sent_index.unwrap_or(tap.index)],
                )
            }
        }
        (None, Some((f, at))) => {
            let lack = missing(&f);
            if lack.is_empty() {
                result(
                    d,
                    Verdict::Inconclusive,
                    format!(
                        "{} advertised everything a call needs, yet {} sent no propose or session-initiate",
                        ctx.callee, ctx.caller
                    ),
                    vec![tap.index, at],
                )
            } else {
                result(
                    d,
                    Verdict::Pass,
                    format!(
                        "{}'s disco#info lacks {}, and {} offered no call when its user called",
                        ctx.callee,
                        lack.join(", "),
                        ctx.caller
                    ),
                    vec![tap.index, at],
                )
            }
        }
    }
}

/// The message inside `m` when `m` is a `<sent/>` carbon (XEP-0280 §6): `<message><sent
/// xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'><message/>`. The judge reads it
/// with its own code rather than the helper endpoints and the server model share, so a bug there
/// cannot hide from it.
fn sent_carbon(m: &minidom::Element) -> Option<&minidom::Element> {
    if m.name() != "message" {
        return None;
    }
    m.get_child("sent", "urn:xmpp:carbons:2")?
        .get_child("forwarded", "urn:xmpp:forward:0")?
        .get_child("message", "jabber:client")
}
