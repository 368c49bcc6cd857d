//! The judge bites: a conforming call passes every wire check, and one surgical change to its trace
//! (what a non-conforming implementation would have put on the wire) fails exactly the check for it.

use std::path::Path;

use bytes::Bytes;
use harness::checks::Verdict;
use harness::report::judge;
use harness::run::{run, RunOutput};
use harness::trace::{Dir, TraceKind};
use harness::xml::ns;

fn basic_call() -> RunOutput {
    let registry = impl_catalog::registry();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let id = "basic/audio-call/reference->reference/port-restricted-cone+port-restricted-cone/seed-1";
    let spec = harness::conform::spec_from_id(dir, id, &registry).unwrap();
    run(&spec, &registry).unwrap()
}

fn verdict(out: &RunOutput, id: &str) -> (Verdict, String) {
    let r = judge(out);
    let c = r
        .checks
        .iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("no check {id}"));
    (c.verdict, c.detail.clone())
}

/// Applies `f` to every stanza `party` sent (Tx).
fn edit_sent_stanzas(out: &mut RunOutput, party: &str, f: impl Fn(&mut minidom::Element)) {
    for e in &mut out.trace.events {
        if let TraceKind::Stanza {
            party: p,
            dir: Dir::Tx,
            element,
        } = &mut e.kind
        {
            if p == party {
                f(element);
            }
        }
    }
}

const WIRE_CHECKS: &[&str] = &[
    "jmi.addressed-to-full-jid",
    "jmi.finish-sent",
    "jingle.iq-acked",
    "jingle.terminate-reason-valid",
    "jingle.initiate-to-proceeding-device",
    "ice.credentials-signalled",
    "ice.check-attributes",
    "stun.fingerprint-valid",
];

#[test]
fn a_conforming_call_passes_every_wire_check() {
    let out = basic_call();
    for id in WIRE_CHECKS {
        assert_eq!(verdict(&out, id).0, Verdict::Pass, "{id}: {}", verdict(&out, id).1);
    }
}

#[test]
fn proceed_to_a_bare_jid_fails_full_jid_addressing() {
    let mut out = basic_call();
    edit_sent_stanzas(&mut out, "callee", |m| {
        if m.has_child("proceed", ns::JMI) {
            harness::xml::set_attr(m, "to", "caller@example.org");
        }
    });
    let (v, detail) = verdict(&out, "jmi.addressed-to-full-jid");
    assert_eq!(v, Verdict::Fail);
    assert!(detail.contains("sent proceed to `caller@example.org`"), "{detail}");
}

#[test]
fn a_callee_that_never_sends_finish_is_named() {
    let mut out = basic_call();
    out.trace.events.retain(|e| {
        !matches!(&e.kind, TraceKind::Stanza { party, dir: Dir::Tx, element, .. }
            if party == "callee" && element.has_child("finish", ns::JMI))
    });
    let (v, detail) = verdict(&out, "jmi.finish-sent");
    assert_eq!(v, Verdict::NonStrict, "a missed SHOULD");
    assert!(detail.starts_with("callee sent no finish"), "{detail}");
}

#[test]
fn an_unanswered_jingle_iq_fails_iq_acked() {
    let mut out = basic_call();
    out.trace.events.retain(|e| {
        !matches!(&e.kind, TraceKind::Stanza { party, dir: Dir::Tx, element, .. }
            if party == "callee" && element.name() == "iq" && element.attr("type") == Some("result"))
    });
    let (v, detail) = verdict(&out, "jingle.iq-acked");
    assert_eq!(v, Verdict::Fail);
    assert!(
        detail.starts_with("callee never answered the session-initiate IQ"),
        "{detail}"
    );
}

#[test]
fn a_terminate_without_reason_fails() {
    let mut out = basic_call();
    edit_sent_stanzas(&mut out, "caller", |m| {
        if let Some(j) = m.get_child_mut("jingle", ns::JINGLE) {
            j.remove_child("reason", ns::JINGLE);
        }
    });
    assert_eq!(verdict(&out, "jingle.terminate-reason-valid").0, Verdict::Fail);
}

#[test]
fn a_transport_without_ufrag_fails_credentials() {
    let mut out = basic_call();
    edit_sent_stanzas(&mut out, "caller", |m| {
        let Some(j) = m.get_child_mut("jingle", ns::JINGLE) else {
            return;
        };
        for c in j.children_mut() {
            if let Some(t) = c.get_child_mut("transport", ns::JINGLE_ICE_UDP) {
                harness::xml::set_attr(t, "ufrag", "");
            }
        }
    });
    let (v, detail) = verdict(&out, "ice.credentials-signalled");
    assert_eq!(v, Verdict::Fail);
    assert!(detail.contains("caller's session-initiate"), "{detail}");
}

#[test]
fn a_corrupted_fingerprint_fails() {
    let mut out = basic_call();
    let e = out
        .trace
        .events
        .iter_mut()
        .find(|e| {
            matches!(&e.kind, TraceKind::Datagram { point, dir: Dir::Tx, payload, .. }
                if &**point == "caller" && payload.first() == Some(&0) && payload.len() > 28)
        })
        .expect("the caller sent STUN");
    if let TraceKind::Datagram { payload, .. } = &mut e.kind {
        let mut p = payload.to_vec();
        let last = p.len() - 1;
        p[last] ^= 0xFF;
        *payload = Bytes::from(p);
    }
    let (v, detail) = verdict(&out, "stun.fingerprint-valid");
    assert_eq!(v, Verdict::Fail);
    assert!(detail.contains("wrong FINGERPRINT"), "{detail}");
}

#[test]
fn checks_started_closer_than_ta_fail_pacing() {
    let mut out = basic_call();
    assert_eq!(verdict(&out, "ice.pacing").0, Verdict::Pass);
    // Move the caller's second new check to 10 ms after its first.
    let checks: Vec<usize> = out
        .trace
        .events
        .iter()
        .enumerate()
        .filter(|(_, e)| {
            matches!(&e.kind, TraceKind::Datagram { point, dir: Dir::Tx, payload, .. }
                if &**point == "caller" && payload.starts_with(&[0x00, 0x01]) && payload.len() > 60)
        })
        .map(|(i, _)| i)
        .collect();
    let first = out.trace.events[checks[0]].time;
    let second = checks
        .iter()
        .copied()
        .find(|&i| {
            let a = &out.trace.events[i].kind;
            let b = &out.trace.events[checks[0]].kind;
            match (a, b) {
                (TraceKind::Datagram { payload: pa, .. }, TraceKind::Datagram { payload: pb, .. }) => {
                    pa[8..20] != pb[8..20]
                }
                _ => false,
            }
        })
        .expect("a second transaction");
    out.trace.events[second].time = first + std::time::Duration::from_millis(10);
    let (v, detail) = verdict(&out, "ice.pacing");
    assert_eq!(v, Verdict::NonStrict, "{detail}");
    assert!(detail.contains("10000 µs apart"), "{detail}");
}

#[test]
fn a_disco_answer_that_does_not_hash_to_the_caps_ver_fails() {
    let mut out = basic_call();
    assert_eq!(verdict(&out, "disco.caps-ver-valid").0, Verdict::Pass);
    edit_sent_stanzas(&mut out, "callee", |m| {
        if let Some(q) = m.get_child_mut("query", ns::DISCO_INFO) {
            q.remove_child("feature", ns::DISCO_INFO);
        }
    });
    let (v, detail) = verdict(&out, "disco.caps-ver-valid");
    assert_eq!(v, Verdict::Fail);
    assert!(detail.starts_with("callee advertises caps ver"), "{detail}");
}
