//! `jmi/callee-two-devices`, read from the trace: the device that did not answer stopped ringing
//! because of the XEP-0280 `<sent/>` carbon of its sibling's proceed (XEP-0353 §3.2), and sent nothing
//! for the call; without carbons on the server it keeps ringing and answers a call that is gone.
//! A reject on one device stops the other the same way.

use std::path::Path;
use std::sync::Arc;

use harness::conform::spec_from_id;
use harness::report::judge;
use harness::run::{run, RunOutput};
use harness::scenario::{Action, RunSpec};
use harness::trace::{Dir, TraceEvent, TraceKind};
use harness::xml::ns;
use harness::xml::{carbon_payload, CarbonKind};
use minidom::Element;

const RUN: &str = "jmi/callee-two-devices/reference->reference/port-restricted-cone+port-restricted-cone/seed-1";
const DEVICE1: &str = "callee@example.org/device1";
const DEVICE2: &str = "callee@example.org/device2";

fn spec() -> RunSpec {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    spec_from_id(dir, RUN, &impl_catalog::registry()).expect("the scenario exists")
}

fn run_spec(spec: &RunSpec) -> RunOutput {
    run(spec, &impl_catalog::registry()).expect("the run is carried out")
}

/// The JMI element (`proceed`, `reject`, ...) a message carries directly.
fn jmi_child(m: &Element) -> Option<&Element> {
    m.children().find(|c| c.ns() == ns::JMI)
}

fn claim<'a>(e: &'a TraceEvent, who: &str) -> Option<&'a str> {
    match &e.kind {
        TraceKind::Claim { party, claim } if party == who => claim.strip_prefix("call-state "),
        _ => None,
    }
}

/// JMI elements named `what` that `party` sent, with the message's `to`.
fn sent_jmi<'a>(out: &'a RunOutput, party: &str, what: &str) -> Vec<(usize, Option<&'a str>)> {
    out.trace
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            TraceKind::Stanza {
                party: p,
                dir: Dir::Tx,
                element,
                ..
            } if p == party && jmi_child(element).is_some_and(|x| x.name() == what) => {
                Some((e.index, element.attr("to")))
            }
            _ => None,
        })
        .collect()
}

/// Device `loser` rang, then stopped ringing with claim `stopped` right as the `<sent/>` carbon of
/// `winner`'s `what` (proceed or reject) reached it, and never sent a `what` itself.
///
/// Claims are evidence, so the cause is tied to the wire: the claim is the device's answer to that
/// very stanza (its outputs follow the input in the trace), which the server addressed to the device's
/// full JID from the account's bare JID and which wraps the sibling's message.
fn stopped_by_carbon(out: &RunOutput, loser: usize, winner: usize, what: &str, stopped: &str) -> Result<(), String> {
    let (loser_jid, winner_jid) = (
        format!("callee@example.org/device{loser}"),
        format!("callee@example.org/device{winner}"),
    );
    let label = format!("callee/device{loser}");
    let ev = &out.trace.events;
    if !ev.iter().any(|e| claim(e, &label) == Some("ringing")) {
        return Err(format!("{label} never rang"));
    }
    let Some(c) = ev.iter().find(|e| claim(e, &label) == Some(stopped)) else {
        let last = ev.iter().filter_map(|e| claim(e, &label)).last();
        return Err(format!(
            "{label} never claimed {stopped}; its last call state was {last:?}"
        ));
    };
    let cause = c.index.checked_sub(1).map(|i| &ev[i]);
    let Some(TraceKind::Stanza {
        party,
        dir: Dir::Rx,
        element,
        ..
    }) = cause.map(|e| &e.kind)
    else {
        return Err(format!(
            "{label}'s {stopped} (event {}) did not answer a stanza",
            c.index
        ));
    };
    let Some((CarbonKind::Sent, inner)) = carbon_payload(element) else {
        return Err(format!(
            "{label}'s {stopped} answered event {} ({party}), not a <sent/> carbon",
            c.index - 1
        ));
    };
    let addressed =
        (element.attr("from"), element.attr("to")) == (Some("callee@example.org"), Some(loser_jid.as_str()));
    if party != "callee" || !addressed {
        return Err(format!(
            "the carbon at event {} is not the account's copy for {loser_jid}",
            c.index - 1
        ));
    }
    if inner.attr("from") != Some(winner_jid.as_str()) || jmi_child(inner).is_none_or(|x| x.name() != what) {
        return Err(format!(
            "the carbon at event {} does not carry {winner_jid}'s {what}",
            c.index - 1
        ));
    }
    // Every `what` the callee's account sent came from the winner: the caller saw it from there.
    let sent = sent_jmi(out, "callee", what).len();
    let from_winner = ev
        .iter()
        .filter(|e| {
            matches!(&e.kind, TraceKind::Stanza { party, dir: Dir::Rx, element, .. }
                if party == "caller" && element.attr("from") == Some(winner_jid.as_str())
                    && jmi_child(element).is_some_and(|x| x.name() == what))
        })
        .count();
    if (sent, from_winner) != (1, 1) {
        return Err(format!(
            "the callee's devices sent {sent} {what}(s), {from_winner} of them from {winner_jid}: {loser_jid} sent one too"
        ));
    }
    Ok(())
}

