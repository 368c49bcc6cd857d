//! `reports/published` is the matrix a maintainer publishes (the field scenarios): it must be what
//! a fresh run gives today, one line per run (id, outcome, checks that did not pass), or this test
//! fails. Re-bless with `UPDATE_EXPECT=1 cargo test -p scenarios --test published`, which rewrites
//! the folder's report files and run pages as `cargo xtask conform --scenario 'field/*' --pcap none
//! --out reports/published` does (issue 24).

use std::path::Path;

use harness::conform::{execute, plan, write_outputs, Selection};
use harness::report::{verdict_name, RunReport};

/// One line per run: id, outcome, and each check that failed or was missed, with its verdict.
fn lines(runs: &[RunReport]) -> String {
    let mut s = String::new();
    for r in runs {
        let bad: Vec<String> = r
            .checks
            .iter()
            .filter(|c| {
                matches!(
                    verdict_name(c.verdict).as_str(),
                    "fail" | "non-strict" | "harness-error"
                )
            })
            .map(|c| format!("{}={}", c.id, verdict_name(c.verdict)))
            .collect();
        s.push_str(&format!("{} {} {}\n", r.id, r.outcome, bad.join(",")));
    }
    s
}

#[test]
fn reports_published_is_what_the_field_scenarios_give_today() {
    let registry = impl_catalog::registry();
    let lib = Path::new(env!("CARGO_MANIFEST_DIR"));
    let sel = Selection {
        scenarios: vec!["field/*".into()],
        ..Default::default()
    };
    let p = plan(lib, &sel, &registry).unwrap();
    let report = execute(&p.specs(), &registry, 2, None, &|_, _, _| {});
    let fresh = lines(&report.runs);
    let published = lib.join("../reports/published");
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        write_outputs(&report, &published).unwrap();
        return;
    }
    #[derive(serde::Deserialize)]
    struct Doc {
        runs: Vec<RunReport>,
    }
    let text = std::fs::read_to_string(published.join("report.json")).unwrap();
    let doc: Doc = serde_json::from_str(&text).unwrap();
    assert_eq!(
        lines(&doc.runs),
        fresh,
        "reports/published is stale; re-bless with UPDATE_EXPECT=1 cargo test -p scenarios --test published"
    );
}
