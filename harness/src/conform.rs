//! The conformance job behind `cargo xtask conform`: select scenarios, expand the matrix, run every
//! run (spread over worker threads), judge, and write the output folder.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::endpoint::Registry;
use crate::net::nat_profiles;
use crate::report::{self, build, harness_error_report, judge, Report, RunReport};
use crate::scenario::{expand, MatrixSpec, RunId, RunSpec, Scenario, ScenarioError};

/// What to run.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// Implementation under test; `None` runs every registered implementation against every one.
    pub under_test: Option<String>,
    /// Restrict peers (default: all registered).
    pub peers: Vec<String>,
    /// Restrict NAT profiles, applied to each side (default: the scenario's own).
    pub nats: Vec<String>,
    /// Scenario id globs (default: all).
    pub scenarios: Vec<String>,
    /// Seeds (default: `[1]`).
    pub seeds: Vec<u64>,
    /// `(i, n)`: run only the i-th (1-based) of n deterministic slices.
    pub shard: Option<(usize, usize)>,
    /// Folders of scenarios of one's own, beside the library (`--scenarios DIR`); ids are relative
    /// to each folder.
    pub scenario_dirs: Vec<PathBuf>,
}

/// The scenario library in `dir` and the scenarios in each of `extra` (ids relative to their own
/// folder), sorted by id.
///
/// Errors: a file that does not load (with its position), or one id in two folders.
pub fn load_scenarios(dir: &Path, extra: &[PathBuf]) -> Result<Vec<Scenario>, InputError> {
    let mut all = Scenario::load_dir(dir).map_err(InputError::Scenario)?;
    let mut from: BTreeMap<String, PathBuf> = all.iter().map(|s| (s.id.clone(), dir.to_path_buf())).collect();
    for d in extra {
        if !d.is_dir() {
            return Err(InputError::Unknown(format!(
                "--scenarios {}: not a folder",
                d.display()
            )));
        }
        for mut sc in Scenario::load_dir(d).map_err(InputError::Scenario)? {
            sc.folder = Some(d.clone());
            if let Some(first) = from.get(&sc.id) {
                return Err(InputError::Unknown(format!(
                    "scenario id `{}` is in both {} and {}",
                    sc.id,
                    first.display(),
                    d.display()
                )));
            }
            from.insert(sc.id.clone(), d.clone());
            all.push(sc);
        }
    }
    all.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(all)
}

/// Bad input: exit status 2.
#[derive(Debug)]
pub enum InputError {
    /// A scenario file is broken.
    Scenario(ScenarioError),
    /// A name does not exist.
    Unknown(String),
}

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InputError::Scenario(e) => write!(f, "{e}"),
            InputError::Unknown(s) => write!(f, "{s}"),
        }
    }
}

impl std::error::Error for InputError {}

/// The runs a selection expands to, sorted by id. It holds run ids, not specs: a worker rebuilds a run's
/// [`RunSpec`] from its id when it takes the run ([`Plan::spec`], the path `replay` takes too). The ids
/// are front-coded ([`Ids`]), so the plan of a matrix costs a few tens of bytes per run.
#[derive(Clone, Debug)]
pub struct Plan {
    scenarios: Vec<Arc<Scenario>>,
    runs: Ids,
    profiles: BTreeMap<String, crate::net::NatProfile>,
}

impl Plan {
    /// Number of runs.
    pub fn len(&self) -> usize {
        self.runs.len()
    }

    /// True when the selection (or shard) is empty.
    pub fn is_empty(&self) -> bool {
        self.runs.len() == 0
    }

    /// The id of run `i` (0-based, id order). Panics when `i` is out of range.
    pub fn id(&self, i: usize) -> String {
        self.runs.get(i)
    }

    /// The spec of run `i`, rebuilt from its id. Panics when `i` is out of range.
    pub fn spec(&self, i: usize) -> RunSpec {
        let sc = &self.scenarios[self.runs.scenario[i] as usize];
        spec_for(sc, &self.runs.get(i), &self.profiles).expect("planned ids are well formed")
    }

    /// The number of live runs: runs with a party whose implementation is a real program
    /// (`ImplEntry::live`).
    pub fn live_runs(&self, registry: &Registry) -> usize {
        (0..self.len())
            .filter(|&i| is_live_id(&self.runs.get(i), registry))
            .count()
    }

    /// The plan with each live run done `n` times (`--repeat N`: repetitions 1..=n, ids
    /// `…/seed-S-repeat-R`), simulated runs once: they would repeat byte for byte.
    pub fn repeat_live(&self, n: u32, registry: &Registry) -> Plan {
        self.rebuild(|id| match RunId::parse(id) {
            Some(r) if n > 1 && is_live_id(id, registry) => {
                let mut reps: Vec<String> = (1..=n).map(|k| r.with_repeat(k).to_string()).collect();
                reps.sort();
                reps
            }
            _ => vec![id.to_string()],
        })
    }

    /// The plan without its live runs (when live mode cannot run here).
    pub fn without_live(&self, registry: &Registry) -> Plan {
        self.rebuild(|id| {
            if is_live_id(id, registry) {
                Vec::new()
            } else {
                vec![id.to_string()]
            }
        })
    }

