//! The HTML report: static pages that open from file:// with no server, no script and no external
//! resource. Same report, same bytes.
//!
//! - `index.html` ([`render_html`]): the matrix per NAT pair (caller × callee), coloured, each cell
//!   linking to its group in a compact list of runs below it; one row per run (its id linking to the
//!   run's page, outcome, whether the expectation was met, failed and non-strict checks).
//! - `scorecards.html` ([`render_scorecards`]): per implementation, its ICS, the rules it breaks and
//!   the rules it passes.
//! - `runs/SCENARIO/RUN.html` ([`RunReport::render_html_page`], as [`crate::conform::run_page`]
//!   names it): one run — outcome, expectation, knobs, parties, selected pairs, termination, every
//!   check (failures first) with level, citation, verdict, detail and evidence, the replay command
//!   and, when the run has artefacts (in the folder beside the page, [`crate::conform::run_dir`]),
//!   the ladder diagram embedded with links to the files written.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use super::{NegativeTest, Report, RunReport, Scorecard, UnmetRun};
use crate::checks::{Level, Verdict};

/// Escapes text for HTML element content and attribute values.
fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            _ => o.push(c),
        }
    }
    o
}

/// Percent-encodes a relative URL path: everything but RFC 3986 unreserved characters and the `/`
/// between segments (run ids carry `+`, and could carry `%`, `#`, `?` or spaces).
fn url_path(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            o.push(char::from(b));
        } else {
            let _ = write!(o, "%{b:02X}");
        }
    }
    o
}

/// A run's artefacts folder relative to the output folder, `/`-separated.
fn run_folder(id: &str) -> String {
    crate::conform::run_dir(Path::new(""), id)
        .to_string_lossy()
        .replace('\\', "/")
}

/// A run's page relative to the output folder, `/`-separated, percent-encoded for a link.
fn page_href(id: &str) -> String {
    url_path(&format!("{}.html", run_folder(id)))
}

/// The serde name of a level or verdict (`must`, `non-strict`, …).
fn name<T: Serialize>(v: T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn verdict_class(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "pass",
        Verdict::Fail | Verdict::HarnessError => "fail",
        Verdict::NonStrict => "warn",
        _ => "info",
    }
}

/// Checks of `run` that failed (a MUST broken, or the harness could not evaluate) and that were
/// non-strict (a SHOULD missed).
fn failure_counts(run: &RunReport) -> (usize, usize) {
    let n = |f: fn(Verdict) -> bool| run.checks.iter().filter(|c| f(c.verdict)).count();
    (
        n(|v| matches!(v, Verdict::Fail | Verdict::HarnessError)),
        n(|v| v == Verdict::NonStrict),
    )
}

/// Red: a MUST failure or a harness error; green: connected; amber: otherwise.
fn run_class(run: &RunReport) -> &'static str {
    let must_fail = run
        .checks
        .iter()
        .any(|c| c.level == Level::Must && c.verdict == Verdict::Fail);
    if must_fail || run.error.is_some() {
        "fail"
    } else if run.outcome == "connected" {
        "pass"
    } else {
        "warn"
    }
}

const STYLE: &str = "body{font-family:sans-serif;margin:1.5em;max-width:80em}\
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #999;padding:.25em .5em;text-align:left}\
.pass{background:#cfc}.fail{background:#fcc}.warn{background:#fe9}.info{background:#eee}.nopath{background:#cde}.unmet{background:#fc8}\
tr.fail td:first-child{border-left:4px solid #c00}\
code{font-size:90%}pre{background:#f4f4f4;padding:.5em;overflow-x:auto}.ladder{overflow:auto}";

/// The document head and the opening of the body.
fn head(title: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\
         <style>{STYLE}</style></head><body>\n",
        esc(title)
    )
}

/// The cell a run belongs to: (caller implementation, callee implementation, `NAT+NAT`).
pub(super) type CellKey = (String, String, String);

/// The matrix cell of `run`.
pub(super) fn cell_key(run: &RunReport) -> CellKey {
    (
        run.caller.implementation.clone(),
        run.callee.implementation.clone(),
        format!("{}+{}", run.caller.nat, run.callee.nat),
    )
}

