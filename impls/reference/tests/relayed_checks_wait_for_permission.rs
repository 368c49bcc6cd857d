//! RFC 8445 §7.2.1 (TURN permissions before checks; RFC 8656 §9): the agent starts no check from a
//! relayed candidate to an IP its allocation has no permission for yet, so a check never waits in
//! the TURN client while newer ones leave and the wire keeps the Ta pacing of §14.2.

use std::net::SocketAddr;
use std::time::Duration;

use harness::sim::SimRng;
use harness::SimTime;
use reference::ice::{priority, Candidate, CandidateType, IceAgent, IceConfig, IceState, Role};

const RELAYED: &str = "192.0.2.20:49152";
const PEER: &str = "198.51.100.1:6000";

fn addr(a: &str) -> SocketAddr {
    a.parse().unwrap()
}

/// A controlling agent whose only local candidate is relayed, with the peer's host candidate and
/// credentials, started at 0.
fn relayed_agent() -> IceAgent {
    let mut a = IceAgent::new(Role::Controlling, IceConfig::default(), SimRng::derive(1, "relayed"));
    a.add_local_candidate(Candidate {
        addr: addr(RELAYED),
        base: addr(RELAYED),
        typ: CandidateType::Relayed,
        priority: priority(CandidateType::Relayed, 65535, 1),
        foundation: "3".into(),
        component: 1,
    });
    a.set_remote_credentials("peer", "peerpeerpeerpeerpeerpeer");
    let peer = addr(PEER);
    a.add_remote_candidate(Candidate {
        addr: peer,
        base: peer,
        typ: CandidateType::Host,
        priority: priority(CandidateType::Host, 65535, 1),
        foundation: "1".into(),
        component: 1,
    });
    a.start(SimTime::ZERO);
    a
}

/// Drives `a` through its timeouts until `end`, returning the times checks went out.
fn run(a: &mut IceAgent, from: SimTime, end: SimTime) -> Vec<SimTime> {
    let mut sent = Vec::new();
    let mut now = from;
    while let Some(t) = a.poll_timeout().filter(|t| *t <= end) {
        now = t.max(now);
        a.handle_timeout(now);
        while let Some(x) = a.poll_transmit() {
            assert_eq!(x.local, addr(RELAYED));
            sent.push(now);
        }
    }
    sent
}

#[test]
fn rfc8445_7_2_1_no_check_from_a_relayed_candidate_before_its_permission() {
    let mut a = relayed_agent();
    assert!(run(&mut a, SimTime::ZERO, SimTime::from_millis(300)).is_empty());
    // The CreatePermission success arrives at 300 ms: the check goes then, not before.
    let at = SimTime::from_millis(300);
    a.relay_permitted(at, addr(RELAYED), addr(PEER).ip());
    let sent = run(&mut a, at, SimTime::from_millis(400));
    assert_eq!(sent.first(), Some(&at), "{sent:?}");
}

#[test]
fn a_refused_permission_fails_the_pair_so_ice_fails_at_the_pac_bound() {
    let mut a = relayed_agent();
    a.relay_refused(addr(RELAYED), addr(PEER).ip());
    let sent = run(&mut a, SimTime::ZERO, SimTime::ZERO + Duration::from_secs(60));
    assert!(sent.is_empty());
    assert_eq!(a.state(), IceState::Failed);
}
