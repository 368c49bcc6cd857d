//! The real ICE stacks (libnice, libnice-aggressive, aioice, Chromium, Firefox, webrtc-rs) in live mode,
//! end to end: one short call per stack and role against the reference, libnice against aioice, and
//! Chromium against Firefox (needs root and the Debian packages python3-gi, gir1.2-nice-0.1,
//! python3-aioice, python3-websockets, chromium and firefox-esr; run with `--ignored`, as
//! `.ci/run` does). Every MUST failure a stack draws must be one README §Findings reviewed.

use std::path::{Path, PathBuf};

use harness::checks::Verdict;
use harness::conform::{self, Selection};
use harness::endpoint::Registry;
use harness::report::RunReport;

/// One at a time: each test checks that no namespace is left behind.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The MUST failures README §Findings reviewed and found to be the stack's, as (stack, check).
/// A new one fails the test until it is reviewed: fixed in the judge, or listed there and here.
const REVIEWED: &[(&str, &str)] = &[
    // libnice puts the relayed candidate's own priority in checks sent from it
    // (agent/conncheck.c `stun_request_priority`), not the peer-reflexive type preference.
    ("libnice", "ice.check-priority"),
    ("libnice-aggressive", "ice.check-priority"),
    // RFC 5245 aggressive nomination, which RFC 8445 §8.1.1 no longer allows.
    ("libnice-aggressive", "ice.nomination.once-per-session"),
    ("aioice", "ice.nomination.once-per-session"),
    // aioice's TURN client drops Data indications (aioice 0.8 turn.py reads only ChannelData and
    // responses), so a check relayed to it that way goes unanswered (RFC 8656 §10.4).
    ("aioice", "ice.request-answered"),
    // libwebrtc's default semi-aggressive nomination (p2p/base/ice_transport_internal.h).
    ("chromium", "ice.nomination.once-per-session"),
    // Firefox sets NR_ICE_CTX_FLAGS_AGGRESSIVE_NOMINATION (nricectx.cpp), and nICEr gives checks
    // from a relayed candidate that candidate's own type preference, "because the standard is
    // wrong" (ice_candidate_pair.cpp, nr_ice_candidate_pair_create).
    ("firefox", "ice.nomination.once-per-session"),
    ("firefox", "ice.check-priority"),
    // webrtc-rs's ICE is rtc-ice: checks carry the local candidate's own priority, as the
    // simulated `rtc-ice` entry's do (rtc-ice `agent_selector.rs`, README §Findings).
    ("webrtc-rs", "ice.check-priority"),
];

fn registry() -> Registry {
    let mut r = impl_catalog::registry();
    live::register_stacks(&mut r);
    live::register_webrtc_rs(&mut r, vec![env!("CARGO_BIN_EXE_webrtc-rs-adapter").to_string()]);
    r
}

fn library() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios")
}

fn own_scenarios() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios")
}

fn run(under_test: &str, peers: &[&str], scenario: &str, registry: &Registry) -> Vec<RunReport> {
    run_with(under_test, peers, scenario, registry, 8)
}

/// As [`run`], `jobs` runs at once: browsers are heavy, and several starting together on a small
/// machine take long.
fn run_with(under_test: &str, peers: &[&str], scenario: &str, registry: &Registry, jobs: usize) -> Vec<RunReport> {
    run_keeping(under_test, peers, scenario, registry, jobs, None)
}

/// As [`run_with`], writing the runs' artefacts as `artefacts` asks.
fn run_keeping(
    under_test: &str,
    peers: &[&str],
    scenario: &str,
    registry: &Registry,
    jobs: usize,
    artefacts: Option<&conform::Artefacts>,
) -> Vec<RunReport> {
    let sel = Selection {
        under_test: Some(under_test.into()),
        peers: peers.iter().map(|p| p.to_string()).collect(),
        scenarios: vec![scenario.into()],
        scenario_dirs: vec![own_scenarios()],
        seeds: vec![1],
        ..Selection::default()
    };
    let plan = conform::plan(&library(), &sel, registry).expect("plan");
    assert!(!plan.is_empty());
    conform::execute(&plan.specs(), registry, jobs, artefacts, &|_, _, _| {}).runs
}

