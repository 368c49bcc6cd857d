//! RFC 8445 §11: once a pair is selected, an agent sends a keepalive on it whenever nothing went out
//! on it for Tr = 15 s: a STUN Binding indication with FINGERPRINT and no authentication. Media on
//! the pair counts as traffic, and a closed agent sends nothing at all.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{Pair, L, R};
use harness::stun::{attr_type, Class, Message};
use harness::SimTime;
use reference::ice::{IceConfig, IceState};

/// The keepalives one side sent after `after`, as (time, message); each must go on the selected
/// pair (the only pair here).
fn indications(p: &Pair, by_left: bool, after: SimTime) -> Vec<(SimTime, Message)> {
    let (l, r): (SocketAddr, SocketAddr) = (L.parse().unwrap(), R.parse().unwrap());
    let pair = if by_left { (l, r) } else { (r, l) };
    p.sent
        .iter()
        .filter(|s| s.by_left == by_left && s.at > after)
        .filter_map(|s| {
            let m = Message::decode(&s.payload).ok()?;
            assert_eq!((s.local, s.remote), pair, "a keepalive goes on the selected pair");
            (m.class == Class::Indication).then_some((s.at, m))
        })
        .collect()
}

/// Two agents that select the host pair, then idle for a minute of simulated time.
fn selected_then_idle(cfg: IceConfig) -> (Pair, SimTime) {
    let mut p = Pair::new(cfg);
    p.left.start(SimTime::ZERO);
    p.right.start(SimTime::ZERO);
    p.run_until_settled(Duration::from_secs(10));
    assert_eq!(
        (p.left.state(), p.right.state()),
        (IceState::Completed, IceState::Completed)
    );
    let selected_at = p.now;
    p.run_until(selected_at + Duration::from_secs(60));
    (p, selected_at)
}

#[test]
fn rfc8445_11_a_binding_indication_every_15_s_of_silence_on_the_selected_pair() {
    let (p, selected_at) = selected_then_idle(IceConfig::default());
    for by_left in [true, false] {
        let k = indications(&p, by_left, selected_at);
        assert!(k.len() >= 3, "a minute of silence holds three keepalives: {}", k.len());
        for (_, m) in &k {
            // FINGERPRINT only: no USERNAME, no MESSAGE-INTEGRITY, nothing else (RFC 8445 §11).
            let types: Vec<u16> = m.attributes().map(|a| a.typ).collect();
            assert_eq!(types, vec![attr_type::FINGERPRINT], "{m:?}");
            assert_eq!(m.verify_fingerprint(), Some(true));
        }
        // Never less than Tr apart, and never more than Tr after the last packet on the pair.
        for w in k.windows(2) {
            assert!(w[1].0 - w[0].0 >= Duration::from_secs(15), "{:?}", (w[0].0, w[1].0));
        }
        let times: Vec<SimTime> = p
            .sent
            .iter()
            .filter(|s| s.by_left == by_left && s.at >= selected_at)
            .map(|s| s.at)
            .collect();
        for w in times.windows(2) {
            assert!(
                w[1] - w[0] <= Duration::from_secs(15),
                "silence {:?} .. {:?}",
                w[0],
                w[1]
            );
        }
    }
}

#[test]
fn rfc8445_11_media_on_the_pair_makes_keepalives_unnecessary() {
    // Without consent checks, which would keep the pair busy both ways (see
    // consent_freshness_on_media_pair.rs), only media stands between the pair and a keepalive.
    let mut p = Pair::new(IceConfig {
        consent_freshness: false,
        ..IceConfig::default()
    });
    p.left.start(SimTime::ZERO);
    p.right.start(SimTime::ZERO);
    p.run_until_settled(Duration::from_secs(10));
    let selected_at = p.now;
    // Left sends media every 200 ms for a minute; right stays silent.
    let (l, r) = (L.parse().unwrap(), R.parse().unwrap());
    let mut t = selected_at;
    while t < selected_at + Duration::from_secs(60) {
        t += Duration::from_millis(200);
        p.run_until(t);
        p.left.media_sent(t, l, r);
    }
    assert!(
        indications(&p, true, selected_at).is_empty(),
        "media kept the pair busy"
    );
    assert!(indications(&p, false, selected_at).len() >= 3);
}

#[test]
fn rfc8445_11_a_closed_agent_sends_nothing_more() {
    let (mut p, _) = selected_then_idle(IceConfig::default());
    p.left.close();
    p.right.close();
    assert_eq!((p.left.poll_timeout(), p.right.poll_timeout()), (None, None));
    let before = p.sent.len();
    p.run_until(p.now + Duration::from_secs(30 * 60));
    assert_eq!(p.sent.len(), before, "nothing after the session ended");
}
