//! Jingle session checks (XEP-0166, XEP-0320): contents keep their identity, transports carry a
//! DTLS fingerprint.

use super::{result, CheckDef, CheckResult, Ctx, Level, Verdict};
use crate::trace::Dir;

/// Every content after session-initiate repeats the (creator, name) that created it.
pub const CONTENT_CREATOR_CONSISTENT: CheckDef = CheckDef {
    id: "jingle.content-creator-consistent",
    level: Level::Must,
    cite: "XEP-0166 §7.3",
    summary: "every later action names contents by the (creator, name) of the session-initiate that created them",
};

/// Every content of session-initiate and session-accept carries a DTLS fingerprint with a setup.
pub const FINGERPRINT_PRESENT: CheckDef = CheckDef {
    id: "jingle.fingerprint-present",
    level: Level::Should,
    cite: "XEP-0320 §3",
    summary: "session-initiate and session-accept carry a DTLS-SRTP fingerprint with setup in every transport (actpass in the initiate)",
};

/// See [`CONTENT_CREATOR_CONSISTENT`].
pub fn content_creator_consistent(ctx: &Ctx) -> CheckResult {
    let d = &CONTENT_CREATOR_CONSISTENT;
    // The session that went ahead: a crossing initiate that lost the tie-break has no later actions.
    let Some(init) = ctx.wire.session_initiate() else {
        return result(d, Verdict::Inconclusive, "no session-initiate was sent".into(), vec![]);
    };
    let mut created: Vec<(Option<String>, Option<String>)> = init
        .contents
        .iter()
        .map(|c| (c.creator.clone(), c.name.clone()))
        .collect();
    let mut later = 0;
    for j in ctx
        .wire
        .jingle
        .iter()
        .filter(|j| j.dir == Dir::Tx && j.sid == init.sid && j.index > init.index)
    {
        // Contents added with content-add are contents of the session from then on (XEP-0166 §7.2.1).
        if j.action == "content-add" {
            created.extend(j.contents.iter().map(|c| (c.creator.clone(), c.name.clone())));
            continue;
        }
        for c in &j.contents {
            later += 1;
            let key = (c.creator.clone(), c.name.clone());
            if !created.contains(&key) {
                let show = |k: &(Option<String>, Option<String>)| {
                    format!(
                        "({}, {})",
                        k.0.as_deref().unwrap_or("no creator"),
                        k.1.as_deref().unwrap_or("no name")
                    )
                };
                let made: Vec<String> = created.iter().map(show).collect();
                return result(
                    d,
                    Verdict::Fail,
                    format!(
                        "{}'s {} names content {}, but the session-initiate created {}",
                        j.party,
                        j.action,
                        show(&key),
                        made.join(", ")
                    ),
                    vec![init.index, j.index],
                )
                .by(&j.party);
            }
        }
    }
    if later == 0 {
        return result(
            d,
            Verdict::Inconclusive,
            "no action after session-initiate named a content".into(),
            vec![init.index],
        );
    }
    result(
        d,
        Verdict::Pass,
        format!("{later} later content references all match the session-initiate"),
        vec![init.index],
    )
}

/// See [`FINGERPRINT_PRESENT`].
pub fn fingerprint_present(ctx: &Ctx) -> CheckResult {
    let d = &FINGERPRINT_PRESENT;
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
            let name = c.name.as_deref().unwrap_or("?");
            match c.fingerprint_setup.as_deref() {
                None => {
                    return result(
                        d,
                        Verdict::Fail,
                        format!("{}'s {} has no DTLS fingerprint in content {name}", j.party, j.action),
                        vec![j.index],
                    )
                    .by(&j.party)
                }
                Some(s) if j.action == "session-initiate" && s != "actpass" => {
                    return result(
                        d,
                        Verdict::Fail,
                        format!(
                            "{}'s session-initiate offers setup `{s}` in content {name}; the initiator offers actpass",
                            j.party
                        ),
                        vec![j.index],
                    )
                    .by(&j.party)
                }
                Some("") => {
                    return result(
                        d,
                        Verdict::Fail,
                        format!("{}'s {} fingerprint in content {name} has no setup", j.party, j.action),
                        vec![j.index],
                    )
                    .by(&j.party)
                }
                _ => {}
            }
        }
    }
    result(
        d,
        Verdict::Pass,
        format!(
            "{} session-initiate/accept carry a fingerprint in every content",
            actions.len()
        ),
        actions.iter().map(|j| j.index).collect(),
    )
}

