//! str0m's `is` connects to the reference agent in both roles, host candidates, and nominates the
//! way its sources say: the best succeeded pair is nominated and every later check on it carries
//! USE-CANDIDATE (`use_candidate = controlling && pair.is_nominated()`), paced by Ta = 50 ms.

mod common;

use common::*;
use reference::ice::{DriverEvent, DriverState};

#[test]
fn str0m_controlling_nominates_with_use_candidate_on_every_later_check_and_the_reference_selects() {
    let l = run(true, 1, 5000);
    assert_eq!(l.drivers[0].selected(), Some((addr(STR0M), addr(REF))));
    assert_eq!(l.drivers[1].selected(), Some((addr(REF), addr(STR0M))));

    let requests: Vec<_> = l.sent.iter().filter(|s| s.from == 0 && s.is_request()).collect();
    let first_uc = requests
        .iter()
        .position(|s| s.has_use_candidate())
        .expect("str0m nominates");
    // Regular: the first check carries no USE-CANDIDATE; the nomination follows a success.
    assert!(first_uc > 0, "USE-CANDIDATE on the first check");
    let first_success_back = l
        .sent
        .iter()
        .find(|s| s.from == 1 && s.is_success())
        .map(|s| s.at + l.delay)
        .expect("the reference answers");
    assert!(requests[first_uc].at >= first_success_back);
    // Once nominated, every check str0m sends on the pair carries USE-CANDIDATE (its keepalive).
    let later = &requests[first_uc..];
    assert!(later.len() >= 3, "{} checks after nomination", later.len());
    assert!(later.iter().all(|s| s.has_use_candidate()));
    // The NominatedSend came with the Completed state.
    assert!(l
        .events
        .iter()
        .any(|(_, i, e)| *i == 0 && matches!(e, DriverEvent::Selected { .. })));
    assert_eq!(l.drivers[0].state(), DriverState::Completed);
}

#[test]
fn str0m_controlled_follows_the_reference_nomination() {
    let l = run(false, 1, 3000);
    assert_eq!(l.drivers[0].selected(), Some((addr(REF), addr(STR0M))));
    assert_eq!(l.drivers[1].selected(), Some((addr(STR0M), addr(REF))));
    assert_eq!(l.drivers[1].media_pair(), Some((addr(STR0M), addr(REF))));
    assert!(!l.sent.iter().any(|s| s.from == 1 && s.has_use_candidate()));
    let uc = l
        .sent
        .iter()
        .find(|s| s.from == 0 && s.has_use_candidate())
        .expect("the reference nominates");
    let selected_at = l
        .events
        .iter()
        .find(|(_, i, e)| *i == 1 && matches!(e, DriverEvent::Selected { .. }))
        .map(|(t, _, _)| *t)
        .expect("str0m selects");
    assert!(selected_at >= uc.at + l.delay);
}
