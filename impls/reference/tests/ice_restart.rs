//! ICE restart (RFC 8445 §9) as the reference carries it in Jingle (XEP-0176 §5.9; Conversations'
//! JingleRtpConnection.java): the agent draws new credentials and flushes everything but its role;
//! the endpoint offers the restart in a transport-info — new ufrag and pwd with generation-1
//! candidates (XEP form), or the credentials alone (Conversations form, `ice-restart:
//! conversations`) — when its host moves to another interface, and answers the peer's new
//! credentials with its own. Each endpoint test drives one endpoint by hand.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::endpoint::{
    answer_stun, claims, datagrams, drain, endpoint, input, iq_set, jingle_actions, parse, proposing_caller, stanzas,
    CALLER, SID,
};
use common::{host, Pair};
use harness::endpoint::{Endpoint, Input, Output, UserAction};
use harness::stun::{Class, Message};
use harness::xml::ns;
use harness::SimTime;
use minidom::Element;
use reference::ice::{IceConfig, IceState, Role};
use reference::signalling::{session, transport};
use reference::ReferenceEndpoint;
use xmpp_parsers::jingle::{Action, Creator};
use xmpp_parsers::jingle_dtls_srtp::Setup;

const CALLEE: &str = "callee@example.org/device1";
/// The peer's credentials in its session-initiate or session-accept.
const PEER_UFRAG: &str = "uf";
const PEER_PWD: &str = "pwpwpwpwpwpwpwpwpwpwpw";

/// The peer's session-initiate or session-accept: audio, a fingerprint, one host candidate.
fn offer(action: Action, me: &str, at: &str) -> Element {
    let t = transport(
        PEER_UFRAG,
        PEER_PWD,
        &[host(at)],
        Some(&[0xab; 32]),
        Setup::Actpass,
        false,
    );
    session(action, SID, me, &["audio".to_string()], &t, Creator::Initiator, true)
}

/// The peer's transport-info with credentials `ufrag`/`pwd` and candidates on `addrs`.
fn transport_info(ufrag: &str, pwd: &str, addrs: &[&str]) -> Element {
    let mut t = format!("<transport xmlns='{}' ufrag='{ufrag}' pwd='{pwd}'>", ns::JINGLE_ICE_UDP);
    for (i, a) in addrs.iter().enumerate() {
        let a: SocketAddr = a.parse().unwrap();
        t += &format!(
            "<candidate component='1' foundation='1' generation='1' id='n{i}' ip='{}' port='{}' \
             priority='2130706431' protocol='udp' type='host'/>",
            a.ip(),
            a.port()
        );
    }
    t += "</transport>";
    parse(&format!(
        "<jingle xmlns='{}' action='transport-info' sid='{SID}'><content creator='initiator' name='audio'>{t}</content></jingle>",
        ns::JINGLE
    ))
}

/// The caller's ICE restart offer (XEP-0176 §5: new ufrag and pwd, these candidates) reaching the
/// callee `ep` at `ms` as IQ `id`; returns the callee's outputs.
fn caller_restarts(ep: &mut ReferenceEndpoint, ms: u64, id: &str, candidates: &[&str]) -> Vec<Output> {
    input(
        ep,
        ms,
        iq_set(
            CALLER,
            CALLEE,
            id,
            transport_info("nu", "newpwdnewpwdnewpwdnewp", candidates),
        ),
    )
}

/// The (ufrag, pwd, candidates as (generation, id, ip)) of the first transport in `j`.
fn transport_of(j: &Element) -> (String, String, Vec<(String, String, String)>) {
    let t = j
        .children()
        .find_map(|c| c.get_child("transport", ns::JINGLE_ICE_UDP))
        .expect("a transport");
    let cands = t
        .children()
        .filter(|c| c.is("candidate", ns::JINGLE_ICE_UDP))
        .map(|c| {
            let a = |n: &str| c.attr(n).unwrap_or_default().to_string();
            (a("generation"), a("id"), a("ip"))
        })
        .collect();
    (
        t.attr("ufrag").unwrap().to_string(),
        t.attr("pwd").unwrap().to_string(),
        cands,
    )
}

