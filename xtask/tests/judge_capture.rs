//! `cargo xtask judge`: bad inputs exit 2 with what was found, never a panic; a capture of a
//! simulated call is judged, with frames as evidence and `mode: capture` in report.json.

use std::path::PathBuf;
use std::process::{Command, Output};

const XTASK: &str = env!("CARGO_BIN_EXE_xtask");

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("jingle-interop-judge-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn judge(file: &std::path::Path, out: &std::path::Path, extra: &[&str]) -> Output {
    Command::new(XTASK)
        .arg("judge")
        .arg(file)
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A pcap of `n` UDP datagrams that are not STUN.
fn pcap_without_stun(n: usize) -> Vec<u8> {
    let mut b = vec![
        0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 101, 0, 0, 0,
    ];
    for i in 0..n {
        let mut ip = vec![0x45, 0, 0, 32, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2];
        ip.extend_from_slice(&[0x13, 0x88, 0x13, 0x89, 0, 12, 0, 0, b'h', b'e', b'y', b'!']);
        b.extend_from_slice(&(i as u32).to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&(ip.len() as u32).to_le_bytes());
        b.extend_from_slice(&(ip.len() as u32).to_le_bytes());
        b.extend_from_slice(&ip);
    }
    b
}

#[test]
fn bad_inputs_exit_2_saying_what_was_found() {
    let d = tmp("bad");
    let text = d.join("notes.txt");
    std::fs::write(&text, "not a capture at all").unwrap();
    let o = judge(&text, &d.join("out"), &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("not a pcap or pcapng capture"), "{}", stderr(&o));

    let quiet = d.join("quiet.pcap");
    std::fs::write(&quiet, pcap_without_stun(1204)).unwrap();
    let o = judge(&quiet, &d.join("out"), &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("no STUN Binding requests in 1,204 packets"),
        "{}",
        stderr(&o)
    );

    // Cut short in the middle of a packet record: read up to the cut, then the same message.
    let mut cut = pcap_without_stun(10);
    cut.truncate(cut.len() - 7);
    let short = d.join("short.pcap");
    std::fs::write(&short, cut).unwrap();
    let o = judge(&short, &d.join("out"), &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("no STUN Binding requests in 9 packets"),
        "{}",
        stderr(&o)
    );

    let header_only = d.join("header.pcapng");
    std::fs::write(&header_only, [0x0a, 0x0d, 0x0d, 0x0a, 0, 0]).unwrap();
    let o = judge(&header_only, &d.join("out"), &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("header is damaged"), "{}", stderr(&o));

    let o = judge(&d.join("missing.pcap"), &d.join("out"), &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));

    // A capture given as the stanza log must carry this project's stanzas; a foreign one has none.
    let public = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/stun-ice-testcall.pcap");
    let o = judge(&public, &d.join("out"), &["--stanzas", quiet.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("a capture without the stanzas"), "{}", stderr(&o));
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_renomination_capture_is_judged_frame_by_frame() {
    let d = tmp("renomination");
    // A call whose controlling agent nominates with 0xC001 toward a peer that never offered
    // renomination, captured by the simulator.
    let conform = Command::new(XTASK)
        .args(["conform", "--impl", "conversations-2.9.7", "--peer", "reference"])
        .args(["--scenario", "basic/audio-call", "--pcap", "all", "--out"])
        .arg(d.join("sim"))
        .output()
        .unwrap();
    assert!(conform.status.code().is_some_and(|c| c <= 1), "{}", stderr(&conform));
    let capture = walk(&d.join("sim/runs"))
        .into_iter()
        .find(|p| p.to_string_lossy().contains("conversations-2.9.7-to-reference") && p.ends_with("capture.pcapng.gz"))
        .expect("a capture");
    let o = judge(&capture, &d.join("judged"), &[]);
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    // The simulator's captures carry the stanzas: the peer offered no renomination, so the
    // caller's 0xC001 is a MUST failure, and the exit status says so.
    assert_eq!(o.status.code(), Some(1), "{stdout}\n{}", stderr(&o));
    assert!(
        stdout
            .lines()
            .any(|l| l.contains("caller checks") && l.contains("with NOMINATION 0xC001 = ")),
        "{stdout}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("judged/report.json")).unwrap()).unwrap();
    let run = &report["runs"][0];
    assert_eq!(run["mode"], "capture");
    let verdict = |id: &str| {
        run["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap_or_else(|| panic!("{id}"))
            .clone()
    };
    let renomination = verdict("ice.renomination.only-when-negotiated");
    assert_eq!(renomination["verdict"], "fail", "{renomination}");
    assert_eq!(renomination["party"], "caller", "{renomination}");
    assert!(
        !renomination["evidence"].as_array().unwrap().is_empty(),
        "{renomination}"
    );
    let answered = verdict("ice.request-answered");
    assert_eq!(answered["verdict"], "pass", "{answered}");
    assert!(d
        .join("judged")
        .join(run["artefacts"].as_str().unwrap())
        .join("ladder.svg")
        .exists());
    let _ = std::fs::remove_dir_all(&d);
}

fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// A capture nobody here made (tests/data/README.md): one agent behind a NAT checking a public
/// peer, USE-CANDIDATE on every check (RFC 5245 aggressive nomination).
#[test]
fn a_public_capture_of_a_real_call_is_judged_from_its_one_side() {
    let d = tmp("public");
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/stun-ice-testcall.pcap");
    let o = judge(&file, &d.join("out"), &[]);
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(o.status.code(), Some(1), "{stdout}\n{}", stderr(&o));
    // The agent on the private address is the one the capture was taken at; its peer is seen only
    // as its packets arrived.
    assert!(
        stdout
            .contains("caller: agent 192.168.43.155:59977 (controlling, ufrag GwL3AHBovubLvCqn, seen at interface 0)"),
        "{stdout}"
    );
    assert!(stdout.contains("no vantage in the capture"), "{stdout}");
    assert!(
        stdout.contains("frame      7  caller checks 192.168.43.155:59977 -> 155.212.214.188:23130 with USE-CANDIDATE"),
        "{stdout}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("out/report.json")).unwrap()).unwrap();
    let checks = report["runs"][0]["checks"].as_array().unwrap().clone();
    let find = |id: &str| checks.iter().find(|c| c["id"] == id).unwrap().clone();
    let once = find("ice.nomination.once-per-session");
    assert_eq!(
        (once["verdict"].as_str(), once["party"].as_str()),
        (Some("fail"), Some("caller")),
        "{once}"
    );
    // The far agent's own behaviour is not judged from here.
    for c in &checks {
        assert!(c["party"] != "callee", "{c}");
    }
    let _ = std::fs::remove_dir_all(&d);
}