/// Every MUST failure of `runs` is one README §Findings reviewed ([`REVIEWED`]).
fn only_reviewed_failures(runs: &[RunReport]) {
    let mut unreviewed = Vec::new();
    for r in runs {
        for c in r.checks.iter().filter(|c| c.verdict == Verdict::Fail) {
            let stack = c.implementation.as_deref().unwrap_or("");
            if !REVIEWED.contains(&(stack, c.id.as_str())) {
                unreviewed.push(format!("{}: {} ({stack}): {}", r.id, c.id, c.detail));
            }
        }
    }
    assert!(
        unreviewed.is_empty(),
        "MUST failures no one reviewed:\n{}",
        unreviewed.join("\n")
    );
}

/// No namespace of this process is left behind.
fn nothing_left() {
    let left = harness::live::existing();
    assert!(left.is_empty(), "namespaces left: {left:?}");
}

fn stacks_available() {
    assert!(harness::live::privileged(), "{}", harness::live::NEEDS_ROOT);
    let probe = std::process::Command::new(live::PYTHON)
        .args([
            "-c",
            "import gi; gi.require_version('Nice', '0.1'); from gi.repository import Nice; import aioice, websockets",
        ])
        .status()
        .expect("Debian's python3");
    assert!(
        probe.success(),
        "libnice, aioice and websockets for {}: apt-get install python3-gi gir1.2-nice-0.1 python3-aioice python3-websockets",
        live::PYTHON
    );
}

#[test]
#[ignore = "needs root and the stacks' Debian packages; .ci/run runs it"]
fn each_real_stack_connects_in_both_roles_and_fails_only_reviewed_rules() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    stacks_available();
    let registry = registry();
    let mut runs = Vec::new();
    for stack in ["libnice", "libnice-aggressive", "aioice"] {
        runs.extend(run(stack, &["reference"], "live/short-call", &registry));
    }
    runs.extend(run("libnice", &["aioice"], "live/short-call", &registry));
    // 3 stacks × 2 roles against the reference, libnice ↔ aioice in both roles.
    assert_eq!(runs.len(), 8);
    for r in &runs {
        assert!(r.error.is_none(), "{}: {:?}", r.id, r.error);
        assert_eq!(r.mode.as_deref(), Some("live"), "{}", r.id);
        // ICE selected a pair in every run.
        assert!(r.selected_pair.is_some(), "{}", r.id);
        let with_reference = r.caller.implementation == "reference" || r.callee.implementation == "reference";
        // The report says which stack ran, as its adapter named it.
        for p in [&r.caller, &r.callee]
            .into_iter()
            .filter(|p| p.implementation != "reference")
        {
            let stack = p.stack.as_deref().unwrap_or("");
            assert!(
                stack.starts_with("libnice ") || stack.starts_with("aioice "),
                "{}: {stack:?}",
                r.id
            );
        }
        let media = r
            .checks
            .iter()
            .find(|c| c.id == "media.bidirectional-on-selected-pair")
            .expect("the media check");
        if with_reference {
            // The live reference sends media only after a DTLS-SRTP handshake, which these
            // ICE-only adapters cannot answer: its media is unjudged, never the stack's failure.
            assert_eq!(media.verdict, Verdict::Inconclusive, "{}: {}", r.id, media.detail);
            assert!(media.detail.contains("DTLS-SRTP"), "{}: {}", r.id, media.detail);
        } else {
            // Media both ways on the selected pair, judged from the wire.
            assert_eq!(r.outcome, "connected", "{}", r.id);
            assert_eq!(media.verdict, Verdict::Pass, "{}: {}", r.id, media.detail);
        }
    }
    only_reviewed_failures(&runs);
    nothing_left();
}

