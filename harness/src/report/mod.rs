//! The report model (`jingle-interop/report/1`), built from checks over each run, and its renderings.
//!
//! report.json holds no wall-clock time, so two runs of the same matrix diff cleanly; wall time and
//! host facts go to meta.json.

mod aggregate;
mod diff;
mod html;
mod junit;
mod layout;
mod markdown;
mod writer;

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::checks::{evaluate, CheckResult, Ctx, Level, Verdict};
use crate::run::RunOutput;
use crate::scenario::RunSpec;
use crate::trace::Dir;
use crate::wire::{Party, Wire};

pub use aggregate::{BrokenRule, NegativeTest, PassedRule, Scorecard, UnmetRun};
pub use diff::diff;
pub use html::{render_html, render_scorecards};
pub use junit::render_junit;
pub use markdown::render_markdown;
pub use writer::{ReportWriter, Summary};

/// `artefacts` of a report whose failing runs kept their artefacts only where they show something
/// no earlier run (by id) showed (`--pcap failing`, [`Thinning`]), so the folder stays small enough
/// to publish; `replay` writes any run's.
pub const FIRST_RUN_PER_FINDING: &str = "first-run-per-finding";

/// Which failing runs keep their artefacts under `--pcap failing`, decided run by run in id order:
/// the first run to show each MUST finding held against an implementation (`IMPL: CHECK`, the run
/// a scorecard names for it), and among the failing runs with no such finding, the first of each
/// kind in each matrix cell: an expectation missed with nothing to explain it, one the network
/// explains, a negative test's (per scenario), a harness error.
#[derive(Default)]
pub(crate) struct Thinning {
    findings: std::collections::BTreeSet<(String, String)>,
    cells: std::collections::BTreeSet<(html::CellKey, String)>,
}

impl Thinning {
    /// Whether `run`, which has artefacts, keeps them.
    pub(crate) fn keeps(&mut self, run: &RunReport) -> bool {
        let mut new = false;
        let mut any = false;
        for c in &run.checks {
            if c.level == Level::Must && c.verdict == Verdict::Fail && !c.injected {
                any = true;
                for who in aggregate::judged(run, c) {
                    new |= self.findings.insert((who.to_string(), c.id.clone()));
                }
            }
        }
        if any {
            return new;
        }
        let kind = match aggregate::cause(run) {
            Some(aggregate::Cause::NegativeTest) => format!("negative test {}", run.scenario),
            Some(other) => format!("{other:?}"),
            None => "unexplained".to_string(),
        };
        self.cells.insert((html::cell_key(run), kind))
    }
}

/// Keeps the artefacts of `runs` (sorted by id) only where [`Thinning`] keeps them, and returns the
/// folders of the others (to remove).
pub fn thin_artefacts(runs: &mut [RunReport]) -> Vec<String> {
    let mut thinning = Thinning::default();
    let mut dropped = Vec::new();
    for r in runs.iter_mut() {
        if r.artefacts.is_some() && !thinning.keeps(r) {
            dropped.extend(r.artefacts.take());
            r.files.clear();
        }
    }
    dropped
}

/// Schema identifier of report.json.
pub const SCHEMA: &str = "jingle-interop/report/1";

/// The whole report.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Always [`SCHEMA`].
    pub schema: &'static str,
    /// Harness facts.
    pub harness: HarnessInfo,
    /// Which runs kept their artefacts, when not each run `--pcap` chose:
    /// [`FIRST_RUN_PER_FINDING`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artefacts: Option<&'static str>,
    /// Every run, sorted by id.
    pub runs: Vec<RunReport>,
    /// The matrix summary.
    pub matrix: Matrix,
    /// Negative tests of the judge ([`RunReport::negative_test`]), by scenario and knobs, kept out
    /// of the matrix.
    pub negative_tests: Vec<NegativeTest>,
    /// One scorecard per implementation, by name.
    pub scorecards: Vec<Scorecard>,
    /// The runs whose expectation was not met, in run order (report.md and index.html list them;
    /// report.json has them in each run's `expectation`).
    #[serde(skip)]
    pub unmet: Vec<UnmetRun>,
}

/// Harness facts that are deterministic.
#[derive(Clone, Debug, Serialize)]
pub struct HarnessInfo {
    /// Crate version.
    pub version: &'static str,
}

/// One party's implementation and NAT profile.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct PartyRef {
    /// Implementation name.
    #[serde(rename = "impl")]
    pub implementation: String,
    /// NAT profile.
    pub nat: String,
    /// What its ICS declares, of the capabilities scenarios can require (`jmi`, `trickle`,
    /// `rtcp-mux`, `ice-restart`, `renomination (FLAVOUR)`, `turn (TRANSPORTS)`); empty when the run
    /// never started.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub declares: Vec<String>,
    /// The real stack it ran, as the stack names itself (live mode: a deployed ICE stack's name and
    /// version); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<String>,
}

/// Candidate types of a selected pair from one side's view.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct PairTypes {
    /// Type of the local candidate (`host`, `srflx`, `prflx`, `relay`).
    pub local: String,
    /// Type of the remote candidate.
    pub remote: String,
}

/// The selected (nominated) pair in both views.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SelectedPairs {
    /// Caller's view.
    pub caller: PairTypes,
    /// Callee's view.
    pub callee: PairTypes,
}

/// How the session ended.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Termination {
    /// Party that sent session-terminate.
    pub by: String,
    /// Reason condition.
    pub reason: Option<String>,
    /// Reason text.
    pub text: Option<String>,
}