#[test]
fn device1_stops_ringing_on_the_carbon_of_device2s_proceed() {
    let spec = spec();
    let out = run_spec(&spec);
    stopped_by_carbon(&out, 1, 2, "proceed", "answered-elsewhere").unwrap();
    let report = judge(&out);
    assert!(report.expectation.met, "{:?}", report.expectation);
    assert_eq!(report.outcome, "connected");
    // The session is with device 2 only: the caller's session-initiate and the finishes go there.
    let initiates: Vec<_> = out
        .trace
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            TraceKind::Stanza {
                party,
                dir: Dir::Tx,
                element,
                ..
            } if party == "caller"
                && element
                    .get_child("jingle", ns::JINGLE)
                    .is_some_and(|j| j.attr("action") == Some("session-initiate")) =>
            {
                element.attr("to")
            }
            _ => None,
        })
        .collect();
    assert_eq!(initiates, vec![DEVICE2]);
    let finish_to: Vec<_> = sent_jmi(&out, "caller", "finish")
        .into_iter()
        .map(|(_, to)| to)
        .collect();
    assert_eq!(finish_to, vec![Some(DEVICE2)]);
    // Device 1 saw the late tap and did nothing with it.
    let tap = out
        .trace
        .events
        .iter()
        .position(
            |e| matches!(&e.kind, TraceKind::User { party, action } if party == "callee/device1" && action == "answer"),
        )
        .expect("the scripted answer on device 1");
    assert!(
        !matches!(&out.trace.events[tap + 1].kind, TraceKind::Stanza { party, dir: Dir::Tx, .. } if party == "callee"),
        "device 1 answered a call that another device had taken"
    );
}

#[test]
fn without_carbons_device1_keeps_ringing_and_answers_a_call_that_is_gone() {
    let mut spec = spec();
    let mut sc = (*spec.scenario).clone();
    sc.servers.xmpp.carbons = false;
    spec.scenario = Arc::new(sc);
    let out = run_spec(&spec);
    let err = stopped_by_carbon(&out, 1, 2, "proceed", "answered-elsewhere").unwrap_err();
    assert!(err.contains("never claimed answered-elsewhere"), "{err}");
    // Still ringing at 5 s, device 1 sends its own proceed, which the caller (in session with device
    // 2) ignores; the judge still sees a connected call.
    let proceeds = sent_jmi(&out, "callee", "proceed");
    assert_eq!(proceeds.len(), 2, "{proceeds:?}");
    let report = judge(&out);
    assert_eq!(report.outcome, "connected");
    // Each device asked for carbons once and the server refused.
    let refused = out
        .trace
        .events
        .iter()
        .filter(|e| {
            matches!(&e.kind, TraceKind::Stanza { party, dir: Dir::Rx, element, .. }
                if party == "callee" && element.name() == "iq" && element.attr("type") == Some("error")
                    && element.attr("id").is_some_and(|i| i.starts_with("carbons")))
        })
        .count();
    assert_eq!(refused, 2, "both devices' enable requests are refused");
}

#[test]
fn a_reject_on_device1_stops_device2_and_declines_the_call() {
    let mut spec = spec();
    let mut sc = (*spec.scenario).clone();
    sc.script.retain(|s| s.party != "callee");
    let mut reject = sc.script[0].clone();
    reject.party = "callee".into();
    reject.device = 1;
    reject.at = std::time::Duration::from_secs(3);
    reject.action = Action::Reject;
    sc.script.insert(1, reject);
    sc.expect.outcome = Some(harness::scenario::Outcome::Rejected);
    sc.expect.checks.clear();
    spec.scenario = Arc::new(sc);
    let out = run_spec(&spec);
    stopped_by_carbon(&out, 2, 1, "reject", "rejected-elsewhere").unwrap();
    let report = judge(&out);
    assert_eq!(report.outcome, "rejected", "{:?}", report.expectation);
    assert!(sent_jmi(&out, "caller", "propose").len() == 1);
}