/// A scenario that asks libnice for renomination gets its `support-renomination`: it advertises
/// `<renomination/>` and, as the controlled agent, follows the reference's 0xC001 NOMINATION.
#[test]
#[ignore = "needs root and the stacks' Debian packages; .ci/run runs it"]
fn libnice_asked_for_renomination_follows_0xc001() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    stacks_available();
    let registry = registry();
    let runs = run("libnice", &["reference"], "live/c001-renomination", &registry);
    let r = runs
        .iter()
        .find(|r| r.id.contains("/reference->libnice/"))
        .expect("libnice as the callee");
    assert!(r.selected_pair.is_some(), "{}", r.id);
    assert!(
        r.callee.declares.iter().any(|d| d == "renomination (legacy-c001)"),
        "{:?}",
        r.callee.declares
    );
    for id in [
        "ice.renomination.only-when-negotiated",
        "ice.nomination.controlled-uses-nominated",
    ] {
        let c = r.checks.iter().find(|c| c.id == id).expect(id);
        assert_eq!(c.verdict, Verdict::Pass, "{id}: {}", c.detail);
    }
    // The nomination it followed was a NOMINATION attribute, not USE-CANDIDATE.
    let follows = r
        .checks
        .iter()
        .find(|c| c.id == "ice.renomination.controlled-follows-highest")
        .expect("the renomination check");
    assert!(
        follows.detail.contains("every NOMINATION callee accepted"),
        "{}",
        follows.detail
    );
    nothing_left();
}

/// Chromium with "renomination" in both descriptions (Conversations <= 2.9.7) nominates with
/// NOMINATION 0xC001: the judge names it under `ice.renomination.only-when-negotiated` when the
/// reference did not advertise renomination, and passes it when it did.
#[test]
#[ignore = "needs root, chromium and python3-websockets; .ci/run runs it"]
fn chromium_renomination_is_judged_by_what_the_peer_advertised() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    stacks_available();
    let registry = registry();
    let verdict = |r: &RunReport, id: &str| {
        let c = r.checks.iter().find(|c| c.id == id).expect(id);
        (c.verdict, c.implementation.clone(), c.detail.clone())
    };
    let caller = |runs: Vec<RunReport>| {
        runs.into_iter()
            .find(|r| r.id.contains("/chromium-renomination->reference/"))
            .expect("chromium-renomination as the caller")
    };
    let unnegotiated = caller(run(
        "chromium-renomination",
        &["reference"],
        "live/short-call",
        &registry,
    ));
    let (v, who, detail) = verdict(&unnegotiated, "ice.renomination.only-when-negotiated");
    assert_eq!(v, Verdict::Fail, "{detail}");
    assert_eq!(who.as_deref(), Some("chromium-renomination"), "{detail}");
    assert!(detail.contains("NOMINATION 0xc001"), "{detail}");
    let offered = caller(run(
        "chromium-renomination",
        &["reference"],
        "live/c001-offered",
        &registry,
    ));
    let (v, _, detail) = verdict(&offered, "ice.renomination.only-when-negotiated");
    assert_eq!(v, Verdict::Pass, "{detail}");
    assert!(offered.selected_pair.is_some(), "{}", offered.id);
    // With a nominated pair, DTLS-SRTP runs and media flows both ways.
    let (v, _, detail) = verdict(&offered, "media.bidirectional-on-selected-pair");
    assert_eq!(v, Verdict::Pass, "{detail}");
    // The field report, with the real libwebrtc in place of the model: Conversations 2.9.7 calling
    // Asterisk 2021 never nominates a pair (the field scenario's own expectations).
    let field = run(
        "conversations-2.9.7-live",
        &[],
        "field-live/conversations-297-calls-asterisk",
        &registry,
    );
    assert_eq!(field.len(), 1);
    let e = &field[0].expectation;
    assert!(e.met, "{}: {:?}", field[0].id, e.unmet);
    for r in [&unnegotiated, &offered] {
        for c in r.checks.iter().filter(|c| c.verdict == Verdict::Fail) {
            assert_eq!(
                c.implementation.as_deref(),
                Some("chromium-renomination"),
                "{}: {}",
                c.id,
                c.detail
            );
        }
    }
    nothing_left();
}