/// One run's result.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunReport {
    /// Run id.
    pub id: String,
    /// Scenario id.
    pub scenario: String,
    /// Seed.
    pub seed: u64,
    /// Caller.
    pub caller: PartyRef,
    /// Callee.
    pub callee: PartyRef,
    /// `connected`, `failed`, `rejected`, `cancelled` or `harness-error`.
    pub outcome: String,
    /// Simulated ms from the answer to the first media in both directions.
    pub time_to_media_ms: Option<u64>,
    /// The selected pair's candidate types.
    pub selected_pair: Option<SelectedPairs>,
    /// How the session ended.
    pub termination: Option<Termination>,
    /// Check results in catalogue order.
    pub checks: Vec<CheckResult>,
    /// Expected outcome and checks from the scenario, and whether they were met.
    pub expectation: Expectation,
    /// SHA-256 of the canonical trace.
    pub trace_hash: String,
    /// What the hash leaves out, when an implementation in the run is not deterministic in full
    /// (rtc-ice's unseedable STUN transaction ids); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_hash_masks: Option<String>,
    /// Number of trace events.
    pub trace_events: usize,
    /// Knobs the scenario set, `PARTY: KNOB=VALUE`: the run tests the judge and the peer's reaction
    /// (a [`NegativeTest`]), not the implementations as they are. Empty (and absent) otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub knobs: Vec<String>,
    /// The run is a negative test of the judge: the scenario sets knobs and expects a finding (a
    /// check it lists with verdict `fail` or `non-strict`). It stays out of the matrix and passes
    /// when the expected finding was made ([`NegativeTest`]). Runs whose knobs only configure a
    /// behaviour (`jmi: false`, `relay-only`) are in the matrix, and their knobbed party's failures
    /// are its own.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub negative_test: bool,
    /// Command that re-runs exactly this run.
    pub replay: String,
    /// Why the harness could not run it, for `harness-error`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Folder of the run's artefacts, relative to the output folder, when they were written
    /// (`--pcap`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artefacts: Option<String>,
    /// The artefact files in that folder ([`crate::conform::write_artefacts`]): `capture.pcapng.gz`
    /// (or `capture.pcapng` from `replay`), `ladder.svg`, and `trace.jsonl` with `--pcap all`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
    /// `live` when a party was a real program in real time (live mode): the run is not
    /// byte-reproducible, and its `trace_hash` is recorded but not expected to repeat. Absent for
    /// simulated runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// A live run's real-time figures: wall-clock duration, lateness of events, TUN path times.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live: Option<crate::run::LiveStats>,
}

/// What the scenario expected and whether it came true.
#[derive(Clone, Debug, Serialize, Deserialize, Default)]
pub struct Expectation {
    /// Expected outcome, if the scenario says.
    pub outcome: Option<String>,
    /// Checks that had to pass.
    pub checks: Vec<String>,
    /// True when the outcome matched and every listed check passed.
    pub met: bool,
    /// What did not come true.
    pub unmet: Vec<String>,
    /// What of the expectation did not apply to this pairing, and why: a capability the scenario
    /// `requires` that a party's implementation does not declare.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waived: Vec<String>,
}

/// The matrix: one cell per (caller impl, callee impl, NAT pair).
#[derive(Clone, Debug, Serialize, Default)]
pub struct Matrix {
    /// Cells sorted by caller, callee, nat.
    pub cells: Vec<Cell>,
}

/// One cell of the matrix.
#[derive(Clone, Debug, Serialize)]
pub struct Cell {
    /// Caller implementation.
    pub caller: String,
    /// Callee implementation.
    pub callee: String,
    /// `CALLER_NAT+CALLEE_NAT`.
    pub nat: String,
    /// Runs in the cell (scenarios × seeds).
    pub runs: usize,
    /// Runs that connected.
    pub connected: usize,
    /// MUST-level check failures over the cell's runs.
    pub must_failed: usize,
    /// Of those, the ones held against an implementation (not injected by the scenario).
    #[serde(default)]
    pub held: usize,
    /// Runs whose scenario expectation was not met.
    #[serde(default)]
    pub unmet: usize,
    /// Of those, runs where no implementation broke a MUST rule and the network offered no path
    /// (the media check is inconclusive for the network's sake).
    #[serde(default)]
    pub no_path: usize,
    /// Of the unmet, runs that no MUST failure held against an implementation and no missing path
    /// explains: a behaviour that changed from what the scenario expects, shown on its own
    /// ([`Cell::class`] `unmet`) so a known failure never hides it.
    #[serde(default)]
    pub unexplained: usize,
    /// The failures held against an implementation, each once, in the order first met:
    /// `IMPL: CHECK (CITE)`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub culprits: Vec<String>,
    /// For each of [`Cell::culprits`], in the same order, the number of runs that showed it (of
    /// [`Cell::runs`]: a rate over scenarios and seeds).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub culprit_runs: Vec<usize>,
    /// The seeds of the cell's runs, ascending.
    pub seeds: Vec<u64>,
    /// The seeds of its runs that failed (a failure held against an implementation, or an
    /// expectation missed for another reason than the network), ascending.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed_seeds: Vec<u64>,
}

impl Cell {
    /// An empty cell for (caller implementation, callee implementation, `NAT+NAT`).
    pub fn new(caller: String, callee: String, nat: String) -> Cell {
        Cell {
            caller,
            callee,
            nat,
            runs: 0,
            connected: 0,
            must_failed: 0,
            held: 0,
            unmet: 0,
            no_path: 0,
            unexplained: 0,
            culprits: Vec::new(),
            culprit_runs: Vec::new(),
            seeds: Vec::new(),
            failed_seeds: Vec::new(),
        }
    }

    /// Counts `run` in the cell. Negative tests belong to [`NegativeTest`]s instead (the report's
    /// aggregation keeps them out).
    pub fn add(&mut self, run: &RunReport) {
        self.runs += 1;
        self.connected += usize::from(run.outcome == "connected");
        if let Err(i) = self.seeds.binary_search(&run.seed) {
            self.seeds.insert(i, run.seed);
        }
        let must: Vec<&CheckResult> = run
            .checks
            .iter()
            .filter(|k| k.level == Level::Must && k.verdict == Verdict::Fail)
            .collect();
        self.must_failed += must.len();
        let held: Vec<&&CheckResult> = must.iter().filter(|k| !k.injected).collect();
        self.held += held.len();
        let mut seen_here: Vec<usize> = Vec::new();
        for k in &held {
            let who = match &k.implementation {
                Some(i) => format!("{i}: {} ({})", k.id, k.cite),
                None => format!("{} ({})", k.id, k.cite),
            };
            let at = match self.culprits.iter().position(|c| *c == who) {
                Some(at) => at,
                None => {
                    self.culprits.push(who);
                    self.culprit_runs.push(0);
                    self.culprits.len() - 1
                }
            };
            if !seen_here.contains(&at) {
                seen_here.push(at);
                self.culprit_runs[at] += 1;
            }
        }
        let mut failed = !held.is_empty();
        if !run.expectation.met {
            self.unmet += 1;
            let network = media_lost_to_network(run);
            let no_path = held.is_empty() && network;
            self.no_path += usize::from(no_path);
            self.unexplained += usize::from(held.is_empty() && !network);
            failed |= !no_path;
        }
        if failed {
            if let Err(i) = self.failed_seeds.binary_search(&run.seed) {
                self.failed_seeds.insert(i, run.seed);
            }
        }
    }

