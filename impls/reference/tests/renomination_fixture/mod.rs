//! Renomination set-ups on top of the two-agent fixture: the controlled (right) agent has a good
//! host address `R` that stays unreachable until `R_OPENS` and a worse one `R2` that works at once,
//! so the controlling (left) agent nominates the `R2` pair first and the better `R` pair becomes
//! valid later (a path that opens late). Also a hand-made check, for values the agents never send.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use harness::stun::{attr_type, method, Attribute, Class, Message, MessageBuilder};
use harness::SimTime;
use reference::ice::{IceAgent, IceConfig, IceEvent, Nomination};

use crate::common::{host, host_with_pref, Pair, L, R, R2};

/// When datagrams from and to `R` start getting through.
pub const R_OPENS: SimTime = SimTime::from_millis(2_000);

/// Left controls with `left`, right is controlled with `right`; `advertise` says whether each
/// side's transport carried `<renomination/>` (left's, right's). Both start at 0 and run 20 s.
pub fn late_path(left: Nomination, right: Nomination, advertise: (bool, bool)) -> Pair {
    let cfg = |n| IceConfig {
        nomination: n,
        ..IceConfig::default()
    };
    let mut p = Pair::bare(cfg(left), cfg(right));
    p.left.add_local_candidate(host(L));
    p.right.add_local_candidate(host(R));
    p.right.add_local_candidate(host_with_pref(R2, 1000, "2"));
    p.left.add_remote_candidate(host(R));
    p.left.add_remote_candidate(host_with_pref(R2, 1000, "2"));
    p.right.add_remote_candidate(host(L));
    // Each side learns whether the *peer's* transport advertised renomination.
    p.left.set_peer_renomination(advertise.1);
    p.right.set_peer_renomination(advertise.0);
    p.blocked.push((addr(R), R_OPENS));
    p.left.start(SimTime::ZERO);
    p.right.start(SimTime::ZERO);
    p.run_until(SimTime::from_millis(20_000));
    p
}

pub fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// The pairs an agent selected, in order, as (time, local, remote).
pub fn selections(events: &[(SimTime, IceEvent)]) -> Vec<(SimTime, SocketAddr, SocketAddr)> {
    events
        .iter()
        .filter_map(|(t, e)| match e {
            IceEvent::Selected { local, remote, .. } => Some((*t, *local, *remote)),
            _ => None,
        })
        .collect()
}

/// NOMINATION value of a message, 0xC001 or 0x0030.
pub fn nomination(m: &Message) -> Option<u32> {
    match (
        m.get(attr_type::NOMINATION_LEGACY),
        m.get(attr_type::NOMINATION_RENOMINATION2),
    ) {
        (Some(Ok(Attribute::NominationLegacy(v))), _) | (_, Some(Ok(Attribute::NominationRenomination2(v)))) => Some(v),
        _ => None,
    }
}

/// Distinct nominating checks one side sent (retransmissions folded), as (time, remote, message).
pub fn nominating_checks(p: &Pair, by_left: bool) -> Vec<(SimTime, SocketAddr, Message)> {
    let mut out: Vec<(SimTime, SocketAddr, Message)> = Vec::new();
    for (t, _, remote, m) in p.requests(by_left) {
        let marks = m.has(attr_type::USE_CANDIDATE) || nomination(&m).is_some();
        if marks && !out.iter().any(|(_, _, x)| x.transaction_id == m.transaction_id) {
            out.push((t, remote, m));
        }
    }
    out
}

/// Every response one side sent, decoded.
pub fn responses(p: &Pair, by_left: bool) -> Vec<Message> {
    p.sent
        .iter()
        .filter(|s| s.by_left == by_left)
        .filter_map(|s| Message::decode(&s.payload).ok())
        .filter(|m| matches!(m.class, Class::Success | Class::Error))
        .collect()
}

/// A check from `from` (the left agent's credentials) to `to`, controlling, with `extra`
/// attributes after ICE-CONTROLLING, signed with `to`'s password.
pub fn hand_made_check(from: &IceAgent, to: &IceAgent, txid: u8, extra: &[Attribute]) -> Vec<u8> {
    let (fu, _) = from.local_credentials();
    let (tu, tp) = to.local_credentials();
    let mut b = MessageBuilder::new(method::BINDING, Class::Request, [txid; 12])
        .attr(&Attribute::Username(format!("{tu}:{fu}")))
        .attr(&Attribute::Priority(1_862_270_975))
        .attr(&Attribute::IceControlling(1));
    for a in extra {
        b = b.attr(a);
    }
    b.build(Some(tp.as_bytes()), true)
}

/// Delivers `payload` to the right agent on `local` from `remote` and collects what it sent.
pub fn deliver_to_right(p: &mut Pair, local: &str, remote: &str, payload: &[u8]) {
    let now = p.now;
    p.right.handle_packet(now, addr(local), addr(remote), payload);
    p.run_until(now + Duration::from_millis(500));
}