/// Every Jingle IQ-set is answered with a result or an error.
pub const IQ_ACKED: CheckDef = CheckDef {
    id: "jingle.iq-acked",
    level: Level::Must,
    cite: "XEP-0166 §7.2",
    summary: "every Jingle IQ-set a party receives is answered with an IQ result or error",
};

/// session-terminate carries a reason with a defined condition.
pub const TERMINATE_REASON: CheckDef = CheckDef {
    id: "jingle.terminate-reason-valid",
    level: Level::Must,
    cite: "XEP-0166 §7.4",
    summary: "session-terminate carries a <reason/> whose condition XEP-0166 defines",
};

/// session-initiate after JMI goes to the full JID that sent proceed.
pub const INITIATE_TO_PROCEEDER: CheckDef = CheckDef {
    id: "jingle.initiate-to-proceeding-device",
    level: Level::Must,
    cite: "XEP-0353 §3.2",
    summary: "the session-initiate after a proceed goes to the full JID that sent the proceed",
};

/// Reason conditions of XEP-0166 §7.4.
const REASONS: &[&str] = &[
    "alternative-session",
    "busy",
    "cancel",
    "connectivity-error",
    "decline",
    "expired",
    "failed-application",
    "failed-transport",
    "general-error",
    "gone",
    "incompatible-parameters",
    "media-error",
    "security-error",
    "success",
    "timeout",
    "unsupported-applications",
    "unsupported-transports",
];

/// See [`IQ_ACKED`].
pub fn iq_acked(ctx: &Ctx) -> CheckResult {
    let d = &IQ_ACKED;
    let received: Vec<_> = ctx.wire.jingle.iter().filter(|j| j.dir == Dir::Rx).collect();
    if received.is_empty() {
        return result(
            d,
            Verdict::Inconclusive,
            "no Jingle IQ-set was delivered".into(),
            vec![],
        );
    }
    for j in &received {
        let answered = ctx
            .wire
            .iq_replies
            .iter()
            .any(|r| r.party == j.party && r.dir == Dir::Tx && Some(&r.id) == j.iq_id.as_ref());
        if !answered {
            return result(
                d,
                Verdict::Fail,
                format!(
                    "{} never answered the {} IQ (id {})",
                    j.party,
                    j.action,
                    j.iq_id.as_deref().unwrap_or("none")
                ),
                vec![j.index],
            )
            .by(&j.party);
        }
    }
    result(
        d,
        Verdict::Pass,
        format!("all {} Jingle IQ-sets were answered", received.len()),
        vec![],
    )
}

/// See [`TERMINATE_REASON`].
pub fn terminate_reason_valid(ctx: &Ctx) -> CheckResult {
    let d = &TERMINATE_REASON;
    let terms: Vec<_> = ctx
        .wire
        .jingle
        .iter()
        .filter(|j| j.dir == Dir::Tx && j.action == "session-terminate")
        .collect();
    if terms.is_empty() {
        return result(d, Verdict::Inconclusive, "no session-terminate was sent".into(), vec![]);
    }
    for t in &terms {
        match t.reason.as_deref() {
            None => {
                return result(
                    d,
                    Verdict::Fail,
                    format!("{}'s session-terminate has no reason", t.party),
                    vec![t.index],
                )
                .by(&t.party)
            }
            Some(r) if !REASONS.contains(&r) => {
                return result(
                    d,
                    Verdict::Fail,
                    format!(
                        "{}'s session-terminate gives reason `{r}`, which XEP-0166 does not define",
                        t.party
                    ),
                    vec![t.index],
                )
                .by(&t.party)
            }
            _ => {}
        }
    }
    let reasons: Vec<String> = terms
        .iter()
        .map(|t| format!("{}: {}", t.party, t.reason.as_deref().unwrap_or("")))
        .collect();
    result(
        d,
        Verdict::Pass,
        reasons.join("; "),
        terms.iter().map(|t| t.index).collect(),
    )
}

