//! XEP-0166 §8: a Jingle IQ-set the reference cannot take is answered with the stanza error and
//! the Jingle condition that say why, in place of the ack — `item-not-found` + `<unknown-session/>`
//! for a sid it has no live session for (§6.7), `unexpected-request` + `<out-of-order/>` for an
//! action the session's state does not allow, `conflict` + `<tie-break/>` for the session-initiate
//! that loses when both sides initiate at once (§7.2.16: the lower sid wins). Each test drives one
//! endpoint by hand and compares the whole error stanza.
//!
//! Also XEP-0353 §3.2 with two callee devices answering at once: the caller initiates to the first
//! proceed only, and the other device stops at the carbon of the finish.

mod common;

use common::endpoint::{
    answer_stun, claims, drain, endpoint, input, iq_set, jingle_actions, login, parse, proposing_caller, stanzas,
    CALLER, SID,
};
use harness::endpoint::{Endpoint, Input, Output, UserAction};
use harness::xml::ns;
use harness::SimTime;
use minidom::Element;
use reference::signalling::{session, transport};
use reference::ReferenceEndpoint;
use xmpp_parsers::jingle::{Action, Creator};
use xmpp_parsers::jingle_dtls_srtp::Setup;

const CALLEE: &str = "callee@example.org/device1";
const CALLEE2: &str = "callee@example.org/device2";

/// session-initiate or session-accept for audio, with a fingerprint, written by `me`.
fn offer(action: Action, sid: &str, me: &str) -> Element {
    let t = transport(
        "uf",
        "pwpwpwpwpwpwpwpwpwpwpw",
        &[],
        Some(&[0xab; 32]),
        Setup::Actpass,
        false,
    );
    session(action, sid, me, &["audio".to_string()], &t, Creator::Initiator, true)
}

/// A transport-info with one content and no candidates.
fn transport_info(sid: &str) -> Element {
    parse(&format!(
        "<jingle xmlns='{}' action='transport-info' sid='{sid}'><content creator='initiator' name='audio'>\
         <transport xmlns='{}' ufrag='uf' pwd='pwpwpwpwpwpwpwpwpwpwpw'/></content></jingle>",
        ns::JINGLE,
        ns::JINGLE_ICE_UDP
    ))
}

/// The IQ error `from` writes answering IQ `id` from `to`: `<error type=typ>` with the stanza
/// condition and then the Jingle condition.
fn error(id: &str, to: &str, from: &str, typ: &str, condition: &str, jingle: &str) -> Element {
    parse(&format!(
        "<iq xmlns='jabber:client' type='error' id='{id}' to='{to}' from='{from}'><error type='{typ}'>\
         <{condition} xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>\
         <{jingle} xmlns='urn:xmpp:jingle:errors:1'/></error></iq>"
    ))
}

fn unknown_session(id: &str, to: &str, from: &str) -> Element {
    error(id, to, from, "cancel", "item-not-found", "unknown-session")
}

fn out_of_order(id: &str, to: &str, from: &str) -> Element {
    error(id, to, from, "wait", "unexpected-request", "out-of-order")
}

fn tie_break(id: &str, to: &str, from: &str) -> Element {
    error(id, to, from, "cancel", "conflict", "tie-break")
}

/// Only `expected` went out: the error replaces the ack, and nothing else follows.
fn assert_only(out: &[Output], expected: Element) {
    let s = stanzas(out);
    assert_eq!(
        s.len(),
        1,
        "one stanza, got {:?}",
        s.iter().map(|e| String::from(*e)).collect::<Vec<_>>()
    );
    assert_eq!(*s[0], expected, "got {}", String::from(s[0]));
}

fn is_result(e: &Element, id: &str) -> bool {
    e.name() == "iq" && e.attr("type") == Some("result") && e.attr("id") == Some(id)
}

/// The callee's device 1, ringing on the caller's propose `SID`.
fn ringing_callee() -> ReferenceEndpoint {
    let mut ep = endpoint("callee", "10.0.2.2", &[]);
    let propose = parse(&format!(
        "<message xmlns='jabber:client' from='{CALLER}' to='callee@example.org' type='chat'>\
         <propose xmlns='urn:xmpp:jingle-message:0' id='{SID}'>\
         <description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'/></propose></message>"
    ));
    assert_eq!(claims(&input(&mut ep, 100, propose)), vec!["ringing"]);
    ep
}