    /// How the cell reads: `fail` when a failure is held against an implementation; `unmet` when
    /// none is but an expectation was missed for another reason than the network; `nopath` when the
    /// network offered no path; `pass` when every run met its expectation with nothing held.
    pub fn class(&self) -> &'static str {
        if self.held > 0 {
            "fail"
        } else if self.unexplained > 0 {
            "unmet"
        } else if self.no_path > 0 {
            "nopath"
        } else {
            "pass"
        }
    }

    /// Runs whose expectation was missed for another reason than the network.
    pub fn missed(&self) -> usize {
        self.unmet - self.no_path
    }
}

/// Whether the media check of `run` judged nobody: the network offered no path.
pub(crate) fn media_lost_to_network(run: &RunReport) -> bool {
    run.checks
        .iter()
        .any(|k| k.id == "media.bidirectional-on-selected-pair" && k.party == crate::checks::Judged::None)
}

/// A report.json as read back (only what merging needs).
#[derive(Deserialize)]
struct Shard {
    schema: String,
    #[serde(default)]
    artefacts: Option<String>,
    runs: Vec<RunReport>,
}

/// Merges the report.json texts of shards (`conform --shard I/N`) into one report: the union of their
/// runs, sorted by id, with the matrix rebuilt. `inputs` are (name for errors, file contents).
///
/// Errors: a file that is not a report of [`SCHEMA`], or one run id with different trace hashes in two
/// shards (they did not run the same thing).
pub fn merge(inputs: &[(String, String)]) -> Result<Report, String> {
    let mut thin = false;
    let mut runs: BTreeMap<String, RunReport> = BTreeMap::new();
    for (name, text) in inputs {
        let shard: Shard = serde_json::from_str(text).map_err(|e| format!("{name}: not a report.json: {e}"))?;
        // Reports of earlier versions kept the first failing run of each cell.
        thin |= matches!(
            shard.artefacts.as_deref(),
            Some(FIRST_RUN_PER_FINDING | "first-failing-run-per-cell")
        );
        if shard.schema != SCHEMA {
            return Err(format!("{name}: schema `{}`, expected `{SCHEMA}`", shard.schema));
        }
        for r in shard.runs {
            if let Some(seen) = runs.get(&r.id) {
                if seen.trace_hash != r.trace_hash {
                    return Err(format!(
                        "{name}: run {} has trace hash {} here but {} in an earlier shard",
                        r.id, r.trace_hash, seen.trace_hash
                    ));
                }
                continue;
            }
            runs.insert(r.id.clone(), r);
        }
    }
    let mut report = build(runs.into_values().collect());
    if thin {
        // Each shard kept its first failing run per cell; of those, the merged report keeps the
        // first per cell, which its own shard kept too.
        thin_artefacts(&mut report.runs);
        report.artefacts = Some(FIRST_RUN_PER_FINDING);
    }
    Ok(report)
}

/// The replay command for a run: with `--scenarios DIR` when its scenario came from a folder of
/// one's own.
pub fn replay_command(id: &str, folder: Option<&std::path::Path>) -> String {
    match folder {
        // POSIX shell single quotes: a quote inside is closed, escaped and reopened.
        Some(dir) => format!(
            "cargo xtask replay --scenarios '{}' '{id}'",
            dir.display().to_string().replace('\'', "'\\''")
        ),
        None => format!("cargo xtask replay '{id}'"),
    }
}

fn party_ref(spec: &RunSpec, name: &str) -> PartyRef {
    spec.party(name)
        .map(|p| PartyRef {
            implementation: p.implementation.clone(),
            nat: p.nat_name.clone(),
            declares: Vec::new(),
            stack: None,
        })
        .unwrap_or(PartyRef {
            implementation: String::new(),
            nat: String::new(),
            declares: Vec::new(),
            stack: None,
        })
}

/// What `ics` declares, as [`PartyRef::declares`] lists it.
fn declared(ics: &crate::endpoint::Ics) -> Vec<String> {
    crate::scenario::CAPABILITIES
        .iter()
        .filter(|cap| ics.declares(cap))
        .map(|cap| match *cap {
            "renomination" => format!("renomination ({})", ics.renomination),
            "turn" => format!("turn ({})", ics.turn_transports.join(", ")),
            other => other.to_string(),
        })
        .collect()
}

/// Whether `spec` is a negative test ([`RunReport::negative_test`]).
fn negative_test(spec: &RunSpec) -> bool {
    spec.parties.iter().any(|p| !p.knobs.is_empty())
        && spec
            .scenario
            .expect
            .checks
            .iter()
            .any(|e| matches!(e.verdict, Some(Verdict::Fail | Verdict::NonStrict)))
}

/// The knobs the scenario set in `spec`, `PARTY: KNOB=VALUE`, by party in scenario order.
fn knobs(spec: &RunSpec) -> Vec<String> {
    spec.parties
        .iter()
        .flat_map(|p| p.knobs.iter().map(move |(k, v)| format!("{}: {k}={v}", p.name)))
        .collect()
}

