//! `cargo xtask bench`: how fast and how lean the simulator is, measured from outside.
//!
//! Wall time is read here, with `std::time::Instant`, around whole runs and workloads; the simulator
//! itself never reads a clock. Figures (issue 9): calls per second on one core and on all cores over the
//! default suite repeated across seeds; events per second of the simulator core on a synthetic
//! workload; a side-by-side ring workload against turmoil; peak memory of one run and of the default
//! matrix (each in its own child process, so each has its own high-water mark), and at N and 10N runs;
//! time per run as simulated duration and parties grow. It prints a table and writes bench.json.

mod calls;
mod live;
mod memory;
mod turmoil_ring;
mod workload;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use clap::Args;
use harness::endpoint::Registry;
use serde_json::{json, Value};

pub use memory::{child, ChildArgs};
use workload::{Topology, Workload};

/// Arguments of `cargo xtask bench`.
#[derive(Args, Clone, Debug)]
pub struct BenchArgs {
    /// Fewer runs and repetitions: the whole bench in under a minute.
    #[arg(long)]
    pub quick: bool,
    /// Where bench.json goes.
    #[arg(long, default_value = "reports/bench/bench.json")]
    pub out: PathBuf,
    /// Measure this binary as it was built even without optimizations (by default a dev build re-runs
    /// the bench through `cargo run --release`, so the numbers are the ones users get).
    #[arg(long)]
    pub as_built: bool,
    /// Scenario folder whose default suite is measured (default: the workspace's scenarios/).
    #[arg(long)]
    pub scenarios: Option<PathBuf>,
}

/// Issue 9's targets.
const TARGET_CALLS_PER_CORE: f64 = 1000.0;
const TARGET_TURMOIL_RATIO: f64 = 100.0;
const TARGET_MATRIX_SECS: f64 = 10.0;
const TARGET_PEAK_MB: f64 = 100.0;
/// "Flat in the number of runs": 10× the runs may raise the peak by at most this fraction, or by
/// [`FLAT_SLACK_MB`] when that is more (a few MB of baseline make a fraction alone too strict).
const FLAT_TOLERANCE: f64 = 0.10;
const FLAT_SLACK_MB: f64 = 1.0;
/// "Idle time costs nothing": 30 min of idle simulated time may cost at most this factor over 30 s.
const IDLE_TOLERANCE: f64 = 1.5;

fn flat(n_mb: f64, ten_n_mb: f64) -> bool {
    ten_n_mb - n_mb <= (n_mb * FLAT_TOLERANCE).max(FLAT_SLACK_MB)
}

/// How much work each figure does; `--quick` scales everything down.
struct Plan {
    /// Runs per calls-per-second measurement (rounded up to whole seeds of the suite).
    call_runs: usize,
    /// Repetitions of each timed measurement; the best is kept (others compile on this machine too).
    reps: usize,
    /// Synthetic workload hosts and simulated seconds.
    synth_hosts: usize,
    synth_secs: u64,
    /// Runs of the smaller matrix of the flat-memory comparison (N; the other is 10N), rounded up to
    /// whole seeds of the suite.
    mem_runs: usize,
    /// The scenario glob of the flat-memory comparison; `None`: the default suite. `--quick` uses
    /// `basic/audio-call` (a sixth of the suite per seed), so that its 10N stays within the minute.
    mem_scenario: Option<&'static str>,
    /// Repetitions of each scaling point.
    scale_reps: usize,
    /// Pops (each followed by a push) of the queue-only measurement.
    queue_ops: u64,
}

impl Plan {
    fn new(quick: bool) -> Plan {
        if quick {
            Plan {
                call_runs: 400,
                reps: 1,
                synth_hosts: 100,
                synth_secs: 30,
                mem_runs: 150,
                mem_scenario: Some(calls::BASIC),
                scale_reps: 1,
                queue_ops: 2_000_000,
            }
        } else {
            Plan {
                call_runs: 2000,
                reps: 3,
                synth_hosts: 200,
                synth_secs: 60,
                mem_runs: 500,
                mem_scenario: None,
                scale_reps: 3,
                queue_ops: 10_000_000,
            }
        }
    }
}

/// One line of the printed table.
struct Row {
    figure: String,
    value: String,
    target: String,
    met: Option<bool>,
}

fn row(figure: &str, value: String, target: &str, met: Option<bool>) -> Row {
    Row {
        figure: figure.into(),
        value,
        target: target.into(),
        met,
    }
}

