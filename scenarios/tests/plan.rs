//! The plan holds run ids and rebuilds each spec from its id when the run starts: the rebuilt spec
//! must be the one the matrix expansion made, for every run of the default suite.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use harness::conform::{plan, Selection};
use harness::scenario::{expand, MatrixSpec, Scenario};

#[test]
fn specs_rebuilt_from_run_ids_equal_the_expanded_ones() {
    let registry = impl_catalog::registry();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let sel = Selection {
        seeds: vec![1, 2],
        ..Default::default()
    };
    let p = plan(dir, &sel, &registry).unwrap();
    let names: Vec<String> = registry.entries().iter().map(|e| e.name.clone()).collect();
    let m = MatrixSpec {
        pairings: names
            .iter()
            .flat_map(|a| names.iter().map(move |b| (a.clone(), b.clone())))
            .collect(),
        nat_override: None,
        seeds: vec![1, 2],
    };
    let mut expanded = BTreeMap::new();
    for sc in Scenario::load_dir(dir).unwrap() {
        for r in expand(&Arc::new(sc), &m) {
            expanded.insert(r.id.clone(), format!("{r:?}"));
        }
    }
    assert_eq!(p.len(), expanded.len());
    assert!(p.len() > 100, "the default suite has {} runs over two seeds", p.len());
    for (i, (id, want)) in expanded.iter().enumerate() {
        assert_eq!(&p.id(i), id, "plan order is id order");
        assert_eq!(&format!("{:?}", p.spec(i)), want, "run {id}");
    }
}

/// Parties on one LAN share its NAT chain: `--nat` (or NAT lists) never labels a run with a NAT
/// one of them is not behind (issue 23).
#[test]
fn nat_override_on_a_shared_lan_applies_to_the_lan_as_one() {
    let registry = impl_catalog::registry();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let sel = Selection {
        under_test: Some("reference".into()),
        peers: vec!["reference".into()],
        nats: vec!["open".into(), "symmetric".into()],
        scenarios: vec!["basic/same-lan".into()],
        ..Default::default()
    };
    let p = plan(dir, &sel, &registry).unwrap();
    let ids: Vec<String> = (0..p.len()).map(|i| p.id(i)).collect();
    assert_eq!(
        ids,
        [
            "basic/same-lan/reference->reference/open+open/seed-1",
            "basic/same-lan/reference->reference/symmetric+symmetric/seed-1",
        ]
    );
}

/// Errors only the plan can find (names the registry does not know, knob values an implementation
/// refuses) point at the scenario's line like parse errors, and never panic (issue 23).
#[test]
fn unknown_implementations_and_bad_knobs_are_the_file_s_errors_at_their_line() {
    let registry = impl_catalog::registry();
    let dir = std::env::temp_dir().join(format!("ji-plan-bad-{}", std::process::id()));
    let base = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("basic/audio-call.yaml"))
        .unwrap()
        .replace("id: basic/audio-call", "id: t/x");
    let cases = [
        (
            "impl: $under_test, nat: port-restricted-cone}",
            "impl: nosuch, nat: port-restricted-cone}",
            "parties.caller.impl",
            "unknown implementation `nosuch`",
        ),
        (
            "impl: $under_test, nat: port-restricted-cone}",
            "impl: nosuch, nat: port-restricted-cone, knobs: {trickle: false}}",
            "parties.caller.impl",
            "unknown implementation `nosuch`",
        ),
        (
            "impl: $under_test, nat: port-restricted-cone}",
            "impl: reference, nat: port-restricted-cone, knobs: {trickle: maybe}}",
            "parties.caller.knobs.trickle",
            "takes true or false",
        ),
        (
            "impl: $under_test, nat: port-restricted-cone}",
            "impl: $under_test, nat: port-restricted-cone, knobs: {no-such-knob: 1}}",
            "parties.caller.knobs.no-such-knob",
            "no knob `no-such-knob`",
        ),
    ];
    for (from, to, path, message) in cases {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("t")).unwrap();
        let text = base.replacen(from, to, 1);
        assert_ne!(text, base);
        std::fs::write(dir.join("t/x.yaml"), &text).unwrap();
        let sel = Selection {
            under_test: Some("reference".into()),
            ..Default::default()
        };
        let e = match plan(&dir, &sel, &registry) {
            Err(harness::conform::InputError::Scenario(e)) => e,
            Err(other) => panic!("{to}: not a scenario error: {other}"),
            Ok(_) => panic!("{to}: planned"),
        };
        assert_eq!(e.path.as_deref(), Some(path), "{e}");
        assert_eq!(e.line, Some(5), "{e}");
        assert!(e.column.is_some(), "{e}");
        assert!(e.message.contains(message), "{e}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `--scenarios DIR`: a client project's own scenarios run beside the library, ids relative to
/// their folder; an id in two folders is bad input (issue 24).
#[test]
fn scenarios_of_one_s_own_join_the_library_and_a_clash_of_ids_is_refused() {
    let registry = impl_catalog::registry();
    let lib = Path::new(env!("CARGO_MANIFEST_DIR"));
    let own = std::env::temp_dir().join(format!("ji-own-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&own);
    std::fs::create_dir_all(own.join("calls")).unwrap();
    let text = std::fs::read_to_string(lib.join("basic/audio-call.yaml")).unwrap();
    std::fs::write(
        own.join("calls/mine.yaml"),
        text.replace("id: basic/audio-call", "id: calls/mine"),
    )
    .unwrap();
    let sel = Selection {
        under_test: Some("reference".into()),
        peers: vec!["reference".into()],
        scenarios: vec!["calls/*".into()],
        scenario_dirs: vec![own.clone()],
        ..Default::default()
    };
    let p = plan(lib, &sel, &registry).unwrap();
    assert_eq!(p.len(), 1);
    assert_eq!(
        p.id(0),
        "calls/mine/reference->reference/port-restricted-cone+port-restricted-cone/seed-1"
    );
    let spec = harness::conform::spec_from_id_in(lib, std::slice::from_ref(&own), &p.id(0), &registry).unwrap();
    assert_eq!(spec.scenario.id, "calls/mine");
    // Its replay command names the folder, so it can be re-run; a library run's does not.
    let rep = harness::conform::run_one(&spec, &registry);
    assert_eq!(
        rep.replay,
        format!("cargo xtask replay --scenarios '{}' '{}'", own.display(), p.id(0))
    );
    assert_eq!(rep.outcome, "connected", "{:?}", rep.expectation);
    let lib_spec =
        harness::conform::spec_from_id(lib, &p.id(0).replace("calls/mine", "basic/audio-call"), &registry).unwrap();
    assert!(!harness::conform::run_one(&lib_spec, &registry)
        .replay
        .contains("--scenarios"));
    // The same id as a library scenario: refused.
    std::fs::create_dir_all(own.join("basic")).unwrap();
    std::fs::write(own.join("basic/audio-call.yaml"), &text).unwrap();
    let e = plan(lib, &sel, &registry).expect_err("a clash");
    assert!(
        e.to_string().contains("scenario id `basic/audio-call` is in both"),
        "{e}"
    );
    std::fs::remove_dir_all(&own).unwrap();
}