    /// Each run's id replaced by what `f` makes of it, in order (ids stay sorted when `f` keeps
    /// each id's replacements sorted and within its place).
    fn rebuild(&self, f: impl Fn(&str) -> Vec<String>) -> Plan {
        let mut runs = Ids::default();
        for i in 0..self.len() {
            for id in f(&self.runs.get(i)) {
                runs.push(self.runs.scenario[i] as usize, &id);
            }
        }
        Plan {
            scenarios: self.scenarios.clone(),
            runs,
            profiles: self.profiles.clone(),
        }
    }

    /// Every spec, in id order (for callers that want them all at once).
    pub fn specs(&self) -> Vec<RunSpec> {
        (0..self.len()).map(|i| self.spec(i)).collect()
    }
}

/// Whether run `id` has a party whose implementation is live.
fn is_live_id(id: &str, registry: &Registry) -> bool {
    RunId::parse(id).is_some_and(|r| {
        r.impls
            .iter()
            .any(|n| registry.get(n).is_some_and(|e| e.live.is_some()))
    })
}

/// Every this many ids, one is stored whole, so reading an id decodes at most this many.
const ID_BLOCK: usize = 16;

/// Run ids in id order, front-coded: each is stored as the number of leading bytes it shares with the
/// one before (2 bytes), the length of the rest (2 bytes) and the rest; every [`ID_BLOCK`]-th id is
/// stored whole. A matrix's sorted ids share long prefixes (scenario, pairing), so this costs tens of
/// bytes per run where a `String` each cost about two hundred.
#[derive(Clone, Debug, Default)]
struct Ids {
    bytes: Vec<u8>,
    /// Offset in `bytes` of each block's first (whole) id.
    blocks: Vec<u32>,
    /// Each run's scenario (index into [`Plan::scenarios`]).
    scenario: Vec<u32>,
    last: String,
}

impl Ids {
    fn len(&self) -> usize {
        self.scenario.len()
    }

    /// Appends `id` of scenario `scenario`; ids must come in increasing order (checked in debug builds).
    fn push(&mut self, scenario: usize, id: &str) {
        debug_assert!(self.last.as_str() < id || self.scenario.is_empty(), "ids in order");
        let mut shared = 0;
        if self.len().is_multiple_of(ID_BLOCK) {
            self.blocks
                .push(u32::try_from(self.bytes.len()).expect("under 4 GiB of ids"));
        } else {
            shared = self.last.bytes().zip(id.bytes()).take_while(|(a, b)| a == b).count();
            while !id.is_char_boundary(shared) {
                shared -= 1;
            }
        }
        let rest = &id.as_bytes()[shared..];
        let n = |v: usize| u16::try_from(v).expect("a run id is shorter than 64 KiB").to_le_bytes();
        self.bytes.extend_from_slice(&n(shared));
        self.bytes.extend_from_slice(&n(rest.len()));
        self.bytes.extend_from_slice(rest);
        self.scenario
            .push(u32::try_from(scenario).expect("fewer than 2^32 scenarios"));
        self.last.clear();
        self.last.push_str(id);
    }

    /// Id `i`. Panics when out of range.
    fn get(&self, i: usize) -> String {
        assert!(i < self.len(), "run {i} of {}", self.len());
        let block = i / ID_BLOCK;
        let mut pos = self.blocks[block] as usize;
        let mut id = String::new();
        for _ in block * ID_BLOCK..=i {
            let word = |p: usize| u16::from_le_bytes([self.bytes[p], self.bytes[p + 1]]) as usize;
            let (shared, len) = (word(pos), word(pos + 2));
            pos += 4;
            id.truncate(shared);
            id.push_str(std::str::from_utf8(&self.bytes[pos..pos + len]).expect("stored from a str"));
            pos += len;
        }
        id
    }
}