/// Counts over all runs for the summary line of index.html.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct IndexCounts {
    pub runs: usize,
    pub connected: usize,
    pub failed: usize,
    pub unmet: usize,
}

impl IndexCounts {
    /// Counts `run` in.
    pub(super) fn add(&mut self, run: &RunReport) {
        self.runs += 1;
        self.connected += usize::from(run.outcome == "connected");
        self.failed += usize::from(failure_counts(run).0 > 0);
        self.unmet += usize::from(!run.expectation.met);
    }
}

/// Renders index.html for `r`: the matrix, then the runs grouped by matrix cell, each linking to its
/// page ([`crate::conform::run_page`]).
pub fn render_html(r: &Report) -> String {
    let mut counts = IndexCounts::default();
    let mut rows: BTreeMap<CellKey, Vec<String>> = BTreeMap::new();
    for run in &r.runs {
        counts.add(run);
        rows.entry(cell_key(run)).or_default().push(index_row(run));
    }
    let keys: Vec<&CellKey> = rows.keys().collect();
    let mut s = index_head(counts, &r.matrix.cells, &keys, &r.negative_tests, &r.unmet);
    for (i, (key, runs)) in rows.iter().enumerate() {
        s.push_str(&group_open(i, key));
        for row in runs {
            s.push_str(row);
        }
        s.push_str(GROUP_CLOSE);
    }
    s.push_str(INDEX_TAIL);
    s
}

/// A link from index.html to run `id`'s page.
fn run_link(id: &str) -> String {
    format!("<a href=\"{}\"><code>{}</code></a>", esc(&page_href(id)), esc(id))
}

/// Renders scorecards.html: per implementation, what its ICS declares, the rules it breaks (level,
/// citation, runs, peers, the first run to open) and the rules it passes.
pub fn render_scorecards(cards: &[Scorecard]) -> String {
    let mut s = head("jingle-interop scorecards");
    let _ = writeln!(
        s,
        "<p><a href=\"index.html\">← report</a></p>\n<h1>Scorecards</h1>\n<p>What each implementation breaks \
         and passes over every run it took part in, as the judge attributes it (faults a scenario injects \
         count against nobody).</p>\n<ul>"
    );
    for c in cards {
        let _ = writeln!(
            s,
            "<li><a href=\"#{}\">{}</a>: {} rule(s) broken</li>",
            esc(&url_path(&c.implementation)),
            esc(&c.implementation),
            c.breaks.len()
        );
    }
    let _ = writeln!(s, "</ul>");
    for c in cards {
        let _ = writeln!(
            s,
            "<h2 id=\"{}\">{}</h2>\n<p>{} runs, {} connected. Its ICS declares: {}.</p>",
            esc(&url_path(&c.implementation)),
            esc(&c.implementation),
            c.runs,
            c.connected,
            if c.declares.is_empty() {
                "nothing".to_string()
            } else {
                esc(&c.declares.join(", "))
            }
        );
        if c.breaks.is_empty() {
            let _ = writeln!(s, "<p class=\"pass\">Breaks no rule.</p>");
        } else {
            let _ = writeln!(
                s,
                "<table><tr><th>breaks</th><th>level</th><th>cite</th><th>runs</th><th>with</th><th>first run</th></tr>"
            );
            for b in &c.breaks {
                let _ = writeln!(
                    s,
                    "<tr class=\"{}\"><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    if b.level == Level::Must { "fail" } else { "warn" },
                    esc(&b.check),
                    name(b.level).to_uppercase(),
                    esc(&b.cite),
                    b.runs,
                    esc(&b.peers.join(", ")),
                    run_link(&b.first_run)
                );
            }
            let _ = writeln!(s, "</table>");
        }
        let passes: Vec<String> = c
            .passes
            .iter()
            .map(|p| format!("<code>{}</code> ({})", esc(&p.check), esc(&p.cite)))
            .collect();
        let _ = writeln!(
            s,
            "<p>Passes: {}.</p>",
            if passes.is_empty() {
                "nothing judged".to_string()
            } else {
                passes.join(", ")
            }
        );
    }
    s.push_str("</body></html>\n");
    s
}

