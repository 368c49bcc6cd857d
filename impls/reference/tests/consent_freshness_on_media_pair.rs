//! RFC 7675 consent freshness on the pair media goes on: a Binding request every 4–6 s (drawn from
//! the agent's random stream), each with a new transaction id and sent once; 30 s without a valid
//! response, or an authenticated 403, and consent is gone: no more media there, and the owner is
//! told so it can restart ICE or end the session. Consent checks keep the pair busy, so no
//! keepalive goes while they run (RFC 7675 §4).

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use common::{Pair, L, R};
use harness::stun::{attr_type, method, Attribute, Class, ErrorCode, Message, MessageBuilder};
use harness::SimTime;
use reference::ice::{IceConfig, IceEvent, IceState};

fn addrs() -> (SocketAddr, SocketAddr) {
    (L.parse().unwrap(), R.parse().unwrap())
}

/// Two agents that selected the host pair; returns the time of selection.
fn selected() -> (Pair, SimTime) {
    let mut p = Pair::new(IceConfig::default());
    p.left.start(SimTime::ZERO);
    p.right.start(SimTime::ZERO);
    p.run_until_settled(Duration::from_secs(10));
    assert_eq!(
        (p.left.state(), p.right.state()),
        (IceState::Completed, IceState::Completed)
    );
    let at = p.now;
    (p, at)
}

/// Both sides send media every 200 ms from `from` until `until`.
fn media(p: &mut Pair, from: SimTime, until: SimTime) {
    let (l, r) = addrs();
    let mut t = from;
    while t < until {
        p.run_until(t);
        p.left.media_sent(t, l, r);
        p.right.media_sent(t, r, l);
        t += Duration::from_millis(200);
    }
    p.run_until(until);
}

/// The Binding requests one side sent after `after`.
fn requests_after(p: &Pair, by_left: bool, after: SimTime) -> Vec<(SimTime, Message)> {
    p.requests(by_left)
        .into_iter()
        .filter(|(t, ..)| *t > after)
        .map(|(t, _, _, m)| (t, m))
        .collect()
}

#[test]
fn rfc7675_5_1_a_consent_check_every_4_to_6_s_each_sent_once() {
    let (mut p, at) = selected();
    media(&mut p, at, at + Duration::from_secs(60));
    let (_, right_pwd) = p.right.local_credentials();
    let right_pwd = right_pwd.to_string();
    let checks = requests_after(&p, true, at);
    assert!(
        checks.len() >= 10,
        "a minute of media holds 10–15 consent checks: {}",
        checks.len()
    );
    let ids: BTreeSet<[u8; 12]> = checks.iter().map(|(_, m)| m.transaction_id).collect();
    assert_eq!(
        ids.len(),
        checks.len(),
        "a new transaction id each time, never a retransmission"
    );
    for (_, m) in &checks {
        assert!(
            m.verify_integrity(right_pwd.as_bytes()),
            "the session's short-term credentials"
        );
        assert!(m.has(attr_type::USERNAME) && m.has(attr_type::ICE_CONTROLLING));
        assert!(!m.has(attr_type::USE_CANDIDATE), "a consent check nominates nothing");
    }
    let gaps: BTreeSet<Duration> = checks.windows(2).map(|w| w[1].0 - w[0].0).collect();
    for g in &gaps {
        assert!(
            (Duration::from_secs(4)..=Duration::from_secs(6)).contains(g),
            "5 s ± 20 %, never under 4 s: {g:?}"
        );
    }
    assert!(gaps.len() > 1, "randomised intervals, not a fixed period: {gaps:?}");
    // Every check was answered, so consent held: no loss, media still allowed.
    assert_eq!(p.left.media_pair(), Some(addrs()));
    assert!(!p
        .events_left
        .iter()
        .any(|(_, e)| matches!(e, IceEvent::ConsentLost { .. })));
    // Consent checks and their answers keep the pair busy both ways: no keepalive is due.
    let indications = p
        .sent
        .iter()
        .filter(|s| s.at > at && Message::decode(&s.payload).is_ok_and(|m| m.class == Class::Indication));
    assert_eq!(indications.count(), 0);
}

