//! Driving one reference endpoint by hand: stanzas in, outputs out, no simulator.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use harness::endpoint::{Endpoint, EndpointConfig, EndpointEvent, Input, Output, UserAction};
use harness::sim::SimRng;
use harness::stun::{Class, Message};
use harness::xml::ns;
use harness::SimTime;
use minidom::Element;
use reference::{Knobs, ReferenceEndpoint};

pub const SID: &str = "s1";
pub const CALLER: &str = "caller@example.org/device1";

pub fn callee(knobs: &[(&str, &str)]) -> ReferenceEndpoint {
    endpoint("callee", "10.0.2.2", knobs)
}

/// Party `party` (`PARTY@example.org/device1` on host `ip`) with `knobs`, logged in, its gathering
/// done with a server-reflexive candidate and no TURN.
pub fn endpoint(party: &str, ip: &str, knobs: &[(&str, &str)]) -> ReferenceEndpoint {
    let (mut ep, stun) = login(party, ip, knobs);
    if let Some(req) = stun {
        answer_stun(&mut ep, SimTime::from_millis(10), req);
        drain(&mut ep);
    }
    ep
}

/// A STUN Binding request the endpoint sent: (local, remote, bytes).
pub type Request = (SocketAddr, SocketAddr, Vec<u8>);

/// Party `party` logged in and told of a STUN server (XEP-0215, no TURN); its Binding request to
/// that server is returned unanswered, so gathering is still going on.
pub fn login(party: &str, ip: &str, knobs: &[(&str, &str)]) -> (ReferenceEndpoint, Option<Request>) {
    let jid = format!("{party}@example.org/device1");
    let cfg = EndpointConfig {
        party: party.into(),
        jid: jid.clone(),
        server: "example.org".into(),
        interfaces: vec![ip.parse().unwrap()],
        rng: SimRng::derive(1, party),
        knobs: knobs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        live: false,
    };
    let mut ep = ReferenceEndpoint::with_knobs(cfg, "reference", &Knobs::default());
    ep.handle_input(SimTime::ZERO, Input::Timeout);
    drain(&mut ep);
    let extdisco = format!(
        "<iq xmlns='jabber:client' type='result' id='extdisco1' from='example.org' to='{jid}'>\
         <services xmlns='{}'><service type='stun' host='192.0.2.10' port='3478' transport='udp'/></services></iq>",
        ns::EXTDISCO
    );
    ep.handle_input(
        SimTime::ZERO,
        Input::Stanza(extdisco.parse::<minidom::Element>().unwrap().into()),
    );
    let out = drain(&mut ep);
    let stun = datagrams(&out).into_iter().next();
    (ep, stun)
}

/// Answers the STUN Binding request `req` at `at` with the mapped address 203.0.113.2:40000; the
/// endpoint's outputs wait to be drained.
pub fn answer_stun(ep: &mut ReferenceEndpoint, at: SimTime, req: Request) {
    let (local, remote, bytes) = req;
    let m = Message::decode(&bytes).unwrap();
    let resp = harness::stun::MessageBuilder::new(harness::stun::method::BINDING, Class::Success, m.transaction_id)
        .attr(&harness::stun::Attribute::XorMappedAddress(
            "203.0.113.2:40000".parse().unwrap(),
        ))
        .build(None, true);
    ep.handle_input(
        at,
        Input::Datagram {
            local,
            remote,
            payload: resp.into(),
        },
    );
}

pub fn drain(ep: &mut ReferenceEndpoint) -> Vec<Output> {
    std::iter::from_fn(|| ep.poll_output()).collect()
}

pub fn datagrams(out: &[Output]) -> Vec<(SocketAddr, SocketAddr, Vec<u8>)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Datagram { local, remote, payload } => Some((*local, *remote, payload.to_vec())),
            _ => None,
        })
        .collect()
}

/// Connectivity checks among the outputs: Binding requests to the caller's candidate.
pub fn checks(out: &[Output]) -> usize {
    datagrams(out)
        .iter()
        .filter(|(_, remote, p)| {
            remote.to_string() == "203.0.113.1:50000" && Message::decode(p).is_ok_and(|m| m.class == Class::Request)
        })
        .count()
}

pub fn jingle_actions(out: &[Output]) -> Vec<String> {
    out.iter()
        .filter_map(|o| match o {
            Output::Stanza(s) => s.get_child("jingle", ns::JINGLE)?.attr("action").map(str::to_string),
            _ => None,
        })
        .collect()
}

pub fn jmi_replies(out: &[Output]) -> Vec<String> {
    out.iter()
        .filter_map(|o| match o {
            Output::Stanza(s) if s.name() == "message" => {
                s.children().find(|c| c.ns() == ns::JMI).map(|c| c.name().to_string())
            }
            _ => None,
        })
        .collect()
}

/// Feeds `stanza` at `ms` and returns what the endpoint output.
pub fn input(ep: &mut ReferenceEndpoint, ms: u64, stanza: Element) -> Vec<Output> {
    ep.handle_input(SimTime::from_millis(ms), Input::Stanza(stanza.into()));
    drain(ep)
}

/// An element from its XML text.
pub fn parse(xml: &str) -> Element {
    xml.parse().unwrap()
}

/// The stanzas among `out`.
pub fn stanzas(out: &[Output]) -> Vec<&Element> {
    out.iter()
        .filter_map(|o| match o {
            Output::Stanza(s) => Some(s),
            _ => None,
        })
        .collect()
}

/// The call states the endpoint claimed among `out`.
pub fn claims(out: &[Output]) -> Vec<String> {
    out.iter()
        .filter_map(|o| match o {
            Output::Event(EndpointEvent::CallState(s)) => Some(s.to_string()),
            _ => None,
        })
        .collect()
}

/// A Jingle IQ-set `from` → `to` with id `id`.
pub fn iq_set(from: &str, to: &str, id: &str, jingle: Element) -> Element {
    let mut iq = parse(&format!(
        "<iq xmlns='jabber:client' type='set' id='{id}' from='{from}' to='{to}'/>"
    ));
    iq.append_child(jingle);
    iq
}

/// The caller (host 10.0.1.2) once the user called callee@example.org for audio: its propose is
/// out (drained); returns the endpoint and the propose's id.
pub fn proposing_caller(knobs: &[(&str, &str)]) -> (ReferenceEndpoint, String) {
    let mut ep = endpoint("caller", "10.0.1.2", knobs);
    ep.handle_input(
        SimTime::from_millis(100),
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
    (ep, sid)
}