#[test]
fn every_device_has_its_own_address_and_jid_behind_the_partys_nat() {
    let registry = impl_catalog::registry();
    let profiles = harness::net::nat_profiles();
    let addrs = |caller_nat: &str, callee_nat: &str, lan: bool, devices: usize| {
        let mut spec = spec();
        let mut sc = (*spec.scenario).clone();
        sc.parties["callee"].devices = devices;
        spec.scenario = Arc::new(sc);
        for (p, nat) in spec.parties.iter_mut().zip([caller_nat, callee_nat]) {
            p.nat_name = nat.into();
            p.nat = profiles[nat].clone();
            p.lan = lan.then(|| "home".to_string());
        }
        let out = run(&spec, &registry).unwrap();
        out.parties
            .iter()
            .flat_map(|p| {
                p.devices.iter().map(|d| {
                    (
                        d.label.clone(),
                        d.jid.clone(),
                        d.host_ip.to_string(),
                        d.public_ip.to_string(),
                    )
                })
            })
            .collect::<Vec<_>>()
    };
    let row = |l: &str, j: &str, h: &str, p: &str| (l.to_string(), j.to_string(), h.to_string(), p.to_string());
    assert_eq!(
        addrs("port-restricted-cone", "port-restricted-cone", false, 3),
        vec![
            row("caller", "caller@example.org/device1", "10.0.1.2", "203.0.113.1"),
            row("callee/device1", DEVICE1, "10.0.2.2", "203.0.113.2"),
            row("callee/device2", DEVICE2, "10.0.2.3", "203.0.113.2"),
            row(
                "callee/device3",
                "callee@example.org/device3",
                "10.0.2.4",
                "203.0.113.2"
            ),
        ]
    );
    // On a shared LAN the devices take the next hosts of its subnet; without a NAT each has its own
    // public address.
    let lan = addrs("port-restricted-cone", "port-restricted-cone", true, 2);
    assert_eq!(
        lan.iter().map(|r| r.2.as_str()).collect::<Vec<_>>(),
        ["10.0.1.2", "10.0.1.3", "10.0.1.4"]
    );
    let open = addrs("open", "open", false, 2);
    assert_eq!(
        open.iter().map(|r| r.2.as_str()).collect::<Vec<_>>(),
        ["203.0.113.1", "203.0.113.2", "203.0.113.132"]
    );
}

/// A device that moves to another network loses its old address even while a sibling keeps the old
/// network up: what the caller still sends to the old address is dropped, not delivered to it.
#[test]
fn a_device_switching_networks_leaves_its_old_address_behind() {
    let text = r#"
id: jmi/sibling-switches
title: device 2 answers, then moves to the mobile network while device 1 stays on Wi-Fi
parties:
  caller: {impl: reference, nat: port-restricted-cone}
  callee: {impl: reference, nat: port-restricted-cone, devices: 2}
network:
  signalling: {latency: 80ms}
  media: {latency: 40ms}
script:
  - {at: 0s, caller: call, to: callee, media: [audio]}
  - {at: 3s, callee: answer, device: 2}
  - {at: 10s, callee: switch-interface, nat: mobile-carrier, device: 2}
  - {at: 20s, caller: hangup}
"#;
    let sc = Arc::new(harness::scenario::Scenario::parse(Path::new("jmi/sibling-switches.yaml"), text, None).unwrap());
    let m = harness::scenario::MatrixSpec {
        pairings: vec![("reference".into(), "reference".into())],
        nat_override: None,
        seeds: vec![1],
    };
    let spec = harness::scenario::expand(&sc, &m).remove(0);
    let registry = impl_catalog::registry();
    let out = harness::run::run(&spec, &registry).unwrap();
    let old = out.parties[1].devices[1].host_ip;
    let switched = harness::SimTime::from_millis(10_000);
    let (mut before, mut after, mut dropped) = (0, 0, 0);
    for e in &out.trace.events {
        match &e.kind {
            TraceKind::Datagram {
                point,
                dir: Dir::Rx,
                dst,
                ..
            } if &**point == "callee" && dst.ip() == old => {
                if e.time < switched {
                    before += 1
                } else {
                    after += 1
                }
            }
            TraceKind::Dropped { dst, .. } if e.time >= switched && dst.ip() == old => dropped += 1,
            _ => {}
        }
    }
    assert!(before > 0, "device 2 received media at {old} before it moved");
    assert_eq!(after, 0, "nothing reaches {old} once device 2 has left it");
    assert!(
        dropped > 0,
        "the caller's media to the old address is dropped, and the trace says so"
    );
}
