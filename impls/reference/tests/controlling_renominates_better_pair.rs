//! Renomination, controlling side (libwebrtc's p2p/base/p2p_transport_channel.cc increments its
//! NOMINATION counter on every switch of its selected connection;
//! draft-thatcher-ice-renomination-01 §3 lets the controlling agent nominate a new pair at any
//! time): when renomination is negotiated and a pair of higher priority becomes valid after the
//! first nomination, it is nominated with a higher value. Regular nomination (the default)
//! nominates once (RFC 8445 §8.1.1).

mod common;
mod renomination_fixture;

use harness::stun::attr_type;
use reference::ice::Nomination;
use renomination_fixture::{addr, late_path, nominating_checks, nomination, selections, R_OPENS};

use common::{L, R, R2};

#[test]
fn renomination_01_s3_c001_negotiated_renominates_the_late_better_pair_with_a_higher_value() {
    let p = late_path(Nomination::C001Negotiated, Nomination::C001Negotiated, (true, true));
    let noms = nominating_checks(&p, true);
    let marked: Vec<_> = noms
        .iter()
        .map(|(t, to, m)| (*t >= R_OPENS, *to, nomination(m)))
        .collect();
    assert_eq!(
        marked,
        vec![(false, addr(R2), Some(1)), (true, addr(R), Some(2))],
        "first the pair that worked, then the better one with a higher value"
    );
    // libwebrtc's NOMINATION goes instead of USE-CANDIDATE, never with it
    // (p2p/base/p2p_transport_channel.cc, `PingConnection`).
    assert!(noms.iter().all(|(_, _, m)| !m.has(attr_type::USE_CANDIDATE)));
    let picked = selections(&p.events_left);
    assert_eq!(picked.iter().map(|s| s.2).collect::<Vec<_>>(), vec![addr(R2), addr(R)]);
    assert_eq!(p.left.media_pair(), Some((addr(L), addr(R))));
}

#[test]
fn rfc8445_8_1_1_use_candidate_default_nominates_once_and_stops_checking() {
    // Same late path, conforming default: one USE-CANDIDATE, the better pair is never checked
    // again after the selection (§8.1.2), so nothing moves.
    let p = late_path(Nomination::UseCandidate, Nomination::UseCandidate, (false, false));
    let noms = nominating_checks(&p, true);
    assert_eq!(noms.len(), 1, "{:?}", noms.iter().map(|n| n.1).collect::<Vec<_>>());
    assert_eq!(noms[0].1, addr(R2));
    assert!(noms[0].2.has(attr_type::USE_CANDIDATE) && nomination(&noms[0].2).is_none());
    assert_eq!(selections(&p.events_left).len(), 1);
    let checks_to_r_after_open = p
        .requests(true)
        .iter()
        .filter(|(t, _, to, _)| *t >= R_OPENS && *to == addr(R))
        .count();
    assert_eq!(checks_to_r_after_open, 0);
}

#[test]
fn renomination_01_s3_no_renomination_when_the_peer_did_not_advertise_it() {
    // Left would renominate, but right's transport carried no <renomination/>: regular nomination.
    let p = late_path(Nomination::C001Negotiated, Nomination::UseCandidate, (true, false));
    let noms = nominating_checks(&p, true);
    assert_eq!(noms.len(), 1);
    assert!(noms[0].2.has(attr_type::USE_CANDIDATE) && nomination(&noms[0].2).is_none());
    assert_eq!(p.left.selected(), Some((addr(L), addr(R2))));
    assert_eq!(p.right.selected(), Some((addr(R2), addr(L))));
}