/// See [`INITIATE_TO_PROCEEDER`].
pub fn initiate_to_proceeder(ctx: &Ctx) -> CheckResult {
    let d = &INITIATE_TO_PROCEEDER;
    let Some(si) = ctx.wire.first_sent("session-initiate") else {
        return result(d, Verdict::Inconclusive, "no session-initiate was sent".into(), vec![]);
    };
    let Some(proceed) = ctx
        .wire
        .jmi
        .iter()
        .find(|j| j.kind == "proceed" && j.dir == Dir::Rx && j.party == si.party && j.id == si.sid)
    else {
        return result(
            d,
            Verdict::Inconclusive,
            "the session-initiate followed no proceed (a direct initiate)".into(),
            vec![si.index],
        );
    };
    if si.to.is_some() && si.to == proceed.from {
        result(
            d,
            Verdict::Pass,
            format!(
                "session-initiate went to {}, which sent proceed",
                si.to.as_deref().unwrap_or("")
            ),
            vec![proceed.index, si.index],
        )
    } else {
        result(
            d,
            Verdict::Fail,
            format!(
                "proceed came from {} but session-initiate went to {}",
                proceed.from.as_deref().unwrap_or("?"),
                si.to.as_deref().unwrap_or("?")
            ),
            vec![proceed.index, si.index],
        )
        .by(&si.party)
    }
}

/// session-accept answers only contents the initiate offered.
pub const ACCEPT_WITHIN_INITIATE: CheckDef = CheckDef {
    id: "jingle.accept-within-initiate",
    level: Level::Must,
    cite: "XEP-0166 §7.2.8",
    summary: "session-accept carries only media the session-initiate offered",
};

/// See [`ACCEPT_WITHIN_INITIATE`].
pub fn accept_within_initiate(ctx: &Ctx) -> CheckResult {
    let d = &ACCEPT_WITHIN_INITIATE;
    let Some(accept) = ctx.wire.first_sent("session-accept") else {
        return result(d, Verdict::Inconclusive, "no session-accept was sent".into(), vec![]);
    };
    let Some(init) = ctx
        .wire
        .jingle
        .iter()
        .find(|j| j.action == "session-initiate" && j.sid == accept.sid)
    else {
        return result(
            d,
            Verdict::Inconclusive,
            "the session-initiate for this session is not in the trace".into(),
            vec![accept.index],
        );
    };
    let offered = init.media();
    let extra: Vec<String> = accept.media().difference(&offered).cloned().collect();
    if extra.is_empty() {
        result(
            d,
            Verdict::Pass,
            format!(
                "{} accepted {:?} of the offered {:?}",
                accept.party,
                accept.media(),
                offered
            ),
            vec![init.index, accept.index],
        )
    } else {
        result(
            d,
            Verdict::Fail,
            format!(
                "{}'s session-accept adds media {extra:?} the initiate never offered",
                accept.party
            ),
            vec![init.index, accept.index],
        )
        .by(&accept.party)
    }
}

/// A Jingle IQ-set the receiver's state cannot take is answered with the error XEP-0166 names.
pub const IQ_ERROR_CONDITIONS: CheckDef = CheckDef {
    id: "jingle.iq-error-conditions",
    level: Level::Must,
    cite: "XEP-0166 §8",
    summary: "a Jingle IQ-set for an unknown or ended session draws item-not-found + <unknown-session/>, an action \
              the session's state does not allow draws unexpected-request + <out-of-order/>, and the higher-sid \
              session-initiate crossing the receiver's own draws conflict + <tie-break/> (§6.7, §7.2.16)",
};

