//! Whole simulated calls: the default suite repeated over many seeds, and scenarios stretched in time
//! and in parties to show how the cost of one run scales.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use harness::conform::{self, Selection};
use harness::endpoint::Registry;
use harness::scenario::{expand, MatrixSpec, RunSpec, Scenario};
use harness::trace::TraceKind;

/// The default suite (every scenario, every pairing, as `cargo xtask conform` runs it) over seeds
/// `1..=seeds`.
///
/// Errors: the planning error, as text.
pub fn suite(scenarios: &Path, registry: &Registry, seeds: u64) -> Result<Vec<RunSpec>, String> {
    Ok(suite_plan(scenarios, registry, seeds)?.specs())
}

/// [`suite`] as the conformance job plans it: run ids, each spec built when its run starts.
///
/// Errors: the planning error, as text.
pub fn suite_plan(scenarios: &Path, registry: &Registry, seeds: u64) -> Result<conform::Plan, String> {
    select(scenarios, registry, seeds, Vec::new())
}

/// The basic call alone (`basic/audio-call`, every pairing) over seeds `1..=seeds`: a figure that does
/// not move when scenarios are added to the suite.
///
/// Errors: the planning error (e.g. the scenario is gone), as text.
pub fn basic(scenarios: &Path, registry: &Registry, seeds: u64) -> Result<Vec<RunSpec>, String> {
    Ok(select(scenarios, registry, seeds, vec![BASIC.to_string()])?.specs())
}

/// The scenario of [`basic`].
pub const BASIC: &str = "basic/audio-call";

/// The runs of the scenarios matching `globs` (every pairing) over seeds `1..=seeds`.
///
/// Errors: the planning error (e.g. a glob that matches nothing), as text.
pub fn select(scenarios: &Path, registry: &Registry, seeds: u64, globs: Vec<String>) -> Result<conform::Plan, String> {
    let sel = Selection {
        scenarios: globs,
        seeds: (1..=seeds.max(1)).collect(),
        ..Default::default()
    };
    conform::plan(scenarios, &sel, registry).map_err(|e| e.to_string())
}

/// One throughput measurement of whole runs.
#[derive(Clone, Debug)]
pub struct Throughput {
    /// Runs executed.
    pub runs: usize,
    /// Runs whose outcome was `connected` (media both ways).
    pub connected: usize,
    /// Runs that ended in `harness-error`.
    pub harness_errors: usize,
    /// Wall time.
    pub wall: Duration,
}

impl Throughput {
    /// Connected calls per wall second.
    pub fn calls_per_sec(&self) -> f64 {
        self.connected as f64 / self.wall.as_secs_f64()
    }
    /// Runs (whatever their outcome) per wall second.
    pub fn runs_per_sec(&self) -> f64 {
        self.runs as f64 / self.wall.as_secs_f64()
    }
}

/// Runs `runs` through the conformance job's own executor (run, judge, report model; no files) on `jobs`
/// worker threads.
pub fn throughput(runs: &[RunSpec], registry: &Registry, jobs: usize) -> Throughput {
    let started = Instant::now();
    let report = conform::execute(runs, registry, jobs, None, &|_, _, _| {});
    let wall = started.elapsed();
    Throughput {
        runs: report.runs.len(),
        connected: report.runs.iter().filter(|r| r.outcome == "connected").count(),
        harness_errors: report.runs.iter().filter(|r| r.outcome == "harness-error").count(),
        wall,
    }
}

/// Runs `runs` on this thread as the conformance job does, trace freed after each, but judges none: no
/// checks, no trace hash, no report. Against [`throughput`] over the same runs on one core, the wall
/// time splits a run's cost between simulating and judging: what a judge that cost nothing would give.
///
/// Returns the wall time. Errors: no run could be carried out (every one a harness error or a
/// panic), so nothing was measured.
pub fn simulation_only(runs: &[RunSpec], registry: &Registry) -> Result<Duration, String> {
    let started = Instant::now();
    let mut simulated = 0usize;
    for spec in runs {
        // A panicking run is the conformance job's harness error; here it is one run not counted.
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| harness::run::run(spec, registry)));
        if let Ok(Ok(out)) = r {
            simulated += 1;
            out.trace.recycle();
        }
    }
    let wall = started.elapsed();
    if simulated == 0 {
        return Err(format!(
            "simulation only: none of {} runs could be carried out",
            runs.len()
        ));
    }
    Ok(wall)
}

