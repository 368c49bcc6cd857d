//! `cargo xtask`: the command line of jingle-interop (see README.md and the interface contract).

/// jemalloc instead of the system allocator (except with MSVC, which jemalloc does not support). A
/// run allocates and frees thousands of small blocks (stanza elements, datagrams, trace events, STUN
/// messages); glibc malloc's share of a conformance job's CPU time was about a fifth. jemalloc took
/// 17% off `conform`'s user time with the same peak memory, flat in the number of runs (mimalloc also
/// saved CPU but took 2.5–4× the peak memory). Outputs do not depend on the allocator: the default
/// matrix's reports are byte-identical under both.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

mod bench;
mod judge;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use harness::checks::{Level, Verdict};
use harness::conform::{self, InputError, Selection};
use harness::report::{FailOn, RunReport};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "jingle-interop: XMPP call interop runner")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum FailOnArg {
    Must,
    Should,
    Never,
}

#[derive(Clone, Copy, ValueEnum)]
enum PcapArg {
    Failing,
    All,
    None,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the conformance matrix and write the report.
    Conform {
        /// Implementation under test, run against every peer in both roles.
        #[arg(long = "impl")]
        under_test: Option<String>,
        /// Restrict peers (default: every registered implementation).
        #[arg(long = "peer", num_args = 1..)]
        peers: Vec<String>,
        /// NAT profiles applied to each side (default: each scenario's own).
        #[arg(long = "nat", num_args = 1..)]
        nats: Vec<String>,
        /// Scenario id globs, e.g. 'ice/*'.
        #[arg(long = "scenario", num_args = 1..)]
        scenarios: Vec<String>,
        /// A folder of scenarios of one's own, beside the library (ids relative to it); repeatable.
        #[arg(long = "scenarios", value_name = "DIR")]
        scenario_dirs: Vec<PathBuf>,
        /// Seeds 1..=N per run.
        #[arg(long, conflicts_with = "seed")]
        seeds: Option<u64>,
        /// One exact seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Run the I-th of N deterministic slices, as I/N.
        #[arg(long, value_parser = parse_shard)]
        shard: Option<(usize, usize)>,
        /// Output folder.
        #[arg(long, default_value = "reports/latest")]
        out: PathBuf,
        /// Exit status policy.
        #[arg(long = "fail-on", value_enum, default_value = "must")]
        fail_on: FailOnArg,
        /// Worker threads (default: all cores).
        #[arg(long)]
        jobs: Option<usize>,
        /// Which runs get a capture and ladder in DIR/runs/SCENARIO/RUN/ (failing: the first run of
        /// each finding).
        #[arg(long, value_enum, default_value = "failing")]
        pcap: PcapArg,
        /// A line on stdout for every run, not only for those whose expectation failed unexplained.
        #[arg(long)]
        verbose: bool,
        /// Each live run (a party is a real program: `reference-live`, `live:COMMAND`) N times;
        /// its cells then give pass rates. Simulated runs are done once: they repeat byte for byte.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
        repeat: u32,
        /// Live runs: run tcpdump in each live party's network namespace and keep its capture,
        /// DIR/runs/SCENARIO/RUN/tcpdump-PARTY.pcap, beside the run's artefacts (every live run
        /// keeps them). `cargo xtask judge` reads it. Needs the `tcpdump` program.
        #[arg(long)]
        tcpdump: bool,
    },
    /// List what exists.
    List {
        /// impls | nat-profiles | scenarios | checks
        what: String,
        /// A folder of scenarios of one's own, beside the library; repeatable.
        #[arg(long = "scenarios", value_name = "DIR")]
        scenario_dirs: Vec<PathBuf>,
    },
    /// Re-run one run exactly and print its trace summary.
    Replay {
        /// The run id from a report.
        run_id: String,
        /// Where the capture goes (DIR/runs/SCENARIO/RUN/capture.pcapng).
        #[arg(long, default_value = "reports/replay")]
        out: PathBuf,
        /// A folder of scenarios of one's own, beside the library; repeatable.
        #[arg(long = "scenarios", value_name = "DIR")]
        scenario_dirs: Vec<PathBuf>,
    },
    /// Work on written reports.
    Report {
        #[command(subcommand)]
        action: ReportCmd,
    },
    /// Judge a capture from the field: the ICE agents, their calls and what each did, clause by
    /// clause, with the frames as evidence. Exit 0 when no MUST failed, 1 when one did, 2 on bad
    /// input (not a capture, no ICE checks in it, an unreadable stanza log).
    Judge(judge::JudgeArgs),
    /// Measure calls/s, events/s, turmoil side by side, peak memory and scaling; write bench.json.
    Bench(bench::BenchArgs),
    /// Internal: one memory measurement of `bench` in a fresh process (its own peak RSS).
    #[command(hide = true)]
    BenchChild(bench::ChildArgs),
    /// Internal: the webrtc-rs ICE adapter (impls/live/src/webrtc_rs.rs) speaking
    /// jingle-interop/ice-adapter/1; the harness starts it in a `webrtc-rs` party's namespace.
    #[command(hide = true)]
    WebrtcRsAdapter,
    /// Internal: `reference-live`, a built-in implementation on real sockets over
    /// jingle-interop/live/1 (impls/live/PROTOCOL.md); the harness starts it in a live party's
    /// namespace.
    #[command(hide = true)]
    LiveEndpoint {
        /// The built-in implementation served.
        #[arg(default_value = "reference")]
        name: String,
    },
}

