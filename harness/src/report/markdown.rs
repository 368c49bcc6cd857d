use std::fmt::Write as _;

use super::{Cell, Report, RunReport, SCHEMA};
use crate::checks::Verdict;

/// Renders report.md: the matrix, then each run with its checks, failures first with citation and
/// replay command.
pub fn render_markdown(r: &Report) -> String {
    let mut s = head(r.runs.len(), &r.matrix.cells);
    for run in &r.runs {
        s.push_str(&run_section(run));
    }
    s
}

/// report.md up to the runs: title, counts, the matrix, the `## Runs` heading.
pub(super) fn head(runs: usize, cells: &[Cell]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# jingle-interop report\n");
    let _ = writeln!(
        s,
        "Schema `{SCHEMA}`, harness {}. {runs} runs.\n",
        env!("CARGO_PKG_VERSION"),
    );
    let _ = writeln!(
        s,
        "## Matrix\n\nWorks when every run met its expectation and no MUST failure is held against either \
         implementation (faults a scenario injects count against nobody).\n\n\
         | caller | callee | NAT | runs | connected | MUST failures | held | reads |\n|---|---|---|---|---|---|---|---|"
    );
    for c in cells {
        let reads = match (c.class(), c.culprits.is_empty()) {
            (_, false) => format!("fails: {}", c.culprits.join("; ")),
            ("fail", true) => format!("fails: {} expectation(s) not met", c.unmet),
            ("nopath", _) => "no path (the network)".to_string(),
            _ => "works".to_string(),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            c.caller, c.callee, c.nat, c.runs, c.connected, c.must_failed, c.held, reads
        );
    }
    let _ = writeln!(s, "\n## Runs\n");
    s
}

/// One run's section of report.md.
pub(super) fn run_section(run: &RunReport) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "### `{}`\n", run.id);
    let _ = writeln!(s, "- outcome: **{}**", run.outcome);
    if let Some(t) = run.time_to_media_ms {
        let _ = writeln!(s, "- time from answer to media both ways: {t} ms (simulated)");
    }
    if let Some(p) = &run.selected_pair {
        let _ = writeln!(
            s,
            "- selected pair: caller {}→{}, callee {}→{}",
            p.caller.local, p.caller.remote, p.callee.local, p.callee.remote
        );
    }
    if let Some(t) = &run.termination {
        let _ = writeln!(
            s,
            "- terminated by {} with {}",
            t.by,
            t.reason.as_deref().unwrap_or("no reason")
        );
    }
    if let Some(e) = &run.error {
        let _ = writeln!(s, "- harness error: {e}");
    }
    if !run.expectation.met {
        let _ = writeln!(s, "- expectation not met: {}", run.expectation.unmet.join("; "));
    }
    let _ = writeln!(s, "- replay: `{}`\n", run.replay);
    let _ = writeln!(
        s,
        "| check | level | verdict | judged | cite | detail |\n|---|---|---|---|---|---|"
    );
    let mut checks: Vec<_> = run.checks.iter().collect();
    checks.sort_by_key(|c| c.verdict != Verdict::Fail);
    for c in checks {
        let _ = writeln!(
            s,
            "| `{}` | {:?} | {:?} | {} | {} | {} (evidence: {:?}) |",
            c.id,
            c.level,
            c.verdict,
            c.judged_label(),
            c.cite,
            c.detail.replace('|', "\\|"),
            c.evidence
        );
    }
    let _ = writeln!(s);
    s
}
