//! Live mode's hygiene through the command line: without root it refuses the live runs with exit 2
//! and runs the simulated ones; a harness killed with SIGKILL leaves namespaces that the next start
//! removes. Both need root (to drop to `nobody`, and to make namespaces): `.ci/run` runs them with
//! `--ignored`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const XTASK: &str = env!("CARGO_BIN_EXE_xtask");

/// One test at a time: each looks at the machine's namespaces and processes, which another test's
/// harness would change meanwhile.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("jingle-interop-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Starts `conform` with two live runs (reference-live in both roles of `live/short-call`) writing
/// to `out`, waits until both namespaces exist and the programs have had time to start inside them,
/// and returns the process and the prefix of its namespaces' names.
fn start_live_harness(out: &Path) -> (std::process::Child, String) {
    let child = Command::new(XTASK)
        .args([
            "conform",
            "--impl",
            "reference-live",
            "--peer",
            "reference",
            "--scenario",
            "live/short-call",
            "--scenarios",
        ])
        .arg(workspace().join("impls/live/tests/scenarios"))
        .arg("--out")
        .arg(out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mine = format!("{}{}-", harness::live::PREFIX, child.id());
    let start = Instant::now();
    while namespaces_of(&mine).len() < 2 {
        assert!(start.elapsed() < Duration::from_secs(30), "no live namespaces appeared");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(1500));
    (child, mine)
}

/// The live namespaces whose names start with `prefix`.
fn namespaces_of(prefix: &str) -> Vec<String> {
    harness::live::existing()
        .into_iter()
        .filter(|n| n.starts_with(prefix))
        .collect()
}

#[test]
#[ignore = "needs root to drop to nobody; .ci/run runs it"]
fn without_root_live_runs_exit_2_with_the_reason_and_simulated_runs_still_run() {
    let _serial = serial();
    let out = scratch("nonroot");
    // Writable by nobody.
    Command::new("chmod").args(["777"]).arg(&out).status().unwrap();
    let res = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(XTASK)
        .args([
            "conform",
            "--impl",
            "reference",
            "--peer",
            "reference",
            "reference-live",
            "--scenario",
            "basic/audio-call",
            "--nat",
            "port-restricted-cone",
            "--out",
        ])
        .arg(out.join("report"))
        .current_dir(workspace())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&res.stderr);
    assert_eq!(res.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("live mode needs root (network namespaces and TUN devices)"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    // The simulated run of the selection (reference -> reference) ran and was reported.
    let report = std::fs::read_to_string(out.join("report/report.json")).unwrap();
    assert!(
        report.contains("basic/audio-call/reference->reference/port-restricted-cone+port-restricted-cone/seed-1"),
        "{report}"
    );
    assert!(!report.contains("reference-live"), "no live run without root");
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
#[ignore = "needs root (network namespaces); .ci/run runs it"]
fn namespaces_of_a_sigkilled_harness_are_removed_at_the_next_start() {
    let _serial = serial();
    let out = scratch("sigkill");
    let (mut child, mine) = start_live_harness(&out.join("killed"));
    let ours = || namespaces_of(&mine);
    child.kill().unwrap(); // SIGKILL: no cleanup runs
    child.wait().unwrap();
    assert!(
        !ours().is_empty(),
        "a SIGKILLed harness cannot clean up; the test needs its leftovers"
    );
    // One more start (a simulated run) removes them.
    let res = Command::new(XTASK)
        .args([
            "conform",
            "--impl",
            "reference",
            "--peer",
            "reference",
            "--scenario",
            "basic/audio-call",
            "--nat",
            "open",
            "--out",
        ])
        .arg(out.join("next"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&res.stderr);
    assert!(
        stderr.contains("removed 2 network namespace(s) left by a harness that was killed"),
        "{stderr}"
    );
    assert_eq!(ours(), Vec::<String>::new());
    let listed = Command::new("ip").args(["netns", "list"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&listed.stdout).contains(&mine));
    // The programs inside went with them.
    let ps = Command::new("ps").args(["-eo", "args"]).output().unwrap();
    let leftover: Vec<String> = String::from_utf8_lossy(&ps.stdout)
        .lines()
        .filter(|l| l.contains(XTASK) && l.contains("live-endpoint"))
        .map(str::to_string)
        .collect();
    assert!(leftover.is_empty(), "{leftover:?}");
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
#[ignore = "needs root (network namespaces); .ci/run runs it"]
fn an_interrupted_harness_removes_its_namespaces_before_it_exits() {
    let _serial = serial();
    for (sig, name) in [(2, "SIGINT"), (15, "SIGTERM")] {
        let out = scratch("interrupt");
        let (mut child, mine) = start_live_harness(&out.join("r"));
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(child.id().to_string())
            .status()
            .unwrap();
        assert!(ok.success());
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(128 + sig), "{name}");
        let left = namespaces_of(&mine);
        assert!(left.is_empty(), "{name}: {left:?}");
        let _ = std::fs::remove_dir_all(&out);
    }
}
