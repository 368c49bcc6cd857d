//! The report model (`jingle-interop/report/1`), built from checks over each run, and its renderings.
//!
//! report.json holds no wall-clock time, so two runs of the same matrix diff cleanly; wall time and
//! host facts go to meta.json.

mod diff;
mod html;
mod junit;
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

pub use diff::diff;
pub use html::render_html;
pub use junit::render_junit;
pub use markdown::render_markdown;
pub use writer::{ReportWriter, Summary};

/// `artefacts` of a report whose failing runs kept their capture, trace and ladder only for the
/// first failing run of each matrix cell (`--pcap failing`), so the folder stays small enough to
/// publish; `replay` writes any run's.
pub const FIRST_FAILING_PER_CELL: &str = "first-failing-run-per-cell";

/// Keeps the artefacts of `runs` (sorted by id) only on the first run of each matrix cell that
/// has any, and returns the folders of the others (to remove).
pub fn thin_artefacts(runs: &mut [RunReport]) -> Vec<String> {
    let mut kept = std::collections::BTreeSet::new();
    let mut dropped = Vec::new();
    for r in runs.iter_mut() {
        if r.artefacts.is_some() && !kept.insert(html::cell_key(r)) {
            dropped.extend(r.artefacts.take());
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
    /// [`FIRST_FAILING_PER_CELL`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artefacts: Option<&'static str>,
    /// Every run, sorted by id.
    pub runs: Vec<RunReport>,
    /// The matrix summary.
    pub matrix: Matrix,
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
    /// Command that re-runs exactly this run.
    pub replay: String,
    /// Why the harness could not run it, for `harness-error`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Folder of the run's capture, trace.jsonl and ladder.svg, relative to the output folder, when
    /// they were written (`--pcap`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artefacts: Option<String>,
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
    /// The failures held against an implementation, each once, in the order first met:
    /// `IMPL: CHECK (CITE)`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub culprits: Vec<String>,
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
            culprits: Vec::new(),
        }
    }

    /// Counts `run` in the cell.
    pub fn add(&mut self, run: &RunReport) {
        self.runs += 1;
        self.connected += usize::from(run.outcome == "connected");
        let must: Vec<&CheckResult> = run
            .checks
            .iter()
            .filter(|k| k.level == Level::Must && k.verdict == Verdict::Fail)
            .collect();
        self.must_failed += must.len();
        let held: Vec<&&CheckResult> = must.iter().filter(|k| !k.injected).collect();
        self.held += held.len();
        for k in &held {
            let who = match &k.implementation {
                Some(i) => format!("{i}: {} ({})", k.id, k.cite),
                None => format!("{} ({})", k.id, k.cite),
            };
            if !self.culprits.contains(&who) {
                self.culprits.push(who);
            }
        }
        if !run.expectation.met {
            self.unmet += 1;
            let network = run
                .checks
                .iter()
                .any(|k| k.id == "media.bidirectional-on-selected-pair" && k.party == crate::checks::Judged::None);
            self.no_path += usize::from(held.is_empty() && network);
        }
    }

    /// How the cell reads: `fail` when a failure is held against an implementation or an
    /// expectation was not met for another reason than the network; `nopath` when the network
    /// offered no path; `pass` when every run met its expectation with nothing held.
    pub fn class(&self) -> &'static str {
        if self.held > 0 || self.unmet > self.no_path {
            "fail"
        } else if self.no_path > 0 {
            "nopath"
        } else {
            "pass"
        }
    }
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
        thin |= shard.artefacts.as_deref() == Some(FIRST_FAILING_PER_CELL);
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
        report.artefacts = Some(FIRST_FAILING_PER_CELL);
    }
    Ok(report)
}

/// The replay command for a run.
pub fn replay_command(id: &str) -> String {
    format!("cargo xtask replay '{id}'")
}

