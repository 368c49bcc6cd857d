//! Streams a report to its files as runs finish, so a matrix of any size is written in memory that does
//! not grow with its runs: each run goes to disk when it arrives (report.json, report.md, junit.xml,
//! its own page, its index.html row) and what is kept is the matrix cells and, per run, where its
//! index.html row lies in a part file (12 bytes).
//!
//! The files are byte-identical to rendering the whole [`Report`] at once (a test holds them equal),
//! so `report merge` and an unsharded run agree.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::{aggregate::Aggregate, html, junit, layout, markdown, FailOn, Matrix, RunReport, SCHEMA};
use crate::checks::{Level, Verdict};

/// A report being written into a folder; feed runs in id order with [`ReportWriter::push`], then
/// [`ReportWriter::finish`].
pub struct ReportWriter {
    dir: PathBuf,
    /// report.json, written up to the runs so far.
    json: BufWriter<File>,
    /// report.md's runs section and junit.xml's testcases, joined behind their heads at the end.
    md_runs: BufWriter<File>,
    junit_cases: BufWriter<File>,
    all: Aggregate,
    /// index.html's run rows in arrival order; grouped by cell only when index.html is written.
    rows: BufWriter<File>,
    rows_len: u64,
    /// Per cell, (offset, length) of its rows in the rows part file, in run order.
    row_refs: BTreeMap<html::CellKey, Vec<(u64, u32)>>,
    counts: html::IndexCounts,
    junit_failures: usize,
    summary: Summary,
    last_id: Option<String>,
    written: Vec<PathBuf>,
    /// With thinned artefacts, which runs keep theirs.
    thin: Option<super::Thinning>,
}

/// What a finished report says as a whole (for the exit status).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Runs written.
    pub runs: usize,
    /// Runs that connected.
    pub connected: usize,
    /// Runs that ended in `harness-error`.
    pub harness_errors: usize,
    /// Some MUST check failed.
    pub must_failed: bool,
    /// Some MUST or SHOULD check failed (fail or non-strict).
    pub should_failed: bool,
    /// Per implementation, what is held against it ([`super::Tally`]).
    pub by_impl: BTreeMap<String, super::Tally>,
    /// Check results by verdict (`pass`, `fail`, …), over all runs.
    pub verdicts: BTreeMap<String, usize>,
    /// MUST failures held against an implementation, by (implementation, check id, cite): in how
    /// many runs, and against which peers (the MUST rules of the [`super::Scorecard`]s).
    pub rules: BTreeMap<(String, String, String), (usize, std::collections::BTreeSet<String>)>,
    /// Per (caller, callee) implementation pair, how its cells read over every NAT pair: the worst
    /// of [`super::Cell::class`] (`fail` over `unmet` over `nopath` over `pass`).
    pub pairs: BTreeMap<(String, String), &'static str>,
    /// Runs whose scenario expectation was not met (negative tests included), and of those the
    /// ones nothing explains ([`super::UnmetRun::explained_by`] empty).
    pub unmet: (usize, usize),
    /// Negative tests ([`super::RunReport::negative_test`]): runs that tested their finding (none of
    /// the expectation waived), and of those the runs whose expectation was met.
    pub negative: (usize, usize),
}

impl Summary {
    /// True when a check at the `fail_on` level failed in some run ([`super::has_failure`] for a
    /// streamed report). With `gate`, only what is held against that implementation counts: MUST
    /// (or, for `should`, also SHOULD) failures attributed to its party, other than faults the
    /// scenario injected and expects, and the unmet expectations of runs it took part in.
    pub fn has_failure(&self, fail_on: FailOn, gate: Option<&str>) -> bool {
        match gate {
            None => match fail_on {
                FailOn::Must => self.must_failed,
                FailOn::Should => self.should_failed,
                FailOn::Never => false,
            },
            Some(name) => self.by_impl.get(name).is_some_and(|t| t.fails(fail_on)),
        }
    }
}

/// Names an I/O error after its file.
fn at(path: &Path) -> impl Fn(std::io::Error) -> std::io::Error + '_ {
    move |e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

fn create(path: &Path) -> std::io::Result<BufWriter<File>> {
    Ok(BufWriter::new(File::create(path).map_err(at(path))?))
}

impl ReportWriter {
    /// Starts report.json, report.md and junit.xml in `dir` (created if needed).
    ///
    /// Errors: I/O errors, naming the file.
    pub fn create(dir: &Path) -> std::io::Result<ReportWriter> {
        Self::create_with(dir, false)
    }

