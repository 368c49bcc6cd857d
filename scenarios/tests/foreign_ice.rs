//! The independent ICE stacks under the reference signalling connect to `reference` on
//! `basic/audio-call` with both parties behind port-restricted cone NATs, in both directions:
//! webrtc-rs `rtc-ice` (regular nomination) and str0m's `is` (renominates upward). str0m's runs
//! repeat byte for byte; rtc-ice's transaction IDs come from an unseedable thread RNG.

use std::path::Path;

use harness::conform::{run_one, spec_from_id};
use harness::report::RunReport;

fn run(caller: &str, callee: &str) -> RunReport {
    run_scenario("basic/audio-call", caller, callee)
}

fn run_scenario(scenario: &str, caller: &str, callee: &str) -> RunReport {
    let id = format!("{scenario}/{caller}->{callee}/port-restricted-cone+port-restricted-cone/seed-1");
    let registry = impl_catalog::registry();
    let spec = spec_from_id(Path::new(env!("CARGO_MANIFEST_DIR")), &id, &registry).expect("a run id of the suite");
    let r = run_one(&spec, &registry);
    assert_eq!(r.error, None, "{id}");
    r
}

fn connects(caller: &str, callee: &str) -> RunReport {
    connects_in("basic/audio-call", caller, callee)
}

fn connects_in(scenario: &str, caller: &str, callee: &str) -> RunReport {
    let r = run_scenario(scenario, caller, callee);
    assert_eq!(r.outcome, "connected", "{}: {:?}", r.id, r.checks);
    assert!(r.selected_pair.is_some(), "{}", r.id);
    r
}

#[test]
fn rtc_ice_calls_reference() {
    connects("rtc-ice", "reference");
}

#[test]
fn reference_calls_rtc_ice() {
    connects("reference", "rtc-ice");
}

#[test]
fn str0m_calls_reference() {
    connects("str0m", "reference");
}

#[test]
fn reference_calls_str0m() {
    connects("reference", "str0m");
}

#[test]
fn str0m_runs_repeat_their_trace_hash() {
    for (caller, callee) in [("str0m", "reference"), ("reference", "str0m")] {
        let a = connects(caller, callee);
        let b = run(caller, callee);
        assert_eq!(a.trace_hash, b.trace_hash, "{}", a.id);
    }
}

/// On one LAN the callee's checks reach the str0m caller before the session-accept does: `is`
/// queues them, answers one on its first `handle_timeout` and returns before recording the time,
/// so its `poll_timeout` stays `None`. str0m's `Rtc` runs that timer before every received
/// datagram, and so does the driver: the next check wakes it.
#[test]
fn str0m_calls_reference_on_the_same_lan_although_checks_beat_the_answer() {
    connects_in("basic/same-lan", "str0m", "reference");
}

/// rtc-ice's transaction ids are unseedable, so its runs hash with them masked, the report says so,
/// and two identical runs then give one hash; a run without rtc-ice masks nothing.
#[test]
fn rtc_ice_runs_repeat_their_masked_trace_hash_and_say_what_is_masked() {
    let registry = impl_catalog::registry();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let id = "basic/audio-call/rtc-ice->reference/port-restricted-cone+port-restricted-cone/seed-1";
    let spec = harness::conform::spec_from_id(dir, id, &registry).unwrap();
    let (a, b) = (
        harness::conform::run_one(&spec, &registry),
        harness::conform::run_one(&spec, &registry),
    );
    assert_eq!(a.outcome, "connected");
    assert_eq!(a.trace_hash, b.trace_hash, "masked hashes repeat");
    assert!(a
        .trace_hash_masks
        .as_deref()
        .is_some_and(|m| m.contains("STUN transaction ids")));
    let plain = "basic/audio-call/reference->reference/port-restricted-cone+port-restricted-cone/seed-1";
    let spec = harness::conform::spec_from_id(dir, plain, &registry).unwrap();
    assert_eq!(harness::conform::run_one(&spec, &registry).trace_hash_masks, None);
}

/// Asterisk checks from the moment the session-initiate arrives, before str0m has its credentials:
/// `is` queues those requests, and the driver must keep waking the agent until it asks for a timer
/// of its own, or str0m never sends a check (issue 23).
#[test]
fn str0m_checks_after_answering_queued_requests_on_a_shared_lan() {
    let registry = impl_catalog::registry();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let id = "basic/same-lan/str0m->asterisk-2021/port-restricted-cone+port-restricted-cone/seed-1";
    let spec = harness::conform::spec_from_id(dir, id, &registry).unwrap();
    let out = harness::run::run(&spec, &registry).unwrap();
    let names = ["caller".to_string(), "callee".to_string()];
    let wire = harness::wire::Wire::extract(&out.trace, &names);
    assert!(wire.checks_sent_by("caller").count() > 0, "str0m sent no check");
    assert_eq!(harness::report::judge(&out).outcome, "connected");
}
