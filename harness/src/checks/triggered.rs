//! Triggered checks on the pairs incoming checks create or find unchecked (RFC 8445 §7.3.1.4), a
//! peer-reflexive source included (§7.3.1.3).
//!
//! An agent that answers a check forms the pair (the local candidate it arrived on, its source),
//! learning the source as a peer-reflexive remote candidate when no signalled candidate names it,
//! and unless that pair already succeeded it enqueues a triggered check on it. The wire shows the
//! outcome as the answering party's own check on the reverse 5-tuple. This check judges the pairs
//! the answering party had not checked yet in that ICE session (new or still Frozen/Waiting);
//! pairs whose own checks had stopped without success are `ice.triggered-check-after-failed`'s,
//! and an In-Progress pair is already being checked.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use super::{result, CheckDef, CheckResult, Ctx, Level, Verdict};
use crate::stun::{attr_type, method, Class, Message};
use crate::time::SimTime;
use crate::trace::Dir;
use crate::wire::{self, JingleSeen, StunSeen};

/// An answered check on a pair its receiver had not checked is followed by its own check there.
pub const TRIGGERED_ON_INCOMING: CheckDef = CheckDef {
    id: "ice.triggered-check-on-incoming",
    level: Level::Must,
    cite: "RFC 8445 §7.3.1.4",
    summary: "a check a party answers with success on a pair it had not checked yet in that ICE session (a peer-reflexive source included, §7.3.1.3) is followed by its own check on the reverse 5-tuple within 2 s of its having the peer's credentials, unless ICE completed, restarted or the session ended first",
};

/// How long after the incoming check (or after the answer bringing the peer's credentials, if that
/// came later) the triggered check must leave. Triggered checks are served first at each Ta tick
/// (RFC 8445 §6.1.4.2, Ta 50 ms by default, §14.2), so even a queue of dozens of pairs leaves well
/// inside this; it matches `ice.triggered-check-after-failed`.
const BOUND: Duration = Duration::from_secs(2);

/// An ICE session from one party's view: (its own ufrag, the peer's); `None` when a check carried no
/// readable USERNAME.
type Session<'m> = Option<(&'m str, &'m str)>;

/// ICE session of a connectivity check from the view of `party`: (its own ufrag, the peer's), read
/// from USERNAME (`RECEIVER:SENDER`, RFC 8445 §7.2.2). `sent` says whether `party` sent the check.
///
/// The ufrags are read in place, not decoded into new strings: every incoming check is matched
/// against the party's own checks by session. As in [`crate::stun::Attribute::decode`], a USERNAME that is not
/// UTF-8 is unreadable.
fn session(msg: &Message, sent: bool) -> Session<'_> {
    let u = std::str::from_utf8(msg.raw(attr_type::USERNAME)?.value).ok()?;
    let (receiver, sender) = u.split_once(':')?;
    Some(if sent { (sender, receiver) } else { (receiver, sender) })
}

/// A check marked as a nomination: USE-CANDIDATE, or a NOMINATION attribute (0xC001/0x0030).
fn nominates(msg: &Message) -> bool {
    msg.has(attr_type::USE_CANDIDATE)
        || msg.has(attr_type::NOMINATION_LEGACY)
        || msg.has(attr_type::NOMINATION_RENOMINATION2)
}

fn is_check(s: &StunSeen) -> bool {
    s.msg.method == method::BINDING
        && s.msg.class == Class::Request
        && (s.msg.has(attr_type::ICE_CONTROLLING) || s.msg.has(attr_type::ICE_CONTROLLED))
}

/// When `party`'s ICE processing completed (RFC 8445 §8.1.2) as the wire shows it, in the ICE
/// session of `incoming`, a check it received: see `Party::completed`.
pub(super) fn completed_in_session_of<'a>(
    ctx: &Ctx<'a>,
    party: wire::Party<'a>,
    incoming: &StunSeen,
) -> Option<SimTime> {
    Party::new(ctx, party).completed(&session(&incoming.msg, false))
}

/// Seconds with two decimals, as a detail reads them.
fn secs(t: SimTime) -> String {
    format!("{:.2} s", t.as_micros() as f64 / 1e6)
}

/// One party's view of one ICE session, as far as this check needs it.
struct Party<'c, 'a> {
    ctx: &'c Ctx<'a>,
    name: wire::Party<'a>,
    /// Connectivity checks it sent.
    sent: Vec<&'c StunSeen<'a>>,
}