/// The callee, its proceed sent.
fn proceeded_callee() -> ReferenceEndpoint {
    let mut ep = ringing_callee();
    ep.handle_input(SimTime::from_millis(200), Input::User(UserAction::Answer));
    assert_eq!(claims(&drain(&mut ep)), vec!["proceeding"]);
    ep
}

/// The callee with the session accepted.
fn accepted_callee() -> ReferenceEndpoint {
    let mut ep = proceeded_callee();
    let out = input(
        &mut ep,
        300,
        iq_set(CALLER, CALLEE, "si-1", offer(Action::SessionInitiate, SID, CALLER)),
    );
    assert!(is_result(stanzas(&out)[0], "si-1"));
    assert_eq!(jingle_actions(&out), vec!["session-accept"]);
    ep
}

fn proceed(from: &str, sid: &str) -> Element {
    parse(&format!(
        "<message xmlns='jabber:client' from='{from}' to='{CALLER}' type='chat'>\
         <proceed xmlns='urn:xmpp:jingle-message:0' id='{sid}'/></message>"
    ))
}

/// The caller with its session-initiate sent to device 1 after its proceed.
fn initiating_caller() -> (ReferenceEndpoint, String) {
    let (mut ep, sid) = proposing_caller(&[]);
    let out = input(&mut ep, 200, proceed(CALLEE, &sid));
    assert_eq!(jingle_actions(&out), vec!["session-initiate"]);
    (ep, sid)
}

/// A caller without JMI that initiated directly to the callee's device 1; returns its sid.
fn direct_caller() -> (ReferenceEndpoint, String) {
    let mut ep = endpoint("caller", "10.0.1.2", &[("jmi", "false")]);
    input(
        &mut ep,
        50,
        parse(&format!(
            "<presence xmlns='jabber:client' from='{CALLEE}' to='{CALLER}'/>"
        )),
    );
    ep.handle_input(
        SimTime::from_millis(100),
        Input::User(UserAction::Call {
            to: "callee@example.org".into(),
            media: vec!["audio".into()],
        }),
    );
    let out = drain(&mut ep);
    let si = stanzas(&out)
        .into_iter()
        .find(|s| s.get_child("jingle", ns::JINGLE).is_some())
        .expect("a session-initiate");
    assert_eq!(si.attr("to"), Some(CALLEE));
    let sid = si
        .get_child("jingle", ns::JINGLE)
        .unwrap()
        .attr("sid")
        .unwrap()
        .to_string();
    (ep, sid)
}

#[test]
fn xep0166_8_an_iq_set_for_a_sid_never_seen_gets_unknown_session() {
    let mut ep = endpoint("callee", "10.0.2.2", &[]);
    let out = input(&mut ep, 100, iq_set(CALLER, CALLEE, "ti-8", transport_info("nope")));
    assert_only(&out, unknown_session("ti-8", CALLER, CALLEE));
    // A sid other than the live call's is just as unknown.
    let mut ep = accepted_callee();
    let out = input(&mut ep, 400, iq_set(CALLER, CALLEE, "ti-9", transport_info("other")));
    assert_only(&out, unknown_session("ti-9", CALLER, CALLEE));
}

#[test]
fn xep0166_6_7_after_its_own_session_terminate_the_sid_is_unknown() {
    let mut ep = accepted_callee();
    ep.handle_input(SimTime::from_millis(500), Input::User(UserAction::Hangup));
    assert!(jingle_actions(&drain(&mut ep)).contains(&"session-terminate".to_string()));
    let out = input(&mut ep, 600, iq_set(CALLER, CALLEE, "ti-10", transport_info(SID)));
    assert_only(&out, unknown_session("ti-10", CALLER, CALLEE));
}

