//! The live section of `cargo xtask bench`: with 1, 4 and 8 concurrent `reference-live` calls
//! (each against the simulated reference, through port-restricted cone NATs on both sides), how
//! late queued events ran against their scheduled time and how long datagrams spent in the TUN path.
//! Live mode needs root; without it the section says so and measures nothing.

use std::path::Path;

use harness::conform::{self, Selection};
use harness::endpoint::Registry;
use harness::report::RunReport;
use serde_json::{json, Value};

/// The short call the live figures are taken over (answer at 1 s, hang up at 6 s).
const SCENARIO: &str = "live/short-call";

/// The p99 lateness target with 8 concurrent calls, µs (issue 26).
pub const TARGET_P99_US: u64 = 2_000;

/// The figures of one concurrency.
pub struct Point {
    /// Concurrent calls.
    pub calls: usize,
    /// Runs done, and how many connected.
    pub runs: usize,
    pub connected: usize,
    /// Lateness of queued events, µs: median of the runs' medians, worst p99, worst.
    pub lateness: (u64, u64, u64),
    /// Inbound TUN path, µs: median of medians, worst p99.
    pub tun_in: (u64, u64),
    /// Outbound TUN write, µs: median of medians, worst p99.
    pub tun_out: (u64, u64),
}

impl Point {
    pub fn to_json(&self) -> Value {
        json!({
            "concurrent_calls": self.calls,
            "runs": self.runs,
            "connected": self.connected,
            "lateness_us": {"p50": self.lateness.0, "p99_worst_run": self.lateness.1, "max": self.lateness.2},
            "tun_in_us": {"p50": self.tun_in.0, "p99_worst_run": self.tun_in.1},
            "tun_out_us": {"p50": self.tun_out.0, "p99_worst_run": self.tun_out.1},
        })
    }
}

fn median(mut v: Vec<u64>) -> u64 {
    harness::run::Percentiles::of(&mut v).p50
}

/// Measures `calls` concurrent live calls: `max(calls, 2)` runs (both roles) on `calls` workers.
///
/// Errors: a plan that does not load, or a run that is not live (nothing measured).
pub fn measure(registry: &Registry, scenarios: &Path, live_scenarios: &Path, calls: usize) -> Result<Point, String> {
    let sel = Selection {
        under_test: Some(live::REFERENCE_LIVE.into()),
        peers: vec!["reference".into()],
        scenarios: vec![SCENARIO.into()],
        scenario_dirs: vec![live_scenarios.to_path_buf()],
        nats: vec!["port-restricted-cone".into()],
        seeds: vec![1],
        ..Selection::default()
    };
    let plan = conform::plan(scenarios, &sel, registry)
        .map_err(|e| e.to_string())?
        .repeat_live(calls.div_ceil(2) as u32, registry);
    let runs: Vec<RunReport> = conform::execute(&plan.specs(), registry, calls, None, &|_, _, _| {}).runs;
    let stats: Vec<_> = runs.iter().filter_map(|r| r.live.clone()).collect();
    if stats.len() != runs.len() || runs.is_empty() {
        let why: Vec<_> = runs.iter().filter_map(|r| r.error.clone()).collect();
        return Err(format!("live runs did not run: {}", why.join("; ")));
    }
    Ok(Point {
        calls,
        runs: runs.len(),
        connected: runs.iter().filter(|r| r.outcome == "connected").count(),
        lateness: (
            median(stats.iter().map(|s| s.lateness_us.p50).collect()),
            stats.iter().map(|s| s.lateness_us.p99).max().unwrap_or(0),
            stats.iter().map(|s| s.lateness_us.max).max().unwrap_or(0),
        ),
        tun_in: (
            median(stats.iter().map(|s| s.tun_in_us.p50).collect()),
            stats.iter().map(|s| s.tun_in_us.p99).max().unwrap_or(0),
        ),
        tun_out: (
            median(stats.iter().map(|s| s.tun_out_us.p50).collect()),
            stats.iter().map(|s| s.tun_out_us.p99).max().unwrap_or(0),
        ),
    })
}
