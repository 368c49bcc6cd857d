//! The HTML report in a real browser: a passing and a failing run through the conform path, the output
//! folder loaded from file:// in headless Chromium, and the DOM it built checked — index.html shows the
//! coloured matrix and links to the run pages; following the failing run's link (as the browser has it,
//! percent-encoded) shows that run with its replay command and its ladder diagram. Needs Chromium
//! (Debian package `chromium`): `.ci/run` installs it and runs this test with `--ignored`; without it
//! the test fails rather than pass on nothing.

use std::path::{Path, PathBuf};
use std::process::Command;

use harness::conform::{execute, run_dir, spec_from_id, write_outputs, Artefacts, PcapPolicy};
use harness::report::replay_command;

const PASSING: &str = "basic/audio-call/reference->reference/port-restricted-cone+port-restricted-cone/seed-1";
const FAILING: &str =
    "ice/c001-without-negotiation/conversations-2.9.7->reference/port-restricted-cone+port-restricted-cone/seed-1";

/// `chromium` or `chromium-browser` on PATH.
fn find_chromium() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .flat_map(|d| ["chromium", "chromium-browser"].map(|n| d.join(n)))
        .find(|p| p.is_file())
        .expect("chromium is not installed: neither `chromium` nor `chromium-browser` is on PATH (apt-get install chromium)")
}

/// The DOM Chromium built from `url`, serialized.
fn dump_dom(chromium: &Path, profile: &Path, url: &str) -> String {
    let o = Command::new(chromium)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--dump-dom", url])
        .output()
        .unwrap_or_else(|e| panic!("{} did not start: {e}", chromium.display()));
    assert!(
        o.status.success(),
        "chromium failed on {url}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).expect("the DOM is UTF-8")
}

/// The values of every `href` attribute in `dom`.
fn hrefs(dom: &str) -> Vec<&str> {
    dom.split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect()
}

#[test]
#[ignore = "needs chromium (Debian package chromium)"]
fn chromium_shows_the_matrix_and_a_run_page_from_file_urls() {
    let chromium = find_chromium();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let registry = impl_catalog::registry();
    let specs: Vec<_> = [PASSING, FAILING]
        .iter()
        .map(|id| spec_from_id(dir, id, &registry).unwrap())
        .collect();
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("html-chromium-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let artefacts = Artefacts {
        out: out.clone(),
        pcap: PcapPolicy::Failing,
        tcpdump: false,
    };
    let report = execute(&specs, &registry, 1, Some(&artefacts), &|_, _, _| {});
    write_outputs(&report, &out).unwrap();
    let folder = out.to_str().expect("UTF-8 path");
    assert!(
        folder
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/-_.".contains(&b)),
        "{folder} would need percent-encoding in a file:// URL"
    );
    let base = format!("file://{folder}/");
    let profile = out.join("chromium-profile");

    let index = dump_dom(&chromium, &profile, &format!("{base}index.html"));
    assert!(index.contains("<h2 id=\"matrix\">Matrix</h2>"), "{index}");
    assert!(
        index.contains("<td class=\"fail\"><a href=\"#cell-"),
        "a red cell for the failing pairing: {index}"
    );
    assert!(
        index.contains("conversations-2.9.7: ice.renomination.only-when-negotiated"),
        "the red cell names the implementation and the rule it breaks: {index}"
    );
    assert!(
        index.contains("<td class=\"pass\"><a href=\"#cell-"),
        "a green cell for reference against itself: {index}"
    );
    let links = hrefs(&index);
    let pages: Vec<&str> = links
        .iter()
        .copied()
        .filter(|h| h.starts_with("runs/") && h.ends_with(".html"))
        .collect();
    assert_eq!(pages.len(), 2, "one link per run page: {links:?}");
    let href = pages
        .iter()
        .find(|h| h.starts_with("runs/ice/c001-without-negotiation/"))
        .expect("a link to the failing run's page");
    assert!(href.contains("%2B"), "`+` is percent-encoded in {href}");

    let page = dump_dom(&chromium, &profile, &format!("{base}{href}"));
    let shown = |s: &str| s.replace('>', "&gt;");
    assert!(
        page.contains(&format!("<h1><code>{}</code></h1>", shown(FAILING))),
        "the run page shows its run id: {page}"
    );
    assert!(
        page.contains(&shown(&replay_command(FAILING, None))),
        "the run page shows the replay command: {page}"
    );
    assert!(
        page.contains("ice.renomination.only-when-negotiated")
            && page.contains("draft-thatcher-ice-renomination-01 §3"),
        "the failed check with its citation: {page}"
    );
    assert!(
        page.contains("/ladder.svg\" type=\"image/svg+xml\""),
        "the ladder diagram: {page}"
    );
    assert!(run_dir(&out, FAILING).join("ladder.svg").is_file());
    let _ = std::fs::remove_dir_all(&out);
}