/// The Jingle elements among the outputs whose action is `action`.
fn jingle_of<'a>(out: &'a [Output], action: &str) -> Vec<&'a Element> {
    stanzas(out)
        .into_iter()
        .filter_map(|s| s.get_child("jingle", ns::JINGLE))
        .filter(|j| j.attr("action") == Some(action))
        .collect()
}

/// The callee (host 10.0.2.2) with the session accepted; returns it and its session-accept's
/// credentials.
fn accepted_callee(knobs: &[(&str, &str)]) -> (ReferenceEndpoint, (String, String)) {
    let mut ep = endpoint("callee", "10.0.2.2", knobs);
    let propose = parse(&format!(
        "<message xmlns='jabber:client' from='{CALLER}' to='callee@example.org' type='chat'>\
         <propose xmlns='urn:xmpp:jingle-message:0' id='{SID}'>\
         <description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'/></propose></message>"
    ));
    input(&mut ep, 100, propose);
    ep.handle_input(SimTime::from_millis(200), Input::User(UserAction::Answer));
    drain(&mut ep);
    let out = input(
        &mut ep,
        300,
        iq_set(
            CALLER,
            CALLEE,
            "si-1",
            offer(Action::SessionInitiate, CALLER, "10.0.1.2:5000"),
        ),
    );
    let accept = jingle_of(&out, "session-accept");
    let (u, p, _) = transport_of(accept[0]);
    (ep, (u, p))
}

/// The caller (host 10.0.1.2) with its session accepted by the callee; returns it and its sid.
fn accepted_caller(knobs: &[(&str, &str)]) -> (ReferenceEndpoint, String) {
    let (mut ep, sid) = proposing_caller(knobs);
    let proceed = parse(&format!(
        "<message xmlns='jabber:client' from='{CALLEE}' to='{CALLER}' type='chat'>\
         <proceed xmlns='urn:xmpp:jingle-message:0' id='{sid}'/></message>"
    ));
    assert_eq!(jingle_actions(&input(&mut ep, 200, proceed)), vec!["session-initiate"]);
    let t = transport(
        PEER_UFRAG,
        PEER_PWD,
        &[host("10.0.2.2:6000")],
        Some(&[0xab; 32]),
        Setup::Active,
        false,
    );
    let accept = session(
        Action::SessionAccept,
        &sid,
        CALLEE,
        &["audio".to_string()],
        &t,
        Creator::Initiator,
        true,
    );
    let iq = iq_set(CALLEE, CALLER, "sa-1", accept);
    assert_eq!(claims(&input(&mut ep, 300, iq)), vec!["accepted"]);
    (ep, sid)
}