/// A report for a run the harness could not carry out.
pub fn harness_error_report(spec: &RunSpec, error: String) -> RunReport {
    RunReport {
        id: spec.id.clone(),
        scenario: spec.scenario.id.clone(),
        seed: spec.seed,
        caller: party_ref(spec, "caller"),
        callee: party_ref(spec, "callee"),
        outcome: "harness-error".into(),
        time_to_media_ms: None,
        selected_pair: None,
        termination: None,
        checks: vec![],
        expectation: Expectation {
            met: false,
            unmet: vec![format!("harness error: {error}")],
            ..Default::default()
        },
        trace_hash: String::new(),
        trace_hash_masks: None,
        trace_events: 0,
        knobs: knobs(spec),
        negative_test: negative_test(spec),
        replay: replay_command(&spec.id, spec.scenario.folder.as_deref()),
        error: Some(error),
        artefacts: None,
        files: Vec::new(),
        mode: None,
        live: None,
    }
}

fn candidate_type(w: &Wire, party: &str, addr: SocketAddr) -> String {
    w.jingle
        .iter()
        .filter(|j| j.party == party && j.dir == Dir::Tx)
        .flat_map(|j| j.contents.iter().flat_map(|c| c.candidates.iter()))
        .find(|c| c.addr == addr)
        .map(|c| c.typ.clone())
        // An address the party never signalled was learned from checks: peer-reflexive (RFC 8445 §7.2.5.3.1).
        .unwrap_or_else(|| "prflx".into())
}

/// Evaluates the checks over `out` and summarizes the run.
pub fn judge(out: &RunOutput) -> RunReport {
    let ctx = Ctx::new(out);
    let spec = &out.spec;
    let mut checks = evaluate(&ctx);
    let negative = negative_test(spec);
    for c in &mut checks {
        let party = c.party.name().and_then(|p| out.spec.party(p));
        c.implementation = party.map(|p| p.implementation.clone());
        // In a negative test the knobbed party ran with a fault injected on purpose, not as the
        // implementation is: what it breaks is held against nobody, and the scenario's expectation
        // judges the run. Knobs of other runs only configure (`jmi: false`, `relay-only`): the
        // party is still itself, and its failures are its own.
        // A verdict on both parties in a negative test may rest on the injected fault: nobody's.
        let knobbed = match c.party {
            crate::checks::Judged::Both => out.spec.parties.iter().any(|p| !p.knobs.is_empty()),
            _ => party.is_some_and(|p| !p.knobs.is_empty()),
        };
        c.injected = negative && knobbed && matches!(c.verdict, Verdict::Fail | Verdict::NonStrict);
    }
    let w = &ctx.wire;
    let first_rx = |p: Party| w.rtp.iter().find(|r| r.party == p && r.dir == Dir::Rx).map(|r| r.time);
    let both = match (first_rx(ctx.caller), first_rx(ctx.callee)) {
        (Some(a), Some(b)) => Some(a.max(b)),
        _ => None,
    };
    let rejected = w.jmi.iter().any(|j| j.kind == "reject" && j.dir == Dir::Tx)
        || w.jingle
            .iter()
            .any(|j| j.action == "session-terminate" && matches!(j.reason.as_deref(), Some("decline" | "busy")));
    let accepted = w.jingle.iter().any(|j| j.action == "session-accept");
    let cancelled = w.jmi.iter().any(|j| j.kind == "retract" && j.dir == Dir::Tx)
        || (!accepted
            && w.jingle
                .iter()
                .any(|j| j.action == "session-terminate" && j.reason.as_deref() == Some("cancel")));
    let outcome = if both.is_some() {
        "connected"
    } else if rejected {
        "rejected"
    } else if cancelled {
        "cancelled"
    } else {
        "failed"
    };
    let answer = out.trace.events.iter().find_map(|e| match &e.kind {
        crate::trace::TraceKind::User { action, .. } if action == "answer" => Some(e.time),
        _ => None,
    });
    let time_to_media_ms = match (answer, both) {
        (Some(a), Some(b)) => Some((b - a).as_millis() as u64),
        _ => None,
    };
    let selected_pair = ctx.nominated.as_ref().and_then(|n| {
        // Each side's local candidate is the address the *peer* saw it as; the controlled side's view is
        // the controlling side's, swapped.
        let (_, seen_by_controlled, _) = n.controlled_view?;
        let ing = PairTypes {
            local: candidate_type(w, &n.controlling, seen_by_controlled),
            remote: candidate_type(w, &n.controlled, n.controlling_view.1),
        };
        let ed = PairTypes {
            local: ing.remote.clone(),
            remote: ing.local.clone(),
        };
        Some(if n.controlling == ctx.caller {
            SelectedPairs {
                caller: ing,
                callee: ed,
            }
        } else {
            SelectedPairs {
                caller: ed,
                callee: ing,
            }
        })
    });
    let termination = w
        .jingle
        .iter()
        .find(|j| j.action == "session-terminate" && j.dir == Dir::Tx)
        .map(|j| Termination {
            by: j.party.to_string(),
            reason: j.reason.clone(),
            text: j.reason_text.clone(),
        });
    let exp = &spec.scenario.expect;
    let mut unmet = Vec::new();
    let mut waived = Vec::new();
    // What a party's implementation does not declare, of `caps` (every device must declare it).
    let lacking = |caps: &[String]| -> Vec<String> {
        let mut why = Vec::new();
        for p in &out.parties {
            for cap in caps {
                let missing = p.devices.iter().find(|d| !d.ics.declares(cap));
                if let Some(d) = missing {
                    let w = format!("{} ({}) declares no {cap}", p.name, d.ics.name);
                    if !why.contains(&w) {
                        why.push(w);
                    }
                }
            }
        }
        why
    };
    let whole = lacking(&exp.requires);
    if !whole.is_empty() {
        waived.push(format!(
            "the scenario's expectation requires {}: {}",
            exp.requires.join(", "),
            whole.join("; ")
        ));
    }
    if let (Some(o), true) = (&exp.outcome, whole.is_empty()) {
        if o.as_str() != outcome {
            unmet.push(format!("outcome {outcome}, expected {}", o.as_str()));
        }
    }
    for e in exp.checks.iter().filter(|_| whole.is_empty()) {
        let id = &e.id;
        let why = lacking(&e.requires);
        if !why.is_empty() {
            waived.push(format!("{id} requires {}: {}", e.requires.join(", "), why.join("; ")));
            continue;
        }
        let Some(c) = checks.iter().find(|c| &c.id == id) else {
            unmet.push(format!("{id}: no such check"));
            continue;
        };
        let want = e.verdict.unwrap_or(if c.level == crate::checks::Level::Info {
            Verdict::Informational
        } else {
            Verdict::Pass
        });
        if c.verdict != want {
            unmet.push(format!(
                "{id}: {}, expected {}",
                verdict_name(c.verdict),
                verdict_name(want)
            ));
        } else if let Some(t) = e.detail.as_ref().filter(|t| !c.detail.contains(t.as_str())) {
            unmet.push(format!("{id}: detail does not mention {t:?}: {}", c.detail));
        }
    }
    let with_ics = |name: &str| {
        let mut p = party_ref(spec, name);
        if let Some(d) = out
            .parties
            .iter()
            .find(|p| p.name == name)
            .and_then(|p| p.devices.first())
        {
            p.declares = declared(&d.ics);
            p.stack = d.ics.stack.clone();
        }
        p
    };
    RunReport {
        id: spec.id.clone(),
        scenario: spec.scenario.id.clone(),
        seed: spec.seed,
        caller: with_ics("caller"),
        callee: with_ics("callee"),
        outcome: outcome.into(),
        time_to_media_ms,
        selected_pair,
        termination,
        checks,
        expectation: Expectation {
            outcome: exp.outcome.map(|o| o.as_str().to_string()),
            checks: exp.checks.iter().map(|c| c.id.clone()).collect(),
            met: unmet.is_empty(),
            unmet,
            waived,
        },
        trace_hash: out.trace.hash(),
        trace_hash_masks: out.trace.mask_stun_transaction_ids.then(|| {
            "STUN transaction ids (as their order of first appearance) and the MESSAGE-INTEGRITY and \
             FINGERPRINT values over them: an implementation in this run draws them from a generator \
             nobody can seed"
                .to_string()
        }),
        trace_events: out.trace.events.len(),
        knobs: knobs(spec),
        negative_test: negative,
        replay: replay_command(&spec.id, spec.scenario.folder.as_deref()),
        error: None,
        artefacts: None,
        files: Vec::new(),
        mode: out.live.as_ref().map(|_| "live".to_string()),
        live: out.live.clone(),
    }
}