fn party_ref(spec: &RunSpec, name: &str) -> PartyRef {
    spec.party(name)
        .map(|p| PartyRef {
            implementation: p.implementation.clone(),
            nat: p.nat_name.clone(),
        })
        .unwrap_or(PartyRef {
            implementation: String::new(),
            nat: String::new(),
        })
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
        replay: replay_command(&spec.id),
        error: Some(error),
        artefacts: None,
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
    for c in &mut checks {
        let party = c.party.name().and_then(|p| out.spec.party(p));
        c.implementation = party.map(|p| p.implementation.clone());
        // The party ran with knobs the scenario set (a fault injected on purpose, not the
        // implementation as it is): what it breaks is a negative test of the judge, held against
        // nobody; the scenario's expectation judges the run.
        c.injected =
            party.is_some_and(|p| !p.knobs.is_empty()) && matches!(c.verdict, Verdict::Fail | Verdict::NonStrict);
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
        if o != outcome {
            unmet.push(format!("outcome {outcome}, expected {o}"));
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
        let got = serde_json::to_value(c.verdict)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let want = e.verdict.clone().unwrap_or_else(|| {
            if c.level == crate::checks::Level::Info {
                "informational".into()
            } else {
                "pass".into()
            }
        });
        if got != want {
            unmet.push(format!("{id}: {got}, expected {want}"));
        } else if let Some(t) = e.detail.as_ref().filter(|t| !c.detail.contains(t.as_str())) {
            unmet.push(format!("{id}: detail does not mention {t:?}: {}", c.detail));
        }
    }
    RunReport {
        id: spec.id.clone(),
        scenario: spec.scenario.id.clone(),
        seed: spec.seed,
        caller: party_ref(spec, "caller"),
        callee: party_ref(spec, "callee"),
        outcome: outcome.into(),
        time_to_media_ms,
        selected_pair,
        termination,
        checks,
        expectation: Expectation {
            outcome: exp.outcome.clone(),
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
        replay: replay_command(&spec.id),
        error: None,
        artefacts: None,
    }
}

/// Builds the report from run results (any order); runs are sorted by id.
pub fn build(mut runs: Vec<RunReport>) -> Report {
    runs.sort_by(|a, b| a.id.cmp(&b.id));
    let mut cells: BTreeMap<(String, String, String), Cell> = BTreeMap::new();
    for r in &runs {
        let key = (
            r.caller.implementation.clone(),
            r.callee.implementation.clone(),
            format!("{}+{}", r.caller.nat, r.callee.nat),
        );
        let c = cells
            .entry(key.clone())
            .or_insert_with(|| Cell::new(key.0, key.1, key.2));
        c.add(r);
    }
    Report {
        schema: SCHEMA,
        harness: HarnessInfo {
            version: env!("CARGO_PKG_VERSION"),
        },
        artefacts: None,
        runs,
        matrix: Matrix {
            cells: cells.into_values().collect(),
        },
    }
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
            },
            callee: PartyRef {
                implementation: "b".into(),
                nat: "open".into(),
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
            replay: replay_command(id),
            error: None,
            artefacts: None,
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
        assert!(html.contains("<a href=\"runs/s/a-to-b/open%2Bopen/seed-2/index.html\">"));
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
            assert_eq!(files.len(), 4);
            let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
            assert_eq!(
                read("report.json"),
                serde_json::to_string_pretty(&report).unwrap() + "\n"
            );
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
                assert!(crate::conform::run_dir(&dir, &r.id).join("index.html").exists());
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
            runs.push(r);
        }
        let mut w = ReportWriter::create_with(&dir, true).unwrap();
        for r in &runs {
            w.push(r).unwrap();
        }
        w.finish().unwrap();
        let text = std::fs::read_to_string(dir.join("report.json")).unwrap();
        assert!(text.contains("\"artefacts\": \"first-failing-run-per-cell\""), "{text}");
        assert_eq!(text.matches("\"artefacts\": \"runs/").count(), 1, "{text}");
        let kept = runs[0].artefacts.clone().unwrap();
        assert!(dir.join(&kept).join("trace.jsonl").exists());
        let gone = runs[1].artefacts.clone().unwrap();
        assert!(!dir.join(&gone).join("trace.jsonl").exists());
        // Merged from itself, the same bytes.
        let merged = merge(&[("a".into(), text.clone())]).unwrap();
        assert_eq!(serde_json::to_string_pretty(&merged).unwrap() + "\n", text);
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