fn progress(msg: &str) {
    eprintln!("bench: {msg}");
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// `cargo xtask bench`: measures every figure, prints the table, writes bench.json.
///
/// Exit status: 0 when every section measured something (missed targets are reported, not fatal); 3
/// when a section failed: a workload that ran nothing or delivered the wrong count (a benchmark that
/// measures nothing is a bug), a broken suite, or a run that ended in a harness error. The table and
/// bench.json are written either way, with the errors in them.
pub fn bench(a: &BenchArgs, registry: &Registry, scenarios: &Path) -> ExitCode {
    let out = if a.out.is_relative() {
        std::env::current_dir().unwrap_or_default().join(&a.out)
    } else {
        a.out.clone()
    };
    let scenarios = a.scenarios.as_deref().unwrap_or(scenarios);
    if cfg!(debug_assertions) && !a.as_built {
        return reexec_release(a, &out, scenarios);
    }
    match measure(a.quick, registry, scenarios, &out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(3)
        }
    }
}

/// Numbers from a dev build (opt-level 1, debug assertions) are several times off and would be
/// compared against the targets; re-running in release costs one build and keeps `cargo xtask bench`
/// honest. `--as-built` skips this.
fn reexec_release(a: &BenchArgs, out: &Path, scenarios: &Path) -> ExitCode {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .join("Cargo.toml");
    progress(
        "this binary is a dev build; re-running with `cargo run --release -p xtask -- bench` (--as-built skips this)",
    );
    let mut cmd = Command::new(cargo);
    cmd.args(["run", "--release", "--quiet", "-p", "xtask", "--manifest-path"])
        .arg(&manifest)
        .args(["--", "bench", "--out"])
        .arg(out)
        .arg("--scenarios")
        .arg(std::path::absolute(scenarios).unwrap_or_else(|_| scenarios.to_path_buf()));
    if a.quick {
        cmd.arg("--quick");
    }
    match cmd.status() {
        Ok(s) if s.success() => ExitCode::SUCCESS,
        Ok(s) => ExitCode::from(s.code().and_then(|c| u8::try_from(c).ok()).unwrap_or(3)),
        Err(e) => {
            eprintln!("error: could not run cargo: {e}");
            ExitCode::from(3)
        }
    }
}

/// The state the sections share: what to do, what was found.
struct Bench<'a> {
    plan: Plan,
    cores: usize,
    registry: &'a Registry,
    scenarios: &'a Path,
    /// bench.json, filled in as sections finish.
    j: serde_json::Map<String, Value>,
    rows: Vec<Row>,
}

fn measure(quick: bool, registry: &Registry, scenarios: &Path, out: &Path) -> Result<(), String> {
    let started = Instant::now();
    let mut b = Bench {
        plan: Plan::new(quick),
        cores: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        registry,
        scenarios,
        j: serde_json::Map::new(),
        rows: Vec::new(),
    };
    b.j.insert("schema".into(), json!("jingle-interop/bench/1"));
    b.j.insert("quick".into(), json!(quick));
    b.j.insert("cores".into(), json!(b.cores));
    b.j.insert(
        "build".into(),
        json!(if cfg!(debug_assertions) { "dev" } else { "release" }),
    );
    b.j.insert("harness_version".into(), json!(env!("CARGO_PKG_VERSION")));
    // Other work on the machine (builds) slows every figure; the load says how quiet it was.
    b.j.insert("loadavg_1min_at_start".into(), json!(loadavg()));
    // A section that fails is reported and the others still run: one broken scenario should not hide
    // every other figure. The exit status still says something failed.
    let mut errors = Vec::new();
    type Section<'a> = (&'static str, fn(&mut Bench<'a>) -> Result<(), String>);
    let sections: [Section; 6] = [
        ("calls/s", Bench::calls),
        ("events/s", Bench::events),
        ("side by side", Bench::side_by_side),
        ("memory", Bench::memory),
        ("scaling", Bench::scaling),
        ("live", Bench::live),
    ];
    for (name, f) in sections {
        if let Err(e) = f(&mut b) {
            progress(&format!("error ({name}): {e}"));
            // The table gets the start of the message; stderr and bench.json get all of it.
            let short: String = first_line(&e).chars().take(90).collect();
            b.rows.push(row(name, format!("ERROR: {short}…"), "", Some(false)));
            errors.push(format!("{name}: {e}"));
        }
    }
    let Bench { mut j, rows, cores, .. } = b;
    let targets: Vec<Value> = rows
        .iter()
        .filter(|r| r.met.is_some())
        .map(|r| json!({"figure": r.figure, "value": r.value, "target": r.target, "met": r.met}))
        .collect();
    j.insert("targets".into(), Value::Array(targets));
    j.insert("errors".into(), json!(errors));
    j.insert("loadavg_1min_at_end".into(), json!(loadavg()));
    j.insert("bench_wall_s".into(), json!(started.elapsed().as_secs_f64()));
    j.insert(
        "peak_rss_mb_bench_process".into(),
        json!(memory::status_kb("VmHWM").map(|k| k as f64 / 1024.0)),
    );
    print_table(&rows);
    if let Some(d) = out.parent() {
        std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
    }
    let text = serde_json::to_string_pretty(&Value::Object(j)).expect("bench.json serializes") + "\n";
    std::fs::write(out, text).map_err(|e| format!("{}: {e}", out.display()))?;
    println!(
        "bench.json: {} ({:.0} s{}, {cores} cores, load {:.1} at the end)",
        out.display(),
        started.elapsed().as_secs_f64(),
        if quick { ", --quick" } else { "" },
        loadavg().unwrap_or(0.0)
    );
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} section(s) failed:\n  {}",
            errors.len(),
            errors.join("\n  ")
        ))
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or_default()
}