/// A tcpdump inside each party's namespace (`conform --tcpdump`), independent of the harness's
/// trace, judged as `cargo xtask judge` judges a capture from the field, with the stanzas of the
/// run's own capture (live mode's signalling never crosses the TUN device): the real libwebrtc's
/// NOMINATION 0xC001 checks are in Chromium's capture and graded there, naming it, and whatever
/// the capture decides is what the live run's judge decided.
#[test]
#[ignore = "needs root, chromium, tcpdump and python3-websockets; .ci/run runs it"]
fn a_tcpdump_of_chromium_renomination_is_judged_as_the_live_run_was() {
    use harness::capture::{self, judge as cj, read};
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    stacks_available();
    let registry = registry();
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("tcpdump-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let artefacts = conform::Artefacts {
        out: out.clone(),
        pcap: conform::PcapPolicy::None,
        tcpdump: true,
    };
    let runs = run_keeping(
        "chromium-renomination",
        &["reference"],
        "live/short-call",
        &registry,
        2,
        Some(&artefacts),
    );
    let live = runs
        .iter()
        .find(|r| r.id.contains("/chromium-renomination->reference/"))
        .expect("chromium-renomination as the caller");
    assert!(live.error.is_none(), "{}: {:?}", live.id, live.error);
    let dir = out.join(
        live.artefacts
            .as_deref()
            .expect("a live run under --tcpdump keeps its artefacts"),
    );
    // The reference here is simulated: only Chromium's party has a namespace to capture in.
    assert_eq!(
        live.files,
        ["capture.pcapng.gz", "ladder.svg", "tcpdump-caller.pcap"],
        "{}",
        live.id
    );
    let file = |name: &str| std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let stanzas = capture::own_stanzas(&read::read(&file("capture.pcapng.gz")).expect("the run's capture"));
    assert!(!stanzas.is_empty(), "the run's capture carries its stanzas");
    let cap = read::read(&file("tcpdump-caller.pcap")).expect("tcpdump's pcap");
    assert!(cap.truncated.is_none(), "{:?}", cap.truncated);
    assert!(cap.stanzas.is_empty(), "a TUN device carries no stanzas");
    let calls = cj::runs(&cap, "tcpdump", &stanzas).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(calls.len(), 1, "one call");
    assert!(calls[0].nomination_attributes, "the 0xC001 checks are on the wire");
    let judged = cj::judge(&calls[0]);
    let wrong = cj::disagreements(&live.id, "tcpdump-caller", live, &judged, false, false, Some("caller"));
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    let decided = judged
        .checks
        .iter()
        .filter(|c| c.verdict != Verdict::Inconclusive)
        .count();
    assert!(decided >= 10, "the capture decided only {decided} checks");
    // From Chromium's own interface the renomination it was never offered is graded, and blamed.
    let c = judged
        .checks
        .iter()
        .find(|c| c.id == "ice.renomination.only-when-negotiated")
        .expect("the check");
    assert_eq!(c.verdict, Verdict::Fail, "{}", c.detail);
    assert_eq!(c.party, harness::checks::Judged::Caller, "{}", c.detail);
    assert!(c.detail.contains("NOMINATION 0xc001"), "{}", c.detail);
    let _ = std::fs::remove_dir_all(&out);
    nothing_left();
}

