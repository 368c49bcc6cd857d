//! RFC 8445 §7.3.1.4: an incoming check on a Failed pair sets it Waiting and triggers a new check, so two
//! peers connect even when one side's checks all timed out before the other side's NAT was open.

mod common;

use std::time::Duration;

use common::Pair;
use harness::stun::{attr_type, Message};
use harness::SimTime;
use reference::ice::{IceConfig, IceState};

#[test]
fn rfc8445_7_3_1_4_failed_pair_is_rechecked_when_the_peer_checks_it() {
    // Left (controlling) starts at once with pjnath's short timing (RTO 100 ms: 7 sends, failure at
    // 7.9 s); everything sent before 10 s is dropped, as by a NAT whose filter is not open yet. Right
    // starts at 10 s, after left's only pair has failed.
    let cfg = IceConfig {
        rto: Duration::from_millis(100),
        ..IceConfig::default()
    };
    let mut p = Pair::new(cfg);
    p.drop_to_right_until = SimTime::from_millis(10_000);
    p.drop_to_left_until = SimTime::from_millis(10_000);
    p.left.start(SimTime::ZERO);
    while p.step_before(SimTime::from_millis(9_500)) {}
    let early = p
        .sent_to_right
        .iter()
        .filter(|(t, _)| *t < SimTime::from_millis(10_000))
        .count();
    assert_eq!(early, 7, "Rc = 7 requests before the pair fails");
    // RFC 8863: the PAC timer (39.5 s) keeps the agent from declaring failure while candidates may come.
    assert_eq!(p.left.state(), IceState::Checking);
    p.now = SimTime::from_millis(10_000);
    p.right.start(p.now);
    p.run_until_settled(Duration::from_secs(30));
    // Left answered right's check and sent a new check of its own on the Failed pair.
    let retriggered = p
        .sent_to_right
        .iter()
        .filter(|(t, m)| {
            *t >= SimTime::from_millis(10_000)
                && Message::decode(m)
                    .is_ok_and(|m| m.class == harness::stun::Class::Request && m.has(attr_type::ICE_CONTROLLING))
        })
        .count();
    assert!(
        retriggered >= 1,
        "no triggered check from the controlling side after its pair failed"
    );
    assert_eq!(p.left.state(), IceState::Completed);
    assert_eq!(p.right.state(), IceState::Completed);
    assert_eq!(
        p.left.selected(),
        Some((common::L.parse().unwrap(), common::R.parse().unwrap()))
    );
}

#[test]
fn rfc8863_no_failure_before_the_pac_timer_then_failure() {
    // Nothing ever gets through: the agent must not fail before 39.5 s, and must fail then.
    let mut p = Pair::new(IceConfig {
        rto: Duration::from_millis(100),
        ..IceConfig::default()
    });
    p.drop_to_right_until = SimTime::MAX;
    p.drop_to_left_until = SimTime::MAX;
    p.left.start(SimTime::ZERO);
    p.run_until_settled(Duration::from_secs(60));
    let failed_at = p
        .events_left
        .iter()
        .find(|(_, e)| *e == reference::ice::IceEvent::State(IceState::Failed))
        .map(|(t, _)| *t);
    assert_eq!(failed_at, Some(SimTime::from_millis(39_500)));
}

#[test]
fn regular_nomination_selects_one_pair_on_both_sides() {
    let mut p = Pair::new(IceConfig::default());
    p.left.start(SimTime::ZERO);
    p.right.start(SimTime::ZERO);
    p.run_until_settled(Duration::from_secs(10));
    assert_eq!(p.left.state(), IceState::Completed);
    assert_eq!(p.right.state(), IceState::Completed);
    let uc: Vec<_> = p
        .sent_to_right
        .iter()
        .filter_map(|(_, m)| Message::decode(m).ok())
        .filter(|m| m.has(attr_type::USE_CANDIDATE))
        .collect();
    assert_eq!(uc.len(), 1, "exactly one nominating check (RFC 8445 §8.1.1)");
    // The controlled side never sends USE-CANDIDATE (RFC 8445 §7.1.2).
    assert!(p
        .sent_to_left
        .iter()
        .filter_map(|(_, m)| Message::decode(m).ok())
        .all(|m| !m.has(attr_type::USE_CANDIDATE)));
    assert_eq!(
        p.right.selected(),
        Some((common::R.parse().unwrap(), common::L.parse().unwrap()))
    );
}