/// Builds the report from run results (any order); runs are sorted by id.
pub fn build(mut runs: Vec<RunReport>) -> Report {
    runs.sort_by(|a, b| a.id.cmp(&b.id));
    let mut all = aggregate::Aggregate::default();
    for r in &runs {
        all.add(r);
    }
    let aggregate::Summaries {
        cells,
        negative_tests,
        scorecards,
        unmet,
    } = all.finish();
    Report {
        schema: SCHEMA,
        harness: HarnessInfo {
            version: env!("CARGO_PKG_VERSION"),
        },
        artefacts: None,
        runs,
        matrix: Matrix { cells },
        negative_tests,
        scorecards,
        unmet,
    }
}

/// `report` as report.json holds it: pretty down to each run's fields and each matrix cell, each
/// check on one line ([`ReportWriter`] writes the same bytes run by run).
pub fn to_json(report: &Report) -> String {
    layout::to_json(report, 0) + "\n"
}

/// A verdict as report.json writes it (`non-strict`).
pub fn verdict_name(v: Verdict) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// How strict the exit status is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailOn {
    /// Fail when a MUST check failed (or a run had a harness error).
    Must,
    /// Fail when a MUST or SHOULD check failed.
    Should,
    /// Never fail on checks.
    Never,
}

/// What the runs hold against one implementation, for `conform --impl NAME`'s exit status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// MUST failures attributed to its party, other than faults the scenario injected.
    pub must_failed: usize,
    /// SHOULD misses (non-strict) attributed to its party, likewise.
    pub should_failed: usize,
    /// Runs it took part in whose scenario expectation was not met.
    pub unmet: usize,
}

impl Tally {
    /// Whether this counts as a failure at the `fail_on` level.
    pub fn fails(&self, fail_on: FailOn) -> bool {
        match fail_on {
            FailOn::Must => self.must_failed > 0 || self.unmet > 0,
            FailOn::Should => self.must_failed + self.should_failed + self.unmet > 0,
            FailOn::Never => false,
        }
    }
}

/// Adds what `run` holds against each implementation to `by_impl`.
pub fn tally(run: &RunReport, by_impl: &mut BTreeMap<String, Tally>) {
    for c in run.checks.iter().filter(|c| !c.injected) {
        let Some(name) = &c.implementation else { continue };
        match c.verdict {
            Verdict::Fail if c.level == Level::Must => by_impl.entry(name.clone()).or_default().must_failed += 1,
            Verdict::NonStrict => by_impl.entry(name.clone()).or_default().should_failed += 1,
            _ => {}
        }
    }
    if !run.expectation.met {
        // An unmet expectation is held against the implementations whose MUST failures the run
        // shows, injected ones included (the cause is theirs); when it shows none, against both,
        // as either may have changed.
        let mut blamed: Vec<&String> = run
            .checks
            .iter()
            .filter(|c| c.level == Level::Must && c.verdict == Verdict::Fail)
            .filter_map(|c| c.implementation.as_ref())
            .collect();
        if blamed.is_empty() {
            blamed = vec![&run.caller.implementation, &run.callee.implementation];
        }
        blamed.sort();
        blamed.dedup();
        for name in blamed {
            by_impl.entry(name.clone()).or_default().unmet += 1;
        }
    }
}

