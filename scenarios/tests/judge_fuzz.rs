//! The judge on what implementations get wrong: mutated datagrams and stanzas from real runs go
//! through it. A malformed message is a finding against its sender, never a panic.

use std::path::Path;
use std::sync::OnceLock;

use bytes::Bytes;
use harness::checks::{Judged, Verdict};
use harness::report::judge;
use harness::run::{run, RunOutput};
use harness::trace::{Dir, TraceKind};
use proptest::prelude::*;

fn run_id(id: &str) -> RunOutput {
    let registry = impl_catalog::registry();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let spec = harness::conform::spec_from_id(dir, id, &registry).unwrap();
    run(&spec, &registry).unwrap()
}

/// Real runs to mutate: a direct call, and one relayed through TURN on both sides.
fn bases() -> &'static [RunOutput] {
    static BASES: OnceLock<Vec<RunOutput>> = OnceLock::new();
    BASES.get_or_init(|| {
        [
            "basic/audio-call/reference->reference/port-restricted-cone+port-restricted-cone/seed-1",
            "turn/symmetric-via-relay/reference->reference/symmetric+symmetric/seed-1",
        ]
        .iter()
        .map(|id| run_id(id))
        .collect()
    })
}

fn copy(out: &RunOutput) -> RunOutput {
    RunOutput {
        spec: out.spec.clone(),
        parties: out.parties.clone(),
        trace: out.trace.clone(),
        live: out.live.clone(),
    }
}