#[test]
fn xep0166_8_transport_info_before_session_initiate_is_out_of_order() {
    // The sid is known from the JMI propose, but no Jingle session exists yet: ringing, then
    // proceeded.
    let mut ep = ringing_callee();
    let out = input(&mut ep, 150, iq_set(CALLER, CALLEE, "ti-1", transport_info(SID)));
    assert_only(&out, out_of_order("ti-1", CALLER, CALLEE));
    let mut ep = proceeded_callee();
    let out = input(&mut ep, 250, iq_set(CALLER, CALLEE, "ti-2", transport_info(SID)));
    assert_only(&out, out_of_order("ti-2", CALLER, CALLEE));
    // Once the session-initiate is in, the same transport-info is acked.
    input(
        &mut ep,
        300,
        iq_set(CALLER, CALLEE, "si-1", offer(Action::SessionInitiate, SID, CALLER)),
    );
    let out = input(&mut ep, 350, iq_set(CALLER, CALLEE, "ti-3", transport_info(SID)));
    assert!(
        is_result(stanzas(&out)[0], "ti-3"),
        "{:?}",
        String::from(stanzas(&out)[0])
    );
}

#[test]
fn xep0166_8_session_accept_at_the_responder_is_out_of_order() {
    let mut ep = accepted_callee();
    let out = input(
        &mut ep,
        400,
        iq_set(CALLER, CALLEE, "sa-1", offer(Action::SessionAccept, SID, CALLER)),
    );
    assert_only(&out, out_of_order("sa-1", CALLER, CALLEE));
}

#[test]
fn xep0166_8_a_second_session_initiate_for_a_live_session_is_out_of_order() {
    let mut ep = accepted_callee();
    let out = input(
        &mut ep,
        400,
        iq_set(CALLER, CALLEE, "si-2", offer(Action::SessionInitiate, SID, CALLER)),
    );
    assert_only(&out, out_of_order("si-2", CALLER, CALLEE));
}

#[test]
fn xep0166_8_session_accept_before_the_session_initiate_went_out_is_out_of_order() {
    let (mut ep, sid) = proposing_caller(&[]);
    let out = input(
        &mut ep,
        150,
        iq_set(CALLEE, CALLER, "sa-0", offer(Action::SessionAccept, &sid, CALLEE)),
    );
    assert_only(&out, out_of_order("sa-0", CALLEE, CALLER));
}

#[test]
fn xep0166_8_a_session_initiate_for_the_callers_own_proposed_sid_is_out_of_order() {
    let (mut ep, sid) = proposing_caller(&[]);
    let out = input(
        &mut ep,
        150,
        iq_set(CALLEE, CALLER, "si-x", offer(Action::SessionInitiate, &sid, CALLEE)),
    );
    assert_only(&out, out_of_order("si-x", CALLEE, CALLER));
}

#[test]
fn xep0166_8_a_second_session_accept_is_out_of_order() {
    let (mut ep, sid) = initiating_caller();
    let out = input(
        &mut ep,
        300,
        iq_set(CALLEE, CALLER, "sa-1", offer(Action::SessionAccept, &sid, CALLEE)),
    );
    assert_eq!(stanzas(&out).len(), 1);
    assert!(is_result(stanzas(&out)[0], "sa-1"));
    let out = input(
        &mut ep,
        400,
        iq_set(CALLEE, CALLER, "sa-2", offer(Action::SessionAccept, &sid, CALLEE)),
    );
    assert_only(&out, out_of_order("sa-2", CALLEE, CALLER));
}

#[test]
fn xep0166_7_2_16_the_higher_sid_crossing_our_session_initiate_gets_tie_break() {
    let (mut ep, ours) = direct_caller();
    // 'z' sorts after every hex digit, so the callee's sid is the higher one.
    let theirs = "z";
    assert!(theirs > ours.as_str());
    let out = input(
        &mut ep,
        150,
        iq_set(CALLEE, CALLER, "si-9", offer(Action::SessionInitiate, theirs, CALLEE)),
    );
    assert_only(&out, tie_break("si-9", CALLEE, CALLER));
    // Our session goes on: the callee's session-accept for it is acked.
    let out = input(
        &mut ep,
        300,
        iq_set(CALLEE, CALLER, "sa-1", offer(Action::SessionAccept, &ours, CALLEE)),
    );
    assert!(is_result(stanzas(&out)[0], "sa-1"));
    assert_eq!(claims(&out), vec!["accepted"]);
}