impl Bench<'_> {
    /// Calls per second over the default suite, repeated across seeds, on one core and on all.
    fn calls(&mut self) -> Result<(), String> {
        let cores = self.cores;
        let per_seed = calls::suite(self.scenarios, self.registry, 1)?.len();
        if per_seed == 0 {
            return Err("the default suite has no run".into());
        }
        let seeds = self.plan.call_runs.div_ceil(per_seed) as u64;
        let runs = calls::suite(self.scenarios, self.registry, seeds)?;
        progress(&format!(
            "calls/s: {} runs ({per_seed} per seed × {seeds} seeds), one core then {cores}",
            runs.len()
        ));
        // Each repetition runs `between` after it: the unjudged runs go right after judged ones, so the
        // machine's drift touches both alike.
        let best =
            |jobs: usize, between: &mut dyn FnMut() -> Result<(), String>| -> Result<calls::Throughput, String> {
                let mut best: Option<calls::Throughput> = None;
                for _ in 0..self.plan.reps {
                    let t = calls::throughput(&runs, self.registry, jobs);
                    if t.connected == 0 {
                        return Err(format!(
                            "calls/s: {} runs produced no connected call ({} harness errors): nothing was measured",
                            t.runs, t.harness_errors
                        ));
                    }
                    if best.as_ref().is_none_or(|b| t.wall < b.wall) {
                        best = Some(t);
                    }
                    between()?;
                }
                Ok(best.expect("at least one repetition"))
            };
        // The same runs, one core, nothing judged: how far a judge that cost nothing would take calls/s.
        let mut sim_wall = Duration::MAX;
        let one = best(1, &mut || {
            sim_wall = sim_wall.min(calls::simulation_only(&runs, self.registry)?);
            Ok(())
        })?;
        let sim_runs_per_sec = runs.len() as f64 / sim_wall.as_secs_f64();
        let sim_calls_per_sec = sim_runs_per_sec * one.connected as f64 / one.runs as f64;
        let judge_share = 1.0 - sim_wall.as_secs_f64() / one.wall.as_secs_f64();
        let all = best(cores, &mut || Ok(()))?;
        if one.harness_errors + all.harness_errors > 0 {
            progress(&format!(
                "warning: {} runs ended in harness-error",
                one.harness_errors + all.harness_errors
            ));
        }
        // The basic call alone, one core: the issue's "gathering, signalling, ICE, 20 s of media,
        // trace and checks", independent of which other scenarios the suite holds.
        let basic_per_seed = calls::basic(self.scenarios, self.registry, 1)?.len().max(1);
        let basic_runs = calls::basic(
            self.scenarios,
            self.registry,
            self.plan.call_runs.div_ceil(basic_per_seed) as u64,
        )?;
        let mut basic: Option<calls::Throughput> = None;
        for _ in 0..self.plan.reps {
            let t = calls::throughput(&basic_runs, self.registry, 1);
            if t.connected == 0 {
                return Err(format!("{}: no run connected: nothing was measured", calls::BASIC));
            }
            if basic.as_ref().is_none_or(|b| t.wall < b.wall) {
                basic = Some(t);
            }
        }
        let basic = basic.expect("at least one repetition");
        let per_core_all = all.calls_per_sec() / cores as f64;
        self.j
            .insert("calls_per_sec_one_core".into(), json!(one.calls_per_sec()));
        self.j
            .insert("calls_per_sec_all_cores".into(), json!(all.calls_per_sec()));
        self.j.insert("runs_per_sec_one_core".into(), json!(one.runs_per_sec()));
        self.j
            .insert("runs_per_sec_all_cores".into(), json!(all.runs_per_sec()));
        self.j
            .insert("calls_per_sec_basic_one_core".into(), json!(basic.calls_per_sec()));
        self.j.insert(
            "calls".into(),
            json!({
                "suite_runs_per_seed": per_seed,
                "seeds": seeds,
                "runs": one.runs,
                "connected": one.connected,
                "harness_errors": one.harness_errors + all.harness_errors,
                "one_core": {"wall_s": one.wall.as_secs_f64(), "calls_per_sec": one.calls_per_sec(), "runs_per_sec": one.runs_per_sec()},
                "all_cores": {"jobs": cores, "wall_s": all.wall.as_secs_f64(), "calls_per_sec": all.calls_per_sec(),
                              "runs_per_sec": all.runs_per_sec(), "calls_per_sec_per_core": per_core_all},
                "speedup": one.wall.as_secs_f64() / all.wall.as_secs_f64(),
                "basic": {"scenario": calls::BASIC, "runs": basic.runs, "connected": basic.connected,
                          "wall_s": basic.wall.as_secs_f64(), "calls_per_sec_one_core": basic.calls_per_sec(),
                          "runs_per_sec_one_core": basic.runs_per_sec()},
                "simulation_only": {"wall_s": sim_wall.as_secs_f64(), "runs_per_sec": sim_runs_per_sec,
                                    "calls_per_sec_at_connect_rate": sim_calls_per_sec, "judge_share": judge_share,
                                    "note": "the same runs on one core, trace freed after each, nothing judged (no \
                                             checks, no trace hash, no report); calls at the judged run's connect rate"},
                "note": "calls = runs whose outcome is connected (media both ways); runs whose scenario expects \
                         failure count in runs_per_sec only",
            }),
        );
        self.rows.push(row(
            "calls/s, one core",
            format!(
                "{:.0} ({} of {} runs connected; {:.0} runs/s)",
                one.calls_per_sec(),
                one.connected,
                one.runs,
                one.runs_per_sec()
            ),
            "≥ 1000",
            Some(one.calls_per_sec() >= TARGET_CALLS_PER_CORE),
        ));
        self.rows.push(row(
            "  of which simulating (same runs, one core, nothing judged)",
            format!(
                "{sim_calls_per_sec:.0} at the same connect rate ({sim_runs_per_sec:.0} runs/s): judging (checks, trace hash, report) is {:.0}% of the time",
                100.0 * judge_share
            ),
            "—",
            None,
        ));
        self.rows.push(row(
            &format!("calls/s, one core, {} only", calls::BASIC),
            format!(
                "{:.0} ({} of {} runs connected; {:.0} runs/s)",
                basic.calls_per_sec(),
                basic.connected,
                basic.runs,
                basic.runs_per_sec()
            ),
            "≥ 1000",
            Some(basic.calls_per_sec() >= TARGET_CALLS_PER_CORE),
        ));
        self.rows.push(row(
            &format!("calls/s, all {cores} cores"),
            format!(
                "{:.0} ({:.0} per core; {:.0} runs/s)",
                all.calls_per_sec(),
                per_core_all,
                all.runs_per_sec()
            ),
            &format!("≥ {:.0}", TARGET_CALLS_PER_CORE * cores as f64),
            Some(per_core_all >= TARGET_CALLS_PER_CORE),
        ));
        Ok(())
    }

    /// Events per second of the simulator core, and of the queue alone.
    fn events(&mut self) -> Result<(), String> {
        let nats = harness::net::nat_profiles()
            .get("port-restricted-cone")
            .map(|p| p.nats.clone())
            .ok_or("no port-restricted-cone profile")?;
        let synth = Workload {
            hosts: self.plan.synth_hosts,
            topology: Topology::Pairs,
            interval: Duration::from_millis(20),
            duration: Duration::from_secs(self.plan.synth_secs),
            one_way: Duration::from_millis(40),
            nats,
        };
        progress(&format!(
            "events/s: {} hosts in NATed pairs, a datagram every 20 ms for {} s simulated",
            synth.hosts, self.plan.synth_secs
        ));
        let mut best_synth: Option<workload::Outcome> = None;
        for _ in 0..self.plan.reps {
            let o = workload::run(&synth);
            let want = synth.per_host() * synth.hosts as u64;
            if o.sent != want || o.delivered != want {
                return Err(format!(
                    "synthetic workload: sent {} delivered {}, expected {want} each",
                    o.sent, o.delivered
                ));
            }
            if best_synth.as_ref().is_none_or(|b| o.wall < b.wall) {
                best_synth = Some(o);
            }
        }
        let s = best_synth.expect("at least one repetition");
        let events_per_sec = s.events as f64 / s.wall.as_secs_f64();
        let (qops, qwall) = workload::queue_only(1000, self.plan.queue_ops);
        let queue_per_sec = qops as f64 / qwall.as_secs_f64();
        self.j.insert("events_per_sec".into(), json!(events_per_sec));
        self.j.insert(
            "events".into(),
            json!({
                "workload": format!("{} hosts, NATed pairs (port-restricted cone), 20 ms interval, {} s simulated, 40 ms one-way",
                                    synth.hosts, self.plan.synth_secs),
                "events": s.events, "datagrams": s.delivered, "trace_events": s.trace_events,
                "wall_s": s.wall.as_secs_f64(),
                "trace_events_per_sec": s.trace_events as f64 / s.wall.as_secs_f64(),
                "queue_only_events_per_sec": queue_per_sec,
            }),
        );
        self.rows.push(row(
            "events/s, simulator core (NAT pairs)",
            format!(
                "{:.2} M ({} trace events/event)",
                events_per_sec / 1e6,
                s.trace_events / s.events.max(1)
            ),
            "—",
            None,
        ));
        self.rows.push(row(
            "events/s, EventQueue alone",
            format!("{:.1} M", queue_per_sec / 1e6),
            "—",
            None,
        ));
        Ok(())
    }

    /// The ring workload on our core and on turmoil.
    fn side_by_side(&mut self) -> Result<(), String> {
        let mut sbs = Vec::new();
        for hosts in [2usize, 6] {
            let w = Workload {
                hosts,
                topology: Topology::Ring,
                interval: Duration::from_millis(20),
                duration: Duration::from_secs(30),
                one_way: Duration::from_millis(20),
                nats: Vec::new(),
            };
            let want = w.per_host() * hosts as u64;
            progress(&format!("side by side: {hosts} hosts, ours then turmoil (1 ms ticks)"));
            // Ours takes milliseconds, turmoil hundreds: time ours in batches of about 100 ms and take
            // the mean run of the best batch, so both sides get the same number of samples (reps)
            // over windows long enough for the clock and a busy machine.
            let check = |o: &workload::Outcome| {
                if o.sent != want || o.delivered != want {
                    return Err(format!(
                        "ring ({hosts} hosts, ours): sent {} delivered {}, expected {want} each",
                        o.sent, o.delivered
                    ));
                }
                Ok(())
            };
            let first = workload::run(&w);
            check(&first)?;
            let batch = (0.1 / first.wall.as_secs_f64().max(1e-6)).ceil().clamp(1.0, 10_000.0) as u32;
            let mut ours = Duration::MAX;
            for _ in 0..self.plan.reps {
                let t0 = Instant::now();
                for _ in 0..batch {
                    check(&workload::run(&w))?;
                }
                ours = ours.min(t0.elapsed() / batch);
            }
            let ours_events = first.events;
            let mut theirs = Duration::MAX;
            let mut ticks = 0;
            for _ in 0..self.plan.reps {
                let o = turmoil_ring::run(hosts, w.interval, w.duration, w.one_way, Duration::from_millis(1))?;
                if o.sent != want || o.received != want {
                    return Err(format!(
                        "ring ({hosts} hosts, turmoil): sent {} received {}, expected {want} each",
                        o.sent, o.received
                    ));
                }
                theirs = theirs.min(o.wall);
                ticks = o.ticks;
            }
            let ratio = theirs.as_secs_f64() / ours.as_secs_f64();
            self.j.insert(format!("turmoil_ratio_{hosts}_hosts"), json!(ratio));
            sbs.push(json!({
                "hosts": hosts, "datagrams": want, "simulated_s": 30, "interval_ms": 20, "one_way_ms": 20,
                "ours_ms": ms(ours), "ours_events": ours_events, "ours_batch": batch, "repetitions": self.plan.reps,
                "turmoil_ms": ms(theirs), "turmoil_ticks": ticks, "turmoil_tick_ms": 1,
                "ratio": ratio,
            }));
            self.rows.push(row(
                &format!("turmoil / ours, {hosts} hosts"),
                format!("{ratio:.0}× ({:.2} ms vs {:.1} ms)", ms(ours), ms(theirs)),
                "≥ 100×",
                Some(ratio >= TARGET_TURMOIL_RATIO),
            ));
        }
        self.j
            .insert("turmoil".into(), json!({"version": "0.7", "workloads": sbs}));
        Ok(())
    }

    /// Peak memory of one run, of the default matrix, and at N and 10N runs (child processes).
    fn memory(&mut self) -> Result<(), String> {
        progress("memory: one run, the default matrix, then N and 10N runs, each in a child process");
        let tmp = std::env::temp_dir().join(format!("jingle-bench-{}", std::process::id()));
        let dir = |name: &str| tmp.join(name).to_string_lossy().into_owned();
        let sc = self.scenarios.to_string_lossy();
        let child = |args: &[&str]| memory::spawn_child(&[args, &["--scenarios", &sc]].concat());
        let one_run = child(&["one-run"])?;
        let matrix = child(&["matrix", "--seeds", "1", "--out", &dir("default")])?;
        let (per_seed, only) = match self.plan.mem_scenario {
            Some(glob) => (
                calls::select(self.scenarios, self.registry, 1, vec![glob.into()])?.len(),
                vec!["--scenario", glob],
            ),
            None => (calls::suite(self.scenarios, self.registry, 1)?.len(), vec![]),
        };
        let n = self.plan.mem_runs.div_ceil(per_seed.max(1)) as u64;
        let (n_s, ten_n_s) = (n.to_string(), (10 * n).to_string());
        let small = child(&[&["matrix", "--seeds", &n_s, "--out", &dir("n")], &only[..]].concat())?;
        let large = child(&[&["matrix", "--seeds", &ten_n_s, "--out", &dir("10n")], &only[..]].concat())?;
        let small_d = child(&[&["discard", "--seeds", &n_s], &only[..]].concat())?;
        let large_d = child(&[&["discard", "--seeds", &ten_n_s], &only[..]].concat())?;
        let _ = std::fs::remove_dir_all(&tmp);
        for (what, c) in [
            ("one run", &one_run),
            ("default matrix", &matrix),
            ("N", &small),
            ("10N", &large),
            ("N discarded", &small_d),
            ("10N discarded", &large_d),
        ] {
            if c.connected == 0 {
                return Err(format!("memory ({what}): no run connected: nothing was measured"));
            }
        }
        let growth = (large.peak_rss_mb - small.peak_rss_mb) / small.peak_rss_mb;
        let per_1000 = (large.peak_rss_mb - small.peak_rss_mb) / ((large.runs - small.runs) as f64 / 1000.0);
        // What running adds on top of the planned run list, with every report dropped at once: the
        // simulator and judge alone.
        let running = |c: &memory::ChildReport| c.peak_rss_mb - c.after_plan_mb;
        let growth_run = (running(&large_d) - running(&small_d)) / running(&small_d).max(0.1);
        let flat_target = format!("flat (≤ +{:.0}% or +{FLAT_SLACK_MB} MB)", FLAT_TOLERANCE * 100.0);
        self.j.insert("peak_rss_mb_one_run".into(), json!(one_run.peak_rss_mb));
        self.j.insert("peak_rss_mb_matrix".into(), json!(matrix.peak_rss_mb));
        self.j
            .insert("default_matrix_wall_s".into(), json!(matrix.wall_ms / 1e3));
        self.j.insert(
            "memory".into(),
            json!({
                "default_matrix_runs": matrix.runs,
                "n_vs_10n_scenarios": self.plan.mem_scenario.unwrap_or("the default suite"),
                "conform_path": {
                    "n_runs": small.runs, "peak_rss_mb_n": small.peak_rss_mb, "planned_list_mb_n": small.after_plan_mb,
                    "wall_s_n": small.wall_ms / 1e3,
                    "ten_n_runs": large.runs, "peak_rss_mb_10n": large.peak_rss_mb,
                    "planned_list_mb_10n": large.after_plan_mb, "wall_s_10n": large.wall_ms / 1e3,
                    "growth_fraction": growth, "growth_mb_per_1000_runs": per_1000,
                },
                "reports_dropped": {
                    "peak_rss_mb_n": small_d.peak_rss_mb, "planned_list_mb_n": small_d.after_plan_mb,
                    "peak_rss_mb_10n": large_d.peak_rss_mb, "planned_list_mb_10n": large_d.after_plan_mb,
                    "running_mb_n": running(&small_d), "running_mb_10n": running(&large_d),
                    "running_growth_fraction": growth_run,
                },
                "note": "peak = VmHWM of a child process; planned_list = VmHWM after conform::plan, before running",
            }),
        );
        self.rows.push(row(
            "default matrix, wall (as `conform`)",
            format!("{:.2} s ({} runs)", matrix.wall_ms / 1e3, matrix.runs),
            "< 10 s",
            Some(matrix.wall_ms / 1e3 < TARGET_MATRIX_SECS),
        ));
        self.rows.push(row(
            "peak RSS, one run",
            format!("{:.1} MB", one_run.peak_rss_mb),
            "< 100 MB",
            Some(one_run.peak_rss_mb < TARGET_PEAK_MB),
        ));
        self.rows.push(row(
            "peak RSS, default matrix",
            format!("{:.1} MB", matrix.peak_rss_mb),
            "< 100 MB",
            Some(matrix.peak_rss_mb < TARGET_PEAK_MB),
        ));
        self.rows.push(row(
            "peak RSS, N vs 10N runs (conform)",
            format!(
                "{:.1} → {:.1} MB ({} → {} runs of {}, {:+.1} MB/1000 runs)",
                small.peak_rss_mb,
                large.peak_rss_mb,
                small.runs,
                large.runs,
                self.plan.mem_scenario.unwrap_or("the suite"),
                per_1000
            ),
            &flat_target,
            Some(flat(small.peak_rss_mb, large.peak_rss_mb) && large.peak_rss_mb < TARGET_PEAK_MB),
        ));
        self.rows.push(row(
            "  of which the planned run list",
            format!("{:.1} → {:.1} MB", small.after_plan_mb, large.after_plan_mb),
            "—",
            None,
        ));
        self.rows.push(row(
            "  running alone (reports dropped)",
            format!("{:.1} → {:.1} MB", running(&small_d), running(&large_d)),
            &flat_target,
            Some(flat(running(&small_d), running(&large_d))),
        ));
        Ok(())
    }

    /// Time per run as simulated duration and parties grow.
    fn scaling(&mut self) -> Result<(), String> {
        progress("scaling: idle time, media time, parties, devices");
        let reg = self.registry;
        let reps = self.plan.scale_reps;
        // Each point stands alone: a run that fails is reported and the series goes on.
        let mut errors = Vec::new();
        let mut point = |pairs: usize, devices: usize, hangup: Duration, settle: Duration| -> Option<calls::Point> {
            let r = calls::scaling_scenario(pairs, devices, hangup, settle)
                .and_then(|sc| calls::scaling_run(sc, reg))
                .and_then(|spec| calls::time_run(&spec, reg, reps));
            let what = format!(
                "{pairs} call(s) to {devices} device(s) each, hang-up at {} s, {} s simulated",
                hangup.as_secs(),
                (hangup + settle).as_secs()
            );
            match r {
                Ok(p) if p.connected_calls == 0 => {
                    errors.push(format!("{what}: no call connected: nothing was measured"));
                    None
                }
                Ok(p) => Some(p),
                Err(e) => {
                    errors.push(format!("{what}: {}", first_line(&e)));
                    None
                }
            }
        };
        let fmt_ms =
            |p: &Option<calls::Point>| p.as_ref().map_or("error".to_string(), |p| format!("{:.2}", ms(p.wall)));
        let to_json = |p: &Option<calls::Point>, extra: Value| {
            let mut v = extra;
            if let Some(p) = p {
                v["wall_ms"] = json!(ms(p.wall));
                v["trace_events"] = json!(p.trace_events);
                v["connected_calls"] = json!(p.connected_calls);
            } else {
                v["error"] = json!(true);
            }
            v
        };
        // Simulated totals: 30 s, 5 min, 30 min. Idle: the call lasts 20 s, the rest is settle time.
        // Media: the call lasts until 10 s before the end.
        let totals = [30u64, 300, 1800];
        let idle: Vec<_> = totals
            .iter()
            .map(|&t| point(1, 1, Duration::from_secs(20), Duration::from_secs(t - 20)))
            .collect();
        let media: Vec<_> = totals
            .iter()
            .map(|&t| point(1, 1, Duration::from_secs(t - 10), Duration::from_secs(10)))
            .collect();
        let pairs = [1usize, 2, 4, 8];
        let parties: Vec<_> = pairs
            .iter()
            .map(|&k| point(k, 1, Duration::from_secs(20), Duration::from_secs(10)))
            .collect();
        // One call to a callee logged in on 1, 2 and 4 devices: every device rings, device 1 answers.
        let device_counts = [1usize, 2, 4];
        let devices: Vec<_> = device_counts
            .iter()
            .map(|&d| point(1, d, Duration::from_secs(20), Duration::from_secs(10)))
            .collect();
        let idle_factor = match (&idle[0], &idle[2]) {
            (Some(a), Some(b)) => Some(b.wall.as_secs_f64() / a.wall.as_secs_f64()),
            _ => None,
        };
        // Media cost per simulated second from the two longest points (fixed costs cancel out).
        let us_per_media_s = match (&media[1], &media[2]) {
            (Some(a), Some(b)) => {
                Some((b.wall.as_secs_f64() - a.wall.as_secs_f64()) * 1e6 / (totals[2] - totals[1]) as f64)
            }
            _ => None,
        };
        let series = |ps: &[Option<calls::Point>], key: &str, vals: &[u64]| -> Vec<Value> {
            ps.iter()
                .zip(vals)
                .map(|(p, v)| to_json(p, json!({ key: v })))
                .collect()
        };
        for (p, &k) in parties.iter().zip(&pairs) {
            if let Some(p) = p {
                if p.connected_calls != k {
                    progress(&format!(
                        "warning: {k} concurrent calls, {} connected",
                        p.connected_calls
                    ));
                }
            }
        }
        let party_counts: Vec<u64> = pairs.iter().map(|&k| 2 * k as u64).collect();
        self.j.insert(
            "scaling".into(),
            json!({
                "idle": series(&idle, "simulated_s", &totals),
                "idle_note": "call answered at 3 s, hung up at 20 s; the rest of the simulated time is idle",
                "idle_factor_30min_vs_30s": idle_factor,
                "media": series(&media, "simulated_s", &totals),
                "media_note": "call answered at 3 s, hung up 10 s before the end; RTP at 5 packets/s each way",
                "us_per_simulated_media_second": us_per_media_s,
                "parties": series(&parties, "parties", &party_counts),
                "parties_note": "N/2 independent calls (callerK -> calleeK), all behind port-restricted cone NATs, 30 s simulated",
                "devices": series(&devices, "callee_devices", &device_counts.map(|d| d as u64)),
                "devices_note": "one call, the callee logged in on N devices behind one NAT: all ring, device 1 answers, 30 s simulated",
                "errors": errors,
            }),
        );
        self.rows.push(row(
            "idle time: 30 s → 5 min → 30 min",
            format!("{} → {} → {} ms", fmt_ms(&idle[0]), fmt_ms(&idle[1]), fmt_ms(&idle[2])),
            &format!("flat (≤ {IDLE_TOLERANCE}×)"),
            Some(idle_factor.is_some_and(|f| f <= IDLE_TOLERANCE)),
        ));
        self.rows.push(row(
            "media time: 30 s → 5 min → 30 min",
            format!(
                "{} → {} → {} ms ({} µs per media s)",
                fmt_ms(&media[0]),
                fmt_ms(&media[1]),
                fmt_ms(&media[2]),
                us_per_media_s.map_or("?".into(), |u| format!("{u:.0}"))
            ),
            "linear",
            None,
        ));
        let party_cells: Vec<String> = parties
            .iter()
            .zip(&party_counts)
            .map(|(p, n)| format!("{n}p {} ms", fmt_ms(p)))
            .collect();
        self.rows
            .push(row("parties (concurrent calls)", party_cells.join(", "), "—", None));
        let device_cells: Vec<String> = devices
            .iter()
            .zip(&device_counts)
            .map(|(p, n)| format!("{n}d {} ms", fmt_ms(p)))
            .collect();
        self.rows
            .push(row("callee devices (one call)", device_cells.join(", "), "—", None));
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }
}