#[derive(Subcommand)]
enum ReportCmd {
    /// Merge the outputs of `conform --shard I/N` runs into one report (report.json, report.md,
    /// junit.xml), the same as one unsharded run.
    Merge {
        /// Output folders of the shards (each holds a report.json).
        #[arg(required = true, num_args = 1..)]
        dirs: Vec<PathBuf>,
        /// Where the merged report goes.
        #[arg(long, default_value = "reports/latest")]
        out: PathBuf,
    },
    /// What changed from one report to another, as Markdown on stdout: cells, new and fixed
    /// findings per implementation, runs whose verdicts changed, runs in only one. Exit 1 when the
    /// new report has a finding the old one did not, 0 otherwise, 2 on bad input.
    Diff {
        /// The old report's folder (holding report.json).
        old: PathBuf,
        /// The new report's folder.
        new: PathBuf,
    },
}

fn parse_shard(s: &str) -> Result<(usize, usize), String> {
    let (i, n) = s.split_once('/').ok_or("write I/N, e.g. 1/4")?;
    let (i, n): (usize, usize) = (
        i.parse().map_err(|_| "I is not a number")?,
        n.parse().map_err(|_| "N is not a number")?,
    );
    if n == 0 || i == 0 || i > n {
        return Err(format!("shard {i}/{n}: need 1 <= I <= N"));
    }
    Ok((i, n))
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

/// Diagnostic logs on stderr when `RUST_LOG` is set, in the `target=level,...` form of
/// `tracing_subscriber::filter::Targets` (e.g. `RUST_LOG=debug` or `RUST_LOG=harness=debug`); silent
/// otherwise. A malformed `RUST_LOG` is reported and ignored.
fn init_logs() {
    use tracing_subscriber::prelude::*;
    let Ok(spec) = std::env::var("RUST_LOG") else { return };
    match spec.parse::<tracing_subscriber::filter::Targets>() {
        Ok(filter) => tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .without_time()
                    .with_filter(filter),
            )
            .init(),
        Err(e) => eprintln!("warning: RUST_LOG={spec:?} ignored: {e}"),
    }
}