#[test]
fn xep0166_7_2_16_the_lower_sid_crossing_our_session_initiate_overrules_it() {
    let (mut ep, ours) = direct_caller();
    let theirs = "0";
    assert!(theirs < ours.as_str());
    let out = input(
        &mut ep,
        150,
        iq_set(CALLEE, CALLER, "si-9", offer(Action::SessionInitiate, theirs, CALLEE)),
    );
    let s = stanzas(&out);
    assert_eq!(
        s.len(),
        1,
        "acked, no busy terminate: {:?}",
        s.iter().map(|e| String::from(*e)).collect::<Vec<_>>()
    );
    assert!(is_result(s[0], "si-9"));
    assert_eq!(claims(&out), vec!["ringing"], "their call rings here");
    // Our overruled session is gone: the callee's conflict error for it changes nothing, and an
    // IQ-set for it is for an unknown session.
    let conflict = tie_break("jingle1", CALLER, CALLEE);
    assert!(input(&mut ep, 160, conflict).is_empty());
    let out = input(&mut ep, 170, iq_set(CALLEE, CALLER, "ti-1", transport_info(&ours)));
    assert_only(&out, unknown_session("ti-1", CALLEE, CALLER));
    // Answering accepts theirs.
    ep.handle_input(SimTime::from_millis(500), Input::User(UserAction::Answer));
    let out = drain(&mut ep);
    let accept = stanzas(&out)
        .into_iter()
        .find_map(|s| s.get_child("jingle", ns::JINGLE))
        .expect("session-accept");
    assert_eq!(
        (accept.attr("action"), accept.attr("sid")),
        (Some("session-accept"), Some(theirs))
    );
}

#[test]
fn xep0166_7_2_16_equal_sids_fall_back_to_the_lower_jid() {
    // callee@ sorts before caller@ ('e' < 'r'): the callee's initiate wins at the caller...
    let (mut ep, ours) = direct_caller();
    let out = input(
        &mut ep,
        150,
        iq_set(CALLEE, CALLER, "si-9", offer(Action::SessionInitiate, &ours, CALLEE)),
    );
    assert!(is_result(stanzas(&out)[0], "si-9"));
    assert_eq!(claims(&out), vec!["ringing"]);
    // ... and the caller's loses at the callee.
    let mut callee = endpoint("callee", "10.0.2.2", &[("jmi", "false")]);
    input(
        &mut callee,
        50,
        parse(&format!(
            "<presence xmlns='jabber:client' from='{CALLER}' to='{CALLEE}'/>"
        )),
    );
    callee.handle_input(
        SimTime::from_millis(100),
        Input::User(UserAction::Call {
            to: "caller@example.org".into(),
            media: vec!["audio".into()],
        }),
    );
    let out = drain(&mut callee);
    let sid = stanzas(&out)
        .into_iter()
        .find_map(|s| s.get_child("jingle", ns::JINGLE)?.attr("sid").map(str::to_string))
        .expect("a session-initiate");
    let out = input(
        &mut callee,
        150,
        iq_set(CALLER, CALLEE, "si-8", offer(Action::SessionInitiate, &sid, CALLER)),
    );
    assert_only(&out, tie_break("si-8", CALLER, CALLEE));
}

#[test]
fn xep0353_3_2_two_proceeds_at_once_the_first_gets_the_session_the_second_nothing() {
    let (mut ep, sid) = proposing_caller(&[]);
    let out = input(&mut ep, 200, proceed(CALLEE, &sid));
    let si: Vec<_> = stanzas(&out)
        .into_iter()
        .filter(|s| s.has_child("jingle", ns::JINGLE))
        .collect();
    assert_eq!(si.len(), 1);
    assert_eq!(si[0].attr("to"), Some(CALLEE));
    let out = input(&mut ep, 201, proceed(CALLEE2, &sid));
    assert!(
        out.is_empty(),
        "nothing for the second device: {:?}",
        stanzas(&out).iter().map(|e| String::from(*e)).collect::<Vec<_>>()
    );
}