/// A scenario for the scaling series: `pairs` independent calls (caller→callee, caller2→callee2, …),
/// every party behind a port-restricted cone NAT, answered at 3 s, hung up at `hangup`, then `settle`
/// of simulated time. Pair 1 is the basic audio call of `scenarios/basic/audio-call.yaml`.
pub fn scaling_scenario(pairs: usize, devices: usize, hangup: Duration, settle: Duration) -> Result<Scenario, String> {
    let mut parties = String::new();
    let mut script = String::new();
    let name = |k: usize, role: &str| if k == 1 { role.to_string() } else { format!("{role}{k}") };
    for k in 1..=pairs {
        parties += &format!(
            "  {}: {{impl: $under_test, nat: port-restricted-cone}}\n  {}: {{impl: $peer, nat: port-restricted-cone, devices: {devices}}}\n",
            name(k, "caller"),
            name(k, "callee")
        );
    }
    // Steps must be in time order: every call, then every answer, then every hang-up.
    for k in 1..=pairs {
        script += &format!(
            "  - {{at: 0s, {}: call, to: {}, media: [audio]}}\n",
            name(k, "caller"),
            name(k, "callee")
        );
    }
    for k in 1..=pairs {
        script += &format!("  - {{at: 3s, {}: answer}}\n", name(k, "callee"));
    }
    for k in 1..=pairs {
        script += &format!("  - {{at: {}ms, {}: hangup}}\n", hangup.as_millis(), name(k, "caller"));
    }
    let yaml = format!(
        "id: bench/scaling\ntitle: bench scaling\nparties:\n{parties}network:\n  signalling: {{latency: 80ms}}\n  \
         media: {{latency: 40ms}}\nservers:\n  stun: true\nscript:\n{script}settle: {}ms\nexpect:\n  outcome: connected\n",
        settle.as_millis()
    );
    Scenario::parse(Path::new("<bench>"), &yaml, None).map_err(|e| format!("{e}\n{yaml}"))
}

/// The one run of `sc` with the first registered implementation on every side, seed 1.
pub fn scaling_run(sc: Scenario, registry: &Registry) -> Result<RunSpec, String> {
    let name = registry
        .entries()
        .first()
        .map(|e| e.name.clone())
        .ok_or("no implementation is registered")?;
    let m = MatrixSpec {
        pairings: vec![(name.clone(), name)],
        nat_override: None,
        seeds: vec![1],
    };
    expand(&Arc::new(sc), &m)
        .into_iter()
        .next()
        .ok_or_else(|| "the scaling scenario expanded to no run".to_string())
}

/// One point of a scaling series.
#[derive(Clone, Debug)]
pub struct Point {
    /// Best wall time of one run (run + judge) over the repetitions.
    pub wall: Duration,
    /// Trace events of the run.
    pub trace_events: usize,
    /// Calls that reached `call-state connected` on both sides, by the endpoints' claims (the judge
    /// scores only caller and callee; the claims cover every pair).
    pub connected_calls: usize,
}

/// Runs `spec` `reps` times (run and judge, as the conformance job does) and keeps the best time.
///
/// Errors: a harness error of the run.
pub fn time_run(spec: &RunSpec, registry: &Registry, reps: usize) -> Result<Point, String> {
    let mut best = Duration::MAX;
    let mut point = None;
    for _ in 0..reps.max(1) {
        let started = Instant::now();
        let out = harness::run::run(spec, registry).map_err(|e| e.to_string())?;
        let rep = harness::report::judge(&out);
        let wall = started.elapsed();
        std::hint::black_box(&rep);
        best = best.min(wall);
        if point.is_none() {
            let connected_parties = out
                .trace
                .events
                .iter()
                .filter(|e| matches!(&e.kind, TraceKind::Claim { claim, .. } if claim == "call-state connected"))
                .count();
            point = Some((out.trace.events.len(), connected_parties / 2));
        }
    }
    let (trace_events, connected_calls) = point.expect("at least one repetition");
    Ok(Point {
        wall: best,
        trace_events,
        connected_calls,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulation_only_times_runs_and_refuses_to_time_nothing() {
        let registry = impl_catalog::registry();
        let sc = scaling_scenario(1, 1, Duration::from_secs(5), Duration::from_secs(1)).unwrap();
        let spec = scaling_run(sc, &registry).unwrap();
        assert!(simulation_only(std::slice::from_ref(&spec), &registry).is_ok());
        // Nothing to run, or nothing that can run (no implementation registered): no figure.
        assert!(simulation_only(&[], &registry).is_err());
        let err = simulation_only(&[spec], &Registry::new()).unwrap_err();
        assert!(err.contains("none of 1 runs"), "{err}");
    }

    #[test]
    fn scaling_scenario_parses_and_expands_to_one_run_with_every_party() {
        let sc = scaling_scenario(3, 1, Duration::from_secs(60), Duration::from_secs(600)).unwrap();
        assert_eq!(sc.deadline(), Duration::from_secs(660));
        let spec = scaling_run(sc, &impl_catalog::registry()).unwrap();
        let names: Vec<_> = spec.parties.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["caller", "callee", "caller2", "callee2", "caller3", "callee3"]);
    }
}
