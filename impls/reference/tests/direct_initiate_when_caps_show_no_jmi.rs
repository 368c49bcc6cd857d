//! XEP-0353 §2: a device that does not advertise JMI gets session-initiate directly. A call pressed
//! before the callee's caps are known goes out as a propose; when the disco#info answer then shows
//! that the device speaks Jingle but not JMI, it would ignore the propose forever, so the caller
//! initiates to it directly.

mod common;

use common::endpoint::{drain, endpoint};
use harness::endpoint::{Endpoint, Input, Output, UserAction};
use harness::xml::ns;
use harness::SimTime;
use minidom::Element;

const CALLEE: &str = "callee@example.org/device1";

fn caps_presence() -> Element {
    format!(
        "<presence xmlns='jabber:client' from='{CALLEE}' to='caller@example.org/device1'>\
         <c xmlns='{}' hash='sha-1' node='https://example.org/client' ver='abc='/></presence>",
        ns::CAPS
    )
    .parse()
    .unwrap()
}

fn disco_result(id: &str, jmi: bool) -> Element {
    let mut features = vec![
        ns::DISCO_INFO,
        ns::JINGLE,
        ns::JINGLE_RTP,
        ns::JINGLE_ICE_UDP,
        ns::JINGLE_DTLS,
    ];
    if jmi {
        features.push(ns::JMI);
    }
    let features: String = features.iter().map(|f| format!("<feature var='{f}'/>")).collect();
    format!(
        "<iq xmlns='jabber:client' type='result' id='{id}' from='{CALLEE}' to='caller@example.org/device1'>\
         <query xmlns='{}'>{features}</query></iq>",
        ns::DISCO_INFO
    )
    .parse()
    .unwrap()
}

/// What each stanza sent was (Jingle action, JMI element or stanza name) and where it went.
type Sent = Vec<(String, Option<String>)>;

fn sent(out: &[Output]) -> Sent {
    out.iter()
        .filter_map(|o| match o {
            Output::Stanza(s) => {
                let what = s
                    .get_child("jingle", ns::JINGLE)
                    .and_then(|j| j.attr("action"))
                    .map(str::to_string)
                    .or_else(|| s.children().find(|c| c.ns() == ns::JMI).map(|c| c.name().to_string()))
                    .unwrap_or_else(|| s.name().to_string());
                Some((what, s.attr("to").map(str::to_string)))
            }
            _ => None,
        })
        .collect()
}

/// Calls at 100 ms, before anything is known of the callee; then its caps and disco answer arrive.
fn call_then_caps(jmi: bool) -> (Sent, Sent) {
    let mut ep = endpoint("caller", "10.0.1.2", &[]);
    ep.handle_input(
        SimTime::from_millis(100),
        Input::User(UserAction::Call {
            to: "callee@example.org".into(),
            media: vec!["audio".into()],
        }),
    );
    let before = sent(&drain(&mut ep));
    ep.handle_input(SimTime::from_millis(200), Input::Stanza(caps_presence().into()));
    let query = drain(&mut ep)
        .iter()
        .find_map(|o| match o {
            Output::Stanza(s) if s.has_child("query", ns::DISCO_INFO) => s.attr("id").map(str::to_string),
            _ => None,
        })
        .expect("a disco#info query for the caps");
    ep.handle_input(
        SimTime::from_millis(300),
        Input::Stanza(disco_result(&query, jmi).into()),
    );
    (before, sent(&drain(&mut ep)))
}

#[test]
fn xep0353_2_a_propose_to_a_jmi_peer_is_left_to_ring() {
    let (before, after) = call_then_caps(true);
    assert_eq!(
        before,
        vec![("propose".to_string(), Some("callee@example.org".to_string()))]
    );
    assert!(after.is_empty(), "{after:?}");
}

#[test]
fn xep0353_2_a_callee_without_jmi_gets_session_initiate_once_its_caps_show_it() {
    let (before, after) = call_then_caps(false);
    assert_eq!(
        before,
        vec![("propose".to_string(), Some("callee@example.org".to_string()))]
    );
    assert_eq!(after, vec![("session-initiate".to_string(), Some(CALLEE.to_string()))]);
}

#[test]
fn jmi_false_caller_initiates_directly_even_to_a_jmi_peer() {
    let mut ep = endpoint("caller", "10.0.1.2", &[("jmi", "false")]);
    ep.handle_input(SimTime::from_millis(100), Input::Stanza(caps_presence().into()));
    drain(&mut ep);
    ep.handle_input(
        SimTime::from_millis(300),
        Input::User(UserAction::Call {
            to: "callee@example.org".into(),
            media: vec!["audio".into()],
        }),
    );
    assert_eq!(
        sent(&drain(&mut ep)),
        vec![("session-initiate".to_string(), Some(CALLEE.to_string()))]
    );
}