/// A browser's Jingle transport carries its own certificate's fingerprint and DTLS role
/// (XEP-0320), not the reference signalling's: Chromium makes a new certificate per connection.
/// So does the reference in a live run (its DTLS identity comes from the operating system), and
/// as the answerer it takes the active role (RFC 5763 §5 recommends it). The reference says when
/// Chromium's first SRTP packet authenticated (`media-authenticated`).
#[test]
#[ignore = "needs root, chromium and python3-websockets; .ci/run runs it"]
fn chromium_signals_its_own_fingerprint_and_setup() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    stacks_available();
    let registry = registry();
    let id = "live/short-call/chromium->reference/port-restricted-cone+port-restricted-cone/seed-1";
    let transports = || {
        let spec = conform::spec_from_id_in(&library(), &[own_scenarios()], id, &registry).unwrap();
        let out = harness::run::run(&spec, &registry).unwrap();
        let fingerprint_of = |party: &str, action: &str| {
            out.trace.events.iter().find_map(|e| match &e.kind {
                harness::trace::TraceKind::Stanza {
                    party: p, dir, element, ..
                } if p == party && *dir == harness::trace::Dir::Tx => {
                    let j = element.get_child("jingle", harness::xml::ns::JINGLE)?;
                    (j.attr("action") == Some(action)).then_some(())?;
                    let f = j
                        .children()
                        .flat_map(|c| c.children())
                        .flat_map(|t| t.children())
                        .find(|f| f.name() == "fingerprint")?;
                    Some((f.text(), f.attr("setup").unwrap_or("").to_string()))
                }
                _ => None,
            })
        };
        // The reference authenticated Chromium's SRTP: the keys agree both ways.
        assert!(
            out.trace.events.iter().any(|e| matches!(&e.kind,
                harness::trace::TraceKind::Claim { party, claim } if party == "callee" && claim == "media-authenticated")),
            "the reference authenticated none of Chromium's SRTP"
        );
        (
            fingerprint_of("caller", "session-initiate").expect("the caller's offer"),
            fingerprint_of("callee", "session-accept").expect("the callee's answer"),
        )
    };
    let (a, b) = (transports(), transports());
    assert_eq!(a.0 .1, "actpass", "the offerer's role: {:?}", a.0);
    assert_eq!(a.0 .0.split(':').count(), 32, "a SHA-256 fingerprint: {:?}", a.0);
    assert_ne!(a.0 .0, b.0 .0, "Chromium's certificate is its own, new per connection");
    assert_eq!(a.1 .1, "active", "the answerer's role: {:?}", a.1);
    assert_ne!(a.1 .0, b.1 .0, "the reference's live certificate is new per run");
    nothing_left();
}

/// A stack with its own DTLS (a browser, webrtc-rs) against the reference in both roles, through
/// port-restricted-cone NATs and through symmetric NATs via TURN over UDP: ICE selects a pair, the
/// DTLS-SRTP handshake runs on it with the signalled certificates and roles (DTLS 1.2: the
/// reference offers no other, so the certificates are in the clear), and media flows both ways.
/// The stack's own statistics say it authenticated the reference's SRTP (webrtc-stats
/// `inbound-rtp` `packetsReceived`).
fn dtls_stack_and_the_reference_do_dtls_srtp(stack: &str) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    stacks_available();
    let registry = registry();
    let log = std::env::temp_dir().join(format!("jingle-interop-adapter-log-{}", std::process::id()));
    let _ = std::fs::remove_file(&log);
    // The adapters started by this test append both directions of their protocol here.
    std::env::set_var("JINGLE_INTEROP_ADAPTER_LOG", &log);
    let runs = run_with(stack, &["reference"], "live/short-call*", &registry, 2);
    std::env::remove_var("JINGLE_INTEROP_ADAPTER_LOG");
    assert_eq!(runs.len(), 4, "both roles × two NAT pairs");
    for r in &runs {
        assert!(r.error.is_none(), "{}: {:?}", r.id, r.error);
        assert_eq!(r.outcome, "connected", "{}", r.id);
        for id in [
            "media.bidirectional-on-selected-pair",
            "dtls.fingerprint-matches-certificate",
            "dtls.setup-roles",
            "jingle.fingerprint-present",
        ] {
            let c = r.checks.iter().find(|c| c.id == id).expect(id);
            assert_eq!(c.verdict, Verdict::Pass, "{}: {id}: {}", r.id, c.detail);
        }
    }
    only_reviewed_failures(&runs);
    let log = std::fs::read_to_string(&log).unwrap_or_default();
    let authenticated = log
        .lines()
        .filter_map(|l| l.split("inbound-rtp packetsReceived=").nth(1))
        .filter_map(|n| n.trim_end_matches(|c: char| !c.is_ascii_digit()).parse::<u64>().ok())
        .max();
    assert!(
        authenticated.is_some_and(|n| n > 0),
        "{stack} authenticated none of the reference's SRTP: {authenticated:?}"
    );
    nothing_left();
}

