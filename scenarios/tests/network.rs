//! Whole-run network behaviours that scenario expectations cannot state: which candidates a same-LAN
//! call uses, and a client whose firewall blocks its XMPP server.

use std::path::Path;
use std::sync::Arc;

use harness::conform::{run_one, spec_from_id};
use harness::net::firewall::{Action, FirewallSpec};
use harness::net::nat_profiles;
use harness::run::run;
use harness::trace::TraceKind;

fn dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn a_same_lan_call_selects_host_candidates_on_both_sides() {
    let registry = impl_catalog::registry();
    let id = "basic/same-lan/reference->reference/port-restricted-cone+port-restricted-cone/seed-1";
    let spec = spec_from_id(dir(), id, &registry).unwrap();
    let r = run_one(&spec, &registry);
    assert_eq!(r.outcome, "connected", "{:?}", r.expectation);
    let p = r.selected_pair.expect("a selected pair");
    for side in [&p.caller, &p.callee] {
        assert_eq!((side.local.as_str(), side.remote.as_str()), ("host", "host"), "{p:?}");
    }
}

#[test]
fn a_client_whose_firewall_blocks_5222_and_443_never_logs_in() {
    let registry = impl_catalog::registry();
    let id = "basic/audio-call/reference->reference/port-restricted-cone+port-restricted-cone/seed-1";
    let mut spec = spec_from_id(dir(), id, &registry).unwrap();
    let mut closed = nat_profiles()["port-restricted-cone"].clone();
    closed.firewall = Some(FirewallSpec {
        rules: vec![],
        default: Action::Deny,
        udp_state_lifetime_ms: 120_000,
    });
    spec.parties[1].nat = closed;
    spec.scenario = Arc::new((*spec.scenario).clone());
    let out = run(&spec, &registry).unwrap();
    let blocked = out
        .trace
        .events
        .iter()
        .any(|e| matches!(&e.kind, TraceKind::Dropped { reason, .. } if reason.contains("callee cannot log in")));
    assert!(blocked, "the failed login is recorded");
    let callee_sent = out
        .trace
        .events
        .iter()
        .filter(
            |e| matches!(&e.kind, TraceKind::Stanza { party, dir: harness::trace::Dir::Tx, .. } if party == "callee"),
        )
        .count();
    assert_eq!(callee_sent, 0);
    // The caller still logged in and proposed; the call never connects.
    assert!(out
        .trace
        .events
        .iter()
        .any(|e| matches!(&e.kind, TraceKind::Stanza { party, .. } if party == "caller")));
    assert_ne!(harness::report::judge(&out).outcome, "connected");
}

#[test]
fn the_ladder_diagram_is_well_formed_svg_with_the_call_on_it() {
    let registry = impl_catalog::registry();
    let id = "basic/audio-call/reference->reference/port-restricted-cone+port-restricted-cone/seed-1";
    let spec = spec_from_id(dir(), id, &registry).unwrap();
    let out = run(&spec, &registry).unwrap();
    let svg = harness::ladder::render_svg(
        &out.trace,
        &out.parties,
        "192.0.2.10".parse().unwrap(),
        harness::run::TURN_IP.parse().unwrap(),
    );
    let root: minidom::Element = svg.parse().expect("well-formed XML");
    assert_eq!(root.name(), "svg");
    for needle in [
        ">caller<",
        ">callee<",
        ">xmpp<",
        "iq set session-initiate",
        "message chat propose",
        "Binding request USE-CANDIDATE",
        "Allocate error 401",
    ] {
        assert!(svg.contains(needle), "missing {needle}");
    }
}

#[test]
fn a_partys_own_signalling_latency_delays_only_its_stream() {
    let registry = impl_catalog::registry();
    let id = "basic/audio-call/reference->reference/port-restricted-cone+port-restricted-cone/seed-1";
    // Time the session-initiate takes from the caller's stream to the callee's: 40 + 40 ms by default
    // (network.signalling.latency 80ms), then with the callee on a 700 ms link. (Not the propose: at
    // t=0 it reaches the server before the slow callee's presence and waits offline.)
    let propose_flight = |callee_leg: Option<std::time::Duration>| {
        let mut spec = spec_from_id(dir(), id, &registry).unwrap();
        spec.parties[1].signalling_latency = callee_leg;
        let out = run(&spec, &registry).unwrap();
        let at = |party: &str, dir: harness::trace::Dir| {
            out.trace
                .events
                .iter()
                .find(|e| {
                    matches!(&e.kind, TraceKind::Stanza { party: p, dir: d, element, .. }
                        if p == party && *d == dir && element.get_child("jingle", harness::xml::ns::JINGLE)
                            .is_some_and(|j| j.attr("action") == Some("session-initiate")))
                })
                .map(|e| e.time)
                .expect("the session-initiate is on both streams")
        };
        at("callee", harness::trace::Dir::Rx) - at("caller", harness::trace::Dir::Tx)
    };
    assert_eq!(propose_flight(None).as_millis(), 80);
    assert_eq!(
        propose_flight(Some(std::time::Duration::from_millis(700))).as_millis(),
        740
    );
}
