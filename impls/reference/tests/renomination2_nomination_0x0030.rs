//! Knob `nomination: renomination2` (draft-thatcher-tsvwg-renomination-00): once
//! negotiated (both transports carry `<renomination/>`), every check with USE-CANDIDATE also
//! carries NOMINATION 0x0030 with strictly increasing values, and no other check does; without
//! negotiation the agent nominates with USE-CANDIDATE alone. A peer that advertised
//! `<renomination/>` but answers 0x0030 with 420 (a legacy libwebrtc peer) is nominated with 0xC001.

mod common;
mod renomination_fixture;

use harness::stun::{attr_type, Class};
use reference::ice::Nomination;
use renomination_fixture::{addr, late_path, nominating_checks, nomination, responses};

use common::{L, R, R2};

#[test]
fn renomination2_s8_1_every_use_candidate_carries_0x0030_with_increasing_values() {
    let p = late_path(Nomination::Renomination2, Nomination::Renomination2, (true, true));
    let noms = nominating_checks(&p, true);
    assert_eq!(noms.len(), 2, "a first nomination and one renomination");
    let mut last = 0;
    for (_, _, m) in &noms {
        assert!(m.has(attr_type::USE_CANDIDATE), "renomination2 keeps USE-CANDIDATE");
        assert!(m.has(attr_type::NOMINATION_RENOMINATION2) && !m.has(attr_type::NOMINATION_LEGACY));
        let v = nomination(m).unwrap();
        assert!(v > last, "values strictly increase: {v} after {last}");
        last = v;
    }
    // 0x0030 on nothing else.
    for (_, _, _, m) in p.requests(true).iter().chain(p.requests(false).iter()) {
        assert_eq!(
            m.has(attr_type::NOMINATION_RENOMINATION2),
            m.has(attr_type::USE_CANDIDATE)
        );
    }
    // The controlled agent implements it: no 420, and it followed.
    assert!(responses(&p, false).iter().all(|m| m.class == Class::Success));
    assert_eq!(p.right.selected(), Some((addr(R), addr(L))));
}

#[test]
fn renomination2_s8_1_not_negotiated_means_use_candidate_alone() {
    let p = late_path(Nomination::Renomination2, Nomination::UseCandidate, (true, false));
    let noms = nominating_checks(&p, true);
    assert_eq!(noms.len(), 1);
    assert!(noms[0].2.has(attr_type::USE_CANDIDATE) && nomination(&noms[0].2).is_none());
    assert_eq!(p.right.selected(), Some((addr(R2), addr(L))));
}

#[test]
fn rfc8489_7_3_4_a_420_for_0x0030_from_a_legacy_peer_falls_back_to_0xc001() {
    // Right is a current Conversations: it advertises <renomination/> and speaks 0xC001 only.
    let p = late_path(Nomination::Renomination2, Nomination::C001Negotiated, (true, true));
    let noms = nominating_checks(&p, true);
    assert!(
        noms[0].2.has(attr_type::NOMINATION_RENOMINATION2),
        "first try: renomination2"
    );
    assert!(
        responses(&p, false)
            .iter()
            .any(|m| m.transaction_id == noms[0].2.transaction_id && m.class == Class::Error),
        "the legacy peer refused 0x0030"
    );
    let legacy: Vec<u32> = noms[1..]
        .iter()
        .map(|(_, _, m)| {
            assert!(!m.has(attr_type::NOMINATION_RENOMINATION2) && !m.has(attr_type::USE_CANDIDATE));
            nomination(m).expect("0xC001 after the 420")
        })
        .collect();
    assert!(legacy.windows(2).all(|w| w[1] > w[0]), "{legacy:?}");
    assert_eq!(
        legacy.len(),
        2,
        "the same pair again, then the late better one: {legacy:?}"
    );
    // Both ends on the better pair in the end.
    assert_eq!(p.left.selected(), Some((addr(L), addr(R))));
    assert_eq!(p.right.selected(), Some((addr(R), addr(L))));
}
