use minidom::Element;

use super::Report;
use crate::checks::{Level, Verdict};
use crate::xml::{el, BuilderExt};

/// Renders junit.xml: one testcase per run (classname = scenario id, name = run id). A run fails when a
/// MUST check failed, the scenario's expectation was not met, or the harness could not run it; the
/// failure text lists the check ids with their citations and the replay command.
pub fn render_junit(r: &Report) -> String {
    const NS: &str = "";
    let mut failures = 0;
    let mut suite_children = Vec::new();
    for run in &r.runs {
        let mut case = el("testcase", NS)
            .a("classname", run.scenario.clone())
            .a("name", run.id.clone());
        let failed: Vec<_> = run
            .checks
            .iter()
            .filter(|c| c.level == Level::Must && c.verdict == Verdict::Fail)
            .collect();
        if !failed.is_empty() || !run.expectation.met || run.error.is_some() {
            failures += 1;
            let mut text = String::new();
            for c in &failed {
                text.push_str(&format!("{} ({}): {}\n", c.id, c.cite, c.detail));
            }
            for u in &run.expectation.unmet {
                text.push_str(&format!("expectation: {u}\n"));
            }
            if let Some(e) = &run.error {
                text.push_str(&format!("harness error: {e}\n"));
            }
            text.push_str(&format!("replay: {}\n", run.replay));
            let ids: Vec<&str> = failed.iter().map(|c| c.id.as_str()).collect();
            let message = if ids.is_empty() {
                format!("outcome {}", run.outcome)
            } else {
                ids.join(", ")
            };
            case = case.append(
                el("failure", NS)
                    .a("message", message)
                    .a("type", "conformance")
                    .append(text)
                    .build(),
            );
        }
        let out = format!(
            "outcome: {}\ntrace_hash: {}\nreplay: {}\n",
            run.outcome, run.trace_hash, run.replay
        );
        suite_children.push(case.append(el("system-out", NS).append(out).build()).build());
    }
    let suite: Element = el("testsuite", NS)
        .a("name", "jingle-interop")
        .a("tests", r.runs.len().to_string())
        .a("failures", failures.to_string())
        .a("errors", "0")
        .append_all(suite_children)
        .build();
    let suites = el("testsuites", NS).append(suite).build();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{}\n",
        String::from(&suites)
    )
}
