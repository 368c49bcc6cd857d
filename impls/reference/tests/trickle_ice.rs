//! Knobs `trickle` and `restart-on-each-trickled-candidate`. Trickle ICE (RFC 8838 §5, §10;
//! XEP-0176 §7.1): the offer goes out with the candidates gathered so far and each later candidate
//! follows in its own transport-info, ufrag and pwd included; no end-of-candidates (ice-udp:1 has
//! none). Without trickle the offer waits until gathering is done.

mod common;

use std::net::SocketAddr;

use common::endpoint::{answer_stun, drain, login};
use common::{host, Pair, L, R};
use harness::endpoint::{Endpoint, Input, Output, UserAction};
use harness::xml::ns;
use harness::SimTime;
use minidom::Element;
use reference::ice::{IceConfig, IceState};

const CALLEE: &str = "callee@example.org/device1";

/// Jingle actions sent, with the candidates each carried as (id, type) and the transport's ufrag.
type Actions = Vec<(String, Vec<(String, String)>, Option<String>)>;

fn jingle(out: &[Output]) -> Actions {
    out.iter()
        .filter_map(|o| match o {
            Output::Stanza(s) => {
                let j = s.get_child("jingle", ns::JINGLE)?;
                let t = j
                    .children()
                    .filter_map(|c| c.get_child("transport", ns::JINGLE_ICE_UDP))
                    .next();
                let cands = t
                    .map(|t| {
                        t.children()
                            .filter(|c| c.is("candidate", ns::JINGLE_ICE_UDP))
                            .map(|c| (c.attr("id").unwrap().to_string(), c.attr("type").unwrap().to_string()))
                            .collect()
                    })
                    .unwrap_or_default();
                Some((
                    j.attr("action")?.to_string(),
                    cands,
                    t.and_then(|t| t.attr("ufrag")).map(str::to_string),
                ))
            }
            _ => None,
        })
        .collect()
}

fn presence() -> Element {
    format!("<presence xmlns='jabber:client' from='{CALLEE}' to='caller@example.org/device1'/>")
        .parse()
        .unwrap()
}

/// A caller that speaks no JMI calls at 60 ms, before its STUN server answered (at 100 ms).
fn call_while_gathering(trickle: &str) -> (Actions, Actions) {
    let (mut ep, stun) = login("caller", "10.0.1.2", &[("jmi", "false"), ("trickle", trickle)]);
    ep.handle_input(SimTime::from_millis(50), Input::Stanza(presence().into()));
    drain(&mut ep);
    ep.handle_input(
        SimTime::from_millis(60),
        Input::User(UserAction::Call {
            to: "callee@example.org".into(),
            media: vec!["audio".into()],
        }),
    );
    let before = jingle(&drain(&mut ep));
    answer_stun(&mut ep, SimTime::from_millis(100), stun.expect("a STUN request"));
    (before, jingle(&drain(&mut ep)))
}

fn pair(id: &str, typ: &str) -> (String, String) {
    (id.to_string(), typ.to_string())
}

#[test]
fn rfc8838_the_offer_goes_at_once_and_a_later_candidate_follows_in_transport_info() {
    let (before, after) = call_while_gathering("true");
    assert_eq!(before.len(), 1);
    assert_eq!(before[0].0, "session-initiate");
    assert_eq!(before[0].1, vec![pair("c0", "host")]);
    assert_eq!(after.len(), 1, "{after:?}");
    assert_eq!(after[0].0, "transport-info");
    assert_eq!(after[0].1, vec![pair("c1", "srflx")]);
    assert_eq!(
        after[0].2, before[0].2,
        "the transport-info names the same ICE session (ufrag)"
    );
}

#[test]
fn trickle_false_waits_for_gathering_and_sends_everything_in_the_offer() {
    let (before, after) = call_while_gathering("false");
    assert!(before.is_empty(), "{before:?}");
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].0, "session-initiate");
    assert_eq!(after[0].1, vec![pair("c0", "host"), pair("c1", "srflx")]);
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn restart_on_each_trickled_candidate_forgets_every_earlier_remote_candidate() {
    // Right (controlled) knew L and completed; a transport-info with a new candidate makes it start
    // over with only that one, as chan_motif's ice->start() per transport does.
    let mut p = Pair::new(IceConfig::default());
    p.left.start(SimTime::ZERO);
    p.right.start(SimTime::ZERO);
    p.run_until_settled(std::time::Duration::from_secs(10));
    assert_eq!(p.right.state(), IceState::Completed);
    let other = "192.0.2.9:7000";
    p.right.restart_with_remote_candidates(p.now, vec![host(other)]);
    assert_eq!(p.right.state(), IceState::Checking);
    assert_eq!(p.right.selected(), None);
    let remotes: Vec<SocketAddr> = p.right.remote_candidates().iter().map(|c| c.addr).collect();
    assert_eq!(remotes, vec![addr(other)]);
    let restarted_at = p.now;
    p.run_until(restarted_at + std::time::Duration::from_secs(2));
    let targets: Vec<SocketAddr> = p
        .requests(false)
        .iter()
        .filter(|(t, ..)| *t >= restarted_at)
        .map(|(_, local, remote, _)| {
            assert_eq!(*local, addr(R));
            *remote
        })
        .collect();
    assert!(!targets.is_empty());
    assert!(
        targets.iter().all(|t| *t == addr(other)),
        "still checking {L}: {targets:?}"
    );
}
