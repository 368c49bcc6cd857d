use minidom::Element;

use super::{Report, RunReport};
use crate::checks::{Level, Verdict};
use crate::xml::{el, BuilderExt};

/// Renders junit.xml: one testcase per run (classname = scenario id, name = run id). A run fails when a
/// MUST check failed, the scenario's expectation was not met, or the harness could not run it; the
/// failure text lists the check ids with their citations and the replay command.
pub fn render_junit(r: &Report) -> String {
    let mut failures = 0;
    let mut cases = String::new();
    for run in &r.runs {
        let (case, failed) = testcase(run);
        failures += usize::from(failed);
        cases.push_str(&case);
    }
    document(r.runs.len(), failures, &cases)
}

/// The whole junit.xml around the serialized `cases`.
pub(super) fn document(tests: usize, failures: usize, cases: &str) -> String {
    format!("{}{cases}{}", head(tests, failures), TAIL)
}

/// junit.xml up to the first testcase.
pub(super) fn head(tests: usize, failures: usize) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites><testsuite errors='0' failures='{failures}' \
         name='jingle-interop' tests='{tests}'>"
    )
}

/// junit.xml after the last testcase.
pub(super) const TAIL: &str = "</testsuite></testsuites>\n";

/// One run's `<testcase/>`, serialized, and whether it failed.
pub(super) fn testcase(run: &RunReport) -> (String, bool) {
    const NS: &str = "";
    let mut case = el("testcase", NS)
        .a("classname", run.scenario.clone())
        .a("name", run.id.clone());
    let failed: Vec<_> = run
        .checks
        .iter()
        .filter(|c| c.level == Level::Must && c.verdict == Verdict::Fail)
        .collect();
    let is_failure = !failed.is_empty() || !run.expectation.met || run.error.is_some();
    if is_failure {
        let mut text = String::new();
        for c in &failed {
            text.push_str(&format!("{} ({}) [{}]: {}\n", c.id, c.cite, c.judged_label(), c.detail));
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
    let case: Element = case.append(el("system-out", NS).append(out).build()).build();
    (String::from(&case), is_failure)
}
