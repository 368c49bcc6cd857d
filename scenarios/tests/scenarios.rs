//! Every scenario × the default pairing as its own test (filter by run id, e.g.
//! `cargo test -p scenarios -- basic/`). A test passes when the scenario's expectations are met, and
//! when running it a second time gives the same trace hash (determinism).
//!
//! The default pairing puts `reference` in for `$under_test` and `$peer`: a scenario's `expect` says
//! what a conforming pairing produces. Scenarios that name profiles themselves (`ice/`) run as written.
//! Profiles against the rest of the suite are the compatibility matrix of `cargo xtask conform`, where
//! their failures are findings, not test failures.

use std::path::Path;

use harness::conform::{plan, run_one, Selection};
use libtest_mimic::{Arguments, Failed, Trial};

fn main() {
    let args = Arguments::from_args();
    let registry = impl_catalog::registry();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let runs = match plan(dir, &Selection::default(), &registry) {
        Ok(r) => r
            .specs()
            .into_iter()
            .filter(|r| {
                // Placeholders take `reference`; implementations the scenario names stay as written.
                r.parties.iter().all(|p| {
                    let spec = &r.scenario.parties[&p.name].implementation;
                    p.implementation == "reference" || spec.values().iter().all(|v| !v.starts_with('$'))
                })
            })
            .collect::<Vec<_>>(),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    assert!(!runs.is_empty(), "no scenario found under {}", dir.display());
    let registry = std::sync::Arc::new(registry);
    let trials = runs
        .into_iter()
        .map(|spec| {
            let registry = registry.clone();
            Trial::test(spec.id.clone(), move || {
                let a = run_one(&spec, &registry);
                if let Some(e) = &a.error {
                    return Err(Failed::from(format!("harness error: {e}")));
                }
                if !a.expectation.met {
                    let failing: Vec<String> = a
                        .checks
                        .iter()
                        .filter(|c| c.verdict != harness::checks::Verdict::Pass)
                        .map(|c| format!("  {} {:?} ({}): {}", c.id, c.verdict, c.cite, c.detail))
                        .collect();
                    return Err(Failed::from(format!(
                        "expectation not met: {}\n{}\nreplay: {}",
                        a.expectation.unmet.join("; "),
                        failing.join("\n"),
                        a.replay
                    )));
                }
                let b = run_one(&spec, &registry);
                if a.trace_hash != b.trace_hash {
                    return Err(Failed::from(format!(
                        "not deterministic: trace hash {} then {}",
                        a.trace_hash, b.trace_hash
                    )));
                }
                Ok(())
            })
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}