    /// [`ReportWriter::create`]; with `thin`, a run's artefacts are kept only where
    /// [`super::Thinning`] keeps them, the others' files removed as they arrive
    /// ([`super::FIRST_RUN_PER_FINDING`], said in report.json).
    ///
    /// Errors: I/O errors, naming the file.
    pub fn create_with(dir: &Path, thin: bool) -> std::io::Result<ReportWriter> {
        std::fs::create_dir_all(dir).map_err(at(dir))?;
        let mut json = create(&dir.join("report.json"))?;
        let artefacts = if thin {
            format!("\n  \"artefacts\": \"{}\",", super::FIRST_RUN_PER_FINDING)
        } else {
            String::new()
        };
        write!(
            json,
            "{{\n  \"schema\": \"{SCHEMA}\",\n  \"harness\": {{\n    \"version\": \"{}\"\n  }},{artefacts}\n  \"runs\": [",
            env!("CARGO_PKG_VERSION")
        )
        .map_err(at(&dir.join("report.json")))?;
        Ok(ReportWriter {
            json,
            md_runs: create(&dir.join("report.md.part"))?,
            junit_cases: create(&dir.join("junit.xml.part"))?,
            dir: dir.to_path_buf(),
            all: Aggregate::default(),
            rows: create(&dir.join("index.html.part"))?,
            rows_len: 0,
            row_refs: BTreeMap::new(),
            counts: html::IndexCounts::default(),
            junit_failures: 0,
            summary: Summary::default(),
            last_id: None,
            written: Vec::new(),
            thin: thin.then(super::Thinning::default),
        })
    }

    /// Writes one run: its part of report.json, report.md and junit.xml, and its page
    /// ([`crate::conform::run_page`]).
    ///
    /// Errors: I/O errors, naming the file. Panics when runs do not come in strictly increasing id
    /// order (the report's order; a caller bug).
    pub fn push(&mut self, run: &RunReport) -> std::io::Result<()> {
        assert!(
            self.last_id.as_deref().is_none_or(|l| l < run.id.as_str()),
            "runs must be pushed in increasing id order: {} after {:?}",
            run.id,
            self.last_id
        );
        self.last_id = Some(run.id.clone());
        let thinned;
        let drop_artefacts = match (&mut self.thin, &run.artefacts) {
            (Some(thinning), Some(_)) => !thinning.keeps(run),
            _ => false,
        };
        let run = match &run.artefacts {
            Some(folder) if drop_artefacts => {
                for f in &run.files {
                    let path = self.dir.join(folder).join(f);
                    match std::fs::remove_file(&path) {
                        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(at(&path)(e)),
                        _ => {}
                    }
                }
                // The folder held only those files: an empty folder is left to nobody.
                let _ = std::fs::remove_dir(self.dir.join(folder));
                let mut r = run.clone();
                r.artefacts = None;
                r.files.clear();
                thinned = r;
                &thinned
            }
            _ => run,
        };
        let json_path = self.dir.join("report.json");
        let text = layout::to_json(run, 2);
        let sep = if self.counts.runs == 0 { "" } else { "," };
        write!(self.json, "{sep}\n    {text}").map_err(at(&json_path))?;
        self.md_runs
            .write_all(markdown::run_section(run).as_bytes())
            .map_err(at(&self.dir.join("report.md")))?;
        let (case, failed) = junit::testcase(run);
        self.junit_failures += usize::from(failed);
        self.junit_cases
            .write_all(case.as_bytes())
            .map_err(at(&self.dir.join("junit.xml")))?;
        let page = crate::conform::run_page(&self.dir, &run.id);
        if let Some(parent) = page.parent() {
            std::fs::create_dir_all(parent).map_err(at(parent))?;
        }
        std::fs::write(&page, run.render_html_page(env!("CARGO_PKG_VERSION"))).map_err(at(&page))?;

        let key = html::cell_key(run);
        self.all.add(run);
        let must_failed = run
            .checks
            .iter()
            .filter(|k| k.level == Level::Must && k.verdict == Verdict::Fail)
            .count();
        let row = html::index_row(run);
        self.rows
            .write_all(row.as_bytes())
            .map_err(at(&self.dir.join("index.html")))?;
        let len = u32::try_from(row.len()).expect("an index row is short");
        self.row_refs.entry(key).or_default().push((self.rows_len, len));
        self.rows_len += u64::from(len);
        self.counts.add(run);
        let s = &mut self.summary;
        super::tally(run, &mut s.by_impl);
        for c in &run.checks {
            *s.verdicts.entry(super::verdict_name(c.verdict)).or_default() += 1;
        }
        s.harness_errors += usize::from(run.outcome == "harness-error");
        s.must_failed |= must_failed > 0;
        s.should_failed |= run
            .checks
            .iter()
            .any(|c| matches!(c.verdict, Verdict::Fail | Verdict::NonStrict));
        Ok(())
    }