/// Loads scenarios under `dir` and expands `sel` into runs, sorted by id; each scenario is expanded,
/// validated and reduced to run ids in turn, so planning never holds the whole matrix's specs.
///
/// Errors: a broken scenario file; an unknown implementation, NAT profile or a glob that matches no
/// scenario.
pub fn plan(dir: &Path, sel: &Selection, registry: &Registry) -> Result<Plan, InputError> {
    let all = load_scenarios(dir, &sel.scenario_dirs)?;
    let known: Vec<String> = registry.entries().iter().map(|e| e.name.clone()).collect();
    // Live implementations run only when named (`--impl`, `--peer`, a scenario's own `impl`):
    // they need root and real time, and the default matrix is simulated.
    let simulated: Vec<String> = registry
        .entries()
        .iter()
        .filter(|e| e.live.is_none())
        .map(|e| e.name.clone())
        .collect();
    let check_impl = |n: &String| {
        if known.contains(n) {
            Ok(())
        } else {
            Err(InputError::Unknown(format!(
                "unknown implementation `{n}` (known: {})",
                known.join(", ")
            )))
        }
    };
    if let Some(u) = &sel.under_test {
        check_impl(u)?;
    }
    for p in &sel.peers {
        check_impl(p)?;
    }
    let profiles = nat_profiles();
    for n in &sel.nats {
        if !profiles.contains_key(n) {
            let k: Vec<_> = profiles.keys().cloned().collect();
            return Err(InputError::Unknown(format!(
                "unknown NAT profile `{n}` (known: {})",
                k.join(", ")
            )));
        }
    }
    let mut chosen = Vec::new();
    for g in &sel.scenarios {
        let pat = glob::Pattern::new(g).map_err(|e| InputError::Unknown(format!("bad scenario glob `{g}`: {e}")))?;
        let hits: Vec<_> = all.iter().filter(|s| pat.matches(&s.id)).collect();
        if hits.is_empty() {
            let ids: Vec<_> = all.iter().map(|s| s.id.as_str()).collect();
            return Err(InputError::Unknown(format!(
                "no scenario matches `{g}` (known: {})",
                ids.join(", ")
            )));
        }
        for h in hits {
            if !chosen.iter().any(|c: &Scenario| c.id == h.id) {
                chosen.push(h.clone());
            }
        }
    }
    if sel.scenarios.is_empty() {
        chosen = all;
    }
    // Implementations a chosen scenario names itself: unknown ones are the file's error, at their line.
    for sc in &chosen {
        for (name, party) in &sc.parties {
            let named = party.implementation.values();
            let many = named.len() > 1;
            for (k, i) in named.iter().enumerate() {
                if i.starts_with('$') || known.contains(i) {
                    continue;
                }
                let path = if many {
                    format!("parties.{name}.impl[{k}]")
                } else {
                    format!("parties.{name}.impl")
                };
                return Err(InputError::Scenario(sc.error_at(
                    &path,
                    format!("unknown implementation `{i}` (known: {})", known.join(", ")),
                )));
            }
        }
    }
    let peers = if sel.peers.is_empty() {
        simulated.clone()
    } else {
        sel.peers.clone()
    };
    let pairings: Vec<(String, String)> = match &sel.under_test {
        Some(u) => peers
            .iter()
            .flat_map(|p| [(u.clone(), p.clone()), (p.clone(), u.clone())])
            .collect(),
        None => simulated
            .iter()
            .flat_map(|a| peers.iter().map(move |b| (a.clone(), b.clone())))
            .collect(),
    };
    let m = MatrixSpec {
        pairings,
        nat_override: if sel.nats.is_empty() {
            None
        } else {
            Some(sel.nats.clone())
        },
        seeds: if sel.seeds.is_empty() {
            vec![1]
        } else {
            sel.seeds.clone()
        },
    };
    // A run id starts with its scenario's id and a `/`: scenarios in that order, each expanding to its
    // runs in id order, give every id in order without sorting the whole matrix in memory.
    chosen.sort_by(|a, b| format!("{}/", a.id).cmp(&format!("{}/", b.id)));
    let scenarios: Vec<Arc<Scenario>> = chosen.into_iter().map(Arc::new).collect();
    let mut runs = Ids::default();
    let mut index = 0;
    // Which runs a scenario has, and whether their knobs are valid, does not depend on the seed: one
    // seed's specs are expanded and checked, and the other seeds only repeat their ids. Expanding every
    // seed's specs at once made planning's peak memory grow with the number of seeds.
    let first_seed = MatrixSpec {
        seeds: m.seeds[..1].to_vec(),
        ..m.clone()
    };
    for (k, sc) in scenarios.iter().enumerate() {
        let mut specs = expand(sc, &first_seed);
        for r in &specs {
            for p in r.parties.iter().filter(|p| !p.knobs.is_empty()) {
                let Some(entry) = registry.get(&p.implementation) else {
                    return Err(InputError::Scenario(sc.error_at(
                        &format!("parties.{}.impl", p.name),
                        format!(
                            "unknown implementation `{}` (known: {})",
                            p.implementation,
                            known.join(", ")
                        ),
                    )));
                };
                let Some(check) = entry.check_knobs else {
                    return Err(InputError::Scenario(sc.error_at(
                        &format!("parties.{}.knobs", p.name),
                        format!("implementation `{}` takes no knobs", p.implementation),
                    )));
                };
                if let Err(e) = check(&p.knobs) {
                    // The knob that is wrong on its own, else the set.
                    let culprit = p.knobs.iter().find(|(k, v)| {
                        let one: BTreeMap<String, String> = [((*k).clone(), (*v).clone())].into();
                        check(&one).is_err()
                    });
                    let path = match culprit {
                        Some((k, _)) => format!("parties.{}.knobs.{k}", p.name),
                        None => format!("parties.{}.knobs", p.name),
                    };
                    return Err(InputError::Scenario(
                        sc.error_at(&path, format!("{e} (with implementation `{}`)", p.implementation)),
                    ));
                }
            }
        }
        if let Some(u) = &sel.under_test {
            // Scenarios that name their implementations run only when they involve the one under test,
            // and, when peers are restricted, only with those peers.
            specs.retain(|r| {
                r.parties.iter().any(|p| &p.implementation == u)
                    && r.parties.iter().all(|p| {
                        &p.implementation == u || sel.peers.is_empty() || sel.peers.contains(&p.implementation)
                    })
            });
        }
        let mut ids: Vec<String> = specs
            .iter()
            .flat_map(|r| {
                let id = RunId::parse(&r.id).expect("expand writes run ids");
                m.seeds.iter().map(move |s| id.with_seed(*s).to_string())
            })
            .collect();
        drop(specs);
        ids.sort_unstable();
        ids.dedup();
        for id in ids {
            // Shard i/n takes every n-th run of the whole matrix, counting from its (i-1)-th.
            if sel.shard.is_none_or(|(i, n)| index % n == i - 1) {
                runs.push(k, &id);
            }
            index += 1;
        }
    }
    tracing::info!(
        scenarios = scenarios.len(),
        runs = runs.len(),
        shard = ?sel.shard,
        "planned"
    );
    Ok(Plan {
        scenarios,
        runs,
        profiles,
    })
}

