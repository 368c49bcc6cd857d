//! What a report says over many runs, built one run at a time (so a streamed report and one built
//! whole agree): the matrix cells, the negative tests of the judge (runs whose
//! scenario injects a fault and expects it found), and one scorecard per implementation.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::{Cell, RunReport};
use crate::checks::{CheckResult, Judged, Level, Verdict};

/// Runs of one scenario that are negative tests ([`super::RunReport::negative_test`]): knobs the
/// scenario sets inject a fault, and the scenario expects the judge to find it. They test the judge
/// and the peer's reaction, not the implementations as they are, so they stay out of the matrix.
/// They pass when the scenario's expectation is met: the expected finding was made.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct NegativeTest {
    /// Scenario id.
    pub scenario: String,
    /// The knobs, `PARTY: KNOB=VALUE`.
    pub knobs: Vec<String>,
    /// What the scenario expects: `outcome OUTCOME` and the check ids it lists.
    pub expected: Vec<String>,
    /// Runs (implementation pairings × NAT pairs × seeds).
    pub runs: usize,
    /// Of those, runs whose expectation was met with nothing of it waived: the finding was made.
    pub met: usize,
    /// Of those, runs where part of the expectation was waived (a capability the pairing lacks,
    /// `expect.requires`): the finding was not tested there.
    #[serde(default)]
    pub waived: usize,
    /// The first run (by id) whose expectation was not met, to open.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_unmet: Option<String>,
}

/// One rule an implementation broke: a MUST check that failed, or a SHOULD check it missed, held
/// against it (not injected by a scenario).
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct BrokenRule {
    /// Check id.
    pub check: String,
    /// `must` or `should`.
    pub level: Level,
    /// Document and section.
    pub cite: String,
    /// Runs that showed it.
    pub runs: usize,
    /// The peers' implementations in those runs, sorted.
    pub peers: Vec<String>,
    /// The first of those runs, by id.
    pub first_run: String,
}

/// A rule an implementation was judged on and never broke.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct PassedRule {
    /// Check id.
    pub check: String,
    /// Document and section.
    pub cite: String,
    /// Runs in which it passed.
    pub runs: usize,
}

/// What the report says of one implementation over every run it took part in.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Scorecard {
    /// Implementation name.
    #[serde(rename = "impl")]
    pub implementation: String,
    /// What its ICS declares ([`super::PartyRef::declares`]).
    pub declares: Vec<String>,
    /// Runs it took part in.
    pub runs: usize,
    /// Of those, runs that connected.
    pub connected: usize,
    /// Rules it broke, MUST before SHOULD, then most runs first, then by check id.
    pub breaks: Vec<BrokenRule>,
    /// Rules it was judged on and always passed, by check id.
    pub passes: Vec<PassedRule>,
}

/// A run whose scenario expectation was not met, and what explains it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnmetRun {
    /// Run id.
    pub id: String,
    /// What did not come true ([`super::Expectation::unmet`]).
    pub unmet: Vec<String>,
    /// The MUST failures held against an implementation in the run (`IMPL: CHECK`), `no path (the
    /// network)`, `negative test: the expected finding was not made`, or empty: nothing explains it,
    /// a behaviour changed.
    pub explained_by: String,
}

struct Broke {
    runs: usize,
    peers: BTreeSet<String>,
    first_run: String,
}

#[derive(Default)]
struct Card {
    declares: Vec<String>,
    /// `declares` came from a party without scenario knobs.
    declares_plain: bool,
    runs: usize,
    connected: usize,
    /// By (check, level, cite): runs, peers, first run.
    broke: BTreeMap<(String, Level, String), Broke>,
    passed: BTreeMap<(String, String), usize>,
}

/// What [`Aggregate::finish`] returns.
pub(super) struct Summaries {
    pub cells: Vec<Cell>,
    pub negative_tests: Vec<NegativeTest>,
    pub scorecards: Vec<Scorecard>,
    pub unmet: Vec<UnmetRun>,
}

/// Accumulates [`Cell`]s, [`NegativeTest`]s and [`Scorecard`]s over runs fed in id order.
#[derive(Default)]
pub(super) struct Aggregate {
    cells: BTreeMap<(String, String, String), Cell>,
    negative: BTreeMap<(String, Vec<String>), NegativeTest>,
    cards: BTreeMap<String, Card>,
    unmet: Vec<UnmetRun>,
}

/// The implementations `c` judges in `run`: one party's, or both parties' for a check that judges
/// both.
pub(super) fn judged<'a>(run: &'a RunReport, c: &'a CheckResult) -> Vec<&'a str> {
    let (a, b) = (run.caller.implementation.as_str(), run.callee.implementation.as_str());
    match c.party {
        Judged::Caller => vec![a],
        Judged::Callee => vec![b],
        Judged::Both if a == b => vec![a],
        Judged::Both => vec![a, b],
        Judged::None => vec![],
    }
}

/// What, other than a failure held against an implementation, accounts for a run going wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Cause {
    /// The harness could not carry the run out.
    HarnessError,
    /// A negative test: its faults were injected on purpose.
    NegativeTest,
    /// The network offered no path (the media check judged nobody).
    NoPath,
}

/// The [`Cause`] of `run`, if one applies, in that order of precedence.
pub(super) fn cause(run: &RunReport) -> Option<Cause> {
    if run.error.is_some() {
        Some(Cause::HarnessError)
    } else if run.negative_test {
        Some(Cause::NegativeTest)
    } else if super::media_lost_to_network(run) {
        Some(Cause::NoPath)
    } else {
        None
    }
}