/// Applies mutation `kind` at `at` to event `pick` (modulo the trace's length).
fn mutate(out: &mut RunOutput, pick: usize, kind: u8, at: usize, byte: u8) {
    let n = out.trace.events.len();
    let e = &mut out.trace.events[pick % n];
    match &mut e.kind {
        TraceKind::Datagram { payload, .. }
        | TraceKind::Segment { payload, .. }
        | TraceKind::Dropped { payload, .. } => {
            let mut p = payload.to_vec();
            match kind % 4 {
                0 if !p.is_empty() => {
                    let i = at % p.len();
                    p[i] ^= byte | 1;
                }
                1 => p.truncate(at % (p.len() + 1)),
                2 => p.extend(std::iter::repeat_n(byte, at % 64)),
                _ => {
                    // A header that claims another length or type.
                    for (i, b) in p.iter_mut().take(4).enumerate() {
                        *b = byte.wrapping_add(i as u8);
                    }
                }
            }
            *payload = Bytes::from(p);
        }
        TraceKind::Stanza { element, .. } => {
            let mut el = (**element).clone();
            match kind % 3 {
                // The same stanza, emptied of its children.
                0 => el = minidom::Element::builder(el.name(), el.ns()).build(),
                // Its first child emptied of attributes and children.
                1 => {
                    if let Some(c) = el.children_mut().next() {
                        *c = minidom::Element::builder(c.name(), c.ns()).build();
                    }
                }
                // A stranger in its place.
                _ => {
                    el = minidom::Element::builder("iq", harness::xml::ns::CLIENT).build();
                    harness::xml::set_attr(&mut el, "type", "set");
                }
            }
            *element = std::sync::Arc::new(el);
        }
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn mutated_datagrams_and_stanzas_never_crash_the_judge(
        which in 0usize..2,
        edits in proptest::collection::vec((any::<usize>(), any::<u8>(), any::<usize>(), any::<u8>()), 1..6),
    ) {
        let mut out = copy(&bases()[which]);
        for (pick, kind, at, byte) in edits {
            mutate(&mut out, pick, kind, at, byte);
        }
        let report = judge(&out);
        prop_assert!(!report.checks.is_empty());
        for c in &report.checks {
            if matches!(c.verdict, Verdict::Fail | Verdict::NonStrict) {
                prop_assert!(matches!(c.party, Judged::Caller | Judged::Callee), "{} {:?}", c.id, c.party);
            }
        }
    }
}

/// Index of the first datagram `party` sent whose payload starts with `first`.
fn sent_by(out: &RunOutput, party: &str, first: std::ops::RangeInclusive<u8>) -> usize {
    out.trace
        .events
        .iter()
        .position(|e| {
            matches!(&e.kind, TraceKind::Datagram { point, dir: Dir::Tx, payload, .. }
                if &**point == party && payload.first().is_some_and(|b| first.contains(b)))
        })
        .expect("such a datagram")
}

#[test]
fn a_truncated_stun_message_or_rtp_header_is_a_violation_of_its_sender() {
    let ok = judge(&bases()[0]);
    let c = ok.checks.iter().find(|c| c.id == "wire.well-formed").unwrap();
    assert_eq!(c.verdict, Verdict::Pass, "{}", c.detail);

    let mut out = copy(&bases()[0]);
    let i = sent_by(&out, "callee", 0..=3);
    if let TraceKind::Datagram { payload, .. } = &mut out.trace.events[i].kind {
        *payload = payload.slice(..payload.len() - 3);
    }
    let r = judge(&out);
    let c = r.checks.iter().find(|c| c.id == "wire.well-formed").unwrap();
    assert_eq!(c.verdict, Verdict::Fail, "{}", c.detail);
    assert_eq!(c.party, Judged::Callee);
    assert!(
        c.detail.contains("STUN message") && c.detail.contains("does not decode"),
        "{}",
        c.detail
    );

    let mut out = copy(&bases()[0]);
    let i = sent_by(&out, "caller", 128..=191);
    if let TraceKind::Datagram { payload, .. } = &mut out.trace.events[i].kind {
        *payload = payload.slice(..8);
    }
    let r = judge(&out);
    let c = r.checks.iter().find(|c| c.id == "wire.well-formed").unwrap();
    assert_eq!(c.verdict, Verdict::Fail, "{}", c.detail);
    assert_eq!(c.party, Judged::Caller);
    assert!(c.detail.contains("RTP packet of 8 bytes"), "{}", c.detail);
}

#[test]
fn a_jingle_action_without_its_sid_is_a_violation_of_its_sender() {
    let mut out = copy(&bases()[0]);
    let i = out
        .trace
        .events
        .iter()
        .position(|e| {
            matches!(&e.kind, TraceKind::Stanza { party, dir: Dir::Tx, element, .. }
                if party == "callee" && element.get_child("jingle", harness::xml::ns::JINGLE).is_some())
        })
        .expect("the callee sent a Jingle action");
    if let TraceKind::Stanza { element, .. } = &mut out.trace.events[i].kind {
        let mut el = (**element).clone();
        let j = el.get_child_mut("jingle", harness::xml::ns::JINGLE).unwrap();
        let action = j.attr("action").unwrap().to_string();
        *j = minidom::Element::builder("jingle", harness::xml::ns::JINGLE).build();
        harness::xml::set_attr(j, "action", action);
        *element = std::sync::Arc::new(el);
    }
    let r = judge(&out);
    let c = r.checks.iter().find(|c| c.id == "wire.well-formed").unwrap();
    assert_eq!(c.verdict, Verdict::Fail, "{}", c.detail);
    assert_eq!(c.party, Judged::Callee);
    assert!(c.detail.contains("XEP-0166 §7.1"), "{}", c.detail);
}

/// libnice discovers its server-reflexive address with an RFC 3489 Binding request (no magic
/// cookie), which RFC 8489 §11 keeps answerable: not malformed. Another message without the
/// cookie still is.
#[test]
fn a_classic_binding_request_is_well_formed_and_other_cookieless_stun_is_not() {
    // libnice 0.1.21's request as captured in a live run: type 0x0001, length 0, a 16-byte ID.
    let classic: [u8; 20] = [
        0x00, 0x01, 0x00, 0x00, 0xd1, 0xe0, 0xad, 0xab, 0x2e, 0x08, 0x1b, 0xc4, 0x95, 0x2d, 0x2c, 0xaf, 0x26, 0xf4,
        0xd0, 0x16,
    ];
    let wf = |payload: Vec<u8>| {
        let mut out = copy(&bases()[0]);
        let i = sent_by(&out, "caller", 0..=3);
        if let TraceKind::Datagram { payload: p, .. } = &mut out.trace.events[i].kind {
            *p = bytes::Bytes::from(payload);
        }
        let r = judge(&out);
        let c = r.checks.iter().find(|c| c.id == "wire.well-formed").unwrap().clone();
        c
    };
    let c = wf(classic.to_vec());
    assert_eq!(c.verdict, Verdict::Pass, "{}", c.detail);
    let mut allocate = classic;
    allocate[1] = 0x03;
    let c = wf(allocate.to_vec());
    assert_eq!(c.verdict, Verdict::Fail, "{}", c.detail);
    assert_eq!(c.party, Judged::Caller);
    assert!(c.detail.contains("magic cookie"), "{}", c.detail);
}
