//! `report diff`: what changed between two reports of the same matrix (two versions of an
//! implementation, of the harness, of the scenarios), as Markdown fit for a pull-request comment.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::Deserialize;

use super::{build, RunReport, SCHEMA};
use crate::checks::{Level, Verdict};

#[derive(Deserialize)]
struct Doc {
    schema: String,
    runs: Vec<RunReport>,
}

fn read(name: &str, text: &str) -> Result<BTreeMap<String, RunReport>, String> {
    let doc: Doc = serde_json::from_str(text).map_err(|e| format!("{name}: not a report.json: {e}"))?;
    if doc.schema != SCHEMA {
        return Err(format!("{name}: schema `{}`, expected `{SCHEMA}`", doc.schema));
    }
    Ok(doc.runs.into_iter().map(|r| (r.id.clone(), r)).collect())
}

/// The findings of a run: MUST failures held against an implementation, as (implementation,
/// check id).
fn findings(r: &RunReport) -> BTreeSet<(String, String)> {
    r.checks
        .iter()
        .filter(|c| c.level == Level::Must && c.verdict == Verdict::Fail && !c.injected)
        .map(|c| (c.implementation.clone().unwrap_or_else(|| "?".into()), c.id.clone()))
        .collect()
}

/// The difference between report.json texts `old` and `new` (named for errors and headings), as
/// Markdown, and whether `new` has a finding `old` did not (a MUST failure held against an
/// implementation in a run, or an unmet expectation, that the old report's same run lacked; a run
/// only in `new` counts with all of its).
///
/// Errors: a text that is not a report of [`SCHEMA`].
pub fn diff(old_name: &str, old: &str, new_name: &str, new: &str) -> Result<(String, bool), String> {
    let a = read(old_name, old)?;
    let b = read(new_name, new)?;
    let mut md = format!("## jingle-interop: `{old_name}` → `{new_name}`\n\n");
    let only_old: Vec<&String> = a.keys().filter(|k| !b.contains_key(*k)).collect();
    let only_new: Vec<&String> = b.keys().filter(|k| !a.contains_key(*k)).collect();
    // Cells whose reading changed.
    let cells = |runs: &BTreeMap<String, RunReport>| -> BTreeMap<(String, String, String), &'static str> {
        build(runs.values().cloned().collect())
            .matrix
            .cells
            .iter()
            .map(|c| ((c.caller.clone(), c.callee.clone(), c.nat.clone()), c.class()))
            .collect()
    };
    let (ca, cb) = (cells(&a), cells(&b));
    let changed_cells: Vec<_> = cb
        .iter()
        .filter_map(|(k, v)| {
            let was = ca.get(k).copied().unwrap_or("—");
            (was != *v).then_some((k, was, *v))
        })
        .collect();
    if !changed_cells.is_empty() {
        let _ = writeln!(
            md,
            "### Matrix cells that read differently\n\n| caller | callee | NAT | was | now |\n|---|---|---|---|---|"
        );
        for ((x, y, n), was, now) in &changed_cells {
            let _ = writeln!(md, "| {x} | {y} | {n} | {was} | {now} |");
        }
        md.push('\n');
    }
    // Findings per implementation.
    let mut new_findings: BTreeMap<(String, String), Vec<&str>> = BTreeMap::new();
    let mut fixed: BTreeMap<(String, String), Vec<&str>> = BTreeMap::new();
    let mut regressed = false;
    let mut changed_runs = Vec::new();
    for (id, r) in &b {
        let before = a.get(id);
        let (fa, fb) = (before.map(findings).unwrap_or_default(), findings(r));
        for f in fb.difference(&fa) {
            new_findings.entry(f.clone()).or_default().push(id);
            regressed = true;
        }
        for f in fa.difference(&fb) {
            fixed.entry(f.clone()).or_default().push(id);
        }
        if !r.expectation.met && before.is_none_or(|o| o.expectation.met) {
            regressed = true;
        }
        if let Some(o) = before {
            let mut what = Vec::new();
            if o.outcome != r.outcome {
                what.push(format!("outcome {} → {}", o.outcome, r.outcome));
            }
            if o.expectation.met != r.expectation.met {
                what.push(if r.expectation.met {
                    "expectation now met".to_string()
                } else {
                    format!("expectation no longer met: {}", r.expectation.unmet.join("; "))
                });
            }
            for c in &r.checks {
                if let Some(p) = o
                    .checks
                    .iter()
                    .find(|p| p.id == c.id)
                    .filter(|p| p.verdict != c.verdict)
                {
                    what.push(format!(
                        "`{}` {} → {}",
                        c.id,
                        super::verdict_name(p.verdict),
                        super::verdict_name(c.verdict)
                    ));
                }
            }
            if !what.is_empty() {
                changed_runs.push((id, what));
            }
        }
    }
    let list = |md: &mut String, title: &str, m: &BTreeMap<(String, String), Vec<&str>>| {
        if m.is_empty() {
            return;
        }
        let _ = writeln!(md, "### {title}\n");
        for ((who, rule), runs) in m {
            let _ = writeln!(md, "- **{who}** `{rule}`: {} run(s), first `{}`", runs.len(), runs[0]);
        }
        md.push('\n');
    };
    list(&mut md, "New findings", &new_findings);
    list(&mut md, "Fixed findings", &fixed);
    if !changed_runs.is_empty() {
        let _ = writeln!(md, "### Runs that changed ({})\n", changed_runs.len());
        for (id, what) in changed_runs.iter().take(200) {
            let _ = writeln!(md, "- `{id}`: {}", what.join(", "));
        }
        if changed_runs.len() > 200 {
            let _ = writeln!(md, "- … {} more", changed_runs.len() - 200);
        }
        md.push('\n');
    }
    for (title, ids) in [
        ("Runs only in the old report", &only_old),
        ("Runs only in the new report", &only_new),
    ] {
        if !ids.is_empty() {
            let _ = writeln!(md, "### {title} ({})\n", ids.len());
            for id in ids.iter().take(200) {
                let _ = writeln!(md, "- `{id}`");
            }
            md.push('\n');
        }
    }
    if changed_cells.is_empty()
        && new_findings.is_empty()
        && fixed.is_empty()
        && changed_runs.is_empty()
        && only_old.is_empty()
        && only_new.is_empty()
    {
        md.push_str("No change: the same runs with the same verdicts.\n");
    }
    Ok((md, regressed))
}
