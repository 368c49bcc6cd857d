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
    let Some(init) = ctx.wire.first_sent("session-initiate") else {
        return result(d, Verdict::Inconclusive, "no session-initiate was sent".into(), vec![]);
    };
    let created: Vec<(Option<String>, Option<String>)> = init
        .contents
        .iter()
        .map(|c| (c.creator.clone(), c.name.clone()))
        .collect();
    let mut later = 0;
    for j in ctx
        .wire
        .jingle
        .iter()
        .filter(|j| j.dir == Dir::Tx && j.sid == init.sid && j.index > init.index && j.action != "content-add")
    {
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
                );
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
                }
                Some("") => {
                    return result(
                        d,
                        Verdict::Fail,
                        format!("{}'s {} fingerprint in content {name} has no setup", j.party, j.action),
                        vec![j.index],
                    )
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
            );
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
    }
}