#[test]
fn rfc8445_9_the_agent_restarts_with_new_credentials_and_keeps_its_role() {
    let mut p = Pair::new(IceConfig::default());
    p.left.start(SimTime::ZERO);
    p.right.start(SimTime::ZERO);
    p.run_until_settled(Duration::from_secs(10));
    let before = (
        p.left.local_credentials().0.to_string(),
        p.left.local_credentials().1.to_string(),
    );
    p.left.restart();
    p.right.restart();
    let (lu, lp) = (
        p.left.local_credentials().0.to_string(),
        p.left.local_credentials().1.to_string(),
    );
    assert!(lu != before.0 && lp != before.1, "both ufrag and pwd change");
    assert_eq!((p.left.generation(), p.left.role()), (1, Role::Controlling));
    assert_eq!(
        (p.left.state(), p.left.selected(), p.left.media_pair()),
        (IceState::New, None, None)
    );
    assert!(p.left.local_candidates().is_empty() && p.left.remote_candidates().is_empty());
    assert_eq!(p.left.poll_timeout(), None, "nothing to do before it starts again");
    // The new ICE session: credentials and candidates exchanged again, checks from scratch.
    let (ru, rp) = (
        p.right.local_credentials().0.to_string(),
        p.right.local_credentials().1.to_string(),
    );
    p.left.set_remote_credentials(&ru, &rp);
    p.right.set_remote_credentials(&lu, &lp);
    p.left.add_local_candidate(host(common::L));
    p.right.add_local_candidate(host(common::R));
    p.left.add_remote_candidate(host(common::R));
    p.right.add_remote_candidate(host(common::L));
    let restarted = p.now;
    p.left.start(restarted);
    p.right.start(restarted);
    p.run_until_settled(Duration::from_secs(30));
    assert_eq!(
        (p.left.state(), p.right.state()),
        (IceState::Completed, IceState::Completed)
    );
    assert_eq!(p.right.role(), Role::Controlled);
    // Every check since carries the new credentials.
    for (_, _, _, m) in p.requests(true).into_iter().filter(|(t, ..)| *t >= restarted) {
        let Some(Ok(harness::stun::Attribute::Username(u))) = m.get(harness::stun::attr_type::USERNAME) else {
            panic!("no USERNAME");
        };
        assert_eq!(u, format!("{ru}:{lu}"));
        assert!(m.verify_integrity(rp.as_bytes()));
    }
}

#[test]
fn xep0176_5_an_interface_change_restarts_ice_with_generation_1_candidates() {
    let (mut ep, (ufrag, pwd)) = accepted_callee(&[]);
    let new_ip = "10.101.2.2";
    ep.handle_input(
        SimTime::from_millis(5_000),
        Input::InterfacesChanged(vec![new_ip.parse().unwrap()]),
    );
    let out = drain(&mut ep);
    assert!(claims(&out).iter().any(|c| c == "ice-restart"), "{:?}", claims(&out));
    let offers = jingle_of(&out, "transport-info");
    assert_eq!(offers.len(), 1, "one transport-info offers the restart");
    let (u, p, cands) = transport_of(offers[0]);
    assert!(u != ufrag && p != pwd, "new ufrag and pwd (RFC 8445 §9)");
    assert_eq!(cands.len(), 1, "the host candidate on the new interface: {cands:?}");
    assert_eq!(cands[0], ("1".to_string(), "g1c0".to_string(), new_ip.to_string()));
    // Gathering starts over from the new address: a STUN Binding request, and nothing from the old.
    let sent = datagrams(&out);
    assert!(sent.iter().any(|(l, r, b)| l.ip().to_string() == new_ip
        && r.to_string() == "192.0.2.10:3478"
        && Message::decode(b).is_ok_and(|m| m.class == Class::Request)));
    for t in (5_000..20_000).step_by(50) {
        ep.handle_input(SimTime::from_millis(t), Input::Timeout);
        for (l, ..) in datagrams(&drain(&mut ep)) {
            assert_eq!(l.ip().to_string(), new_ip, "sent from the vanished address at {t} ms");
        }
    }
}

#[test]
fn rfc8445_9_new_credentials_from_the_peer_are_answered_in_kind() {
    let (mut ep, (ufrag, pwd)) = accepted_callee(&[]);
    let out = caller_restarts(&mut ep, 5_000, "ti-1", &["10.0.1.2:5002"]);
    assert_eq!(stanzas(&out)[0].attr("type"), Some("result"), "acked first");
    assert!(claims(&out).iter().any(|c| c == "ice-restart"));
    let answers = jingle_of(&out, "transport-info");
    assert_eq!(answers.len(), 1, "one answer");
    let (u, p, cands) = transport_of(answers[0]);
    assert!(
        u != ufrag && p != pwd,
        "the answerer restarts too, with new credentials"
    );
    assert!(!cands.is_empty() && cands.iter().all(|c| c.0 == "1"), "{cands:?}");
    // A candidate of the old ICE session arriving late is stale; one of the new session is trickle.
    let out = input(
        &mut ep,
        5_100,
        iq_set(
            CALLER,
            CALLEE,
            "ti-2",
            transport_info(PEER_UFRAG, PEER_PWD, &["10.0.1.2:5003"]),
        ),
    );
    assert_eq!(stanzas(&out).len(), 1, "only the ack");
    let out = caller_restarts(&mut ep, 5_200, "ti-3", &["10.0.1.2:5004"]);
    assert_eq!(stanzas(&out).len(), 1, "only the ack: no second restart");
    assert!(!claims(&out).iter().any(|c| c == "ice-restart"));
}