impl<'c, 'a> Party<'c, 'a> {
    fn new(ctx: &'c Ctx<'a>, name: wire::Party<'a>) -> Party<'c, 'a> {
        Party {
            ctx,
            name,
            sent: ctx.wire.checks_sent_by(&name).collect(),
        }
    }

    /// Its checks from `local` to `remote` in session `sess` (or without a readable USERNAME).
    fn checks_on<'s>(
        &'s self,
        local: SocketAddr,
        remote: SocketAddr,
        sess: &Session<'s>,
    ) -> impl Iterator<Item = &'c StunSeen<'a>> + 's {
        let sess = *sess;
        self.sent.iter().copied().filter(move |c| {
            (c.src, c.dst) == (local, remote) && {
                let s = session(&c.msg, true);
                s.is_none() || sess.is_none() || s == sess
            }
        })
    }

    /// When it first got a success response to its own check from `local` to `remote`.
    fn succeeded(&self, local: SocketAddr, remote: SocketAddr, sess: &Session) -> Option<SimTime> {
        self.checks_on(local, remote, sess)
            .filter_map(|c| self.ctx.wire.response_to(c))
            .filter(|r| r.msg.class == Class::Success)
            .map(|r| r.time)
            .min()
    }

    /// When its ICE processing completed in `sess` (RFC 8445 §8.1.2), as the wire shows it: as the
    /// controlling side, when a nominating check of its own succeeded; as the controlled side, when
    /// a nominating check it answered arrived on a pair its own check had made valid (whichever
    /// came last).
    fn completed(&self, sess: &Session) -> Option<SimTime> {
        let own = self
            .sent
            .iter()
            .filter(|c| nominates(&c.msg) && (sess.is_none() || session(&c.msg, true) == *sess))
            .filter_map(|c| self.ctx.wire.response_to(c))
            .filter(|r| r.msg.class == Class::Success)
            .map(|r| r.time)
            .min();
        let followed = self
            .ctx
            .wire
            .stun
            .iter()
            .filter(|s| {
                s.party == self.name
                    && s.dir == Dir::Rx
                    && is_check(s)
                    && nominates(&s.msg)
                    && (sess.is_none() || session(&s.msg, false) == *sess)
                    && self.answered(s).is_some()
            })
            .filter_map(|s| self.succeeded(s.dst, s.src, sess).map(|ok| ok.max(s.time)))
            .min();
        own.into_iter().chain(followed).min()
    }

    /// Its success response to `req` (a check it received), if it sent one.
    fn answered(&self, req: &StunSeen) -> Option<&'c StunSeen<'a>> {
        self.ctx.wire.stun.iter().find(|s| {
            s.party == self.name
                && s.dir == Dir::Tx
                && s.index > req.index
                && s.msg.method == method::BINDING
                && s.msg.class == Class::Success
                && s.msg.transaction_id == req.msg.transaction_id
        })
    }

    /// When ICE session (`mine`, `theirs`) could run at this party: (when the first of the two
    /// credentials was signalled, when checks could start). Checks start once it has sent `mine` and
    /// received `theirs` (in a Jingle action it did not refuse with an IQ error) and the session was
    /// accepted (RFC 8445 §7.3: a check that arrives before the answer is answered at once, and its
    /// triggered check follows once the answer is there). The two belong to one ICE session when
    /// they are the same generation: the n-th ufrag it sent in a Jingle session and the n-th it
    /// received, since every restart (RFC 8445 §9) renews both, offer and answer. `None` when the
    /// session never was one: never accepted, or `theirs` left over from before its own restart.
    fn ready(&self, mine: &str, theirs: &str) -> Option<(SimTime, SimTime)> {
        let w = &self.ctx.wire;
        let refused = |j: &JingleSeen| {
            w.iq_replies.iter().any(|r| {
                r.party == self.name && r.dir == Dir::Tx && r.typ == "error" && Some(&r.id) == j.iq_id.as_ref()
            })
        };
        let actions: Vec<&JingleSeen> = w
            .jingle
            .iter()
            .filter(|j| j.party == self.name && !(j.dir == Dir::Rx && refused(j)))
            .collect();
        let mut sids: Vec<&str> = vec![];
        for j in &actions {
            if !sids.contains(&j.sid.as_str()) {
                sids.push(&j.sid);
            }
        }
        for sid in sids {
            // Each ufrag with when it was first sent (own) or received (remote), in order.
            let mut own: Vec<(&str, SimTime)> = vec![];
            let mut remote: Vec<(&str, SimTime)> = vec![];
            let mut accept = None;
            for j in actions.iter().filter(|j| j.sid == sid) {
                let list = if j.dir == Dir::Tx { &mut own } else { &mut remote };
                for u in j.contents.iter().filter_map(|c| c.ufrag.as_deref()) {
                    if !list.iter().any(|(x, _)| *x == u) {
                        list.push((u, j.time));
                    }
                }
                if j.action == "session-accept" {
                    accept.get_or_insert(j.time);
                }
            }
            let (Some(i), Some(k)) = (
                own.iter().position(|x| x.0 == mine),
                remote.iter().position(|x| x.0 == theirs),
            ) else {
                continue;
            };
            if i != k {
                return None;
            }
            let (a, b) = (own[i].1, remote[k].1);
            return Some((a.min(b), a.max(b).max(accept?)));
        }
        None
    }

    /// Addresses it signalled as host or relayed candidates, or checked from in `sess`: the bases
    /// of its candidates as far as the wire tells them.
    fn is_base(&self, addr: SocketAddr, sess: &Session) -> bool {
        let signalled = self.ctx.wire.jingle.iter().any(|j| {
            j.party == self.name
                && j.dir == Dir::Tx
                && j.contents
                    .iter()
                    .flat_map(|c| &c.candidates)
                    .any(|c| c.addr == addr && matches!(c.typ.as_str(), "host" | "relay"))
        });
        signalled
            || self
                .sent
                .iter()
                .any(|c| c.src == addr && (sess.is_none() || session(&c.msg, true) == *sess))
    }

    /// Why it was released from checking between `from` and `to`, if it was: the session ended
    /// (session-terminate sent or received) or ICE restarted (new credentials other than `sess`'s
    /// in a Jingle action it sent or received, RFC 8445 §9).
    fn released(&self, from: SimTime, to: SimTime, sess: &Session) -> Option<&'static str> {
        let window = self
            .ctx
            .wire
            .jingle
            .iter()
            .filter(|j| j.party == self.name && j.time >= from && j.time <= to);
        for j in window {
            if j.action == "session-terminate" {
                return Some("the session ended");
            }
            if let Some((mine, theirs)) = *sess {
                let new = j
                    .contents
                    .iter()
                    .filter_map(|c| c.ufrag.as_deref())
                    .any(|u| u != mine && u != theirs);
                if new {
                    return Some("ICE restarted");
                }
            }
        }
        None
    }
}

