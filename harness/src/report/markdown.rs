use std::fmt::Write as _;

use super::{Cell, NegativeTest, Report, RunReport, Scorecard, UnmetRun, SCHEMA};
use crate::checks::Verdict;

/// Renders report.md: the matrix, the negative tests, the expectations not met, the scorecards,
/// then each run with the checks that did not pass, failures first, with citation and replay command.
pub fn render_markdown(r: &Report) -> String {
    let mut s = head(
        r.runs.len(),
        &r.matrix.cells,
        &r.negative_tests,
        &r.scorecards,
        &r.unmet,
    );
    for run in &r.runs {
        s.push_str(&run_section(run));
    }
    s
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

/// report.md up to the runs: title, counts, the matrix, negative tests, expectations not met,
/// scorecards, the `## Runs` heading.
pub(super) fn head(
    runs: usize,
    cells: &[Cell],
    negative: &[NegativeTest],
    cards: &[Scorecard],
    unmet: &[UnmetRun],
) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# jingle-interop report\n");
    let _ = writeln!(
        s,
        "Schema `{SCHEMA}`, harness {}. {runs} runs.\n",
        env!("CARGO_PKG_VERSION"),
    );
    let _ = writeln!(
        s,
        "## Matrix\n\nDoes the caller's implementation work with the callee's behind these NATs? Judged on the \
         runs where both ran as themselves: runs whose scenario injects a fault through knobs and expects \
         it found are negative tests, below. \
         Works when every run met its expectation and no MUST failure is held against either implementation; \
         fails naming the implementation and the rule (in how many of the cell's runs) when one is; \
         expectation not met when a run missed its scenario's expectation and no failure explains it; no path \
         when the network offered none.\n\n\
         | caller | callee | NAT | runs | connected | MUST failures | held | reads |\n|---|---|---|---|---|---|---|---|"
    );
    for c in cells {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            c.caller,
            c.callee,
            c.nat,
            c.runs,
            c.connected,
            c.must_failed,
            c.held,
            cell(&reads(c))
        );
    }
    let _ = writeln!(
        s,
        "\n## Negative tests\n\nRuns whose scenario injects a fault through knobs and expects the judge to \
         find it: they test the judge and the peer's reaction. A test passes when its expected finding was \
         made: the scenario's expectation met. Runs where part of the expectation was waived (a capability \
         the pairing lacks) did not test the finding.\n\n\
         | scenario | knobs | expected | runs | met | waived | first run not met |\n|---|---|---|---|---|---|---|"
    );
    for t in negative {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} |",
            t.scenario,
            cell(&t.knobs.join("; ")),
            cell(&t.expected.join(", ")),
            t.runs,
            t.met,
            t.waived,
            t.first_unmet.as_deref().map(|id| format!("`{id}`")).unwrap_or_default()
        );
    }
    let _ = writeln!(
        s,
        "\n## Expectations not met\n\n{} runs missed their scenario's expectation; {} of them with nothing to \
         explain it (a behaviour that changed).\n\n| run | not met | explained by |\n|---|---|---|",
        unmet.len(),
        unmet.iter().filter(|u| u.explained_by.is_empty()).count()
    );
    for u in unmet {
        let _ = writeln!(
            s,
            "| `{}` | {} | {} |",
            u.id,
            cell(&u.unmet.join("; ")),
            if u.explained_by.is_empty() {
                "**nothing**".to_string()
            } else {
                cell(&u.explained_by)
            }
        );
    }
    let _ = writeln!(s, "\n## Scorecards\n");
    for card in cards {
        let _ = writeln!(
            s,
            "### {}\n\n{} runs, {} connected. Its ICS declares: {}.\n",
            card.implementation,
            card.runs,
            card.connected,
            if card.declares.is_empty() {
                "nothing".to_string()
            } else {
                card.declares.join(", ")
            }
        );
        if card.breaks.is_empty() {
            let _ = writeln!(s, "Breaks no rule.\n");
        } else {
            let _ = writeln!(
                s,
                "| breaks | level | cite | runs | with | first run |\n|---|---|---|---|---|---|"
            );
            for b in &card.breaks {
                let _ = writeln!(
                    s,
                    "| `{}` | {} | {} | {} | {} | `{}` |",
                    b.check,
                    format!("{:?}", b.level).to_uppercase(),
                    b.cite,
                    b.runs,
                    b.peers.join(", "),
                    b.first_run
                );
            }
            let _ = writeln!(s);
        }
        let passes: Vec<String> = card
            .passes
            .iter()
            .map(|p| format!("`{}` ({})", p.check, p.cite))
            .collect();
        let _ = writeln!(
            s,
            "Passes: {}.\n",
            if passes.is_empty() {
                "nothing judged".to_string()
            } else {
                passes.join(", ")
            }
        );
    }
    let _ = writeln!(s, "## Runs\n");
    s
}

/// How a cell reads, in words: works, fails naming each implementation and rule with its run count,
/// expectation(s) not met, or no path.
pub(super) fn reads(c: &Cell) -> String {
    let mut parts: Vec<String> = c
        .culprits
        .iter()
        .zip(&c.culprit_runs)
        .map(|(who, n)| format!("{who} {n}/{}", c.runs))
        .collect();
    if c.missed() > 0 {
        parts.push(format!("{}/{} runs missed their expectation", c.missed(), c.runs));
    }
    let mut text = match c.class() {
        "fail" => format!("fails: {}", parts.join("; ")),
        "unmet" => format!("expectation not met: {}", parts.join("; ")),
        "nopath" => "no path (the network)".to_string(),
        _ => "works".to_string(),
    };
    if c.seeds.len() > 1 && !c.failed_seeds.is_empty() {
        let seeds: Vec<String> = c.failed_seeds.iter().map(u64::to_string).collect();
        let _ = write!(text, "; failed with seeds {}", seeds.join(", "));
    }
    text
}

/// One run's section of report.md.
pub(super) fn run_section(run: &RunReport) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "### `{}`\n", run.id);
    let _ = writeln!(s, "- outcome: **{}**", run.outcome);
    if !run.knobs.is_empty() {
        let what = if run.negative_test { " (a negative test)" } else { "" };
        let _ = writeln!(s, "- knobs the scenario sets{what}: {}", run.knobs.join("; "));
    }
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
    let _ = writeln!(s, "- replay: `{}`", run.replay);
    let quiet = |c: &&crate::checks::CheckResult| matches!(c.verdict, Verdict::Pass | Verdict::Inconclusive);
    let passed = run.checks.iter().filter(|c| c.verdict == Verdict::Pass).count();
    let inconclusive = run.checks.iter().filter(|c| c.verdict == Verdict::Inconclusive).count();
    let _ = writeln!(
        s,
        "- {passed} checks passed and {inconclusive} were inconclusive (the run's page and report.json \
         list them)\n"
    );
    let mut checks: Vec<_> = run.checks.iter().filter(|c| !quiet(c)).collect();
    if checks.is_empty() {
        return s;
    }
    let _ = writeln!(
        s,
        "| check | level | verdict | judged | cite | detail |\n|---|---|---|---|---|---|"
    );
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