#[test]
fn conversations_form_offers_credentials_alone_and_trickles_after_the_answer() {
    let (mut ep, (ufrag, _)) = accepted_callee(&[("ice-restart", "conversations")]);
    ep.handle_input(
        SimTime::from_millis(5_000),
        Input::InterfacesChanged(vec!["10.101.2.2".parse().unwrap()]),
    );
    let out = drain(&mut ep);
    let offers = jingle_of(&out, "transport-info");
    assert_eq!(offers.len(), 1);
    let (u, _, cands) = transport_of(offers[0]);
    assert!(u != ufrag && cands.is_empty(), "the offer is the new credentials alone");
    // The answer: the peer's new credentials with its candidates. Then this side's candidates.
    let out = caller_restarts(&mut ep, 5_100, "ti-1", &["10.0.1.2:5002"]);
    let trickled = jingle_of(&out, "transport-info");
    assert!(!trickled.is_empty(), "candidates follow the answer");
    for j in trickled {
        let (u2, _, cands) = transport_of(j);
        assert_eq!(u2, u);
        assert_eq!(cands.len(), 1, "one candidate per transport-info");
    }
}

#[test]
fn conversations_form_cannot_apply_an_xep_style_restart() {
    let (mut ep, _) = accepted_callee(&[("ice-restart", "conversations")]);
    let out = caller_restarts(&mut ep, 5_000, "ti-1", &["10.0.1.2:5002"]);
    let terminate = jingle_of(&out, "session-terminate");
    assert_eq!(terminate.len(), 1, "{:?}", jingle_actions(&out));
    let reason = terminate[0].get_child("reason", ns::JINGLE).expect("a reason");
    assert!(reason.has_child("failed-application", ns::JINGLE));
    // The same restart offered the Conversations way is answered.
    let (mut ep, _) = accepted_callee(&[("ice-restart", "conversations")]);
    let out = caller_restarts(&mut ep, 5_000, "ti-1", &[]);
    let answer = jingle_of(&out, "transport-info");
    assert_eq!(answer.len(), 1);
    assert!(!transport_of(answer[0]).2.is_empty(), "the answer carries candidates");
}

#[test]
fn xep0166_7_2_16_crossing_conversations_restarts_the_initiators_stands() {
    let (mut ep, sid) = accepted_caller(&[("ice-restart", "conversations")]);
    ep.handle_input(
        SimTime::from_millis(5_000),
        Input::InterfacesChanged(vec!["10.101.1.2".parse().unwrap()]),
    );
    assert_eq!(
        jingle_of(&drain(&mut ep), "transport-info").len(),
        1,
        "the caller's offer"
    );
    // The callee's own offer crosses it: the initiator's restart stands (XEP-0166 §7.2.16).
    let mut crossing = transport_info("nu", "newpwdnewpwdnewpwdnewp", &[]);
    harness::xml::set_attr(&mut crossing, "sid", sid);
    let out = input(&mut ep, 5_050, iq_set(CALLEE, CALLER, "ti-9", crossing));
    let s = stanzas(&out);
    assert_eq!(
        s.len(),
        1,
        "{:?}",
        s.iter().map(|e| String::from(*e)).collect::<Vec<_>>()
    );
    assert_eq!(s[0].attr("type"), Some("error"));
    let err = s[0].get_child("error", ns::CLIENT).expect("an error");
    assert!(err.has_child("conflict", ns::STANZAS) && err.has_child("tie-break", ns::JINGLE_ERRORS));
}