/// True when a check at the `fail_on` level failed in some run; with `gate`, only what is held
/// against that implementation ([`Summary::has_failure`]).
pub fn has_failure(report: &Report, fail_on: FailOn, gate: Option<&str>) -> bool {
    if let Some(name) = gate {
        let mut by_impl = BTreeMap::new();
        for r in &report.runs {
            tally(r, &mut by_impl);
        }
        return by_impl.get(name).is_some_and(|t| t.fails(fail_on));
    }
    report.runs.iter().any(|r| {
        r.checks.iter().any(|c| match fail_on {
            FailOn::Must => c.level == Level::Must && c.verdict == Verdict::Fail,
            FailOn::Should => matches!(c.verdict, Verdict::Fail | Verdict::NonStrict),
            FailOn::Never => false,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn run(id: &str, hash: &str) -> RunReport {
        RunReport {
            id: id.into(),
            scenario: "s".into(),
            seed: 1,
            caller: PartyRef {
                implementation: "a".into(),
                nat: "open".into(),
                declares: vec![],
                stack: None,
            },
            callee: PartyRef {
                implementation: "b".into(),
                nat: "open".into(),
                declares: vec![],
                stack: None,
            },
            outcome: "connected".into(),
            time_to_media_ms: Some(1),
            selected_pair: None,
            termination: None,
            checks: vec![],
            expectation: Expectation {
                met: true,
                ..Expectation::default()
            },
            trace_hash: hash.into(),
            trace_hash_masks: None,
            trace_events: 1,
            knobs: vec![],
            negative_test: false,
            replay: replay_command(id, None),
            error: None,
            artefacts: None,
            files: vec![],
            mode: None,
            live: None,
        }
    }

    fn json(runs: Vec<RunReport>) -> String {
        serde_json::to_string(&build(runs)).unwrap()
    }

    #[test]
    fn index_html_colours_the_matrix_links_runs_and_escapes() {
        let mut bad = run("s/a->b/open+open/seed-2", "h2");
        bad.outcome = "failed".into();
        bad.termination = Some(Termination {
            by: "callee".into(),
            reason: Some("security-error".into()),
            text: Some("media [\"audio\"] <b>".into()),
        });
        let html = render_html(&build(vec![run("s/a->b/open+open/seed-1", "h1"), bad.clone()]));
        assert!(html.starts_with("<!DOCTYPE html>"));
        // One cell for a->b on open+open: 1 of 2 connected, each as its scenario expected, no MUST
        // failure: green, linking to its runs.
        assert!(
            html.contains("<td class=\"pass\"><a href=\"#cell-0\">1/2</a></td>"),
            "{html}"
        );
        assert!(html.contains("<tbody id=\"cell-0\">"));
        assert!(html.contains("<a href=\"runs/s/a-to-b_open%2Bopen_seed-2.html\">"));
        let page = bad.render_html_page(env!("CARGO_PKG_VERSION"));
        assert!(page.contains("media [&quot;audio&quot;] &lt;b&gt;"), "text is escaped");
        assert!(!page.contains("<b>\""));
    }

    #[test]
    fn streamed_files_equal_the_whole_report_rendered_at_once() {
        let mut failing = run("s/a->c/open+symmetric/seed-1", "h3");
        failing.outcome = "failed".into();
        failing.expectation.unmet = vec!["outcome failed, expected connected".into()];
        failing.checks = vec![crate::checks::CheckResult {
            id: "ice.nomination.controlling-nominates".into(),
            level: Level::Must,
            cite: "RFC 8445 §8.1.1".into(),
            verdict: Verdict::Fail,
            party: crate::checks::Judged::Caller,
            implementation: Some("a".into()),
            injected: false,
            detail: "no <USE-CANDIDATE> & \"quote\"".into(),
            evidence: vec![3, 4],
        }];
        for runs in [
            vec![],
            vec![
                run("s/a->b/open+open/seed-1", "h1"),
                run("s/a->b/open+open/seed-2", "h2"),
                failing,
            ],
        ] {
            let dir = std::env::temp_dir().join(format!("ji-writer-test-{}-{}", std::process::id(), runs.len()));
            let _ = std::fs::remove_dir_all(&dir);
            let report = build(runs);
            let mut w = ReportWriter::create(&dir).unwrap();
            for r in &report.runs {
                w.push(r).unwrap();
            }
            let (files, summary) = w.finish().unwrap();
            assert_eq!(files.len(), 5);
            let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
            assert_eq!(read("report.json"), to_json(&report));
            assert_eq!(read("scorecards.html"), render_scorecards(&report.scorecards));
            assert_eq!(read("report.md"), render_markdown(&report));
            assert_eq!(read("junit.xml"), render_junit(&report));
            assert_eq!(read("index.html"), render_html(&report));
            assert!(!dir.join("report.md.part").exists() && !dir.join("junit.xml.part").exists());
            assert_eq!(summary.runs, report.runs.len());
            for gate in [None, Some("a"), Some("b"), Some("c")] {
                assert_eq!(
                    summary.has_failure(FailOn::Must, gate),
                    has_failure(&report, FailOn::Must, gate)
                );
                assert_eq!(
                    summary.has_failure(FailOn::Should, gate),
                    has_failure(&report, FailOn::Should, gate)
                );
            }
            for r in &report.runs {
                assert!(crate::conform::run_page(&dir, &r.id).exists());
            }
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }

    fn must_fail(id: &str, party: crate::checks::Judged, implementation: &str, injected: bool) -> CheckResult {
        CheckResult {
            id: id.into(),
            level: Level::Must,
            verdict: Verdict::Fail,
            party,
            implementation: Some(implementation.into()),
            injected,
            cite: "RFC 8445 §8.1.1".into(),
            detail: String::new(),
            evidence: vec![],
        }
    }

    #[test]
    fn a_cell_reads_works_fails_naming_the_culprit_or_no_path() {
        use crate::checks::Judged;
        // A fault the scenario injected on the caller: held against nobody, the cell works.
        let mut injected = run("s/a->b/open+open/seed-1", "h1");
        injected.checks = vec![must_fail("ice.x", Judged::Caller, "a", true)];
        let m = build(vec![injected.clone()]);
        assert_eq!(m.matrix.cells[0].class(), "pass");
        assert_eq!(m.matrix.cells[0].must_failed, 1);
        assert_eq!(m.matrix.cells[0].held, 0);
        // The callee's own fault: red, naming it.
        let mut own = run("s/a->b/open+open/seed-2", "h2");
        own.checks = vec![must_fail("ice.y", Judged::Callee, "b", false)];
        let m = build(vec![injected.clone(), own]);
        assert_eq!(m.matrix.cells[0].class(), "fail");
        assert_eq!(m.matrix.cells[0].culprits, ["b: ice.y (RFC 8445 §8.1.1)"]);
        // An expectation missed because the network offered no path: nobody's fault.
        let mut no_path = run("s/a->b/symmetric+symmetric/seed-1", "h3");
        no_path.outcome = "failed".into();
        no_path.expectation.met = false;
        no_path.checks = vec![CheckResult {
            verdict: Verdict::Inconclusive,
            party: Judged::None,
            ..must_fail("media.bidirectional-on-selected-pair", Judged::None, "a", false)
        }];
        let m = build(vec![no_path]);
        assert_eq!(m.matrix.cells[0].class(), "nopath");
        let html = render_html(&m);
        assert!(html.contains("class=\"nopath\""), "{html}");
    }

    #[test]
    fn negative_tests_stay_out_of_the_matrix_and_pass_when_the_finding_was_made() {
        use crate::checks::Judged;
        let mut neg = run("s/a->b/open+open/seed-1", "h1");
        neg.knobs = vec!["caller: omit-fingerprint=true".into()];
        neg.negative_test = true;
        neg.expectation.checks = vec!["jingle.fingerprint-present".into()];
        neg.checks = vec![must_fail("jingle.x", Judged::Caller, "a", true)];
        let mut missed = run("s/a->c/open+open/seed-1", "h2");
        missed.knobs = neg.knobs.clone();
        missed.negative_test = true;
        missed.callee.implementation = "c".into();
        missed.expectation.met = false;
        missed.expectation.unmet = vec!["jingle.fingerprint-present: pass, expected non-strict".into()];
        // A pairing that lacks what the finding needs: waived, so it tested nothing and is not met.
        let mut waived = run("s/a->d/open+open/seed-1", "h3");
        waived.knobs = neg.knobs.clone();
        waived.negative_test = true;
        waived.callee.implementation = "d".into();
        waived.expectation.waived = vec!["the scenario's expectation requires jmi: callee (d) declares no jmi".into()];
        let m = build(vec![neg, missed.clone(), waived]);
        assert!(m.matrix.cells.is_empty(), "{:?}", m.matrix.cells);
        assert_eq!(
            m.negative_tests,
            [NegativeTest {
                scenario: "s".into(),
                knobs: vec!["caller: omit-fingerprint=true".into()],
                expected: vec!["jingle.fingerprint-present".into()],
                runs: 3,
                met: 1,
                waived: 1,
                first_unmet: Some(missed.id.clone()),
            }]
        );
        assert_eq!(m.unmet.len(), 1);
        assert!(m.unmet[0].explained_by.starts_with("negative test"), "{:?}", m.unmet);
        // A run whose knobs only configure (no finding expected) is in the matrix.
        let mut configured = run("s/a->b/open+open/seed-3", "h3");
        configured.knobs = vec!["callee: jmi=false".into()];
        let m = build(vec![configured]);
        assert_eq!(m.matrix.cells.len(), 1);
        assert!(m.negative_tests.is_empty());
        let md = render_markdown(&m);
        assert!(md.contains("## Negative tests") && md.contains("## Scorecards"), "{md}");
    }

    #[test]
    fn a_cell_over_seeds_gives_rates_and_the_seeds_that_failed_and_unmet_is_its_own_colour() {
        use crate::checks::Judged;
        let mut runs = Vec::new();
        for seed in 1..=4u64 {
            let mut r = run(&format!("s/a->b/open+open/seed-{seed}"), &format!("h{seed}"));
            r.seed = seed;
            if seed == 2 || seed == 4 {
                r.checks = vec![must_fail("ice.y", Judged::Callee, "b", false)];
            }
            runs.push(r);
        }
        let m = build(runs.clone());
        let c = &m.matrix.cells[0];
        assert_eq!(
            (c.runs, c.seeds.clone(), c.failed_seeds.clone()),
            (4, vec![1, 2, 3, 4], vec![2, 4])
        );
        assert_eq!(c.culprit_runs, [2]);
        assert_eq!(
            markdown::reads(c),
            "fails: b: ice.y (RFC 8445 §8.1.1) 2/4; failed with seeds 2, 4"
        );
        // An expectation missed with nothing to explain it: orange, not hidden behind a red cell.
        let mut changed = runs[0].clone();
        changed.expectation.met = false;
        changed.expectation.unmet = vec!["outcome failed, expected connected".into()];
        let m = build(vec![changed.clone()]);
        assert_eq!(m.matrix.cells[0].class(), "unmet");
        assert_eq!(m.unmet[0].explained_by, "");
        assert!(render_html(&m).contains("<td class=\"unmet\">"));
        let m = build(vec![changed, runs[1].clone()]);
        let c = &m.matrix.cells[0];
        assert_eq!(c.class(), "fail");
        assert!(
            markdown::reads(c).contains("1/2 runs missed their expectation"),
            "{}",
            markdown::reads(c)
        );
    }

    #[test]
    fn a_scorecard_lists_rules_broken_with_peers_and_first_run_and_rules_passed() {
        use crate::checks::Judged;
        let mut one = run("s/a->b/open+open/seed-1", "h1");
        one.callee.declares = vec!["jmi".into(), "renomination (legacy-c001)".into()];
        one.checks = vec![
            must_fail("ice.y", Judged::Callee, "b", false),
            CheckResult {
                verdict: Verdict::Pass,
                ..must_fail("ice.z", Judged::Both, "b", false)
            },
        ];
        let mut two = run("s/c->b/open+open/seed-1", "h2");
        two.caller.implementation = "c".into();
        two.checks = vec![
            must_fail("ice.y", Judged::Callee, "b", false),
            must_fail("ice.w", Judged::Caller, "c", true),
        ];
        let m = build(vec![one.clone(), two]);
        let b = m.scorecards.iter().find(|c| c.implementation == "b").unwrap();
        assert_eq!(b.runs, 2);
        assert_eq!(b.declares, one.callee.declares);
        assert_eq!(b.breaks.len(), 1);
        assert_eq!(
            (b.breaks[0].check.as_str(), b.breaks[0].runs, b.breaks[0].peers.clone()),
            ("ice.y", 2, vec!["a".to_string(), "c".to_string()])
        );
        assert_eq!(b.breaks[0].first_run, one.id);
        assert_eq!(b.passes.iter().map(|p| p.check.as_str()).collect::<Vec<_>>(), ["ice.z"]);
        // An injected fault is nobody's: c breaks nothing.
        let c = m.scorecards.iter().find(|c| c.implementation == "c").unwrap();
        assert!(c.breaks.is_empty());
        let page = render_scorecards(&m.scorecards);
        assert!(page.contains("<code>ice.y</code>") && page.contains("a, c"), "{page}");
    }

    #[test]
    fn thinning_keeps_the_first_run_of_each_finding() {
        use crate::checks::Judged;
        let mut runs = Vec::new();
        for (seed, check) in [(1, "ice.y"), (2, "ice.y"), (3, "ice.z")] {
            let mut r = run(&format!("s/a->b/open+open/seed-{seed}"), &format!("h{seed}"));
            r.checks = vec![must_fail(check, Judged::Callee, "b", false)];
            r.artefacts = Some(format!("runs/s/a-to-b_open+open_seed-{seed}"));
            runs.push(r);
        }
        let dropped = thin_artefacts(&mut runs);
        assert_eq!(dropped, ["runs/s/a-to-b_open+open_seed-2"]);
        assert!(runs[0].artefacts.is_some() && runs[2].artefacts.is_some());
    }

    #[test]
    fn a_diff_lists_changed_verdicts_and_new_findings_and_exits_on_a_regression() {
        use crate::checks::Judged;
        let ok = run("s/a->b/open+open/seed-1", "h1");
        let same = serde_json::to_string(&build(vec![ok.clone()])).unwrap();
        let (md, worse) = diff("old", &same, "new", &same).unwrap();
        assert!(!worse && md.contains("No change"), "{md}");
        let mut bad = ok.clone();
        bad.checks = vec![must_fail("ice.y", Judged::Callee, "b", false)];
        let broken = serde_json::to_string(&build(vec![bad])).unwrap();
        let (md, worse) = diff("v1", &same, "v2", &broken).unwrap();
        assert!(worse, "{md}");
        assert!(md.contains("### New findings") && md.contains("**b** `ice.y`"), "{md}");
        assert!(md.contains("| a | b | open+open | pass | fail |"), "{md}");
        // The other way round the finding is fixed, and nothing regressed.
        let (md, worse) = diff("v2", &broken, "v3", &same).unwrap();
        assert!(!worse && md.contains("### Fixed findings"), "{md}");
        assert!(diff("x", "{}", "y", &same)
            .unwrap_err()
            .starts_with("x: not a report.json"));
    }

    #[test]
    fn a_thinned_report_keeps_the_first_failing_run_s_artefacts_per_cell_and_merges_the_same() {
        let dir = std::env::temp_dir().join(format!("ji-thin-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut runs = Vec::new();
        for seed in 1..=3 {
            let mut r = run(&format!("s/a->b/open+open/seed-{seed}"), &format!("h{seed}"));
            let folder = crate::conform::run_dir(Path::new(""), &r.id)
                .to_string_lossy()
                .into_owned();
            std::fs::create_dir_all(dir.join(&folder)).unwrap();
            std::fs::write(dir.join(&folder).join("trace.jsonl"), "{}").unwrap();
            r.artefacts = Some(folder);
            r.files = vec!["trace.jsonl".into()];
            runs.push(r);
        }
        let mut w = ReportWriter::create_with(&dir, true).unwrap();
        for r in &runs {
            w.push(r).unwrap();
        }
        w.finish().unwrap();
        let text = std::fs::read_to_string(dir.join("report.json")).unwrap();
        assert!(text.contains("\"artefacts\": \"first-run-per-finding\""), "{text}");
        assert_eq!(text.matches("\"artefacts\": \"runs/").count(), 1, "{text}");
        let kept = runs[0].artefacts.clone().unwrap();
        assert!(dir.join(&kept).join("trace.jsonl").exists());
        let gone = runs[1].artefacts.clone().unwrap();
        assert!(!dir.join(&gone).join("trace.jsonl").exists());
        // Merged from itself, the same bytes.
        let merged = merge(&[("a".into(), text.clone())]).unwrap();
        assert_eq!(to_json(&merged), text);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn streamed_runs_out_of_order_are_a_caller_bug() {
        let dir = std::env::temp_dir().join(format!("ji-writer-order-{}", std::process::id()));
        let mut w = ReportWriter::create(&dir).unwrap();
        w.push(&run("s/a->b/open+open/seed-2", "h2")).unwrap();
        let late = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _ = w.push(&run("s/a->b/open+open/seed-1", "h1"));
        }));
        let msg = late.expect_err("an earlier id after a later one panics");
        assert!(msg.downcast_ref::<String>().unwrap().contains("increasing id order"));
        drop(w);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn merge_is_the_sorted_union_and_refuses_conflicting_runs() {
        let a = ("a".to_string(), json(vec![run("x/2", "h2"), run("x/1", "h1")]));
        let b = ("b".to_string(), json(vec![run("x/3", "h3"), run("x/1", "h1")]));
        let m = merge(&[a.clone(), b]).unwrap();
        let ids: Vec<&str> = m.runs.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["x/1", "x/2", "x/3"]);
        assert_eq!(m.matrix.cells.len(), 1);
        assert_eq!(m.matrix.cells[0].runs, 3);
        let c = ("c".to_string(), json(vec![run("x/1", "other")]));
        let e = merge(&[a, c]).unwrap_err();
        assert!(e.contains("run x/1 has trace hash other here but h1"), "{e}");
        assert!(merge(&[("d".into(), "{}".into())])
            .unwrap_err()
            .starts_with("d: not a report.json"));
    }
}
