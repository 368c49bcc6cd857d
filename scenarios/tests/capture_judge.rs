//! The judge over captures agrees with the judge in the simulator: every run of the scenario
//! library is written as pcapng, read back by `cargo xtask judge`'s reader, and judged from the
//! whole capture and from each party's host interface alone, with and without its stanzas. What
//! the capture judge decides (any verdict but `inconclusive`) is what the simulator's judge
//! decided, naming the same party; from the whole capture with its stanzas it decides everything
//! the simulator decided but what a capture cannot show (docs/capture-judging.md).

use std::path::Path;

use harness::capture::{self, judge as cj, read};
use harness::checks::Verdict;
use harness::conform::{plan, Selection};
use libtest_mimic::{Arguments, Failed, Trial};

fn main() {
    let args = Arguments::from_args();
    let registry = impl_catalog::registry();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let runs = plan(dir, &Selection::default(), &registry)
        .expect("the library plans")
        .specs()
        .into_iter()
        .filter(|r| {
            r.parties.iter().all(|p| {
                let spec = &r.scenario.parties[&p.name].implementation;
                p.implementation == "reference" || spec.values().iter().all(|v| !v.starts_with('$'))
            })
        })
        .collect::<Vec<_>>();
    assert!(runs.len() > 40, "the scenario library has {} runs", runs.len());
    let registry = std::sync::Arc::new(registry);
    let trials = runs
        .into_iter()
        .map(|spec| {
            let registry = registry.clone();
            Trial::test(spec.id.clone(), move || {
                let out = harness::run::run(&spec, &registry).map_err(|e| Failed::from(format!("{e:?}")))?;
                let sim = harness::report::judge(&out);
                let mut bytes = Vec::new();
                capture::write_pcapng(&out.trace, &spec.id, &mut bytes).expect("in memory");
                let whole = read::read(&bytes).map_err(|e| Failed::from(e.to_string()))?;
                let names: Vec<Option<String>> = whole.interfaces.iter().map(|i| i.name.clone()).collect();
                let parties: Vec<String> = out.parties.iter().map(|p| p.name.clone()).collect();
                let callee_initiated = harness::wire::Wire::extract(&out.trace, &parties)
                    .session_initiate()
                    .is_some_and(|j| j.party == "callee");
                let mut wrong = Vec::new();
                let mut whole_judged = false;
                let views: [(&str, Option<&str>); 3] =
                    [("whole", None), ("caller", Some("caller")), ("callee", Some("callee"))];
                for (view, only) in views {
                    let mut cap = whole.clone();
                    if let Some(at) = only {
                        cap.packets.retain(|p| names[p.interface].as_deref() == Some(at));
                    }
                    for with_stanzas in [true, false] {
                        let stanzas = if with_stanzas {
                            capture::own_stanzas(&cap)
                        } else {
                            Vec::new()
                        };
                        let view = format!("{view}{}", if with_stanzas { " + stanzas" } else { "" });
                        let runs = match cj::runs(&cap, "test", &stanzas) {
                            Ok(r) => r,
                            // A run without a single check on the wire (a call never placed, or
                            // refused) has nothing for a capture to judge.
                            Err(e) => {
                                if only.is_none()
                                    && sim
                                        .checks
                                        .iter()
                                        .any(|c| c.id == "ice.request-answered" && c.verdict == Verdict::Pass)
                                {
                                    wrong.push(format!("[{view}] nothing found, but the simulator judged checks: {e}"));
                                }
                                continue;
                            }
                        };
                        if runs.len() != 1 {
                            // Several calls without signalling to join them (devices of one
                            // account, each checked): each judged alone, not comparable whole.
                            continue;
                        }
                        let rep = cj::judge(&runs[0]);
                        if only.is_none() && with_stanzas {
                            whole_judged = true;
                        }
                        let swap = !with_stanzas && callee_initiated;
                        let w =
                            cj::disagreements(&spec.id, &view, &sim, &rep, only.is_none() && with_stanzas, swap, only);
                        wrong.extend(w);
                    }
                }
                let checked = sim
                    .checks
                    .iter()
                    .any(|c| c.id == "ice.request-answered" && c.verdict == Verdict::Pass);
                if checked && !whole_judged {
                    wrong.push("the whole capture with its stanzas was never judged as one call".into());
                }
                if wrong.is_empty() {
                    Ok(())
                } else {
                    Err(Failed::from(wrong.join("\n")))
                }
            })
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}
