//! Knobs `start-checks-at` and `relay-only`, seen from the callee endpoint's outputs.
//!
//! RFC 8445 §6.1.1 and XEP-0176: connectivity checks start once the offer/answer is done, i.e. when
//! the callee sends session-accept. Asterisk's chan_motif starts ICE for every transport it reads,
//! session-initiate included, while the phone behind it still rings (docs/field-failures.md
//! §Asterisk 2021 Failed pairs and early checks); a JMI gateway would answer the propose itself and
//! do the same.

mod common;

use common::endpoint::*;
use harness::endpoint::{Endpoint, Input, Output, UserAction};
use harness::xml::ns;
use harness::SimTime;
use minidom::Element;
use reference::ReferenceEndpoint;

fn session_initiate() -> Element {
    format!(
        "<iq xmlns='jabber:client' type='set' id='si1' from='{CALLER}' to='callee@example.org/device1'>\
         <jingle xmlns='{j}' action='session-initiate' sid='{SID}' initiator='{CALLER}'>\
         <content creator='initiator' name='audio'><description xmlns='{rtp}' media='audio'><rtcp-mux/></description>\
         <transport xmlns='{ice}' ufrag='abcd' pwd='abcdefghijklmnopqrstuv'>\
         <fingerprint xmlns='{dtls}' hash='sha-256' setup='actpass'>AA:BB</fingerprint>\
         <candidate component='1' foundation='2' generation='0' id='c1' ip='203.0.113.1' port='50000' priority='1694498815' protocol='udp' type='srflx'/>\
         </transport></content></jingle></iq>",
        j = ns::JINGLE,
        rtp = ns::JINGLE_RTP,
        ice = ns::JINGLE_ICE_UDP,
        dtls = ns::JINGLE_DTLS
    )
    .parse()
    .unwrap()
}

fn propose() -> Element {
    format!(
        "<message xmlns='jabber:client' from='{CALLER}' to='callee@example.org' type='chat'>\
         <propose xmlns='{}' id='{SID}'><description xmlns='{}' media='audio'/></propose></message>",
        ns::JMI,
        ns::JINGLE_RTP
    )
    .parse()
    .unwrap()
}

/// The pending outputs, then every timeout up to `until` and its outputs.
fn run_until(ep: &mut ReferenceEndpoint, until: SimTime) -> Vec<Output> {
    let mut out = drain(ep);
    while let Some(next) = ep.poll_timeout().filter(|n| *n <= until) {
        ep.handle_input(next, Input::Timeout);
        out.extend(drain(ep));
    }
    out
}

/// Direct session-initiate (no JMI) at 1 s, then 200 ms of time; the user has not answered.
fn initiate_and_wait(ep: &mut ReferenceEndpoint) -> Vec<Output> {
    ep.handle_input(SimTime::from_millis(1_000), Input::Stanza(session_initiate().into()));
    run_until(ep, SimTime::from_millis(1_200))
}

#[test]
fn rfc8445_6_1_1_a_ringing_callee_sends_no_checks() {
    let mut ep = callee(&[("jmi", "false")]);
    let out = initiate_and_wait(&mut ep);
    assert!(!jingle_actions(&out).contains(&"session-accept".to_string()));
    assert_eq!(checks(&out), 0);
    // Answering accepts, and only then do checks go out.
    ep.handle_input(SimTime::from_millis(1_300), Input::User(UserAction::Answer));
    let out = run_until(&mut ep, SimTime::from_millis(1_500));
    assert_eq!(jingle_actions(&out), vec!["session-accept"]);
    assert!(checks(&out) >= 1);
}

#[test]
fn start_checks_at_session_initiate_checks_while_ringing() {
    let mut ep = callee(&[("jmi", "false"), ("start-checks-at", "session-initiate")]);
    let out = initiate_and_wait(&mut ep);
    assert!(
        !jingle_actions(&out).contains(&"session-accept".to_string()),
        "accepted without an answer"
    );
    assert!(checks(&out) >= 1, "no check while ringing");
}

#[test]
fn start_checks_at_propose_proceeds_at_once_and_checks_while_ringing() {
    let mut ep = callee(&[("start-checks-at", "propose")]);
    ep.handle_input(SimTime::from_millis(500), Input::Stanza(propose().into()));
    assert_eq!(jmi_replies(&drain(&mut ep)), vec!["ringing", "proceed"]);
    let out = initiate_and_wait(&mut ep);
    assert!(jingle_actions(&out).is_empty(), "{:?}", jingle_actions(&out));
    assert!(checks(&out) >= 1, "no check while ringing");
    ep.handle_input(SimTime::from_millis(1_300), Input::User(UserAction::Answer));
    assert_eq!(jingle_actions(&drain(&mut ep)), vec!["session-accept"]);
}

#[test]
fn jmi_default_proceeds_only_when_the_user_answers() {
    let mut ep = callee(&[]);
    ep.handle_input(SimTime::from_millis(500), Input::Stanza(propose().into()));
    assert_eq!(jmi_replies(&drain(&mut ep)), vec!["ringing"]);
}

#[test]
fn relay_only_signals_no_host_or_server_reflexive_candidate() {
    for (relay_only, expected) in [("false", 2), ("true", 0)] {
        let n = answered_components(&[("jmi", "false"), ("relay-only", relay_only)]).len();
        assert_eq!(
            n, expected,
            "relay-only {relay_only}: no TURN here, so host + srflx or nothing"
        );
    }
}

/// The components of the candidates in the session-accept a callee with `knobs` sends to this
/// file's offer (which carries `<rtcp-mux/>`), once answered.
fn answered_components(knobs: &[(&str, &str)]) -> Vec<String> {
    let mut ep = callee(knobs);
    initiate_and_wait(&mut ep);
    ep.handle_input(SimTime::from_millis(1_300), Input::User(UserAction::Answer));
    let out = drain(&mut ep);
    let accept = out
        .iter()
        .find_map(|o| match o {
            Output::Stanza(s) => s.get_child("jingle", ns::JINGLE).cloned(),
            _ => None,
        })
        .expect("session-accept");
    accept
        .children()
        .flat_map(|c| c.children())
        .filter(|t| t.is("transport", ns::JINGLE_ICE_UDP))
        .flat_map(|t| t.children())
        .filter(|c| c.name() == "candidate")
        .map(|c| c.attr("component").unwrap_or("").to_string())
        .collect()
}

#[test]
fn xep0167_3_an_answerer_signals_component_2_only_without_rtcp_mux() {
    // Firefox gathers component 2 for its own offers; answering an rtcp-mux offer it drops it.
    assert_eq!(
        answered_components(&[("jmi", "false"), ("components-before-answer", "2")]),
        vec!["1", "1"]
    );
    // Refusing rtcp-mux, the answer carries both components, component 1 first (RFC 8838 §17); the
    // fixture's STUN server answers component 1's Binding only, so component 2 has its host candidate.
    let both = answered_components(&[("jmi", "false"), ("rtcp-mux", "false")]);
    assert_eq!(both, vec!["1", "1", "2"]);
}