/// A Jingle session as one client stream saw it.
struct StreamSession<'t> {
    /// This stream sent the session-initiate.
    initiator: bool,
    /// A session-accept arrived (at the initiator).
    accepted: bool,
    /// This stream sent session-terminate.
    terminated: bool,
    /// The peer's full JID (initiator side: the session-initiate's `to`).
    peer: &'t str,
    /// Initiator side: the session-initiate's IQ id, until any reply to it arrives.
    unanswered: Option<&'t str>,
}

/// See [`IQ_ERROR_CONDITIONS`].
///
/// Replays each client stream's Jingle state from the wire, in trace order: which sids it initiated,
/// accepted, terminated, or knows from JMI. Every IQ-set delivered to it that §8 says must be refused
/// is paired with the stream's reply to that IQ id. The stanza condition and the Jingle condition must
/// both match; the error type is not judged (XEP-0166 gives none for out-of-order). A transport-info
/// or session-accept for a sid known only from JMI may draw out-of-order or unknown-session: no
/// Jingle session exists yet, but the id is not unknown either.
pub fn iq_error_conditions(ctx: &Ctx) -> CheckResult {
    use std::collections::{BTreeMap, BTreeSet};

    use crate::trace::TraceKind;
    use crate::xml::{bare, ns};

    let d = &IQ_ERROR_CONDITIONS;
    // Names, ids and sids are read in place from the trace's stanzas: nothing here is copied per stanza.
    type Stream<'t> = (&'t str, Option<u8>);
    let events = &ctx.out.trace.events;
    let mut sessions: BTreeMap<(Stream, &str), StreamSession> = BTreeMap::new();
    let mut jmi_ids: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    /// Acceptable (stanza condition, Jingle condition) pairs.
    type Conditions = &'static [(&'static str, &'static str)];
    // (stream, IQ id, index of the IQ-set, what it was, the conditions its error must carry).
    let mut due: Vec<(Stream, &str, usize, String, Conditions)> = Vec::new();
    const UNKNOWN: &[(&str, &str)] = &[("item-not-found", "unknown-session")];
    const OUT_OF_ORDER: &[(&str, &str)] = &[("unexpected-request", "out-of-order")];
    const NO_SESSION_YET: &[(&str, &str)] = &[
        ("unexpected-request", "out-of-order"),
        ("item-not-found", "unknown-session"),
    ];
    const TIE_BREAK: &[(&str, &str)] = &[("conflict", "tie-break")];
    let mut judged = Vec::new();
    for e in events {
        let TraceKind::Stanza {
            party,
            device,
            dir,
            element,
        } = &e.kind
        else {
            continue;
        };
        let stream: Stream = (party, *device);
        if let Some(x) = super::jmi::jmi_element(element) {
            jmi_ids.entry(party).or_default().insert(x.attr("id").unwrap_or(""));
            continue;
        }
        if element.name() != "iq" {
            continue;
        }
        let [id, typ, to, from] = crate::xml::attrs(element, ["id", "type", "to", "from"]).map(|a| a.unwrap_or(""));
        if matches!(typ, "result" | "error") {
            if *dir == Dir::Rx {
                // A reply to this stream's own session-initiate: the crossing window is over.
                for ((st, _), s) in sessions.iter_mut() {
                    if *st == stream && s.unanswered == Some(id) {
                        s.unanswered = None;
                    }
                }
                continue;
            }
            let Some(pos) = due.iter().position(|(st, i, ..)| *st == stream && *i == id) else {
                continue;
            };
            let (_, _, at, what, expected) = due.remove(pos);
            let err = element.get_child("error", ns::CLIENT);
            let got = (
                err.and_then(|x| x.children().find(|c| c.has_ns(ns::STANZAS) && c.name() != "text"))
                    .map(|c| c.name()),
                err.and_then(|x| x.children().find(|c| c.has_ns(ns::JINGLE_ERRORS)))
                    .map(|c| c.name()),
            );
            if !expected.iter().any(|(s, j)| got == (Some(*s), Some(*j))) {
                let shown = match got {
                    (None, _) => format!("an IQ {typ}"),
                    (Some(s), None) => format!("{s} without a Jingle condition"),
                    (Some(s), Some(j)) => format!("{s} + <{j}/>"),
                };
                let want: Vec<String> = expected.iter().map(|(s, j)| format!("{s} + <{j}/>")).collect();
                return result(
                    d,
                    Verdict::Fail,
                    format!(
                        "{} answered {what} with {shown}; XEP-0166 §8 wants {}",
                        crate::trace::stream_label(party, *device),
                        want.join(" or ")
                    ),
                    vec![at, e.index],
                )
                .by(party);
            }
            judged.push((at, e.index));
            continue;
        }
        let Some(j) = element.get_child("jingle", ns::JINGLE).filter(|_| typ == "set") else {
            continue;
        };
        let [action, sid] = crate::xml::attrs(j, ["action", "sid"]).map(|a| a.unwrap_or(""));
        let key = (stream, sid);
        if *dir == Dir::Tx {
            match action {
                "session-initiate" => {
                    sessions.insert(
                        key,
                        StreamSession {
                            initiator: true,
                            accepted: false,
                            terminated: false,
                            peer: to,
                            unanswered: Some(id),
                        },
                    );
                }
                "session-terminate" => {
                    if let Some(s) = sessions.get_mut(&key) {
                        s.terminated = true;
                    }
                }
                _ => {}
            }
            continue;
        }
        let me = to;
        let what = format!("the {action} for {sid} (IQ {id})");
        let expected: Option<Conditions> = match (action, sessions.get(&key)) {
            ("session-initiate", s) => {
                // The stream's own unanswered session-initiate to the same account, if any.
                let crossing = sessions.iter().find(|((st, _), s)| {
                    *st == stream
                        && s.initiator
                        && !s.terminated
                        && s.unanswered.is_some()
                        && bare(s.peer) == bare(from)
                });
                match (crossing, s) {
                    (Some(((_, ours), _)), _) => {
                        let theirs_wins = sid < *ours || (sid == *ours && from < me);
                        (!theirs_wins).then_some(TIE_BREAK)
                    }
                    (None, Some(s)) if !s.terminated => Some(OUT_OF_ORDER),
                    _ => None,
                }
            }
            (_, Some(s)) if s.terminated => Some(UNKNOWN),
            (_, None) if jmi_ids.get(party.as_str()).is_some_and(|ids| ids.contains(sid)) => Some(NO_SESSION_YET),
            (_, None) => Some(UNKNOWN),
            ("session-accept", Some(s)) if !s.initiator || s.accepted => Some(OUT_OF_ORDER),
            _ => None,
        };
        match action {
            "session-initiate" if expected.is_none() && sessions.get(&key).is_none_or(|s| s.terminated) => {
                sessions.insert(
                    key,
                    StreamSession {
                        initiator: false,
                        accepted: false,
                        terminated: false,
                        peer: from,
                        unanswered: None,
                    },
                );
            }
            "session-accept" if expected.is_none() => {
                if let Some(s) = sessions.get_mut(&key) {
                    s.accepted = true;
                }
            }
            _ => {}
        }
        if let Some(x) = expected {
            due.push((stream, id, e.index, what, x));
        }
    }
    if let Some((stream, _, at, what, _)) = due.first() {
        return result(
            d,
            Verdict::Fail,
            format!(
                "{} never answered {what}, which XEP-0166 §8 says must draw an error",
                crate::trace::stream_label(stream.0, stream.1)
            ),
            vec![*at],
        )
        .by(stream.0);
    }
    if judged.is_empty() {
        return result(
            d,
            Verdict::Inconclusive,
            "no Jingle IQ-set arrived that XEP-0166 §8 says must be refused".into(),
            vec![],
        );
    }
    result(
        d,
        Verdict::Pass,
        format!(
            "{} Jingle IQ-sets that had to be refused drew the right error",
            judged.len()
        ),
        judged.into_iter().flat_map(|(a, b)| [a, b]).collect(),
    )
}
