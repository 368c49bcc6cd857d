//! Two components (RFC 8445 §6.1.2.2; XEP-0167 §3): without rtcp-mux, RTCP has its own component,
//! checked, nominated and selected like component 1, and ICE completes only when both have a
//! selected pair. With rtcp-mux agreed, component-2 candidates are never paired. And the dormant
//! start-over of an agent that restarts per transport-info (docs/field-failures.md §Firefox
//! component 2 and per-candidate restarts).

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{host, Pair, L, R};
use harness::stun::attr_type;
use harness::SimTime;
use reference::ice::{priority, Candidate, CandidateType, IceConfig, IceEvent, IceState};

const L2: &str = "192.0.2.1:5001";
const R2: &str = "198.51.100.1:6001";

fn addr(a: &str) -> SocketAddr {
    a.parse().unwrap()
}

/// A host candidate of component 2 on `a`.
fn rtcp_host(a: &str) -> Candidate {
    Candidate {
        addr: addr(a),
        base: addr(a),
        typ: CandidateType::Host,
        priority: priority(CandidateType::Host, 65535, 2),
        foundation: "1".into(),
        component: 2,
    }
}

/// Both agents with a host candidate per component, each knowing the other's, with `components`
/// in use on both sides.
fn pair(components: u8) -> Pair {
    let mut p = Pair::bare(IceConfig::default(), IceConfig::default());
    p.left.set_components(components);
    p.right.set_components(components);
    for (local, remote) in [((L, L2), (R, R2)), ((R, R2), (L, L2))] {
        let agent = if local.0 == L { &mut p.left } else { &mut p.right };
        agent.add_local_candidate(host(local.0));
        agent.add_local_candidate(rtcp_host(local.1));
        agent.add_remote_candidate(host(remote.0));
        agent.add_remote_candidate(rtcp_host(remote.1));
    }
    p.left.start(SimTime::ZERO);
    p.right.start(SimTime::ZERO);
    p
}

fn position(events: &[(SimTime, IceEvent)], f: impl Fn(&IceEvent) -> bool) -> Option<usize> {
    events.iter().position(|(_, e)| f(e))
}

#[test]
fn rfc8445_6_1_2_2_without_rtcp_mux_each_component_gets_a_nominated_pair() {
    let mut p = pair(2);
    p.run_until_settled(Duration::from_secs(10));
    assert_eq!(p.left.state(), IceState::Completed);
    assert_eq!(p.right.state(), IceState::Completed);
    assert_eq!(p.left.selected_for(1), Some((addr(L), addr(R))));
    assert_eq!(p.left.selected_for(2), Some((addr(L2), addr(R2))));
    assert_eq!(p.right.selected_for(2), Some((addr(R2), addr(L2))));
    // The controlling side nominated component 2 with USE-CANDIDATE from its component-2 base.
    assert!(p
        .requests(true)
        .iter()
        .any(|(_, local, _, m)| *local == addr(L2) && m.has(attr_type::USE_CANDIDATE)));
    // Completed only once component 2 had its pair too (RFC 8445 §6.1.3).
    let completed = position(&p.events_left, |e| *e == IceEvent::State(IceState::Completed)).unwrap();
    let second = position(&p.events_left, |e| matches!(e, IceEvent::Selected { component: 2, .. })).unwrap();
    assert!(second < completed, "{:?}", p.events_left);
    // Media stays on component 1.
    assert_eq!(p.left.media_pair(), Some((addr(L), addr(R))));
    // Each selected pair gets its own keepalives (RFC 8445 §11): Binding indications after 15 s.
    let settled = p.now;
    p.run_until(settled + Duration::from_secs(20));
    for (base, peer) in [(L, R), (L2, R2)] {
        let keepalive = p.sent.iter().any(|s| {
            s.by_left
                && s.at > settled
                && (s.local, s.remote) == (addr(base), addr(peer))
                && harness::stun::Message::decode(&s.payload).is_ok_and(|m| m.class == harness::stun::Class::Indication)
        });
        assert!(keepalive, "no keepalive on {base} -> {peer}");
    }
}

#[test]
fn rfc8445_6_1_2_6_a_component_without_a_path_fails_ice_at_the_pac_bound() {
    let mut p = pair(2);
    p.blocked.push((addr(L2), SimTime::from_millis(3_600_000)));
    p.run_until_settled(Duration::from_secs(120));
    assert_eq!(p.left.selected_for(1), Some((addr(L), addr(R))));
    assert_eq!(p.left.selected_for(2), None);
    assert_eq!(p.left.state(), IceState::Failed);
    let failed_at = p
        .events_left
        .iter()
        .find(|(_, e)| *e == IceEvent::State(IceState::Failed))
        .map(|(t, _)| *t)
        .unwrap();
    assert!(failed_at >= SimTime::from_millis(39_500), "failed at {failed_at}");
}

#[test]
fn with_rtcp_mux_agreed_component_2_candidates_are_never_paired() {
    // Signalled before the answer, then dropped to one component (Firefox's offer:
    // docs/field-failures.md §Firefox component 2 and per-candidate restarts).
    let mut p = pair(2);
    p.left.set_components(1);
    p.right.set_components(1);
    p.run_until_settled(Duration::from_secs(10));
    assert_eq!(p.left.state(), IceState::Completed);
    assert_eq!(p.left.selected_for(2), None);
    let on_component_2 = |(_, local, remote, _): &(SimTime, SocketAddr, SocketAddr, harness::stun::Message)| {
        [*local, *remote].iter().any(|a| *a == addr(L2) || *a == addr(R2))
    };
    assert!(!p.requests(true).iter().any(on_component_2));
    assert!(!p.requests(false).iter().any(on_component_2));
}

#[test]
fn a_start_over_with_component_2_candidates_only_leaves_the_agent_dormant() {
    let mut p = Pair::bare(IceConfig::default(), IceConfig::default());
    p.left.add_local_candidate(host(L));
    p.left.add_remote_candidate(host(R));
    p.right.add_local_candidate(host(R));
    p.right.start(SimTime::ZERO);
    // Right, with rtcp-mux, starts over on a transport-info carrying left's component-2 candidate.
    p.right
        .restart_with_remote_candidates(SimTime::ZERO, vec![rtcp_host(L2)]);
    p.left.start(SimTime::ZERO);
    p.run_until(SimTime::from_millis(10_000));
    // It answered left's checks, so left's pair is valid and nominated; it sent none of its own and
    // took no nomination.
    assert!(p.sent.iter().any(|s| !s.by_left));
    assert!(p.requests(false).is_empty(), "right checked while dormant");
    assert_eq!(p.right.selected(), None);
    assert_ne!(p.right.state(), IceState::Completed);
    // The next start-over with a component-1 candidate wakes it: it checks again.
    let now = p.now;
    p.right.restart_with_remote_candidates(now, vec![host(L)]);
    p.run_until(now + Duration::from_secs(1));
    assert!(!p.requests(false).is_empty(), "right stayed dormant");
}
