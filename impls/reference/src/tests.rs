//! Unit tests of the session logic: carbons between a party's devices, JMI addressing.

use super::*;

const SID: &str = "s1";

fn device(n: u32, knobs: &[(&str, &str)]) -> ReferenceEndpoint {
    let cfg = EndpointConfig {
        party: "callee".into(),
        jid: format!("callee@example.org/device{n}"),
        server: "example.org".into(),
        interfaces: vec!["10.0.2.2".parse().unwrap()],
        rng: SimRng::derive(1, "test"),
        knobs: knobs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        live: false,
    };
    let mut ep = ReferenceEndpoint::with_knobs(cfg, "reference", &Knobs::default());
    ep.handle_input(SimTime::ZERO, Input::Timeout);
    ep
}

fn drain(ep: &mut ReferenceEndpoint) -> Vec<Output> {
    std::iter::from_fn(|| ep.poll_output()).collect()
}

fn stanzas(out: &[Output]) -> Vec<&Element> {
    out.iter()
        .filter_map(|o| match o {
            Output::Stanza(s) => Some(s),
            _ => None,
        })
        .collect()
}

fn claims(out: &[Output]) -> Vec<String> {
    out.iter()
        .filter_map(|o| match o {
            Output::Event(EndpointEvent::CallState(s)) => Some(s.to_string()),
            _ => None,
        })
        .collect()
}

fn input(ep: &mut ReferenceEndpoint, xml: &str) -> Vec<Output> {
    ep.handle_input(
        SimTime::ZERO,
        Input::Stanza(xml.parse::<minidom::Element>().unwrap().into()),
    );
    drain(ep)
}

fn propose(ep: &mut ReferenceEndpoint) -> Vec<Output> {
    input(
        ep,
        &format!(
            "<message xmlns='jabber:client' from='caller@example.org/device1' to='callee@example.org' type='chat'>\
             <propose xmlns='urn:xmpp:jingle-message:0' id='{SID}'><description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'/></propose></message>"
        ),
    )
}

/// The `<sent/>` copy of device 2's `what` as the server writes it, from `account`.
fn sent_carbon(account: &str, what: &str) -> String {
    format!(
        "<message xmlns='jabber:client' from='{account}' to='callee@example.org/device1' type='chat'>\
         <sent xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'>\
         <message xmlns='jabber:client' from='callee@example.org/device2' to='caller@example.org/device1' type='chat'>\
         <{what} xmlns='urn:xmpp:jingle-message:0' id='{SID}'/></message></forwarded></sent></message>"
    )
}

#[test]
fn a_sibling_comes_online_and_carbons_are_enabled_once() {
    let mut ep = device(1, &[]);
    drain(&mut ep);
    let sibling = "<presence xmlns='jabber:client' from='callee@example.org/device2'/>";
    let out = input(&mut ep, sibling);
    let s = stanzas(&out);
    assert_eq!(s.len(), 1, "no disco query to the own account, one enable");
    assert!(s[0].has_child("enable", ns::CARBONS));
    assert_eq!((s[0].attr("type"), s[0].attr("to")), (Some("set"), None));
    assert!(input(&mut ep, sibling).is_empty());
}

#[test]
fn the_carbon_of_a_siblings_proceed_or_reject_stops_the_ringing_silently() {
    for (what, claim) in [("proceed", "answered-elsewhere"), ("reject", "rejected-elsewhere")] {
        let mut ep = device(1, &[]);
        drain(&mut ep);
        assert_eq!(claims(&propose(&mut ep)), vec!["ringing"]);
        let out = input(&mut ep, &sent_carbon("callee@example.org", what));
        assert_eq!(claims(&out), vec![claim]);
        assert!(stanzas(&out).is_empty());
        // No longer ringing: answering does nothing.
        ep.handle_input(SimTime::ZERO, Input::User(UserAction::Answer));
        assert!(drain(&mut ep).is_empty());
    }
}

#[test]
fn a_carbon_not_from_the_own_account_is_ignored() {
    let mut ep = device(1, &[]);
    drain(&mut ep);
    propose(&mut ep);
    assert!(input(&mut ep, &sent_carbon("mallory@example.org", "proceed")).is_empty());
    ep.handle_input(SimTime::ZERO, Input::User(UserAction::Answer));
    assert_eq!(claims(&drain(&mut ep)), vec!["proceeding"]);
}

#[test]
fn jmi_addressing_bare_sends_replies_to_the_bare_jid() {
    for (value, to) in [("full", "caller@example.org/device1"), ("bare", "caller@example.org")] {
        let mut ep = device(1, &[("jmi-addressing", value)]);
        drain(&mut ep);
        let out = propose(&mut ep);
        assert_eq!(stanzas(&out)[0].attr("to"), Some(to), "ringing with {value}");
        ep.handle_input(SimTime::ZERO, Input::User(UserAction::Answer));
        let out = drain(&mut ep);
        assert_eq!(stanzas(&out)[0].attr("to"), Some(to), "proceed with {value}");
    }
    assert!(Knobs::check(&[("jmi-addressing".to_string(), "resource".to_string())].into()).is_err());
}
