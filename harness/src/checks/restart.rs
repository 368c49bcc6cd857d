//! ICE restarts (RFC 8445 §9) as Jingle carries them (XEP-0176 §5.9; Conversations'
//! JingleRtpConnection.java): new credentials in a transport-info mid-session.

use super::{result, CheckDef, CheckResult, Ctx, Level, Verdict};
use crate::time::SimTime;
use crate::trace::Dir;
use crate::wire::Party;

/// A restart changes both credentials, and the peer answers with new ones of its own.
pub const RESTART: CheckDef = CheckDef {
    id: "ice.restart",
    level: Level::Must,
    cite: "RFC 8445 §9",
    summary: "an ICE restart (new credentials signalled mid-session) changes both ufrag and pwd, and the peer restarts too, answering with new credentials of its own",
};

/// One change of a party's signalled ICE credentials.
struct Change<'a> {
    time: SimTime,
    index: usize,
    party: Party<'a>,
    ufrag_changed: bool,
    pwd_changed: bool,
}

/// Every change of credentials a party signalled in a transport-info of a session, against what it
/// signalled before in that session, in order.
fn changes<'a>(ctx: &Ctx<'a>) -> Vec<Change<'a>> {
    let mut current: Vec<(Party, &str, Option<String>, Option<String>)> = Vec::new();
    let mut out = Vec::new();
    for j in ctx.wire.jingle.iter().filter(|j| j.dir == Dir::Tx) {
        let Some(c) = j.contents.iter().find(|c| c.ufrag.is_some() || c.pwd.is_some()) else {
            continue;
        };
        let (ufrag, pwd) = (c.ufrag.clone(), c.pwd.clone());
        match current.iter_mut().find(|(p, sid, ..)| *p == j.party && *sid == j.sid) {
            Some((_, _, u, p)) if (*u != ufrag || *p != pwd) && j.action == "transport-info" => {
                out.push(Change {
                    time: j.time,
                    index: j.index,
                    party: j.party,
                    ufrag_changed: *u != ufrag,
                    pwd_changed: *p != pwd,
                });
                (*u, *p) = (ufrag, pwd);
            }
            Some(_) => {}
            None => current.push((j.party, &j.sid, ufrag, pwd)),
        }
    }
    out
}

/// See [`RESTART`]. Answering is what the usage makes of §9: in Jingle the restarted side's new
/// credentials reach the peer in a transport-info, and the peer's own new ones are its answer
/// (XEP-0176 §5.9; Conversations' JingleRtpConnection.java). A peer whose conformance statement
/// says it cannot restart is `unsupported`, not failed.
pub fn restart(ctx: &Ctx) -> CheckResult {
    let d = &RESTART;
    let all = changes(ctx);
    let Some(first) = all.first() else {
        return result(
            d,
            Verdict::Inconclusive,
            "nobody signalled new ICE credentials during the session, so no ICE restart happened".into(),
            vec![],
        );
    };
    if let Some(half) = all.iter().find(|c| !(c.ufrag_changed && c.pwd_changed)) {
        let (changed, kept) = if half.ufrag_changed {
            ("ufrag", "pwd")
        } else {
            ("pwd", "ufrag")
        };
        return result(
            d,
            Verdict::Fail,
            format!(
                "{} signalled a new ICE {changed} at {} but kept its {kept}: a restart changes both",
                half.party, half.time
            ),
            vec![half.index],
        )
        .by(&half.party);
    }
    let peer = if first.party == ctx.caller {
        ctx.callee
    } else {
        ctx.caller
    };
    // The peer's own change answers it, even one that crossed it on the way.
    let answer = all.iter().find(|c| c.party == peer && c.time + CROSSING >= first.time);
    let Some(answer) = answer else {
        let ended = ctx
            .wire
            .jingle
            .iter()
            .find(|j| j.dir == Dir::Tx && j.action == "session-terminate" && j.time >= first.time);
        let cannot = ctx
            .out
            .parties
            .iter()
            .any(|p| p.name == peer && p.devices.iter().all(|dv| !dv.ics.ice_restart));
        return match ended {
            _ if cannot => result(
                d,
                Verdict::Unsupported,
                format!(
                    "{} restarted ICE at {}; {peer} declares no ICE restart and did not answer",
                    first.party, first.time
                ),
                vec![first.index],
            )
            .by(&peer),
            Some(t) if t.party == peer && t.time <= first.time + REFUSAL => result(
                d,
                Verdict::Fail,
                format!(
                    "{peer} ended the session ({}) at {} instead of answering {}'s ICE restart of {}",
                    t.reason.as_deref().unwrap_or("no reason"),
                    t.time,
                    first.party,
                    first.time
                ),
                vec![first.index, t.index],
            )
            .by(&peer),
            Some(t) if t.time <= first.time + REFUSAL => result(
                d,
                Verdict::Inconclusive,
                format!(
                    "{} ended the session at {} before {peer} answered its ICE restart of {}",
                    t.party, t.time, first.time
                ),
                vec![first.index, t.index],
            ),
            _ => {
                result(
                    d,
                    Verdict::Fail,
                    format!(
                    "{} restarted ICE at {} (new ufrag and pwd); {peer} never answered with new credentials of its \
                     own{}",
                    first.party,
                    first.time,
                    ended.map(|t| format!(" before the session ended at {}", t.time)).unwrap_or_default()
                ),
                    vec![first.index],
                )
                .by(&peer)
            }
        };
    };
    let after = first.time.max(answer.time);
    let got = |party: &str| {
        ctx.wire
            .rtp
            .iter()
            .find(|r| r.party == party && r.dir == Dir::Rx && r.time > after)
            .map(|r| r.time)
    };
    let media = match (got(&ctx.caller), got(&ctx.callee)) {
        (Some(a), Some(b)) => format!("media resumed both ways by {}", a.max(b)),
        _ => "no media flowed both ways after it (the network may have offered no path)".to_string(),
    };
    result(
        d,
        Verdict::Pass,
        format!(
            "{} restarted ICE at {} with a new ufrag and pwd, {peer} answered at {} with its own; {media}",
            first.party, first.time, answer.time
        ),
        vec![first.index, answer.index],
    )
}

/// How long before a restart offer the peer's own may have gone out and still count as its
/// answer (the two crossed, XEP-0166 §7.2.16).
const CROSSING: std::time::Duration = std::time::Duration::from_secs(2);
/// A session-terminate this soon after a restart offer answers it (a refusal); a later one ends
/// a session whose restart was left unanswered.
const REFUSAL: std::time::Duration = std::time::Duration::from_secs(5);
