//! The adapter end to end: the reference endpoint served by the `reference-endpoint` binary gives
//! the in-process trace hash, and programs that exit, write garbage or hang are recorded as faults
//! while the run goes on.

use std::path::PathBuf;
use std::time::Duration;

use external::{entry, resolve, Program};
use harness::conform::spec_from_id;
use harness::endpoint::Registry;
use harness::run::{run, RunOutput};
use harness::trace::TraceKind;

const NATS: &str = "port-restricted-cone+port-restricted-cone";

fn scenarios() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scenarios")
}

/// The built-ins and `reference-endpoint ARGS` registered; returns the external name.
fn with_served(registry: &mut Registry, args: &str) -> String {
    let bin = env!("CARGO_BIN_EXE_reference-endpoint");
    resolve(registry, &format!("external:'{bin}' {args}")).unwrap()
}

fn run_id(registry: &Registry, id: &str) -> RunOutput {
    let spec = spec_from_id(&scenarios(), id, registry).unwrap_or_else(|e| panic!("{id}: {e}"));
    run(&spec, registry).unwrap_or_else(|e| panic!("{id}: {e:?}"))
}

fn violations(out: &RunOutput) -> Vec<(String, u64, String)> {
    out.trace
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            TraceKind::Violation { party, what } => Some((party.clone(), e.time.as_micros(), what.clone())),
            _ => None,
        })
        .collect()
}

fn stanzas_sent_by(out: &RunOutput, who: &str) -> usize {
    out.trace
        .events
        .iter()
        .filter(|e| matches!(&e.kind, TraceKind::Stanza { party, dir: harness::trace::Dir::Tx, .. } if party == who))
        .count()
}

/// Runs `scenario` with the pairing `external` names (its parties' implementations) and the same
/// pairing in-process, and holds the traces equal.
fn same_hash(
    registry: &Registry,
    scenario: &str,
    external: (&str, &str),
    in_process: (&str, &str),
    seed: u64,
) -> RunOutput {
    let ext = run_id(
        registry,
        &format!("{scenario}/{}->{}/{NATS}/seed-{seed}", external.0, external.1),
    );
    let local = run_id(
        registry,
        &format!("{scenario}/{}->{}/{NATS}/seed-{seed}", in_process.0, in_process.1),
    );
    assert!(violations(&ext).is_empty(), "{:?}", violations(&ext));
    assert_eq!(
        ext.trace.events.len(),
        local.trace.events.len(),
        "{scenario} {external:?}"
    );
    assert_eq!(ext.trace.hash(), local.trace.hash(), "{scenario} {external:?}");
    ext
}

#[test]
fn the_reference_served_over_the_protocol_gives_the_in_process_trace_hash() {
    let mut r = impl_catalog::registry();
    let x = with_served(&mut r, "");
    let x = x.as_str();
    for (pair, seed) in [((x, x), 1), ((x, "reference"), 1), (("reference", x), 1), ((x, x), 7)] {
        let in_process = (
            if pair.0 == x { "reference" } else { pair.0 },
            if pair.1 == x { "reference" } else { pair.1 },
        );
        let out = same_hash(&r, "basic/audio-call", pair, in_process, seed);
        assert_eq!(harness::report::judge(&out).outcome, "connected", "{pair:?}");
        assert!(stanzas_sent_by(&out, "caller") > 3 && stanzas_sent_by(&out, "callee") > 3);
    }
    let ics = &run_id(&r, &format!("basic/audio-call/{x}->reference/{NATS}/seed-1")).parties[0].devices[0].ics;
    let reference = reference::ics();
    assert_eq!(
        (&ics.name, ics.rtcp_mux, &ics.turn_transports),
        (&x.to_string(), reference.rtcp_mux, &reference.turn_transports)
    );
}

#[test]
fn profiles_and_scenario_knobs_reach_the_served_endpoint() {
    let mut r = impl_catalog::registry();
    let c = with_served(&mut r, "conversations-2.9.7");
    let x = with_served(&mut r, "reference");
    // A profile: 0xC001 without negotiation, taken as a nomination by the patched Asterisk.
    let out = same_hash(
        &r,
        "basic/audio-call",
        (&c, "asterisk-jmp-patched"),
        ("conversations-2.9.7", "asterisk-jmp-patched"),
        1,
    );
    assert_eq!(harness::report::judge(&out).outcome, "connected");
    // A scenario knob (omit-fingerprint on the caller) travels in the config line.
    let out = same_hash(
        &r,
        "jingle/no-fingerprint-security-error",
        (&x, "reference"),
        ("reference", "reference"),
        1,
    );
    assert_eq!(harness::report::judge(&out).outcome, "failed");
}