impl Aggregate {
    /// Counts `run` in.
    pub(super) fn add(&mut self, run: &RunReport) {
        if !run.expectation.met {
            let held: Vec<String> = run
                .checks
                .iter()
                .filter(|c| c.level == Level::Must && c.verdict == Verdict::Fail && !c.injected)
                .map(|c| format!("{}: {}", c.implementation.as_deref().unwrap_or("both"), c.id))
                .collect();
            let explained_by = match cause(run) {
                Some(Cause::HarnessError) => "harness error".to_string(),
                Some(Cause::NegativeTest) => "negative test: the expected finding was not made".to_string(),
                _ if !held.is_empty() => held.join(", "),
                Some(Cause::NoPath) => "no path (the network)".to_string(),
                None => String::new(),
            };
            self.unmet.push(UnmetRun {
                id: run.id.clone(),
                unmet: run.expectation.unmet.clone(),
                explained_by,
            });
        }
        if !run.negative_test {
            let key = super::html::cell_key(run);
            self.cells
                .entry(key.clone())
                .or_insert_with(|| Cell::new(key.0, key.1, key.2))
                .add(run);
        } else {
            let t = self
                .negative
                .entry((run.scenario.clone(), run.knobs.clone()))
                .or_insert_with(|| NegativeTest {
                    scenario: run.scenario.clone(),
                    knobs: run.knobs.clone(),
                    expected: run
                        .expectation
                        .outcome
                        .iter()
                        .map(|o| format!("outcome {o}"))
                        .chain(run.expectation.checks.iter().cloned())
                        .collect(),
                    runs: 0,
                    met: 0,
                    waived: 0,
                    first_unmet: None,
                });
            t.runs += 1;
            let waived = !run.expectation.waived.is_empty();
            t.waived += usize::from(waived);
            t.met += usize::from(run.expectation.met && !waived);
            if !run.expectation.met && t.first_unmet.is_none() {
                t.first_unmet = Some(run.id.clone());
            }
        }
        let mut names = vec![("caller", &run.caller), ("callee", &run.callee)];
        names.dedup_by(|a, b| a.1.implementation == b.1.implementation);
        for (_, p) in &names {
            let card = self.cards.entry(p.implementation.clone()).or_default();
            card.runs += 1;
            card.connected += usize::from(run.outcome == "connected");
        }
        // What an implementation declares as it is: from a party the scenario set no knobs for
        // (knobs such as `jmi: false` change the ICS), else from any.
        for (name, p) in [("caller", &run.caller), ("callee", &run.callee)] {
            let card = self.cards.entry(p.implementation.clone()).or_default();
            let plain = !run.knobs.iter().any(|k| k.starts_with(&format!("{name}:")));
            if !p.declares.is_empty() && (card.declares.is_empty() || plain && !card.declares_plain) {
                card.declares.clone_from(&p.declares);
                card.declares_plain = plain;
            }
        }
        for c in &run.checks {
            let held = !c.injected
                && matches!(
                    (c.level, c.verdict),
                    (Level::Must, Verdict::Fail) | (Level::Should, Verdict::Fail | Verdict::NonStrict)
                );
            for who in judged(run, c) {
                let card = self.cards.entry(who.to_string()).or_default();
                if held {
                    let peer = if who == run.caller.implementation && c.party != Judged::Callee {
                        &run.callee.implementation
                    } else {
                        &run.caller.implementation
                    };
                    let e = card
                        .broke
                        .entry((c.id.clone(), c.level, c.cite.clone()))
                        .or_insert_with(|| Broke {
                            runs: 0,
                            peers: BTreeSet::new(),
                            first_run: run.id.clone(),
                        });
                    e.runs += 1;
                    e.peers.insert(peer.clone());
                } else if c.verdict == Verdict::Pass {
                    *card.passed.entry((c.id.clone(), c.cite.clone())).or_default() += 1;
                }
            }
        }
    }

    /// The matrix cells (by caller, callee, NAT pair), the negative tests (by scenario, knobs), the
    /// scorecards (by implementation) and the runs whose expectation was not met (in run order).
    pub(super) fn finish(self) -> Summaries {
        let cards = self
            .cards
            .into_iter()
            .map(|(name, card)| {
                let mut breaks: Vec<BrokenRule> = card
                    .broke
                    .iter()
                    .map(|((check, level, cite), b)| BrokenRule {
                        check: check.clone(),
                        level: *level,
                        cite: cite.clone(),
                        runs: b.runs,
                        peers: b.peers.iter().cloned().collect(),
                        first_run: b.first_run.clone(),
                    })
                    .collect();
                breaks.sort_by(|a, b| {
                    (a.level != Level::Must, std::cmp::Reverse(a.runs), &a.check).cmp(&(
                        b.level != Level::Must,
                        std::cmp::Reverse(b.runs),
                        &b.check,
                    ))
                });
                let passes = card
                    .passed
                    .into_iter()
                    .filter(|((check, _), _)| !card.broke.keys().any(|(id, ..)| id == check))
                    .map(|((check, cite), runs)| PassedRule { check, cite, runs })
                    .collect();
                Scorecard {
                    implementation: name,
                    declares: card.declares,
                    runs: card.runs,
                    connected: card.connected,
                    breaks,
                    passes,
                }
            })
            .collect();
        Summaries {
            cells: self.cells.into_values().collect(),
            negative_tests: self.negative.into_values().collect(),
            scorecards: cards,
            unmet: self.unmet,
        }
    }
}