fn main() -> ExitCode {
    init_logs();
    let cli = Cli::parse();
    let mut registry = impl_catalog::registry();
    if let Ok(me) = std::env::current_exe() {
        live::register_reference_live(
            &mut registry,
            vec![me.to_string_lossy().into_owned(), "live-endpoint".into()],
        );
        live::register_webrtc_rs(
            &mut registry,
            vec![me.to_string_lossy().into_owned(), "webrtc-rs-adapter".into()],
        );
    }
    live::register_stacks(&mut registry);
    if matches!(cli.cmd, Cmd::Conform { .. } | Cmd::Replay { .. }) && harness::live::privileged() {
        // Ctrl-C or SIGTERM removes this process's namespaces; a harness killed outright left its
        // own, which go now.
        harness::live::install_signal_cleanup();
        let gone = harness::live::sweep_leftovers();
        if !gone.is_empty() {
            eprintln!(
                "removed {} network namespace(s) left by a harness that was killed: {}",
                gone.len(),
                gone.join(", ")
            );
        }
    }
    let scenarios = root().join("scenarios");
    match cli.cmd {
        Cmd::Conform {
            under_test,
            peers,
            nats,
            scenarios: globs,
            scenario_dirs,
            seeds,
            seed,
            shard,
            out,
            fail_on,
            jobs,
            pcap,
            verbose,
            repeat,
            tcpdump,
        } => {
            let (under_test, peers) = match resolve_external(&mut registry, under_test, peers) {
                Ok(r) => r,
                Err(e) => return input_error(InputError::Unknown(e)),
            };
            let gate = under_test.clone();
            let sel = Selection {
                under_test,
                peers,
                nats,
                scenarios: globs,
                seeds: match (seed, seeds) {
                    (Some(s), _) => vec![s],
                    (None, Some(n)) => (1..=n.max(1)).collect(),
                    (None, None) => vec![1],
                },
                shard,
                scenario_dirs,
            };
            let mut runs = match conform::plan(&scenarios, &sel, &registry) {
                Ok(r) => r,
                Err(e) => return input_error(e),
            };
            let live_runs = runs.live_runs(&registry);
            // Without root the live runs are left out, said so, and the exit status is 2; the
            // simulated runs of the selection still run.
            let live_refused = live_runs > 0 && !harness::live::privileged();
            if live_refused {
                eprintln!("error: {} ({live_runs} live run(s) not run)", harness::live::NEEDS_ROOT);
                runs = runs.without_live(&registry);
                if runs.is_empty() {
                    return ExitCode::from(2);
                }
            } else if live_runs > 0 {
                runs = runs.repeat_live(repeat, &registry);
            }
            if runs.is_empty() {
                eprintln!("error: nothing to run (the selection or shard is empty)");
                return ExitCode::from(2);
            }
            let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
            // A live run mostly waits for real time: eight at once by default, whatever the cores.
            let jobs = jobs.unwrap_or(if live_runs > 0 && !live_refused {
                cores.max(8)
            } else {
                cores
            });
            let started = std::time::Instant::now();
            let tty = std::io::stderr().is_terminal();
            let out = if out.is_relative() {
                std::env::current_dir().unwrap_or_default().join(out)
            } else {
                out
            };
            let artefacts = conform::Artefacts {
                out: out.clone(),
                pcap: match pcap {
                    PcapArg::Failing => conform::PcapPolicy::Failing,
                    PcapArg::All => conform::PcapPolicy::All,
                    PcapArg::None => conform::PcapPolicy::None,
                },
                tcpdump,
            };
            let mut header = false;
            let result = conform::execute_plan(&runs, &registry, jobs, &artefacts, &mut |n, total, r| {
                progress(tty, n, total, r);
                // Runs whose outcome nobody's rule explains: a changed behaviour or a judge defect.
                let unexplained = r.error.is_some()
                    || (!r.expectation.met
                        && !r
                            .checks
                            .iter()
                            .any(|c| c.level == Level::Must && c.verdict == Verdict::Fail));
                if verbose || unexplained {
                    if !header {
                        println!("{:<70} {:<10} {:>6} {:>6}", "run", "outcome", "pass", "fail");
                        header = true;
                    }
                    print_run(r);
                }
            });
            if tty {
                eprintln!();
            }
            let summary = match result {
                Ok(summary) => summary,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(3);
                }
            };
            let meta = serde_json::json!({
                "wall_time_ms": started.elapsed().as_millis() as u64,
                "runs": summary.runs,
                "jobs": jobs,
                "harness_version": env!("CARGO_PKG_VERSION"),
            });
            let _ = std::fs::write(
                out.join("meta.json"),
                serde_json::to_string_pretty(&meta).unwrap_or_default() + "\n",
            );
            print_summary(&summary, gate.as_deref(), &out);
            if live_refused {
                return ExitCode::from(2);
            }
            if summary.harness_errors > 0 {
                return ExitCode::from(3);
            }
            let policy = match fail_on {
                FailOnArg::Must => FailOn::Must,
                FailOnArg::Should => FailOn::Should,
                FailOnArg::Never => FailOn::Never,
            };
            // `--impl NAME` gates NAME on what is held against it, never on its peers' faults.
            if summary.has_failure(policy, gate.as_deref()) {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Cmd::List { what, scenario_dirs } => list(&what, &registry, &scenarios, &scenario_dirs),
        Cmd::Report {
            action: ReportCmd::Merge { dirs, out },
        } => merge(&dirs, &out),
        Cmd::Report {
            action: ReportCmd::Diff { old, new },
        } => {
            let read = |d: &PathBuf| {
                let f = d.join("report.json");
                std::fs::read_to_string(&f).map_err(|e| format!("{}: {e}", f.display()))
            };
            let texts = read(&old).and_then(|o| Ok((o, read(&new)?)));
            let result = texts.and_then(|(o, n)| {
                harness::report::diff(&old.display().to_string(), &o, &new.display().to_string(), &n)
            });
            match result {
                Ok((md, worse)) => {
                    print!("{md}");
                    if worse {
                        ExitCode::from(1)
                    } else {
                        ExitCode::SUCCESS
                    }
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Cmd::Judge(a) => judge::run(a),
        Cmd::Bench(a) => bench::bench(&a, &registry, &scenarios),
        Cmd::BenchChild(a) => bench::child(&a, &registry, &scenarios),
        Cmd::WebrtcRsAdapter => live::webrtc_rs::main(),
        Cmd::LiveEndpoint { name } => match live::shell::serve(&name, &impl_catalog::registry()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("reference-live: {e}");
                ExitCode::from(2)
            }
        },
        Cmd::Replay {
            run_id,
            out: replay_out,
            scenario_dirs,
        } => {
            // The `external:` and `live:` programs the id names; a malformed id is the plan's to judge.
            if let Some(id) = harness::scenario::RunId::parse(&run_id) {
                for name in &id.impls {
                    if let Err(e) = resolve_name(&mut registry, name) {
                        return input_error(InputError::Unknown(e));
                    }
                }
            }
            let spec = match conform::spec_from_id_in(&scenarios, &scenario_dirs, &run_id, &registry) {
                Ok(s) => s,
                Err(e) => return input_error(e),
            };
            match harness::run::run(&spec, &registry) {
                Ok(out) => {
                    for e in &out.trace.events {
                        println!("{}", harness::trace::Trace::canonical_line(e));
                    }
                    let rep = harness::report::judge(&out);
                    println!("outcome: {}\ntrace_hash: {}", rep.outcome, rep.trace_hash);
                    for c in &rep.checks {
                        println!("{:?} {:?} {} ({}): {}", c.verdict, c.level, c.id, c.cite, c.detail);
                    }
                    let dir = conform::run_dir(&replay_out, &run_id);
                    if let Err(e) = conform::write_artefacts(&out, &dir, conform::ArtefactForm::Full) {
                        eprintln!("error: {e}");
                        return ExitCode::from(3);
                    }
                    println!("capture: {}", dir.join("capture.pcapng").display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(3)
                }
            }
        }
    }
}

/// Registers `name` when it is `external:COMMAND` (a program speaking impls/external/PROTOCOL.md) or
/// `live:COMMAND` (impls/live/PROTOCOL.md) and returns it as registered (the command
/// percent-encoded); any other name is returned as it is.
///
/// Errors: a command that cannot be split or is empty.
fn resolve_name(registry: &mut harness::endpoint::Registry, name: &str) -> Result<String, String> {
    if name.starts_with(live::PREFIX) {
        live::resolve(registry, name)
    } else {
        external::resolve(registry, name)
    }
}

/// Registers the `external:COMMAND` and `live:COMMAND` names among `--impl` and `--peer`
/// ([`resolve_name`]) and returns the names as registered: the command percent-encoded so
/// it fits a run id. Other names pass unchanged for the plan to check.
///
/// Errors: a command that cannot be split or is empty.
fn resolve_external(
    registry: &mut harness::endpoint::Registry,
    under_test: Option<String>,
    peers: Vec<String>,
) -> Result<(Option<String>, Vec<String>), String> {
    let under_test = under_test.map(|n| resolve_name(registry, &n)).transpose()?;
    let peers = peers
        .iter()
        .map(|p| resolve_name(registry, p))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((under_test, peers))
}

fn input_error(e: InputError) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(2)
}

/// The progress of a conformance run on stderr: a bar redrawn in place on a terminal, one plain line
/// per run otherwise (CI logs).
fn progress(tty: bool, n: usize, total: usize, r: &RunReport) {
    if tty {
        const WIDTH: usize = 30;
        let filled = n * WIDTH / total.max(1);
        eprint!(
            "\r[{}{}] {n}/{total} {:<60.60}",
            "#".repeat(filled),
            "-".repeat(WIDTH - filled),
            r.id
        );
    } else {
        eprintln!("[{n}/{total}] {} {}", r.outcome, r.id);
    }
}

/// One run's line of the stdout summary, with its failed checks and replay command.
fn print_run(run: &RunReport) {
    let count = |v: Verdict| run.checks.iter().filter(|c| c.verdict == v).count();
    println!(
        "{:<70} {:<10} {:>6} {:>6}",
        run.id,
        run.outcome,
        count(Verdict::Pass),
        count(Verdict::Fail)
    );
    for c in run.checks.iter().filter(|c| c.verdict == Verdict::Fail) {
        println!("    FAIL {} ({}): {}", c.id, c.cite, c.detail);
    }
    if run.checks.iter().any(|c| c.verdict == Verdict::Fail) {
        println!("    replay: {}", run.replay);
    }
}

/// The closing summary on stdout, one screen: counts, how each implementation pair reads over its
/// NAT pairs (for `--impl NAME`, NAME's row and column), the rules broken most often and by whom,
/// and where the report is.
fn print_summary(s: &harness::report::Summary, gate: Option<&str>, out: &std::path::Path) {
    let verdicts: Vec<String> = s.verdicts.iter().map(|(v, n)| format!("{n} {v}")).collect();
    println!(
        "\n{} runs, {} connected, {} harness errors; checks: {}",
        s.runs,
        s.connected,
        s.harness_errors,
        verdicts.join(", ")
    );
    let mut callers: Vec<&str> = s.pairs.keys().map(|k| k.0.as_str()).collect();
    callers.dedup();
    let mut callees: Vec<&str> = s.pairs.keys().map(|k| k.1.as_str()).collect();
    callees.sort_unstable();
    callees.dedup();
    if let Some(g) = gate {
        callers.retain(|c| *c == g || s.pairs.contains_key(&(c.to_string(), g.to_string())));
    }
    // Callees are numbered so that the table stays one screen wide.
    let width = 6;
    println!(
        "expectations not met: {} runs, {} with nothing to explain them; negative tests: {}/{} met",
        s.unmet.0, s.unmet.1, s.negative.1, s.negative.0
    );
    println!("\nDoes the caller work with the callee (over every NAT pair, negative tests aside)? ok: works;");
    println!("FAIL: a MUST rule held against one of them; unmet: an expectation missed with no failure to explain");
    println!("it; nopath: the network offered none. Callees:");
    for (i, c) in callees.iter().enumerate() {
        println!("  {:>2} {c}", i + 1);
    }
    print!("{:<22}", "caller \\ callee");
    for i in 1..=callees.len() {
        print!(" {i:>width$}");
    }
    println!();
    for a in &callers {
        print!("{a:<22}");
        for b in &callees {
            let show = gate.is_none() || *a == gate.unwrap_or_default() || *b == gate.unwrap_or_default();
            let cell = match s.pairs.get(&(a.to_string(), b.to_string())) {
                _ if !show => "",
                Some(&"fail") => "FAIL",
                Some(&"unmet") => "unmet",
                Some(&"nopath") => "nopath",
                Some(_) => "ok",
                None => "-",
            };
            print!(" {cell:>width$}");
        }
        println!();
    }
    let mut rules: Vec<_> = s
        .rules
        .iter()
        // With `--impl NAME`: NAME's own and those its peers broke in runs with it.
        .filter(|((who, ..), (_, peers))| gate.is_none_or(|g| g == who || peers.contains(g)))
        .collect();
    rules.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.0.cmp(b.0)));
    if !rules.is_empty() {
        println!("\nMUST rules broken most often (runs; implementation; rule; against):");
        for ((who, id, cite), (n, peers)) in rules.iter().take(12) {
            let peers: Vec<&str> = peers.iter().map(String::as_str).collect();
            println!("  {n:>5}  {who:<22} {id} ({cite}); with {}", peers.join(", "));
        }
        if rules.len() > 12 {
            println!("  … {} more in the report", rules.len() - 12);
        }
    }
    println!(
        "\nreport: {} (and report.md, index.html, scorecards.html, junit.xml beside it)",
        out.join("report.json").display()
    );
}

/// `report merge`: exit 0 when merged, 2 on bad input (unreadable file, not a report, conflicting runs).
fn merge(dirs: &[PathBuf], out: &std::path::Path) -> ExitCode {
    let mut inputs = Vec::new();
    for d in dirs {
        let f = d.join("report.json");
        match std::fs::read_to_string(&f) {
            Ok(t) => inputs.push((f.display().to_string(), t)),
            Err(e) => {
                eprintln!("error: {}: {e}", f.display());
                return ExitCode::from(2);
            }
        }
    }
    let report = match harness::report::merge(&inputs) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    // The merged pages link to each run's capture and ladder, which live in the shard folders.
    let copied = harness::conform::copy_shard_artefacts(&report, dirs, out);
    if let Err(e) = copied {
        eprintln!("error: {e}");
        return ExitCode::from(3);
    }
    match harness::conform::write_outputs(&report, out) {
        Ok(files) => {
            println!("merged {} runs from {} shards", report.runs.len(), dirs.len());
            for f in files {
                println!("report: {}", f.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(3)
        }
    }
}

fn list(
    what: &str,
    registry: &harness::endpoint::Registry,
    scenarios: &std::path::Path,
    extra: &[PathBuf],
) -> ExitCode {
    match what {
        "impls" => {
            for e in registry.entries() {
                println!("{:<24} {}", e.name, e.description);
            }
        }
        "nat-profiles" => {
            for (name, p) in harness::net::nat_profiles() {
                let params = p.parameters();
                println!("{name:<22} {} {params}", p.description);
            }
        }
        "scenarios" => match conform::load_scenarios(scenarios, extra) {
            Ok(all) => {
                for s in all {
                    println!("{:<40} {}", s.id, s.title);
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        },
        "checks" => {
            for c in harness::checks::catalogue() {
                println!(
                    "{:<45} {:<6} {:<18} {}",
                    c.id,
                    format!("{:?}", c.level).to_uppercase(),
                    c.cite,
                    c.summary
                );
            }
        }
        other => {
            eprintln!("error: unknown list `{other}` (impls, nat-profiles, scenarios, checks)");
            return ExitCode::from(2);
        }
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::parse_shard;

    #[test]
    fn shard_syntax() {
        assert_eq!(parse_shard("2/4"), Ok((2, 4)));
        assert!(parse_shard("0/4").is_err());
        assert!(parse_shard("5/4").is_err());
        assert!(parse_shard("x").is_err());
    }
}