/// A judged incoming check that got no triggered check.
struct Miss {
    party: String,
    time: SimTime,
    detail: String,
    evidence: Vec<usize>,
}

/// See [`TRIGGERED_ON_INCOMING`].
pub fn triggered_on_incoming(ctx: &Ctx) -> CheckResult {
    let d = &TRIGGERED_ON_INCOMING;
    let end = ctx.end;
    let mut judged = 0;
    let mut example: Vec<usize> = vec![];
    let mut misses: Vec<Miss> = vec![];
    // Answered checks on unchecked pairs that could not be judged, and why (first reason kept).
    let mut excused: Vec<&'static str> = vec![];
    for (name, peer) in [(&ctx.caller, &ctx.callee), (&ctx.callee, &ctx.caller)] {
        let p = Party::new(ctx, *name);
        let peer_candidates: BTreeSet<SocketAddr> = ctx
            .wire
            .jingle
            .iter()
            .filter(|j| &j.party == name && j.dir == Dir::Rx)
            .flat_map(|j| j.contents.iter().flat_map(|c| &c.candidates))
            .map(|c| c.addr)
            .collect();
        let mut seen: BTreeSet<(SocketAddr, SocketAddr, Session)> = BTreeSet::new();
        let inbound = ctx
            .wire
            .stun
            .iter()
            .filter(|s| &s.party == name && s.dir == Dir::Rx && is_check(s));
        for r in inbound {
            let sess = session(&r.msg, false);
            let key = (r.dst, r.src, sess);
            if seen.contains(&key) {
                continue;
            }
            let Some(answer) = p.answered(r) else {
                continue;
            };
            seen.insert(key);
            let t = r.time;
            if p.checks_on(r.dst, r.src, &sess).any(|c| c.time < t) {
                // Already In-Progress, Succeeded or Failed on its side: not this check's case.
                continue;
            }
            if !p.is_base(r.dst, &sess) {
                // E.g. the host address of a relay-only agent: no candidate of it to pair.
                excused.push("it arrived on an address that is none of the receiver's candidates");
                continue;
            }
            let Some((creds, start)) = sess.as_ref().and_then(|(mine, theirs)| p.ready(mine, theirs)) else {
                excused.push("the receiver never had both credentials of that ICE session in an accepted session");
                continue;
            };
            let deadline = t.max(start) + BOUND;
            let triggered = p
                .checks_on(r.dst, r.src, &sess)
                .find(|c| c.time >= t && c.time <= deadline);
            if let Some(c) = triggered {
                judged += 1;
                if example.is_empty() {
                    example = vec![r.index, c.index];
                }
                continue;
            }
            if end < deadline {
                excused.push("the run ended before the bound");
                continue;
            }
            if p.completed(&sess).is_some_and(|c| c <= deadline) {
                // RFC 8445 §8.1.2: selection flushes the component's Waiting pairs and triggered
                // queue, and after Completed an agent may stop generating triggered checks.
                excused.push("the receiver's ICE completed before the bound");
                continue;
            }
            if let Some(why) = p.released(creds.min(t), deadline, &sess) {
                excused.push(why);
                continue;
            }
            if let Some(x) = super::network::party_transaction_dropped(ctx, name, t.min(start), deadline) {
                excused.push(if x.reason.contains("loss") || x.reason.contains("down") {
                    "the network dropped one of the receiver's STUN transactions before the bound"
                } else {
                    "the network (a NAT or firewall) dropped one of the receiver's STUN transactions before the bound"
                });
                continue;
            }
            judged += 1;
            let prflx = if peer_candidates.contains(&r.src) {
                String::new()
            } else {
                format!(" (a peer-reflexive source: no candidate {peer} signalled names it, RFC 8445 §7.3.1.3)")
            };
            let later = p.sent.iter().find(|c| c.dst == r.src && c.time > t);
            let what = match later {
                None => "never checked that address".to_string(),
                Some(c) if c.src == r.dst => format!(
                    "checked that address from {} only at {}, past the bound",
                    r.dst,
                    secs(c.time)
                ),
                Some(c) => format!("never checked that address from {} (only from {})", r.dst, c.src),
            };
            misses.push(Miss {
                party: name.to_string(),
                time: t,
                detail: format!(
                    "{name} answered {peer}'s check from {} at {} on {}{prflx} and {what}: no triggered check on \
                     that pair by {} (2 s after {})",
                    r.src,
                    secs(t),
                    r.dst,
                    secs(deadline),
                    if start > t {
                        format!("it had {peer}'s credentials")
                    } else {
                        "the check".to_string()
                    },
                ),
                evidence: vec![r.index, answer.index],
            });
        }
    }
    if let Some(m) = misses.iter().min_by_key(|m| m.time) {
        let more = if misses.len() > 1 {
            format!(" ({} such pairs in all)", misses.len())
        } else {
            String::new()
        };
        return result(d, Verdict::Fail, format!("{}{more}", m.detail), m.evidence.clone()).by(&m.party);
    }
    if judged == 0 {
        let detail = match excused.first() {
            None => "no party answered a check on a pair it had not checked yet".to_string(),
            Some(why) => format!(
                "{} pairs were first met in a check their receiver answered before checking them, but none could \
                 be judged: {why}",
                excused.len()
            ),
        };
        let r = result(d, Verdict::Inconclusive, detail, vec![]);
        return if excused.first().is_some_and(|w| w.contains("network")) {
            r.network()
        } else {
            r
        };
    }
    let what = if judged == 1 {
        "1 pair was first met in a check its receiver answered before checking it; it got".to_string()
    } else {
        format!("{judged} pairs were first met in a check their receiver answered before checking them; each got")
    };
    result(
        d,
        Verdict::Pass,
        format!(
            "{what} the receiver's own check within 2 s (evidence: the first such check and the triggered check \
             that followed it)"
        ),
        example,
    )
}