/// Rebuilds the [`RunSpec`] of a run id (`SCENARIO/A->B/NAT_A+NAT_B/seed-N`) from the scenarios in `dir`.
///
/// Errors: a malformed id, or a scenario, implementation or NAT profile that does not exist.
pub fn spec_from_id(dir: &Path, id: &str, registry: &Registry) -> Result<RunSpec, InputError> {
    spec_from_id_in(dir, &[], id, registry)
}

/// [`spec_from_id`] with scenarios of one's own from `extra` folders beside the library.
///
/// Errors: as [`spec_from_id`], and as [`load_scenarios`].
pub fn spec_from_id_in(dir: &Path, extra: &[PathBuf], id: &str, registry: &Registry) -> Result<RunSpec, InputError> {
    let bad = || {
        InputError::Unknown(format!(
            "`{id}` is not a run id (SCENARIO/CALLER->CALLEE/NAT+NAT/seed-N)"
        ))
    };
    let scenario = RunId::parse(id).ok_or_else(bad)?.scenario;
    let all = load_scenarios(dir, extra)?;
    let sc = all
        .into_iter()
        .find(|s| s.id == scenario)
        .ok_or_else(|| InputError::Unknown(format!("no scenario `{scenario}`")))?;
    let spec = spec_for(&Arc::new(sc), id, &nat_profiles())?;
    for p in &spec.parties {
        if registry.get(&p.implementation).is_none() {
            return Err(InputError::Unknown(format!(
                "unknown implementation `{}`",
                p.implementation
            )));
        }
    }
    Ok(spec)
}

/// The [`RunSpec`] of run `id` of scenario `sc`: implementations and NAT profiles from the id, the rest
/// from the scenario.
///
/// Errors: an id that is not `SCENARIO/A->B/NAT_A+NAT_B/seed-N` for `sc`, or an unknown NAT profile.
fn spec_for(
    sc: &Arc<Scenario>,
    id: &str,
    profiles: &BTreeMap<String, crate::net::NatProfile>,
) -> Result<RunSpec, InputError> {
    let bad = || {
        InputError::Unknown(format!(
            "`{id}` is not a run id (SCENARIO/CALLER->CALLEE/NAT+NAT/seed-N)"
        ))
    };
    let RunId {
        scenario,
        impls,
        nats,
        seed,
        ..
    } = RunId::parse(id).ok_or_else(bad)?;
    if scenario != sc.id {
        return Err(bad());
    }
    if impls.len() != sc.parties.len() || nats.len() != sc.parties.len() {
        return Err(bad());
    }
    let parties = sc
        .parties
        .keys()
        .zip(impls.iter().zip(&nats))
        .map(|(name, (i, n))| {
            let nat = profiles
                .get(n.as_str())
                .cloned()
                .ok_or_else(|| InputError::Unknown(format!("unknown NAT profile `{n}`")))?;
            Ok(crate::scenario::PartySpec::new(sc, name, i, n, nat))
        })
        .collect::<Result<Vec<_>, InputError>>()?;
    Ok(RunSpec {
        id: id.to_string(),
        scenario: Arc::clone(sc),
        parties,
        seed,
    })
}

/// Which runs get a pcapng capture (`--pcap`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PcapPolicy {
    /// Runs with a failed check held against an implementation or an unmet expectation; a
    /// conformance job keeps them for the first run of each finding ([`report::FIRST_RUN_PER_FINDING`]).
    Failing,
    /// Every run.
    All,
    /// None.
    None,
}

/// Where per-run artefacts go and which runs get them.
#[derive(Clone, Debug)]
pub struct Artefacts {
    /// The output folder; a run's artefacts go to its folder there ([`run_dir`]).
    pub out: PathBuf,
    /// Which runs.
    pub pcap: PcapPolicy,
    /// `--tcpdump`: every live run keeps its artefacts, with a tcpdump capture per live device
    /// beside them ([`crate::run::RunOptions::tcpdump`]), and none is thinned away.
    pub tcpdump: bool,
}

/// Removes `out/runs`: the pages and artefacts an earlier report left in the same folder, so the
/// folder never holds a page of a run its report does not list. Nothing else in `out` is touched.
///
/// Errors: I/O errors other than the folder being absent, with the path.
pub fn clear_runs(out: &Path) -> std::io::Result<()> {
    let runs = out.join("runs");
    match std::fs::remove_dir_all(&runs) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(std::io::Error::new(e.kind(), format!("{}: {e}", runs.display())))
        }
        _ => Ok(()),
    }
}