#[test]
fn rfc7675_5_1_the_intervals_come_from_the_seeded_stream() {
    let run = || {
        let (mut p, at) = selected();
        media(&mut p, at, at + Duration::from_secs(30));
        requests_after(&p, true, at)
            .into_iter()
            .map(|(t, m)| (t, m.transaction_id))
            .collect::<Vec<_>>()
    };
    assert_eq!(run(), run(), "same seed, same consent checks at the same times");
}

#[test]
fn rfc7675_5_1_thirty_seconds_without_a_response_stop_media_on_the_pair() {
    let (mut p, at) = selected();
    let (l, r) = addrs();
    media(&mut p, at, at + Duration::from_secs(10));
    // From here on nothing crosses the path, either way.
    let cut = p.now;
    p.blocked.push((l, SimTime::MAX));
    media(&mut p, cut, cut + Duration::from_secs(45));
    let lost = p
        .events_left
        .iter()
        .find(|(_, e)| matches!(e, IceEvent::ConsentLost { .. }))
        .map(|(t, e)| (*t, e.clone()))
        .expect("consent lost");
    assert_eq!(lost.1, IceEvent::ConsentLost { local: l, remote: r });
    // 30 s after the last valid response, which came before the cut.
    let last_ok = p
        .sent
        .iter()
        .filter(|s| !s.by_left && s.at <= cut)
        .filter_map(|s| Message::decode(&s.payload).ok().map(|m| (s.at, m)))
        .filter(|(_, m)| m.class == Class::Success)
        .map(|(t, _)| t)
        .max()
        .expect("right answered before the cut");
    assert!(
        lost.0 >= last_ok + Duration::from_secs(30),
        "{:?} vs {:?}",
        lost.0,
        last_ok
    );
    assert!(
        lost.0 <= last_ok + p.latency + Duration::from_secs(30),
        "{:?} vs {:?}",
        lost.0,
        last_ok
    );
    assert_eq!(p.left.media_pair(), None, "no media on a pair without consent");
    assert_eq!(p.left.state(), IceState::Disconnected);
    // Consent checks went on during the outage, each once; none after the loss, no keepalive
    // either: nothing more goes on that 5-tuple with these credentials.
    let during: Vec<_> = requests_after(&p, true, cut);
    assert!(during.iter().all(|(t, _)| *t < lost.0));
    let ids: BTreeSet<[u8; 12]> = during.iter().map(|(_, m)| m.transaction_id).collect();
    assert_eq!(ids.len(), during.len(), "consent checks are never retransmitted");
    assert!(
        !p.sent.iter().any(|s| s.by_left && s.at > lost.0),
        "left sent nothing after the loss"
    );
}

#[test]
fn rfc7675_5_2_an_authenticated_403_revokes_consent_at_once() {
    let (mut p, at) = selected();
    let (l, r) = addrs();
    // Right's answers are lost, so left's consent check stays outstanding.
    p.drop_to_left_until = SimTime::MAX;
    media(&mut p, at, at + Duration::from_secs(7));
    let (_, check) = requests_after(&p, true, at).pop().expect("a consent check");
    let right_pwd = p.right.local_credentials().1.to_string();
    let forbidden = |integrity: bool| {
        MessageBuilder::new(method::BINDING, Class::Error, check.transaction_id)
            .attr(&Attribute::ErrorCode(ErrorCode {
                code: 403,
                reason: "Forbidden".into(),
            }))
            .build(integrity.then_some(right_pwd.as_bytes()), true)
    };
    // Unauthenticated: dropped as never received (RFC 5389 §10.1.3), consent holds.
    let now = p.now;
    p.left.handle_packet(now, l, r, &forbidden(false));
    assert_eq!(p.left.media_pair(), Some((l, r)));
    p.left.handle_packet(now, l, r, &forbidden(true));
    assert_eq!(p.left.poll_event(), Some(IceEvent::ConsentLost { local: l, remote: r }));
    assert_eq!(p.left.media_pair(), None);
}