    /// Closes report.json with the matrix, and writes report.md, junit.xml and index.html. Returns the
    /// top-level files written and the summary.
    ///
    /// Errors: I/O errors, naming the file.
    pub fn finish(mut self) -> std::io::Result<(Vec<PathBuf>, Summary)> {
        self.summary.runs = self.counts.runs;
        self.summary.connected = self.counts.connected;
        let super::aggregate::Summaries {
            cells,
            negative_tests,
            scorecards,
            unmet,
        } = std::mem::take(&mut self.all).finish();
        let matrix = Matrix { cells };
        let rank = |c: &str| match c {
            "fail" => 3,
            "unmet" => 2,
            "nopath" => 1,
            _ => 0,
        };
        for c in &matrix.cells {
            let e = self
                .summary
                .pairs
                .entry((c.caller.clone(), c.callee.clone()))
                .or_insert("pass");
            if rank(c.class()) > rank(e) {
                *e = c.class();
            }
        }
        for card in &scorecards {
            for b in card.breaks.iter().filter(|b| b.level == Level::Must) {
                self.summary.rules.insert(
                    (card.implementation.clone(), b.check.clone(), b.cite.clone()),
                    (b.runs, b.peers.iter().cloned().collect()),
                );
            }
        }
        self.summary.unmet = (unmet.len(), unmet.iter().filter(|u| u.explained_by.is_empty()).count());
        for t in &negative_tests {
            self.summary.negative.0 += t.runs - t.waived;
            self.summary.negative.1 += t.met;
        }
        let cells = &matrix.cells;
        let json_path = self.dir.join("report.json");
        let close = if self.summary.runs == 0 { "]" } else { "\n  ]" };
        write!(
            self.json,
            "{close},\n  \"matrix\": {},\n  \"negative_tests\": {},\n  \"scorecards\": {}\n}}\n",
            layout::to_json(&matrix, 1),
            layout::to_json(&negative_tests, 1),
            layout::to_json(&scorecards, 1)
        )
        .map_err(at(&json_path))?;
        self.json.flush().map_err(at(&json_path))?;
        self.written.push(json_path);

        // report.md and junit.xml: their heads need every run's counts, so the runs went to a part file
        // first and are copied behind the head now.
        let md = self.dir.join("report.md");
        let md_part = self.dir.join("report.md.part");
        self.md_runs.flush().map_err(at(&md_part))?;
        drop(self.md_runs);
        join(
            &md,
            &markdown::head(self.summary.runs, cells, &negative_tests, &scorecards, &unmet),
            &md_part,
            "",
        )?;
        self.written.push(md);

        let ju = self.dir.join("junit.xml");
        let ju_part = self.dir.join("junit.xml.part");
        self.junit_cases.flush().map_err(at(&ju_part))?;
        drop(self.junit_cases);
        join(
            &ju,
            &junit::head(self.summary.runs, self.junit_failures),
            &ju_part,
            junit::TAIL,
        )?;
        self.written.push(ju);

        // index.html: the rows went to a part file in run order; each cell's group is read back from
        // where its rows lie.
        let index = self.dir.join("index.html");
        let rows_part = self.dir.join("index.html.part");
        self.rows.flush().map_err(at(&rows_part))?;
        drop(self.rows);
        let mut rows = File::open(&rows_part).map_err(at(&rows_part))?;
        let mut out = create(&index)?;
        let keys: Vec<&html::CellKey> = self.row_refs.keys().collect();
        out.write_all(html::index_head(self.counts, cells, &keys, &negative_tests, &unmet).as_bytes())
            .map_err(at(&index))?;
        let mut buf = Vec::new();
        for (i, (key, refs)) in self.row_refs.iter().enumerate() {
            out.write_all(html::group_open(i, key).as_bytes()).map_err(at(&index))?;
            for &(offset, len) in refs {
                buf.resize(len as usize, 0);
                rows.seek(SeekFrom::Start(offset)).map_err(at(&rows_part))?;
                rows.read_exact(&mut buf).map_err(at(&rows_part))?;
                out.write_all(&buf).map_err(at(&index))?;
            }
            out.write_all(html::GROUP_CLOSE.as_bytes()).map_err(at(&index))?;
        }
        out.write_all(html::INDEX_TAIL.as_bytes()).map_err(at(&index))?;
        out.flush().map_err(at(&index))?;
        drop(rows);
        std::fs::remove_file(&rows_part).map_err(at(&rows_part))?;
        self.written.push(index);
        let cards = self.dir.join("scorecards.html");
        std::fs::write(&cards, html::render_scorecards(&scorecards)).map_err(at(&cards))?;
        self.written.push(cards);
        Ok((self.written, self.summary))
    }
}

/// Writes `path` as `head`, the contents of `part` (then removed), and `tail`.
fn join(path: &Path, head: &str, part: &Path, tail: &str) -> std::io::Result<()> {
    let mut out = create(path)?;
    out.write_all(head.as_bytes()).map_err(at(path))?;
    let mut body = File::open(part).map_err(at(part))?;
    std::io::copy(&mut body, &mut out).map_err(at(path))?;
    out.write_all(tail.as_bytes()).map_err(at(path))?;
    out.flush().map_err(at(path))?;
    std::fs::remove_file(part).map_err(at(part))
}