/// Fills `out/runs` for a merged report: replaces it ([`clear_runs`]) with each run's artefacts
/// (the files of its `artefacts` folder: capture, ladder, trace)
/// copied from whichever of the `shards` folders holds them, so the merged pages link to files that
/// exist. When `out` is itself one of the shards, its `runs/` is kept, less the folders of runs
/// whose artefacts the merge dropped, and only the other shards' runs are copied in. Returns the number of runs whose folder was copied.
///
/// Errors: I/O errors, with the path.
pub fn copy_shard_artefacts(report: &Report, shards: &[PathBuf], out: &Path) -> std::io::Result<usize> {
    let annotate = |p: &Path, e: std::io::Error| std::io::Error::new(e.kind(), format!("{}: {e}", p.display()));
    let out_real = out.canonicalize().ok();
    let is_out = |d: &Path| out_real.is_some() && d.canonicalize().ok() == out_real;
    if !shards.iter().any(|d| is_out(d)) {
        clear_runs(out)?;
    } else {
        // `out` is a shard: the folders of its runs whose artefacts the merge dropped go.
        for r in report.runs.iter().filter(|r| r.artefacts.is_none()) {
            let dir = run_dir(out, &r.id);
            if dir.is_dir() {
                std::fs::remove_dir_all(&dir).map_err(|e| annotate(&dir, e))?;
            }
        }
    }
    let mut copied = 0;
    for rel in report.runs.iter().filter_map(|r| r.artefacts.as_deref()) {
        let Some(shard) = shards.iter().find(|d| d.join(rel).is_dir()) else {
            continue;
        };
        if is_out(shard) {
            continue;
        }
        let from = shard.join(rel);
        let to = out.join(rel);
        std::fs::create_dir_all(&to).map_err(|e| annotate(&to, e))?;
        for f in std::fs::read_dir(&from).map_err(|e| annotate(&from, e))? {
            let f = f.map_err(|e| annotate(&from, e))?;
            if !f.path().is_file() {
                continue;
            }
            let dst = to.join(f.file_name());
            std::fs::copy(f.path(), &dst).map_err(|e| annotate(&dst, e))?;
        }
        copied += 1;
    }
    Ok(copied)
}

/// The folder of a run's artefacts: `runs/SCENARIO/CALLER-to-CALLEE_NATS_seed-N` for the run
/// `SCENARIO/CALLER->CALLEE/NATS/seed-N` (an id of another shape: the id with `->` written `-to-`).
/// The run's page is the folder's name with `.html` beside it ([`run_page`]), so a report has one
/// folder per scenario and one per captured run, not four per run.
pub fn run_dir(out: &Path, id: &str) -> PathBuf {
    match RunId::parse(id) {
        Some(r) => out.join("runs").join(&r.scenario).join(r.folder_name()),
        None => out.join("runs").join(id.replace("->", "-to-")),
    }
}

/// The page of a run: [`run_dir`] with `.html` appended, beside the folder of its artefacts.
pub fn run_page(out: &Path, id: &str) -> PathBuf {
    let mut page = run_dir(out, id).into_os_string();
    page.push(".html");
    PathBuf::from(page)
}

/// Which of a run's artefacts are written, and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArtefactForm {
    /// `conform`: `capture.pcapng.gz` (gzip: Wireshark and tshark open it as it is) and
    /// `ladder.svg`, so a report's folder stays small enough to publish.
    Published,
    /// `conform --pcap all`: [`ArtefactForm::Published`] and `trace.jsonl`.
    PublishedWithTrace,
    /// `replay`, one run: `capture.pcapng` uncompressed, `trace.jsonl` and `ladder.svg`.
    Full,
}

/// Writes the artefacts of `out` into `dir` (created if needed) in `form`, and returns the names
/// of the files written, in the order [`crate::report::RunReport::files`] lists them.
///
/// Errors: I/O errors, with the path.
pub fn write_artefacts(out: &crate::run::RunOutput, dir: &Path, form: ArtefactForm) -> std::io::Result<Vec<String>> {
    use std::io::Write as _;
    let annotate = |p: &Path, e: std::io::Error| std::io::Error::new(e.kind(), format!("{}: {e}", p.display()));
    std::fs::create_dir_all(dir).map_err(|e| annotate(dir, e))?;
    let mut files = Vec::new();
    // A live run's capture is stamped in real time, a simulated run's from the epoch.
    let start = std::time::Duration::from_micros(out.live.as_ref().map_or(0, |l| l.started_unix_us));
    let create = |name: &str| -> std::io::Result<std::io::BufWriter<std::fs::File>> {
        let p = dir.join(name);
        Ok(std::io::BufWriter::new(
            std::fs::File::create(&p).map_err(|e| annotate(&p, e))?,
        ))
    };
    if form == ArtefactForm::Full {
        let name = "capture.pcapng";
        crate::capture::write_pcapng_at(&out.trace, &out.spec.id, start, create(name)?)
            .map_err(|e| annotate(&dir.join(name), e))?;
        files.push(name.to_string());
    } else {
        let name = "capture.pcapng.gz";
        // The gzip header's time stays 0: same run, same bytes.
        let mut gz = flate2::GzBuilder::new()
            .mtime(0)
            .write(create(name)?, flate2::Compression::default());
        crate::capture::write_pcapng_at(&out.trace, &out.spec.id, start, &mut gz)
            .and_then(|()| gz.finish()?.flush())
            .map_err(|e| annotate(&dir.join(name), e))?;
        files.push(name.to_string());
    }
    let svg = dir.join("ladder.svg");
    let ip = |a: &str| a.parse::<std::net::SocketAddr>().map(|s| s.ip());
    let stun_ip = ip(crate::run::STUN_ADDR).expect("constant");
    let turn_ip: std::net::IpAddr = crate::run::TURN_IP.parse().expect("constant");
    let text = crate::ladder::render_svg(&out.trace, &out.parties, stun_ip, turn_ip);
    std::fs::write(&svg, text).map_err(|e| annotate(&svg, e))?;
    files.push("ladder.svg".to_string());
    if form != ArtefactForm::Published {
        let name = "trace.jsonl";
        out.trace
            .write_jsonl(create(name)?)
            .map_err(|e| annotate(&dir.join(name), e))?;
        files.push(name.to_string());
    }
    Ok(files)
}

