//! rtc-ice connects to the reference agent in both roles, host candidates, and nominates the way
//! its sources say: regular nomination (RFC 8445 §8.1.1), a separate USE-CANDIDATE request after a
//! check succeeded, sent on rtc-ice's 200 ms check tick.

mod common;

use common::*;
use reference::ice::{DriverEvent, DriverState};

#[test]
fn rtc_ice_controlling_nominates_after_a_success_and_the_reference_selects() {
    let l = run(true, 1, 3000);
    assert_eq!(l.drivers[0].selected(), Some((addr(RTC), addr(REF))));
    assert_eq!(l.drivers[1].selected(), Some((addr(REF), addr(RTC))));
    assert_eq!(l.drivers[0].state(), DriverState::Connected);

    let rtc_requests: Vec<_> = l.sent.iter().filter(|s| s.from == 0 && s.is_request()).collect();
    let first_uc = rtc_requests
        .iter()
        .position(|s| s.has_use_candidate())
        .expect("rtc-ice nominates");
    // Regular, not aggressive: ordinary checks first, and the nomination only once a success
    // response to one of them has come back.
    assert!(first_uc > 0, "USE-CANDIDATE on the first check: aggressive nomination");
    let first_success_back = l
        .sent
        .iter()
        .find(|s| s.from == 1 && s.is_success())
        .map(|s| s.at + l.delay)
        .expect("the reference answers");
    let uc_at = rtc_requests[first_uc].at;
    assert!(
        uc_at >= first_success_back,
        "nominated at {uc_at} before a success arrived at {first_success_back}"
    );
    // rtc-ice nominates on its 200 ms check tick (DEFAULT_CHECK_INTERVAL) or, once the pair
    // succeeded, on the peer's next check (the controlling `handle_binding_request`); never
    // in between.
    let on_peer_check = l
        .sent
        .iter()
        .any(|s| s.from == 1 && s.is_request() && s.at + l.delay == uc_at);
    assert!(uc_at.as_millis() % 200 == 0 || on_peer_check, "nomination at {uc_at}");
    // The first nomination is answered, so there is no second one.
    assert_eq!(rtc_requests.iter().filter(|s| s.has_use_candidate()).count(), 1);
}

#[test]
fn rtc_ice_controlled_selects_the_pair_the_reference_nominates() {
    let l = run(false, 1, 3000);
    assert_eq!(l.drivers[0].selected(), Some((addr(REF), addr(RTC))));
    assert_eq!(l.drivers[1].selected(), Some((addr(RTC), addr(REF))));
    assert_eq!(l.drivers[1].media_pair(), Some((addr(RTC), addr(REF))));
    let selected: Vec<_> = l
        .events
        .iter()
        .filter(|(_, i, e)| *i == 1 && matches!(e, DriverEvent::Selected { .. }))
        .collect();
    assert_eq!(selected.len(), 1, "{:?}", l.events);
    // The controlled agent never nominates.
    assert!(!l.sent.iter().any(|s| s.from == 1 && s.has_use_candidate()));
    // And the nomination it followed was the reference's USE-CANDIDATE.
    let uc = l
        .sent
        .iter()
        .find(|s| s.from == 0 && s.has_use_candidate())
        .expect("the reference nominates");
    assert!(selected[0].0 >= uc.at + l.delay);
}

#[test]
fn rtc_ice_keeps_the_selected_pair_alive_with_binding_requests_every_two_seconds() {
    let l = run(true, 1, 7000);
    let selected_at = l
        .events
        .iter()
        .find(|(_, i, e)| *i == 0 && matches!(e, DriverEvent::Selected { .. }))
        .map(|(t, _, _)| *t)
        .expect("selected");
    let keepalives: Vec<u64> = l
        .sent
        .iter()
        .filter(|s| s.from == 0 && s.at > selected_at && s.is_request() && !s.has_use_candidate())
        .map(|s| s.at.as_millis())
        .collect();
    assert!(keepalives.len() >= 3, "{keepalives:?}");
    for w in keepalives.windows(2) {
        assert_eq!(w[1] - w[0], 2000, "DEFAULT_KEEPALIVE_INTERVAL: {keepalives:?}");
    }
}
