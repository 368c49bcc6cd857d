//! index.html: one static page that opens from file:// with no server and no script — the coloured
//! matrix (caller × callee per NAT pair), then every run with its outcome, checks, citations,
//! evidence and replay command, each reachable by an anchor from its matrix cell.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::Report;
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

/// An anchor id for a run (ids contain `/`, `>` and `+`).
fn anchor(id: &str) -> String {
    id.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

fn verdict_class(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "pass",
        Verdict::Fail | Verdict::HarnessError => "fail",
        Verdict::NonStrict => "warn",
        _ => "info",
    }
}

const STYLE: &str = "body{font-family:sans-serif;margin:1.5em;max-width:80em}\
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #999;padding:.25em .5em;text-align:left}\
.pass{background:#cfc}.fail{background:#fcc}.warn{background:#fe9}.info{background:#eee}\
code{font-size:90%}h3{margin-top:1.5em}";

/// Renders index.html for `r`.
pub fn render_html(r: &Report) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>jingle-interop report</title>\
         <style>{STYLE}</style></head><body>\n<h1>jingle-interop report</h1>\n<p>Schema <code>{}</code>, harness {}. \
         {} runs.</p>\n",
        esc(r.schema),
        esc(r.harness.version),
        r.runs.len()
    );
    // One table per NAT pair: rows = caller implementation, columns = callee implementation.
    let mut by_nat: BTreeMap<&str, Vec<&super::Cell>> = BTreeMap::new();
    for c in &r.matrix.cells {
        by_nat.entry(c.nat.as_str()).or_default().push(c);
    }
    let _ = writeln!(s, "<h2 id=\"matrix\">Matrix</h2>");
    let _ = writeln!(
        s,
        "<p>Each cell: runs connected / runs, and MUST failures. Green: every run connected with no MUST \
         failure; red: a MUST check failed; amber: no MUST failure but not every run connected (an expected \
         failure, such as no path without TURN).</p>"
    );
    for (nat, cells) in &by_nat {
        let callers: Vec<&str> = {
            let mut v: Vec<&str> = cells.iter().map(|c| c.caller.as_str()).collect();
            v.dedup();
            v
        };
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
                match cells.iter().find(|c| c.caller == *a && c.callee == *b) {
                    Some(c) => {
                        let class = if c.must_failed > 0 {
                            "fail"
                        } else if c.connected == c.runs {
                            "pass"
                        } else {
                            "warn"
                        };
                        let first = r
                            .runs
                            .iter()
                            .find(|x| {
                                x.caller.implementation == c.caller
                                    && x.callee.implementation == c.callee
                                    && format!("{}+{}", x.caller.nat, x.callee.nat) == c.nat
                            })
                            .map(|x| anchor(&x.id))
                            .unwrap_or_default();
                        let _ = write!(
                            s,
                            "<td class=\"{class}\"><a href=\"#{first}\">{}/{}</a>{}</td>",
                            c.connected,
                            c.runs,
                            if c.must_failed > 0 {
                                format!(" · {} MUST", c.must_failed)
                            } else {
                                String::new()
                            }
                        );
                    }
                    None => s.push_str("<td></td>"),
                }
            }
            let _ = writeln!(s, "</tr>");
        }
        let _ = writeln!(s, "</table>");
    }
    let _ = writeln!(s, "<h2 id=\"runs\">Runs</h2>");
    for run in &r.runs {
        let must_fail = run
            .checks
            .iter()
            .any(|c| c.level == Level::Must && c.verdict == Verdict::Fail);
        let class = if must_fail || run.error.is_some() {
            "fail"
        } else if run.outcome == "connected" {
            "pass"
        } else {
            "warn"
        };
        let _ = writeln!(
            s,
            "<h3 id=\"{}\"><code>{}</code></h3>\n<p class=\"{class}\">outcome <b>{}</b>{}{}</p>",
            anchor(&run.id),
            esc(&run.id),
            esc(&run.outcome),
            run.time_to_media_ms
                .map(|t| format!(", media both ways {t} ms after the answer"))
                .unwrap_or_default(),
            run.termination
                .as_ref()
                .map(|t| format!(
                    ", ended by {} ({}{})",
                    esc(&t.by),
                    esc(t.reason.as_deref().unwrap_or("no reason")),
                    t.text.as_deref().map(|x| format!(": {}", esc(x))).unwrap_or_default()
                ))
                .unwrap_or_default()
        );
        if let Some(dir) = &run.artefacts {
            let _ = writeln!(
                s,
                "<p><a href=\"{0}/ladder.svg\">ladder diagram</a> · <a href=\"{0}/capture.pcapng\">capture</a> · \
                 <a href=\"{0}/trace.jsonl\">trace.jsonl</a></p>",
                esc(dir)
            );
        }
        if let Some(e) = &run.error {
            let _ = writeln!(s, "<p class=\"fail\">harness error: {}</p>", esc(e));
        }
        let _ = writeln!(
            s,
            "<table><tr><th>check</th><th>level</th><th>verdict</th><th>cite</th><th>detail</th><th>evidence</th></tr>"
        );
        for c in &run.checks {
            let level = serde_json::to_value(c.level)
                .ok()
                .and_then(|v| v.as_str().map(str::to_uppercase))
                .unwrap_or_default();
            let verdict = serde_json::to_value(c.verdict)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            let ev: Vec<String> = c.evidence.iter().map(|i| format!("#{i}")).collect();
            let _ = writeln!(
                s,
                "<tr class=\"{}\"><td><code>{}</code></td><td>{level}</td><td>{verdict}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                verdict_class(c.verdict),
                esc(&c.id),
                esc(&c.cite),
                esc(&c.detail),
                ev.join(" ")
            );
        }
        let _ = writeln!(
            s,
            "</table>\n<p>trace {} events, hash <code>{}</code>. Replay: <code>{}</code></p>",
            run.trace_events,
            esc(&run.trace_hash),
            esc(&run.replay)
        );
    }
    s.push_str("</body></html>\n");
    s
}