/// Runs basic/audio-call with `program` as the caller against the in-process reference; the run
/// must complete and record exactly one fault of the caller, which is returned with its time.
fn fault_of(program: Program) -> (u64, String, RunOutput) {
    let mut r = impl_catalog::registry();
    r.register(entry("external:bad", program));
    let out = run_id(&r, &format!("basic/audio-call/external:bad->reference/{NATS}/seed-1"));
    let v = violations(&out);
    assert_eq!(v.len(), 1, "{v:?}");
    let (party, at, what) = v.into_iter().next().unwrap();
    assert_eq!(party, "caller");
    // The run went on without the caller: the callee logged in and the call never connected.
    assert!(stanzas_sent_by(&out, "callee") > 0);
    assert_eq!(stanzas_sent_by(&out, "caller"), 0);
    assert_eq!(harness::report::judge(&out).outcome, "failed");
    (at, what, out)
}

fn sh(script: &str) -> Program {
    Program {
        argv: vec!["sh".into(), "-c".into(), script.into()],
        step_limit: Duration::from_secs(10),
    }
}

#[test]
fn a_program_that_exits_at_once_is_a_recorded_failure() {
    let (at, what, _) = fault_of(sh("exit 3"));
    assert_eq!(at, 0);
    assert_eq!(
        what,
        "external process failed: it exited (exit status: 3) before finishing its answer to config"
    );
}

#[test]
fn a_program_that_cannot_be_started_is_a_recorded_failure() {
    let (_, what, _) = fault_of(Program {
        argv: vec!["/nonexistent/endpoint".into()],
        step_limit: Duration::from_secs(10),
    });
    assert!(
        what.starts_with("external process failed: cannot start `/nonexistent/endpoint`"),
        "{what}"
    );
}

#[test]
fn garbage_is_a_recorded_violation_with_the_line() {
    let (at, what, _) = fault_of(sh("read config; echo 'this is not json'; read more"));
    assert_eq!(at, 0);
    assert!(
        what.starts_with(
            "external process broke jingle-interop/endpoint/1: a line of its answer to config is not a message"
        ),
        "{what}"
    );
    assert!(what.ends_with(r#": "this is not json""#), "{what}");

    // Later in the run: valid answers, each asking for a wake-up at 1 s, until that timeout comes;
    // then a message without its fields.
    let (at, what, _) = fault_of(sh(r#"read config; echo '{"type":"done","next_timeout_us":1000000}'
        while read -r input; do
          case "$input" in *'"type":"timeout"'*) echo '{"type":"datagram"}'; read more; exit;; esac
          echo '{"type":"done","next_timeout_us":1000000}'
        done"#));
    assert_eq!(at, 1_000_000);
    assert!(
        what.contains("its answer to timeout at 1.000000s is not a message"),
        "{what}"
    );
    assert!(what.ends_with(r#": "{\"type\":\"datagram\"}""#), "{what}");

    // A stanza that is not XML, after a valid one: the answer counts only whole, so neither is
    // sent (`fault_of` holds the caller's stanzas at none).
    let (at, what, _) = fault_of(sh(
        r#"read config; echo '{"type":"done","next_timeout_us":0}'; read input
        echo '{"type":"stanza","xml":"<presence xmlns='"'jabber:client'"'/>"}'
        echo '{"type":"stanza","xml":"<presence"}'; echo '{"type":"done"}'; read more"#,
    ));
    assert_eq!(at, 0);
    assert!(
        what.contains("answer to timeout at 0.000000s is not valid (stanza is not well-formed XML")
            && what.ends_with(r#": "{\"type\":\"stanza\",\"xml\":\"<presence\"}""#),
        "{what}"
    );
}

#[test]
fn a_hung_program_is_killed_and_recorded_within_the_step_limit() {
    // The program would sleep 1000 s: that this test ends at all shows the run did not wait for it.
    let (at, what, _) = fault_of(Program {
        argv: vec!["sleep".into(), "1000".into()],
        step_limit: Duration::from_millis(300),
    });
    assert_eq!(at, 0);
    assert_eq!(
        what,
        "external process failed: no complete answer to config within 300ms of wall-clock time (hung); killed"
    );
}