/// The tcpdump captures of live devices in a run's folder (`tcpdump-*.pcap`), sorted.
fn tcpdump_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.starts_with("tcpdump-") && n.ends_with(".pcap"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Runs one spec and judges it; a harness failure becomes a `harness-error` run, never a panic that
/// takes the matrix down.
pub fn run_one(spec: &RunSpec, registry: &Registry) -> RunReport {
    run_one_with(spec, registry, None)
}

/// [`run_one`], also writing the run's artefacts as `artefacts` asks.
pub fn run_one_with(spec: &RunSpec, registry: &Registry, artefacts: Option<&Artefacts>) -> RunReport {
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let opts = crate::run::RunOptions {
            tcpdump: artefacts.filter(|a| a.tcpdump).map(|a| run_dir(&a.out, &spec.id)),
        };
        crate::run::run_with(spec, registry, &opts).map(|o| {
            let mut rep = judge(&o);
            if let Some(a) = artefacts {
                // A fault the scenario injected and expected is no failure worth a capture.
                let failing = !rep.expectation.met
                    || rep
                        .checks
                        .iter()
                        .any(|c| c.verdict == crate::checks::Verdict::Fail && !c.injected);
                let tcpdumped = a.tcpdump && o.live.is_some();
                let want = tcpdumped
                    || match a.pcap {
                        PcapPolicy::All => true,
                        PcapPolicy::Failing => failing,
                        PcapPolicy::None => false,
                    };
                if want {
                    let form = match a.pcap {
                        PcapPolicy::All => ArtefactForm::PublishedWithTrace,
                        _ => ArtefactForm::Published,
                    };
                    let dir = run_dir(&a.out, &spec.id);
                    match write_artefacts(&o, &dir, form) {
                        Ok(mut files) => {
                            if tcpdumped {
                                files.extend(tcpdump_files(&dir));
                            }
                            rep.artefacts = Some(run_dir(Path::new(""), &spec.id).to_string_lossy().replace('\\', "/"));
                            rep.files = files;
                        }
                        Err(e) => rep.error = Some(format!("capture not written: {e}")),
                    }
                }
            }
            o.trace.recycle();
            rep
        })
    }));
    match r {
        Ok(Ok(rep)) => rep,
        Ok(Err(e)) => harness_error_report(spec, e.to_string()),
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            harness_error_report(spec, format!("panic: {msg}"))
        }
    }
}

/// Runs every spec on `jobs` worker threads and collects the report; `progress` is called once per
/// finished run. For big matrices use [`execute_each`], which keeps no run.
pub fn execute(
    runs: &[RunSpec],
    registry: &Registry,
    jobs: usize,
    artefacts: Option<&Artefacts>,
    progress: &(dyn Fn(usize, usize, &RunReport) + Sync),
) -> Report {
    let mut all = Vec::with_capacity(runs.len());
    execute_each(
        runs.len(),
        &|i| runs[i].clone(),
        registry,
        jobs,
        artefacts,
        &mut |n, total, rep| {
            progress(n, total, &rep);
            all.push(rep);
        },
    );
    build(all)
}

