//! Live mode, end to end (needs root: network namespaces and TUN devices; run with `--ignored`,
//! as `.ci/run` does). Calls are short (answer at 1 s, hang up at 6 s) because they take real time,
//! and run eight at once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use harness::checks::Verdict;
use harness::conform::{self, Selection};
use harness::endpoint::Registry;
use harness::report::RunReport;

/// The tests of this file run one at a time: each checks that no namespace is left, which another
/// test's runs in the same process would make false, and live runs take real time on shared cores.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn registry() -> Registry {
    let mut r = impl_catalog::registry();
    live::register_reference_live(&mut r, vec![env!("CARGO_BIN_EXE_reference-live").to_string()]);
    r
}

fn library() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios")
}

fn own_scenarios() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios")
}

/// Runs `sel` over the library and this crate's scenarios, live runs `repeat` times, 8 at once.
fn run(sel: Selection, repeat: u32, registry: &Registry) -> Vec<RunReport> {
    let sel = Selection {
        scenario_dirs: vec![own_scenarios()],
        seeds: vec![1],
        ..sel
    };
    let plan = conform::plan(&library(), &sel, registry)
        .expect("plan")
        .repeat_live(repeat, registry);
    assert!(!plan.is_empty());
    conform::execute(&plan.specs(), registry, 8, None, &|_, _, _| {}).runs
}

/// What parity compares: outcome, selected candidate types, every check's verdict but the DTLS
/// checks'.
fn summary(r: &RunReport) -> (String, String, BTreeMap<String, Verdict>) {
    (
        r.outcome.clone(),
        serde_json::to_string(&r.selected_pair).unwrap(),
        r.checks
            .iter()
            // The reference does DTLS-SRTP in live runs only (impls/reference/src/dtls.rs): the
            // DTLS checks pass live and are inconclusive simulated, by design.
            .filter(|c| !c.id.starts_with("dtls."))
            .map(|c| (c.id.clone(), c.verdict))
            .collect(),
    )
}

/// The pairing and NAT part of a run id, without seed and repetition.
fn cell(id: &str) -> String {
    let r = harness::scenario::RunId::parse(id).unwrap();
    format!("{}/{}", r.scenario, r.nats.join("+"))
}

#[test]
#[ignore = "needs root (network namespaces, TUN devices); .ci/run runs it"]
fn reference_live_matches_the_simulated_reference_in_ten_of_ten_repetitions() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    assert!(harness::live::privileged(), "{}", harness::live::NEEDS_ROOT);
    let registry = registry();
    let scenarios = vec!["live/short-call*".to_string()];
    // The simulated reference against itself: what every live pairing must reproduce.
    let simulated: BTreeMap<String, _> = run(
        Selection {
            under_test: Some("reference".into()),
            peers: vec!["reference".into()],
            scenarios: scenarios.clone(),
            ..Selection::default()
        },
        1,
        &registry,
    )
    .iter()
    .map(|r| (cell(&r.id), summary(r)))
    .collect();
    assert_eq!(simulated.len(), 2, "{simulated:?}");
    let live = run(
        Selection {
            under_test: Some("reference-live".into()),
            peers: vec!["reference".into(), "reference-live".into()],
            scenarios,
            ..Selection::default()
        },
        10,
        &registry,
    );
    // 3 pairings (as caller, as callee, against itself) × 2 scenarios × 10 repetitions.
    assert_eq!(live.len(), 60);
    let mut differ = Vec::new();
    for r in &live {
        assert_eq!(r.mode.as_deref(), Some("live"), "{}", r.id);
        assert!(r.live.as_ref().is_some_and(|l| l.wall_clock_ms > 6_000), "{}", r.id);
        // Live, the reference does its DTLS-SRTP handshake, in the roles the answer gave.
        let roles = r
            .checks
            .iter()
            .find(|c| c.id == "dtls.setup-roles")
            .expect("the roles check");
        assert_eq!(roles.verdict, Verdict::Pass, "{}: {}", r.id, roles.detail);
        let want = &simulated[&cell(&r.id)];
        let got = summary(r);
        if &got != want {
            let checks: Vec<String> = got
                .2
                .iter()
                .filter(|(id, v)| want.2.get(*id) != Some(*v))
                .map(|(id, v)| format!("{id}: {v:?}, simulated {:?}", want.2.get(id)))
                .collect();
            differ.push(format!(
                "{}: outcome {} (simulated {}), pair {} (simulated {}); {}",
                r.id,
                got.0,
                want.0,
                got.1,
                want.1,
                checks.join("; ")
            ));
        }
    }
    assert!(
        differ.is_empty(),
        "{} of 60 live runs differ:\n{}",
        differ.len(),
        differ.join("\n")
    );
    assert!(
        harness::live::existing().is_empty(),
        "namespaces left: {:?}",
        harness::live::existing()
    );
}

/// A program that is not what it claims: each failure is one recorded violation naming the party,
/// with the evidence, and the run ends; the peer's run goes on.
#[test]
#[ignore = "needs root (network namespaces, TUN devices); .ci/run runs it"]
fn a_broken_live_program_is_a_recorded_violation_and_the_run_ends() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    assert!(harness::live::privileged(), "{}", harness::live::NEEDS_ROOT);
    let mut registry = registry();
    let cases = [
        ("sh -c 'echo this is not json; sleep 30'", "is not json"),
        ("sh -c 'exit 3'", "exited (exit status: 3)"),
        ("/nonexistent/program", "exited"),
        ("sleep 30", "no line within 10s of config"),
    ];
    let names: Vec<String> = cases
        .iter()
        .map(|(cmd, _)| live::resolve(&mut registry, &format!("live:{cmd}")).unwrap())
        .collect();
    let runs = run(
        Selection {
            under_test: Some("reference".into()),
            peers: names.clone(),
            scenarios: vec!["live/short-call".into()],
            ..Selection::default()
        },
        1,
        &registry,
    );
    assert_eq!(runs.len(), 2 * cases.len());
    for r in &runs {
        assert!(r.error.is_none(), "{}: {:?}", r.id, r.error);
        assert_eq!(r.mode.as_deref(), Some("live"));
        // At most its deadline (6 s + 4 s settle) plus the start limit.
        assert!(r.live.as_ref().unwrap().wall_clock_ms < 25_000, "{}", r.id);
        assert_ne!(r.outcome, "connected", "{}", r.id);
    }
    assert!(
        harness::live::existing().is_empty(),
        "namespaces left: {:?}",
        harness::live::existing()
    );
    // The violation itself is in the trace: rerun one case and read it.
    for ((_, evidence), name) in cases.iter().zip(&names) {
        let id = format!("live/short-call/reference->{name}/port-restricted-cone+port-restricted-cone/seed-1");
        let spec = conform::spec_from_id_in(&library(), &[own_scenarios()], &id, &registry).unwrap();
        let out = harness::run::run(&spec, &registry).unwrap();
        let violations: Vec<String> = out
            .trace
            .events
            .iter()
            .filter_map(|e| match &e.kind {
                harness::trace::TraceKind::Violation { party, what } if party == "callee" => Some(what.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(violations.len(), 1, "{name}: {violations:?}");
        assert!(violations[0].contains(evidence), "{name}: {violations:?}");
    }
}
