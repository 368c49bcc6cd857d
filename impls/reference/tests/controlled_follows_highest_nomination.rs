//! Renomination, controlled side (draft-thatcher-ice-renomination-01 §3–§4;
//! draft-thatcher-tsvwg-renomination-00; libwebrtc p2p/base/connection.cc): when renomination is
//! negotiated, the controlled agent moves its selection to the pair of the largest NOMINATION value
//! it accepted; a value at or below the highest changes nothing. Without renomination the first
//! nomination stands (RFC 8445 §8.1.1).

mod common;
mod renomination_fixture;

use harness::stun::Attribute;
use reference::ice::Nomination;
use renomination_fixture::{addr, deliver_to_right, hand_made_check, late_path, selections, R_OPENS};

use common::{L, R, R2};

#[test]
fn renomination_01_s3_controlled_moves_to_the_later_higher_nomination() {
    for n in [Nomination::C001Negotiated, Nomination::Renomination2] {
        let p = late_path(n, n, (true, true));
        let picked = selections(&p.events_right);
        assert_eq!(picked.len(), 2, "{n:?}: first selection, then one switch: {picked:?}");
        assert_eq!(
            (picked[0].1, picked[0].2),
            (addr(R2), addr(L)),
            "{n:?}: the pair that worked first"
        );
        assert!(picked[0].0 < R_OPENS);
        assert_eq!(
            (picked[1].1, picked[1].2),
            (addr(R), addr(L)),
            "{n:?}: the better pair, once open"
        );
        assert!(picked[1].0 >= R_OPENS);
        assert_eq!(p.right.selected(), Some((addr(R), addr(L))));
        assert_eq!(p.right.media_pair(), Some((addr(R), addr(L))));
        assert_eq!(p.left.selected(), Some((addr(L), addr(R))));
    }
}

#[test]
fn renomination_01_s3_a_value_at_or_below_the_highest_changes_nothing() {
    let mut p = late_path(Nomination::C001Negotiated, Nomination::C001Negotiated, (true, true));
    assert_eq!(p.right.selected(), Some((addr(R), addr(L))));
    // The R pair was nominated with 2; a replayed 1 and a repeated 2 on the R2 pair are answered
    // (the controlled side has no reason to refuse them) but do not move the selection.
    for (txid, v) in [(0xA1, 1), (0xA2, 2)] {
        let check = hand_made_check(&p.left, &p.right, txid, &[Attribute::NominationLegacy(v)]);
        deliver_to_right(&mut p, R2, L, &check);
        assert_eq!(
            p.right.selected(),
            Some((addr(R), addr(L))),
            "value {v} moved the selection"
        );
    }
    // A higher value on the R2 pair (valid on both sides) does.
    let check = hand_made_check(&p.left, &p.right, 0xA3, &[Attribute::NominationLegacy(3)]);
    deliver_to_right(&mut p, R2, L, &check);
    assert_eq!(p.right.selected(), Some((addr(R2), addr(L))));
    assert_eq!(p.right.media_pair(), Some((addr(R2), addr(L))));
}

#[test]
fn rfc8445_8_1_1_without_renomination_the_first_nomination_stands() {
    // Neither side advertised renomination: regular nomination on both sides, one selection.
    let mut p = late_path(Nomination::C001Negotiated, Nomination::C001Negotiated, (false, false));
    assert_eq!(selections(&p.events_right).len(), 1);
    assert_eq!(p.right.selected(), Some((addr(R2), addr(L))));
    // A later USE-CANDIDATE on the R pair does not move it either.
    let check = hand_made_check(&p.left, &p.right, 0xB1, &[Attribute::UseCandidate]);
    deliver_to_right(&mut p, R, L, &check);
    assert_eq!(p.right.selected(), Some((addr(R2), addr(L))));
}