#[test]
fn xep0353_3_2_the_first_proceed_wins_even_while_the_initiate_waits_for_gathering() {
    // Without trickle the session-initiate waits for gathering; a second proceed in that window
    // must not redirect it.
    let (mut ep, stun) = login("caller", "10.0.1.2", &[("trickle", "false")]);
    ep.handle_input(
        SimTime::from_millis(20),
        Input::User(UserAction::Call {
            to: "callee@example.org".into(),
            media: vec!["audio".into()],
        }),
    );
    let out = drain(&mut ep);
    let sid = stanzas(&out)
        .iter()
        .find_map(|s| s.get_child("propose", ns::JMI)?.attr("id").map(str::to_string))
        .expect("a propose");
    assert!(
        input(&mut ep, 30, proceed(CALLEE, &sid)).is_empty(),
        "gathering still going on"
    );
    assert!(input(&mut ep, 31, proceed(CALLEE2, &sid)).is_empty());
    // A reject from a third device after the proceed changes nothing either.
    let reject = parse(&format!(
        "<message xmlns='jabber:client' from='callee@example.org/device3' to='{CALLER}' type='chat'>\
         <reject xmlns='urn:xmpp:jingle-message:0' id='{sid}'/></message>"
    ));
    assert!(input(&mut ep, 32, reject).is_empty());
    answer_stun(&mut ep, SimTime::from_millis(40), stun.expect("a STUN request"));
    let out = drain(&mut ep);
    let si: Vec<_> = stanzas(&out)
        .into_iter()
        .filter(|s| s.has_child("jingle", ns::JINGLE))
        .collect();
    assert_eq!(si.len(), 1);
    assert_eq!(si[0].attr("to"), Some(CALLEE), "the device that proceeded first");
}

/// A carbon from the callee's account to device 1 wrapping `inner`.
fn carbon(kind: &str, inner: &str) -> Element {
    parse(&format!(
        "<message xmlns='jabber:client' from='callee@example.org' to='{CALLEE}' type='chat'>\
         <{kind} xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'>{inner}</forwarded></{kind}></message>"
    ))
}

#[test]
fn xep0353_3_6_the_device_that_proceeded_too_late_stops_at_the_carbon_of_the_finish() {
    for (kind, inner) in [
        // The sibling's own finish...
        (
            "sent",
            format!(
                "<message xmlns='jabber:client' from='{CALLEE2}' to='{CALLER}' type='chat'>\
                 <finish xmlns='urn:xmpp:jingle-message:0' id='{SID}'/></message>"
            ),
        ),
        // ... or the caller's, to the sibling.
        (
            "received",
            format!(
                "<message xmlns='jabber:client' from='{CALLER}' to='{CALLEE2}' type='chat'>\
                 <finish xmlns='urn:xmpp:jingle-message:0' id='{SID}'/></message>"
            ),
        ),
    ] {
        let mut ep = proceeded_callee();
        // Its sibling proceeded at the same moment: which one the caller took is not known yet.
        let sibling_proceed = format!(
            "<message xmlns='jabber:client' from='{CALLEE2}' to='{CALLER}' type='chat'>\
             <proceed xmlns='urn:xmpp:jingle-message:0' id='{SID}'/></message>"
        );
        assert!(input(&mut ep, 210, carbon("sent", &sibling_proceed)).is_empty());
        let out = input(&mut ep, 5000, carbon(kind, &inner));
        assert_eq!(claims(&out), vec!["answered-elsewhere"], "{kind}");
        assert!(stanzas(&out).is_empty());
        // The call is over here: a late session-initiate for it is an unrelated call now, not
        // accepted as the proceeded one.
        let out = input(
            &mut ep,
            6000,
            iq_set(CALLER, CALLEE, "si-1", offer(Action::SessionInitiate, SID, CALLER)),
        );
        assert!(!jingle_actions(&out).contains(&"session-accept".to_string()), "{kind}");
    }
}

#[test]
fn xep0353_3_2_a_proceeded_device_still_takes_the_session_initiate_after_its_siblings_proceed() {
    let mut ep = proceeded_callee();
    let sibling_proceed = format!(
        "<message xmlns='jabber:client' from='{CALLEE2}' to='{CALLER}' type='chat'>\
         <proceed xmlns='urn:xmpp:jingle-message:0' id='{SID}'/></message>"
    );
    assert!(input(&mut ep, 210, carbon("sent", &sibling_proceed)).is_empty());
    let out = input(
        &mut ep,
        300,
        iq_set(CALLER, CALLEE, "si-1", offer(Action::SessionInitiate, SID, CALLER)),
    );
    assert_eq!(jingle_actions(&out), vec!["session-accept"]);
}