#[test]
fn an_agent_restarting_per_transport_checks_again_after_the_answer_to_its_own_restart() {
    // Asterisk (chan_motif) starts ICE on every transport it reads: after offering a restart of its
    // own, the peer's answer must start its checks on the new session.
    let (mut ep, _) = accepted_callee(&[("restart-on-each-trickled-candidate", "true")]);
    let new_ip = "10.101.2.2";
    ep.handle_input(
        SimTime::from_millis(5_000),
        Input::InterfacesChanged(vec![new_ip.parse().unwrap()]),
    );
    let out = drain(&mut ep);
    let offers = jingle_of(&out, "transport-info");
    assert_eq!(offers.len(), 1, "the restart is offered");
    let (u, ..) = transport_of(offers[0]);
    let out = caller_restarts(&mut ep, 5_200, "ti-answer", &["10.0.1.2:5002"]);
    let mut checks: Vec<(SocketAddr, Message)> = datagrams(&out)
        .into_iter()
        .filter_map(|(_, r, b)| Some((r, Message::decode(&b).ok()?)))
        .collect();
    for t in (5_200..8_000).step_by(10) {
        ep.handle_input(SimTime::from_millis(t), Input::Timeout);
        checks.extend(
            datagrams(&drain(&mut ep))
                .into_iter()
                .filter_map(|(_, r, b)| Some((r, Message::decode(&b).ok()?))),
        );
    }
    let to_peer: Vec<_> = checks
        .iter()
        .filter(|(r, m)| r.to_string() == "10.0.1.2:5002" && m.class == Class::Request)
        .collect();
    assert!(
        !to_peer.is_empty(),
        "no check to the peer's new candidate within 2.8 s of its answer"
    );
    let Some(Ok(harness::stun::Attribute::Username(name))) = to_peer[0].1.get(harness::stun::attr_type::USERNAME)
    else {
        panic!("a check without USERNAME");
    };
    assert_eq!(name, format!("nu:{u}"), "the new session's credentials");
}

/// Without trickle a restart offer waits for gathering to end. When the peer's own restart comes
/// in meanwhile, it answers this side's offer (RFC 8445 §9): this side's new credentials and
/// candidates still go out once gathering ends, and nothing more is awaited.
#[test]
fn rfc8445_9_a_peer_restart_while_the_own_offer_waits_for_gathering_is_answered_after_gathering() {
    let (mut ep, (ufrag, _)) = accepted_callee(&[("trickle", "false")]);
    let new_ip = "10.101.2.2";
    ep.handle_input(
        SimTime::from_millis(5_000),
        Input::InterfacesChanged(vec![new_ip.parse().unwrap()]),
    );
    let out = drain(&mut ep);
    assert!(claims(&out).iter().any(|c| c == "ice-restart"));
    assert!(
        jingle_of(&out, "transport-info").is_empty(),
        "the offer waits for gathering"
    );
    let stun = datagrams(&out)
        .into_iter()
        .find(|(l, r, _)| l.ip().to_string() == new_ip && r.to_string() == "192.0.2.10:3478")
        .expect("a STUN Binding request from the new address");
    let out = caller_restarts(&mut ep, 5_100, "ti-1", &["10.0.1.2:5002"]);
    assert_eq!(stanzas(&out)[0].attr("type"), Some("result"), "acked");
    assert!(jingle_of(&out, "transport-info").is_empty(), "still gathering");
    answer_stun(&mut ep, SimTime::from_millis(5_200), stun);
    let out = drain(&mut ep);
    let sent = jingle_of(&out, "transport-info");
    assert_eq!(
        sent.len(),
        1,
        "the new credentials and candidates go out once gathering ends"
    );
    let (u, _, cands) = transport_of(sent[0]);
    assert_ne!(u, ufrag, "new credentials (RFC 8445 §9)");
    assert!(cands.iter().any(|c| c.2 == new_ip), "{cands:?}");
}