/// Runs `count` runs on `jobs` worker threads, each built by `spec(i)` when a worker takes it (e.g.
/// [`Plan::spec`]), and hands each run's report to `each(n, total, report)` on the calling thread in
/// index order (the report's order for a [`Plan`]), `n` counting from 1.
///
/// Memory holds at most [`WINDOW_PER_WORKER`] runs per worker, whatever the number of runs and however
/// slow `each` is (it writes files): a worker starts run `i` only once run `i - window` and every
/// run before it have been handed on, so neither finished runs waiting for an earlier one nor reports
/// waiting for `each` pile up.
///
/// A panic in `each` stops the workers after their current run and is then resumed on the calling
/// thread; one in `spec` stops the other workers likewise, and the job then panics with "a scoped
/// thread panicked" (a panic inside a run is that run's harness error, see [`run_one_with`]).
pub fn execute_each(
    count: usize,
    spec: &(dyn Fn(usize) -> RunSpec + Sync),
    registry: &Registry,
    jobs: usize,
    artefacts: Option<&Artefacts>,
    each: &mut dyn FnMut(usize, usize, RunReport),
) {
    let workers = jobs.max(1).min(count.max(1));
    let window = workers * WINDOW_PER_WORKER;
    let next = AtomicUsize::new(0);
    let handed = Handed::default();
    let (tx, rx) = std::sync::mpsc::channel::<(usize, RunReport)>();
    std::thread::scope(|s| {
        // Before the spawns: a thread that fails to start panics here too.
        let _stop_workers_on_panic = handed.closer();
        for _ in 0..workers {
            let tx = tx.clone();
            let (next, handed) = (&next, &handed);
            s.spawn(move || {
                let _stop_others_on_panic = handed.closer();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    // Run i - window is handed on before run i starts. The worker holding the oldest
                    // run not handed on never waits, so the wait always ends.
                    if i >= count || !handed.wait_until_past(i.saturating_sub(window - 1)) {
                        break;
                    }
                    let spec = spec(i);
                    tracing::debug!(run = %spec.id, "run started");
                    let rep = run_one_with(&spec, registry, artefacts);
                    tracing::debug!(run = %rep.id, outcome = %rep.outcome, trace_events = rep.trace_events, "run finished");
                    if let Some(e) = &rep.error {
                        tracing::warn!(run = %rep.id, error = %e, "harness error");
                    }
                    if tx.send((i, rep)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        // Reorder: runs finish in any order; they are handed on in plan order.
        let mut waiting: BTreeMap<usize, RunReport> = BTreeMap::new();
        let mut emitted = 0;
        for (i, rep) in rx {
            waiting.insert(i, rep);
            while let Some(rep) = waiting.remove(&emitted) {
                emitted += 1;
                each(emitted, count, rep);
                handed.advance(emitted);
            }
        }
    });
}

/// Runs per worker thread that [`execute_each`] lets be under way or finished and not yet handed on:
/// enough that a long run (`turn/allocation-refresh` costs about six ordinary ones) does not leave the
/// other workers idle, few enough that memory does not depend on the number of runs.
pub const WINDOW_PER_WORKER: usize = 16;

/// How many runs [`execute_each`] has handed on, for workers waiting to start a run; `closed` once the
/// job stops early (a panic), so that no worker waits for ever.
#[derive(Default)]
struct Handed {
    state: std::sync::Mutex<(usize, bool)>,
    changed: std::sync::Condvar,
}

impl Handed {
    fn advance(&self, emitted: usize) {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).0 = emitted;
        self.changed.notify_all();
    }

    /// Waits until at least `n` runs are handed on; false when the job stopped instead.
    fn wait_until_past(&self, n: usize) -> bool {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        while st.0 < n && !st.1 {
            st = self.changed.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        !st.1
    }

    /// A guard that closes `self` when dropped while its thread panics.
    fn closer(&self) -> impl Drop + '_ {
        struct Closer<'a>(&'a Handed);
        impl Drop for Closer<'_> {
            fn drop(&mut self) {
                if std::thread::panicking() {
                    self.0.state.lock().unwrap_or_else(|e| e.into_inner()).1 = true;
                    self.0.changed.notify_all();
                }
            }
        }
        Closer(self)
    }
}

/// The conformance job: runs `plan` on `jobs` worker threads and streams each report into the files
/// of `artefacts.out` as it finishes ([`report::ReportWriter`]), calling `each(n, total, report)` first
/// (progress, summary lines). Returns what the report says as a whole.
///
/// Errors: I/O errors of the report files, naming the file; the remaining runs still run, unwritten.
pub fn execute_plan(
    plan: &Plan,
    registry: &Registry,
    jobs: usize,
    artefacts: &Artefacts,
    each: &mut dyn FnMut(usize, usize, &RunReport),
) -> std::io::Result<report::Summary> {
    clear_runs(&artefacts.out)?;
    // `--pcap failing` keeps the first failing run's artefacts per matrix cell: the folder stays
    // small enough to publish, and `replay` writes any run's.
    let mut writer = report::ReportWriter::create_with(
        &artefacts.out,
        artefacts.pcap == PcapPolicy::Failing && !artefacts.tcpdump,
    )?;
    let mut failed = None;
    execute_each(
        plan.len(),
        &|i| plan.spec(i),
        registry,
        jobs,
        Some(artefacts),
        &mut |n, total, rep| {
            each(n, total, &rep);
            if failed.is_none() {
                failed = writer.push(&rep).err();
            }
        },
    );
    match failed {
        Some(e) => Err(e),
        None => Ok(writer.finish()?.1),
    }
}

/// Writes report.json, report.md, junit.xml, index.html and scorecards.html into `out` (created if
/// needed), and every run's page ([`run_page`]), beside its artefacts if it has any. Returns
/// the paths of the top-level files.
///
/// Errors: I/O errors, with the path.
pub fn write_outputs(report: &Report, out: &Path) -> Result<Vec<PathBuf>, std::io::Error> {
    let mut w = report::ReportWriter::create_with(out, report.artefacts.is_some())?;
    for run in &report.runs {
        w.push(run)?;
    }
    Ok(w.finish()?.0)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::{execute_each, plan, Ids, Selection, ID_BLOCK, WINDOW_PER_WORKER};
    use crate::scenario::{expand, MatrixSpec, Scenario};

    /// A run of `jmi/declined` between implementations nobody registered: an instant harness error.
    fn unregistered_run() -> crate::scenario::RunSpec {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
        let sc = Scenario::load_dir(&dir)
            .unwrap()
            .into_iter()
            .find(|s| s.id == "jmi/declined")
            .unwrap();
        let m = MatrixSpec {
            pairings: vec![("nobody".into(), "nobody".into())],
            nat_override: None,
            seeds: vec![1],
        };
        expand(&std::sync::Arc::new(sc), &m).remove(0)
    }

    #[test]
    fn a_slow_consumer_holds_the_workers_back_within_the_window() {
        let spec = unregistered_run();
        // Nothing is registered: every run is an instant harness error, far quicker than the consumer,
        // as runs are when the report files are written to a slow disk.
        let registry = crate::endpoint::Registry::new();
        let (count, jobs) = (300, 2);
        let handed = AtomicUsize::new(0);
        let most_ahead = AtomicUsize::new(0);
        execute_each(
            count,
            &|i| {
                most_ahead.fetch_max(i - handed.load(Ordering::SeqCst).min(i), Ordering::SeqCst);
                spec.clone()
            },
            &registry,
            jobs,
            None,
            &mut |n, total, rep| {
                assert_eq!((n, total), (handed.load(Ordering::SeqCst) + 1, count));
                assert_eq!(rep.outcome, "harness-error");
                std::thread::sleep(Duration::from_micros(200));
                handed.store(n, Ordering::SeqCst);
            },
        );
        assert_eq!(handed.into_inner(), count);
        let ahead = most_ahead.into_inner();
        assert!(
            ahead < jobs * WINDOW_PER_WORKER,
            "a run started {ahead} runs after the last one handed on"
        );
        assert!(ahead >= jobs, "runs never went ahead of the consumer ({ahead})");
    }

    /// Runs `execute_each` over 1000 unregistered runs on 2 workers, on a thread of its own, with `spec`
    /// and `each` as given; returns whether it panicked and how many runs were started, or fails the
    /// test when it has not returned within a minute (a worker left waiting for ever).
    fn stopped_by_panic(
        spec: impl Fn(usize) + Send + Sync + 'static,
        each: impl FnMut(usize) + Send + 'static,
    ) -> (bool, usize) {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let run = unregistered_run();
            let registry = crate::endpoint::Registry::new();
            let started = AtomicUsize::new(0);
            let mut each = each;
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                execute_each(
                    1000,
                    &|i| {
                        started.fetch_add(1, Ordering::SeqCst);
                        spec(i);
                        run.clone()
                    },
                    &registry,
                    2,
                    None,
                    &mut |n, _, _| each(n),
                )
            }));
            let _ = tx.send((r.is_err(), started.into_inner()));
        });
        rx.recv_timeout(Duration::from_secs(60))
            .expect("execute_each hung after a panic: a worker was left waiting")
    }

    #[test]
    fn a_panicking_consumer_stops_the_workers_instead_of_leaving_them_waiting() {
        // Workers are held back a window after run 3; when the consumer panics there, they must stop.
        let (panicked, started) = stopped_by_panic(
            |_| {},
            |n| {
                std::thread::sleep(Duration::from_millis(2));
                assert!(n < 3, "consumer gives up");
            },
        );
        assert!(panicked);
        assert!(started < 1000, "every run was started although the job had stopped");
    }

    #[test]
    fn a_panicking_spec_stops_the_other_workers_too() {
        let (panicked, started) = stopped_by_panic(
            |i| assert!(i != 40, "no spec for run 40"),
            |_| std::thread::sleep(Duration::from_millis(2)),
        );
        assert!(panicked);
        assert!(started < 1000, "every run was started although the job had stopped");
    }

    #[test]
    fn planning_one_seed_and_repeating_its_ids_gives_every_seed_s_runs_in_id_order() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
        let mut registry = crate::endpoint::Registry::new();
        for name in ["a", "b"] {
            registry.register(crate::endpoint::ImplEntry {
                name: name.into(),
                description: String::new(),
                make: Box::new(|_| unreachable!("planning runs nothing")),
                check_knobs: Some(|_| Ok(())),
                live: None,
            });
        }
        let seeds: Vec<u64> = (1..=12).collect();
        let sel = Selection {
            seeds: seeds.clone(),
            scenarios: vec!["basic/*".into(), "jmi/*".into()],
            ..Default::default()
        };
        let planned = plan(&dir, &sel, &registry).unwrap();
        let mut want = Vec::new();
        let m = MatrixSpec {
            pairings: vec![
                ("a".into(), "a".into()),
                ("a".into(), "b".into()),
                ("b".into(), "a".into()),
                ("b".into(), "b".into()),
            ],
            nat_override: None,
            seeds,
        };
        let mut all = Scenario::load_dir(&dir).unwrap();
        all.retain(|s| s.id.starts_with("basic/") || s.id.starts_with("jmi/"));
        for sc in all {
            want.extend(expand(&std::sync::Arc::new(sc), &m).into_iter().map(|r| r.id));
        }
        want.sort();
        let got: Vec<String> = (0..planned.len()).map(|i| planned.id(i)).collect();
        assert!(got.len() > 12 * 4, "{} runs", got.len());
        assert!(got.iter().any(|id| id.ends_with("/seed-10")));
        assert_eq!(got, want);
    }

    #[test]
    fn front_coded_ids_read_back_exactly_across_blocks_and_multibyte_characters() {
        let ids: Vec<String> = (0..3 * ID_BLOCK + 5)
            .map(|i| {
                format!(
                    "jmi/caf\u{e9}-{}/reference->p\u{e9}er{}/open+open/seed-{i:03}",
                    i / 7,
                    i % 3
                )
            })
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut store = Ids::default();
        for (k, id) in ids.iter().enumerate() {
            store.push(k % 2, id);
        }
        assert_eq!(store.len(), ids.len());
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(&store.get(i), id, "id {i}");
            assert_eq!(store.scenario[i] as usize, i % 2);
        }
        // Shared prefixes are not stored again: far less than the ids' own bytes.
        let whole: usize = ids.iter().map(String::len).sum();
        assert!(store.bytes.len() * 2 < whole, "{} of {whole} bytes", store.bytes.len());
    }
}