/// One run's row in index.html's run list (its id linking to its page).
pub(super) fn index_row(run: &RunReport) -> String {
    let (failed, non_strict) = failure_counts(run);
    format!(
        "<tr class=\"{}\"><td><a href=\"{}\"><code>{}</code></a></td><td>{}</td><td>{}</td><td>{failed}</td>\
         <td>{non_strict}</td></tr>\n",
        run_class(run),
        esc(&page_href(&run.id)),
        esc(&run.id),
        esc(&run.outcome),
        if run.expectation.met { "met" } else { "not met" }
    )
}

/// index.html up to its run list: the counts, the matrix (each cell linking to its group, `groups`
/// being the cells that have runs, in run-list order) and the run list's header. The groups follow
/// ([`group_open`], the rows of [`index_row`] in run order, [`GROUP_CLOSE`]), then [`INDEX_TAIL`]: so a
/// streamed report writes index.html without holding its rows.
pub(super) fn index_head(
    counts: IndexCounts,
    cells: &[super::Cell],
    groups: &[&CellKey],
    negative: &[NegativeTest],
    unmet: &[UnmetRun],
) -> String {
    let mut s = head("jingle-interop report");
    let _ = writeln!(
        s,
        "<h1>jingle-interop report</h1>\n<p>Schema <code>{}</code>, harness {}. {} runs: {} \
         connected, {} with a failed check, {} with an unmet expectation.</p>",
        esc(super::SCHEMA),
        esc(env!("CARGO_PKG_VERSION")),
        counts.runs,
        counts.connected,
        counts.failed,
        counts.unmet
    );
    // The cell's position names its group in the run list.
    let group: BTreeMap<&CellKey, usize> = groups.iter().enumerate().map(|(i, k)| (*k, i)).collect();
    // One table per NAT pair: rows = caller implementation, columns = callee implementation.
    let mut by_nat: BTreeMap<&str, Vec<&super::Cell>> = BTreeMap::new();
    for c in cells {
        by_nat.entry(c.nat.as_str()).or_default().push(c);
    }
    let _ = writeln!(s, "<h2 id=\"matrix\">Matrix</h2>");
    let _ = writeln!(
        s,
        "<p>Does the caller's implementation work with the callee's behind these NATs? Judged on the runs \
         where both ran as themselves: runs whose scenario injects a fault through knobs and expects it \
         found are <a href=\"#negative\">negative tests</a>; faults injected in other runs count against nobody. Each cell: runs connected / runs; it links to its runs \
         below. Green: every run met its scenario's expectation and no MUST failure is held against either \
         implementation; red: one is (the cell names the implementation and the rule, with the share of runs \
         that showed it); orange: a run missed its scenario's expectation and no failure explains it (a \
         behaviour changed); blue: the network offered no path (no implementation broke a rule). Each \
         implementation's rules broken and passed: <a href=\"scorecards.html\">scorecards</a>.</p>"
    );
    for (nat, cells) in &by_nat {
        let mut callers: Vec<&str> = cells.iter().map(|c| c.caller.as_str()).collect();
        callers.dedup();
        let mut callees: Vec<&str> = cells.iter().map(|c| c.callee.as_str()).collect();
        callees.sort_unstable();
        callees.dedup();
        let _ = write!(s, "<h3>{}</h3>\n<table><tr><th>caller \\ callee</th>", esc(nat));
        for c in &callees {
            let _ = write!(s, "<th>{}</th>", esc(c));
        }
        let _ = writeln!(s, "</tr>");
        for a in &callers {
            let _ = write!(s, "<tr><th>{}</th>", esc(a));
            for b in &callees {
                let Some(c) = cells.iter().find(|c| c.caller == *a && c.callee == *b) else {
                    s.push_str("<td></td>");
                    continue;
                };
                let class = c.class();
                let text = format!("{}/{}", c.connected, c.runs);
                let key = (c.caller.clone(), c.callee.clone(), c.nat.clone());
                let _ = write!(
                    s,
                    "<td class=\"{class}\">{}{}</td>",
                    match group.get(&key) {
                        Some(i) => format!("<a href=\"#cell-{i}\">{text}</a>"),
                        None => text,
                    },
                    match class {
                        "pass" => String::new(),
                        _ => format!(" · {}", esc(&super::markdown::reads(c))),
                    }
                );
            }
            let _ = writeln!(s, "</tr>");
        }
        let _ = writeln!(s, "</table>");
    }
    let _ = writeln!(
        s,
        "<h2 id=\"negative\">Negative tests</h2>\n<p>Runs whose scenario injects a fault through knobs and \
         expects the judge to find it: they test the judge and the peer's reaction. A test passes when \
         its expected finding was made.</p>\n<table><tr><th>scenario</th><th>knobs</th><th>expected</th>\
         <th>met / tested</th><th>waived</th><th>first run not met</th></tr>"
    );
    for t in negative {
        let _ = writeln!(
            s,
            "<tr class=\"{}\"><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}/{}</td><td>{}</td><td>{}</td></tr>",
            if t.first_unmet.is_none() { "pass" } else { "fail" },
            esc(&t.scenario),
            esc(&t.knobs.join("; ")),
            esc(&t.expected.join(", ")),
            t.met,
            t.runs - t.waived,
            t.waived,
            t.first_unmet.as_deref().map(run_link).unwrap_or_default()
        );
    }
    let _ = writeln!(
        s,
        "</table>\n<h2 id=\"unmet\">Expectations not met</h2>\n<p>{} runs missed their scenario's expectation; \
         {} with nothing to explain it.</p>\n<table><tr><th>run</th><th>not met</th><th>explained by</th></tr>",
        unmet.len(),
        unmet.iter().filter(|u| u.explained_by.is_empty()).count()
    );
    for u in unmet {
        let _ = writeln!(
            s,
            "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{}</td></tr>",
            if u.explained_by.is_empty() { "unmet" } else { "info" },
            run_link(&u.id),
            esc(&u.unmet.join("; ")),
            if u.explained_by.is_empty() {
                "<b>nothing</b>".to_string()
            } else {
                esc(&u.explained_by)
            }
        );
    }
    let _ = writeln!(s, "</table>");
    let _ = writeln!(
        s,
        "<h2 id=\"runs\">Runs</h2>\n<p>Each run's page has its checks with citations and evidence, the \
         replay command and, for captured runs, the ladder diagram and the capture.</p>\n<table><thead><tr>\
         <th>run</th><th>outcome</th><th>expectation</th><th>failed checks</th><th>non-strict</th></tr></thead>"
    );
    s
}