/// The 1-minute load average (Linux), `None` elsewhere.
impl Bench<'_> {
    /// Live mode in real time: lateness of events and TUN path times with 1, 4 and 8 concurrent
    /// `reference-live` calls. Without root, bench.json says why and nothing is measured.
    fn live(&mut self) -> Result<(), String> {
        if !harness::live::privileged() {
            progress(&format!("live: skipped, {}", harness::live::NEEDS_ROOT));
            self.j
                .insert("live".into(), json!({"skipped": harness::live::NEEDS_ROOT}));
            return Ok(());
        }
        let live_scenarios = self
            .scenarios
            .parent()
            .unwrap_or(Path::new("."))
            .join("impls/live/tests/scenarios");
        let mut points = Vec::new();
        for calls in [1, 4, 8] {
            progress(&format!("live: {calls} concurrent reference-live call(s), real time"));
            points.push(live::measure(self.registry, self.scenarios, &live_scenarios, calls)?);
        }
        let eight = points.last().expect("three points");
        self.rows.push(row(
            "live: p99 lateness, 8 calls (worst run)",
            format!("{:.2} ms", eight.lateness.1 as f64 / 1e3),
            &format!("< {} ms", live::TARGET_P99_US / 1000),
            Some(eight.lateness.1 < live::TARGET_P99_US),
        ));
        self.rows.push(row(
            "live: TUN path in / out p99, 8 calls",
            format!("{} / {} µs", eight.tun_in.1, eight.tun_out.1),
            "",
            None,
        ));
        for p in &points {
            if p.connected != p.runs {
                progress(&format!(
                    "warning: live, {} calls: {} of {} runs connected",
                    p.calls, p.connected, p.runs
                ));
            }
        }
        self.j.insert(
            "live".into(),
            json!({
                "scenario": "live/short-call (impls/live/tests/scenarios): reference-live against the simulated reference, port-restricted cone NATs, answered at 1 s, hung up at 6 s",
                "points": points.iter().map(live::Point::to_json).collect::<Vec<_>>(),
                "note": "lateness: how late queued events ran against their scheduled time; tun_in: from reading a packet off a TUN device to its entering the world; tun_out: writing a datagram to a TUN device",
            }),
        );
        Ok(())
    }
}

fn loadavg() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn print_table(rows: &[Row]) {
    let w0 = rows.iter().map(|r| r.figure.chars().count()).max().unwrap_or(0);
    let w1 = rows.iter().map(|r| r.value.chars().count()).max().unwrap_or(0);
    let w2 = rows.iter().map(|r| r.target.chars().count()).max().unwrap_or(0);
    println!("{:<w0$}  {:<w1$}  {:<w2$}  met?", "figure", "value", "target");
    for r in rows {
        let met = match r.met {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "",
        };
        println!("{:<w0$}  {:<w1$}  {:<w2$}  {met}", r.figure, r.value, r.target);
    }
}
