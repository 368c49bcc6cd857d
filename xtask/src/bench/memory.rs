//! Peak memory, measured in child processes so that each measurement has its own high-water mark
//! (VmHWM never goes down within a process).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use clap::{Args, ValueEnum};
use harness::conform::{self, Artefacts, PcapPolicy};
use harness::endpoint::Registry;

use super::calls;

/// A `kB` field of /proc/self/status (`VmHWM`, `VmRSS`), in kB; `None` off Linux.
pub fn status_kb(field: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// What a child measures.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ChildWhat {
    /// One run of the default suite (seed 1), run and judged, no files.
    OneRun,
    /// The default matrix over seeds 1..=N exactly as `cargo xtask conform` runs it: all cores,
    /// captures of failing runs, report files written to `--out`.
    Matrix,
    /// The same runs on all cores, each judged and its report dropped at once: what the simulator and
    /// judge keep per run, without the report model that `conform` accumulates.
    Discard,
}

/// Arguments of the hidden `bench-child` subcommand.
#[derive(Args, Clone, Debug)]
pub struct ChildArgs {
    /// What to measure.
    #[arg(value_enum)]
    pub what: ChildWhat,
    /// Seeds 1..=N (matrix).
    #[arg(long, default_value_t = 1)]
    pub seeds: u64,
    /// Output folder (matrix).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Only scenarios matching this glob (default: the whole suite).
    #[arg(long)]
    pub scenario: Option<String>,
    /// Scenario folder (default: the workspace's scenarios/).
    #[arg(long)]
    pub scenarios: Option<PathBuf>,
}

/// The hidden `bench-child` subcommand: measures, then prints one JSON object on stdout.
pub fn child(a: &ChildArgs, registry: &Registry, scenarios: &Path) -> ExitCode {
    let started = Instant::now();
    let scenarios = a.scenarios.as_deref().unwrap_or(scenarios);
    let planned = match &a.scenario {
        Some(glob) => calls::select(scenarios, registry, a.seeds, vec![glob.clone()]),
        None => calls::suite_plan(scenarios, registry, a.seeds),
    };
    let runs = match planned {
        Ok(r) if !r.is_empty() => r,
        Ok(_) => {
            eprintln!("error: the default suite is empty");
            return ExitCode::from(3);
        }
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    // The planned run list is itself proportional to the number of runs; measuring after planning
    // separates it from what running adds.
    let after_plan = status_kb("VmHWM");
    let (runs_done, connected) = match a.what {
        ChildWhat::OneRun => {
            let rep = conform::run_one(&runs.spec(0), registry);
            (1, usize::from(rep.outcome == "connected"))
        }
        ChildWhat::Matrix => {
            let Some(out) = &a.out else {
                eprintln!("error: matrix needs --out");
                return ExitCode::from(2);
            };
            let jobs = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
            let art = Artefacts {
                out: out.clone(),
                pcap: PcapPolicy::Failing,
                tcpdump: false,
            };
            // The conformance job's own path: runs stream into the report files as they finish.
            match conform::execute_plan(&runs, registry, jobs, &art, &mut |_, _, _| {}) {
                Ok(s) => (s.runs, s.connected),
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(3);
                }
            }
        }
        ChildWhat::Discard => {
            let jobs = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
            let next = AtomicUsize::new(0);
            let connected = AtomicUsize::new(0);
            std::thread::scope(|s| {
                for _ in 0..jobs {
                    s.spawn(|| loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= runs.len() {
                            break;
                        }
                        let rep = conform::run_one(&runs.spec(i), registry);
                        connected.fetch_add(usize::from(rep.outcome == "connected"), Ordering::Relaxed);
                    });
                }
            });
            (runs.len(), connected.into_inner())
        }
    };
    let j = serde_json::json!({
        "runs": runs_done,
        "connected": connected,
        "wall_ms": started.elapsed().as_secs_f64() * 1e3,
        "peak_rss_kb": status_kb("VmHWM"),
        "peak_rss_kb_after_plan": after_plan,
        "rss_kb": status_kb("VmRSS"),
    });
    println!("{j}");
    ExitCode::SUCCESS
}

/// What a child reported.
#[derive(Clone, Debug)]
pub struct ChildReport {
    /// Runs it executed.
    pub runs: u64,
    /// Of which connected.
    pub connected: u64,
    /// Wall time inside the child (planning, running, writing), ms.
    pub wall_ms: f64,
    /// Peak resident set (VmHWM), MB.
    pub peak_rss_mb: f64,
    /// Peak resident set once the run list was planned, before running, MB.
    pub after_plan_mb: f64,
}

/// Runs `xtask bench-child` with `args` in a fresh process and parses its report.
///
/// Errors: the child could not start, failed, or printed no report.
pub fn spawn_child(args: &[&str]) -> Result<ChildReport, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current executable: {e}"))?;
    let out = Command::new(&exe)
        .arg("bench-child")
        .args(args)
        .output()
        .map_err(|e| format!("{}: {e}", exe.display()))?;
    if !out.status.success() {
        return Err(format!(
            "bench-child {} exited {}: {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = text
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .ok_or_else(|| format!("bench-child {} printed no report: {text}", args.join(" ")))?;
    let num = |k: &str| v.get(k).and_then(|x| x.as_f64());
    Ok(ChildReport {
        runs: num("runs").unwrap_or(0.0) as u64,
        connected: num("connected").unwrap_or(0.0) as u64,
        wall_ms: num("wall_ms").unwrap_or(0.0),
        peak_rss_mb: num("peak_rss_kb").ok_or("no VmHWM (not Linux?)")? / 1024.0,
        after_plan_mb: num("peak_rss_kb_after_plan").unwrap_or(0.0) / 1024.0,
    })
}