/// The opening of group `i` of index.html's run list: the runs of matrix cell `key`.
pub(super) fn group_open(i: usize, (caller, callee, nat): &CellKey) -> String {
    format!(
        "<tbody id=\"cell-{i}\"><tr><th colspan=\"5\">{} → {}, {}</th></tr>\n",
        esc(caller),
        esc(callee),
        esc(nat)
    )
}

/// The end of a group of index.html's run list.
pub(super) const GROUP_CLOSE: &str = "</tbody>\n";

/// The end of index.html.
pub(super) const INDEX_TAIL: &str = "</table>\n</body></html>\n";

impl RunReport {
    /// Renders this run's page, written beside the folder of the run's artefacts
    /// ([`crate::conform::run_page`]):
    /// outcome, expectation, parties, selected pairs, termination, the checks (failed first, then
    /// non-strict, then the rest in catalogue order) with level, citation, verdict, detail and evidence,
    /// the replay command, and — when [`RunReport::artefacts`] is set — the ladder diagram with links to
    /// the capture and trace.jsonl. `harness_version` is shown at the foot.
    pub fn render_html_page(&self, harness_version: &str) -> String {
        let run = self;
        let mut s = head(&run.id);
        let folder = run_folder(&run.id);
        // The page sits beside its artefacts folder: one level above the folder's depth.
        let up = "../".repeat(folder.split('/').count() - 1);
        let leaf = url_path(folder.rsplit('/').next().unwrap_or_default());
        let _ = writeln!(
            s,
            "<p><a href=\"{up}index.html\">← report</a></p>\n<h1><code>{}</code></h1>\n<table>",
            esc(&run.id)
        );
        let row = |s: &mut String, th: &str, class: &str, td: String| {
            let _ = writeln!(s, "<tr><th>{th}</th><td{class}>{td}</td></tr>");
        };
        row(
            &mut s,
            "outcome",
            &format!(" class=\"{}\"", run_class(run)),
            format!(
                "<b>{}</b>{}",
                esc(&run.outcome),
                run.time_to_media_ms
                    .map(|t| format!(", media both ways {t} ms after the answer (simulated)"))
                    .unwrap_or_default()
            ),
        );
        if !run.knobs.is_empty() {
            row(
                &mut s,
                "knobs",
                " class=\"warn\"",
                format!(
                    "set by the scenario{}: {}",
                    if run.negative_test {
                        " (a negative test, kept out of the matrix)"
                    } else {
                        ""
                    },
                    esc(&run.knobs.join("; "))
                ),
            );
        }
        let e = &run.expectation;
        let mut expected = Vec::new();
        if let Some(o) = &e.outcome {
            expected.push(format!("outcome {}", esc(o)));
        }
        if !e.checks.is_empty() {
            let ids: Vec<String> = e.checks.iter().map(|c| format!("<code>{}</code>", esc(c))).collect();
            expected.push(format!("checks {}", ids.join(", ")));
        }
        row(
            &mut s,
            "expectation",
            if e.met { " class=\"pass\"" } else { " class=\"fail\"" },
            format!(
                "{}{}{}",
                if e.met { "met" } else { "<b>not met</b>" },
                if expected.is_empty() {
                    String::new()
                } else {
                    format!(" (expected {})", expected.join("; "))
                },
                if e.unmet.is_empty() {
                    String::new()
                } else {
                    let unmet: Vec<String> = e.unmet.iter().map(|u| esc(u)).collect();
                    format!(": {}", unmet.join("; "))
                }
            ),
        );
        row(
            &mut s,
            "scenario",
            "",
            format!("<code>{}</code>, seed {}", esc(&run.scenario), run.seed),
        );
        for (role, p) in [("caller", &run.caller), ("callee", &run.callee)] {
            row(
                &mut s,
                role,
                "",
                format!("{} behind {}", esc(&p.implementation), esc(&p.nat)),
            );
        }
        row(
            &mut s,
            "selected pair",
            "",
            match &run.selected_pair {
                Some(p) => format!(
                    "caller {} → {}; callee {} → {}",
                    esc(&p.caller.local),
                    esc(&p.caller.remote),
                    esc(&p.callee.local),
                    esc(&p.callee.remote)
                ),
                None => "none".into(),
            },
        );
        row(
            &mut s,
            "termination",
            "",
            match &run.termination {
                Some(t) => format!(
                    "by {} with {}{}",
                    esc(&t.by),
                    esc(t.reason.as_deref().unwrap_or("no reason")),
                    t.text.as_deref().map(|x| format!(": {}", esc(x))).unwrap_or_default()
                ),
                None => "no session-terminate".into(),
            },
        );
        row(
            &mut s,
            "trace",
            "",
            format!(
                "{} events, SHA-256 <code>{}</code>{}",
                run.trace_events,
                esc(&run.trace_hash),
                run.trace_hash_masks
                    .as_deref()
                    .map(|m| format!("; the hash masks {}", esc(m)))
                    .unwrap_or_default()
            ),
        );
        if let Some(l) = &run.live {
            row(
                &mut s,
                "live run",
                "",
                format!(
                    "real programs in real time (not byte-reproducible; the replay runs it again live): \
                     {} ms of wall clock; events ran late by {} µs (median), {} µs (99th percentile), \
                     {} µs (worst); TUN path in {} µs, out {} µs (99th percentile)",
                    l.wall_clock_ms,
                    l.lateness_us.p50,
                    l.lateness_us.p99,
                    l.lateness_us.max,
                    l.tun_in_us.p99,
                    l.tun_out_us.p99
                ),
            );
        }
        if let Some(err) = &run.error {
            row(&mut s, "harness error", " class=\"fail\"", esc(err));
        }
        let _ = writeln!(
            s,
            "</table>\n<h2 id=\"replay\">Replay</h2>\n<pre><code>{}</code></pre>",
            esc(&run.replay)
        );
        let (failed, non_strict) = failure_counts(run);
        let _ = writeln!(
            s,
            "<h2 id=\"checks\">Checks</h2>\n<p>{} checks: {failed} failed, {non_strict} non-strict. Evidence \
             numbers are trace events (each packet comment in the capture names its event).</p>\n<table><tr><th>check</th>\
             <th>level</th><th>verdict</th><th>judged</th><th>cite</th><th>detail</th><th>evidence</th></tr>",
            run.checks.len()
        );
        let (inconclusive, mut checks): (Vec<_>, Vec<_>) =
            run.checks.iter().partition(|c| c.verdict == Verdict::Inconclusive);
        checks.sort_by_key(|c| match c.verdict {
            Verdict::Fail | Verdict::HarnessError => 0,
            Verdict::NonStrict => 1,
            _ => 2,
        });
        for c in checks {
            let ev: Vec<String> = c.evidence.iter().map(|i| format!("#{i}")).collect();
            let _ = writeln!(
                s,
                "<tr class=\"{}\"><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                verdict_class(c.verdict),
                esc(&c.id),
                name(c.level).to_uppercase(),
                name(c.verdict),
                esc(&c.judged_label()),
                esc(&c.cite),
                esc(&c.detail),
                ev.join(" ")
            );
        }
        let _ = writeln!(s, "</table>");
        // Inconclusive checks judged nothing: one line each, with why, keeps the page short.
        if !inconclusive.is_empty() {
            let _ = writeln!(
                s,
                "<p>Inconclusive ({}): what the run did not show.</p>\n<ul class=\"info\">",
                inconclusive.len()
            );
            for c in inconclusive {
                let _ = writeln!(
                    s,
                    "<li><code>{}</code> ({}, {}): {}</li>",
                    esc(&c.id),
                    name(c.level).to_uppercase(),
                    esc(&c.cite),
                    esc(&c.detail)
                );
            }
            let _ = writeln!(s, "</ul>");
        }
        let _ = writeln!(s, "<h2 id=\"ladder\">Ladder diagram and capture</h2>");
        if run.artefacts.is_some() && !run.files.is_empty() {
            let links: Vec<String> = run
                .files
                .iter()
                .map(|f| format!("<a href=\"{}/{}\">{}</a>", esc(&leaf), esc(&url_path(f)), esc(f)))
                .collect();
            let _ = writeln!(s, "<p>{}</p>", links.join(" · "));
            if run.files.iter().any(|f| f == "ladder.svg") {
                let _ = writeln!(
                    s,
                    "<div class=\"ladder\"><object data=\"{0}/ladder.svg\" type=\"image/svg+xml\">ladder diagram: \
                     <a href=\"{0}/ladder.svg\">ladder.svg</a></object></div>",
                    esc(&leaf)
                );
            }
        } else {
            let _ = writeln!(
                s,
                "<p>No capture was written for this run (<code>--pcap</code>); the replay command writes \
                 one.</p>"
            );
        }
        let _ = writeln!(s, "<p>harness {}</p>\n</body></html>", esc(harness_version));
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{build, replay_command};

    const OK: &str = "s/a->b/open+open/seed-1";
    const BAD: &str = "s/a->b/open+open/seed-2";

    /// A run of `id`; `failing` adds a failed MUST check whose detail carries markup.
    fn fixture(id: &str, failing: bool) -> RunReport {
        let checks = if failing {
            serde_json::json!([
                {"id": "x.passes", "level": "should", "verdict": "pass", "cite": "RFC 1 §1",
                 "detail": "fine", "evidence": [1]},
                {"id": "x.broken", "level": "must", "verdict": "fail", "cite": "RFC 8445 §8.1.1",
                 "detail": "saw <nominate/> & no USE-CANDIDATE", "evidence": [17, 18]}
            ])
        } else {
            serde_json::json!([])
        };
        serde_json::from_value(serde_json::json!({
            "id": id, "scenario": "s", "seed": 1,
            "caller": {"impl": "a", "nat": "open"}, "callee": {"impl": "b", "nat": "open"},
            "outcome": if failing { "failed" } else { "connected" },
            "time_to_media_ms": null, "selected_pair": null, "termination": null,
            "checks": checks,
            "expectation": {"outcome": "connected", "checks": [], "met": !failing, "unmet": []},
            "trace_hash": "h", "trace_events": 20, "replay": replay_command(id, None),
        }))
        .unwrap()
    }

    #[test]
    fn run_page_has_replay_failures_first_and_the_ladder_only_with_artefacts() {
        let mut bad = fixture(BAD, true);
        let page = bad.render_html_page("9.9.9");
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(page.contains(&esc(&replay_command(BAD, None))), "{page}");
        assert!(page.contains("RFC 8445 §8.1.1"));
        assert!(
            page.contains("saw &lt;nominate/&gt; &amp; no USE-CANDIDATE"),
            "detail escaped"
        );
        assert!(!page.contains("<nominate/>"));
        assert!(page.contains("#17 #18"));
        assert!(
            page.find("x.broken").unwrap() < page.find("x.passes").unwrap(),
            "failures come first"
        );
        assert!(page.contains("<tr class=\"fail\"><td><code>x.broken</code></td><td>MUST</td><td>fail</td>"));
        assert!(!page.contains("ladder.svg"), "no artefacts, no ladder");
        // runs/s/a-to-b_open+open_seed-2.html: two folders below the output folder.
        assert!(page.contains("<a href=\"../../index.html\">"), "{page}");
        bad.artefacts = Some(run_folder(BAD));
        bad.files = vec!["capture.pcapng.gz".into(), "ladder.svg".into()];
        let page = bad.render_html_page("9.9.9");
        // The artefacts lie in the folder beside the page, named as the page without `.html`.
        assert!(page.contains("<object data=\"a-to-b_open%2Bopen_seed-2/ladder.svg\" type=\"image/svg+xml\">"));
        // Links to the files written, and to no other.
        assert!(
            page.contains("<a href=\"a-to-b_open%2Bopen_seed-2/capture.pcapng.gz\">"),
            "{page}"
        );
        assert!(!page.contains("href=\"trace.jsonl\""), "{page}");
        assert_eq!(page, bad.render_html_page("9.9.9"), "deterministic");
    }

    #[test]
    fn index_colours_the_matrix_and_links_every_run_page() {
        let html = render_html(&build(vec![fixture(OK, false), fixture(BAD, true)]));
        assert!(html.starts_with("<!DOCTYPE html>"));
        // a->b on open+open: 1 of 2 connected, one MUST failure: red, linking to its group of runs.
        assert!(
            html.contains(
                "<td class=\"fail\"><a href=\"#cell-0\">1/2</a> · fails: x.broken (RFC 8445 §8.1.1) 1/2; 1/2 runs missed \
                 their expectation</td>"
            ),
            "{html}"
        );
        assert!(html.contains("<tbody id=\"cell-0\">"));
        for id in [OK, BAD] {
            let href = page_href(id);
            assert!(href.starts_with("runs/s/a-to-b_open%2Bopen_seed-"), "{href}");
            assert!(
                html.contains(&format!("<a href=\"{href}\"><code>{}</code></a>", esc(id))),
                "{html}"
            );
        }
        assert!(html.contains("<td>failed</td><td>not met</td><td>1</td><td>0</td>"));
        // The cell names the broken rule; the details stay on the run pages.
        assert!(
            !html.contains("no USE-CANDIDATE"),
            "check details stay on the run pages"
        );
    }

    #[test]
    fn output_escapes_markup_and_links_are_percent_encoded() {
        assert_eq!(url_path("runs/a b/x+y%<\"/i.html"), "runs/a%20b/x%2By%25%3C%22/i.html");
        let mut odd = fixture("s/<i>->b/open+open/seed-1", false);
        odd.caller.implementation = "<i>".into();
        let html = render_html(&build(vec![odd.clone()]));
        let page = odd.render_html_page("<v>");
        for text in [&html, &page] {
            assert!(!text.contains("<i>"), "{text}");
            assert!(text.contains("&lt;i&gt;"));
        }
        assert!(html.contains("href=\"runs/s/%3Ci%3E-to-b_open%2Bopen_seed-1.html\""));
    }
}
