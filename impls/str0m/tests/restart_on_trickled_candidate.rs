//! The `restart-on-each-trickled-candidate` knob makes the session logic restart the agent with the
//! candidates of each transport-info (docs/field-failures.md §Firefox component 2 and per-candidate
//! restarts). A foreign stack does it with its own ICE-restart call (`is`'s own `ice_restart`):
//! pairs are dropped, checks start again and the pair is selected anew.

mod common;

use common::*;
use harness::SimTime;
use reference::ice::DriverEvent;

#[test]
fn after_a_restart_the_stack_checks_again_and_selects_the_pair_again() {
    let mut l = run(true, 1, 3000);
    assert_eq!(l.drivers[0].selected(), Some((addr(STR0M), addr(REF))));
    let restart_at = SimTime::from_millis(3000);
    l.drivers[0].restart_with_remote_candidates(restart_at, vec![host(REF)]);
    assert_eq!(l.drivers[0].remote_candidates().len(), 1);
    l.run_until(SimTime::from_millis(6000));
    let checks_after = l
        .sent
        .iter()
        .filter(|s| s.from == 0 && s.at >= restart_at && s.is_request())
        .count();
    assert!(checks_after > 0, "no check after the restart");
    let selected_after = l
        .events
        .iter()
        .filter(|(t, i, e)| *i == 0 && *t >= restart_at && matches!(e, DriverEvent::Selected { .. }))
        .count();
    assert!(selected_after >= 1, "{:?}", l.events);
    assert_eq!(l.drivers[0].selected(), Some((addr(STR0M), addr(REF))));
}