#[test]
#[ignore = "needs root, chromium and python3-websockets; .ci/run runs it"]
fn chromium_and_the_reference_do_dtls_srtp_with_media_both_ways() {
    dtls_stack_and_the_reference_do_dtls_srtp("chromium");
}

#[test]
#[ignore = "needs root, firefox-esr and python3-websockets; .ci/run runs it"]
fn firefox_and_the_reference_do_dtls_srtp_with_media_both_ways() {
    dtls_stack_and_the_reference_do_dtls_srtp("firefox");
}

#[test]
#[ignore = "needs root (network namespaces); .ci/run runs it"]
fn webrtc_rs_and_the_reference_do_dtls_srtp_with_media_both_ways() {
    dtls_stack_and_the_reference_do_dtls_srtp("webrtc-rs");
}

/// Chromium and Firefox call each other in both roles, each with its own certificate and role
/// signalled through the reference signalling: ICE connects, their DTLS handshake (1.3 between
/// them, so the certificates are encrypted and the fingerprint check cannot see them) follows the
/// signalled setup, and media flows both ways.
#[test]
#[ignore = "needs root, chromium, firefox-esr and python3-websockets; .ci/run runs it"]
fn chromium_and_firefox_call_each_other_with_media_both_ways() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    stacks_available();
    let registry = registry();
    let runs = run_with("chromium", &["firefox"], "live/short-call", &registry, 1);
    assert_eq!(runs.len(), 2, "both roles");
    for r in &runs {
        assert!(r.error.is_none(), "{}: {:?}", r.id, r.error);
        assert_eq!(r.outcome, "connected", "{}", r.id);
        for id in ["media.bidirectional-on-selected-pair", "dtls.setup-roles"] {
            let c = r.checks.iter().find(|c| c.id == id).expect(id);
            assert_eq!(c.verdict, Verdict::Pass, "{}: {id}: {}", r.id, c.detail);
        }
        let fp = r
            .checks
            .iter()
            .find(|c| c.id == "dtls.fingerprint-matches-certificate")
            .expect("the fingerprint check");
        assert_ne!(fp.verdict, Verdict::Fail, "{}: {}", r.id, fp.detail);
    }
    nothing_left();
}

/// An adapter that is not what it claims is the party's recorded fault, with the evidence; the
/// run ends and nothing is left behind.
#[test]
#[ignore = "needs root (network namespaces, TUN devices); .ci/run runs it"]
fn a_broken_adapter_is_a_recorded_fault_of_its_party() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    assert!(harness::live::privileged(), "{}", harness::live::NEEDS_ROOT);
    let mut registry = registry();
    let hello = r#"{"type":"hello","protocol":"jingle-interop/ice-adapter/1","stack":"broken"}"#;
    let cases = [
        ("no-hello", "echo not json; sleep 30".to_string(), "not a hello"),
        ("exits", format!("echo '{hello}'; exit 3"), "exited"),
        (
            "no-credentials",
            format!("echo '{hello}'; sleep 30"),
            "no credentials within",
        ),
    ];
    for (name, script, _) in &cases {
        registry.register(live::adapter_entry(
            name,
            format!("a broken adapter: {script}"),
            vec!["sh".into(), "-c".into(), script.clone()],
            reference::Knobs::default(),
            live::StackRenomination::No,
            false,
        ));
    }
    for (name, _, evidence) in &cases {
        let id = format!("live/short-call/reference->{name}/port-restricted-cone+port-restricted-cone/seed-1");
        let spec = conform::spec_from_id_in(&library(), &[own_scenarios()], &id, &registry).unwrap();
        let out = harness::run::run(&spec, &registry).unwrap();
        let faults: Vec<String> = out
            .trace
            .events
            .iter()
            .filter_map(|e| match &e.kind {
                harness::trace::TraceKind::Violation { party, what } if party == "callee" => Some(what.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(faults.len(), 1, "{name}: {faults:?}");
        assert!(faults[0].contains(evidence), "{name}: {faults:?}");
    }
    nothing_left();
}
