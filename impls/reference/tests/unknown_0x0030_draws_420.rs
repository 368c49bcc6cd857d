//! RFC 8489 §7.3.1: an agent that does not implement renomination2 answers a check carrying
//! NOMINATION 0x0030 (comprehension-required) with 420 Unknown Attribute listing 0x0030, and does
//! not act on the check. Knob `nomination: renomination2-always` sends 0x0030 un-negotiated and
//! does not fall back (pion/ice's default from August 2025: renomination.go, commit 4b50bc8), so
//! against such an agent no nomination succeeds.

mod common;
mod renomination_fixture;

use harness::stun::{attr_type, Attribute, Class, Message};
use reference::ice::{IceState, Nomination};
use renomination_fixture::{deliver_to_right, hand_made_check, late_path, nominating_checks, responses};

use common::{Pair, L, R2};

fn lists_0x0030(m: &Message) -> bool {
    matches!(m.get(attr_type::ERROR_CODE), Some(Ok(Attribute::ErrorCode(e))) if e.code == 420)
        && matches!(m.get(attr_type::UNKNOWN_ATTRIBUTES),
            Some(Ok(Attribute::UnknownAttributes(l))) if l == vec![attr_type::NOMINATION_RENOMINATION2])
}

fn reply_to(p: &Pair, txid: [u8; 12]) -> Message {
    responses(p, false)
        .into_iter()
        .find(|m| m.transaction_id == txid)
        .expect("answered")
}

#[test]
fn rfc8489_7_3_1_conforming_agent_answers_0x0030_with_420_listing_it() {
    let mut p = late_path(Nomination::UseCandidate, Nomination::UseCandidate, (false, false));
    let check = hand_made_check(
        &p.left,
        &p.right,
        0xC1,
        &[Attribute::UseCandidate, Attribute::NominationRenomination2(7)],
    );
    deliver_to_right(&mut p, R2, L, &check);
    let r = reply_to(&p, [0xC1; 12]);
    assert_eq!(r.class, Class::Error);
    assert!(lists_0x0030(&r), "{:?}", r.decoded());
    // With integrity, so the sender can trust it (RFC 8445 §7.3.1: responses are signed).
    let (_, pwd) = p.right.local_credentials();
    assert!(r.verify_integrity(pwd.as_bytes()));
}

#[test]
fn rfc8489_7_3_1_an_agent_with_renomination2_understands_0x0030() {
    let mut p = late_path(Nomination::UseCandidate, Nomination::Renomination2, (false, false));
    let check = hand_made_check(
        &p.left,
        &p.right,
        0xC2,
        &[Attribute::UseCandidate, Attribute::NominationRenomination2(7)],
    );
    deliver_to_right(&mut p, R2, L, &check);
    assert_eq!(reply_to(&p, [0xC2; 12]).class, Class::Success);
}

#[test]
fn renomination2_always_against_a_conforming_peer_draws_420_and_nothing_is_nominated() {
    let p = late_path(
        Nomination::Renomination2Always,
        Nomination::UseCandidate,
        (false, false),
    );
    let noms = nominating_checks(&p, true);
    assert!(!noms.is_empty());
    for (_, _, m) in &noms {
        assert!(m.has(attr_type::NOMINATION_RENOMINATION2) && m.has(attr_type::USE_CANDIDATE));
        assert!(lists_0x0030(&reply_to(&p, m.transaction_id)));
    }
    // Ordinary checks (no 0x0030) still succeed, so pairs are valid, but no nomination landed.
    assert_eq!(p.right.selected(), None);
    assert_eq!(p.left.selected(), None);
    assert_ne!(p.right.state(), IceState::Completed);
}
