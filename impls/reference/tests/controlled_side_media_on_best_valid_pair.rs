//! Knob `pair-selection` (docs/field-failures.md §Asterisk 2021 media on a valid pair). RFC 8445
//! §8.1.1: once a pair is nominated, media goes on it. Asterisk before JMP's fix sent media to the
//! best *valid* pair instead (it read pjnath's `valid_check`, not `nominated_check`), and pjnath
//! keeps checking higher-priority pairs after a nomination (RFC 5245 §8.1.2), so a pair that
//! succeeds late takes the media away from the nominated one.

mod common;

use std::net::SocketAddr;

use common::{host, host_with_pref, Pair, L, R, R2};
use harness::SimTime;
use reference::ice::{IceConfig, IceState, PairSelection};

/// Right has two interfaces: R (preferred) is unreachable until 3 s, R2 at once. Left nominates the
/// R2 pair 1 s after it succeeds; right's own check on R gets through at 3.5 s (its fourth send).
fn late_better_pair(right: IceConfig) -> Pair {
    let mut p = Pair::bare(IceConfig::default(), right);
    p.left.add_local_candidate(host(L));
    p.right.add_local_candidate(host_with_pref(R, 65535, "1"));
    p.right.add_local_candidate(host_with_pref(R2, 1000, "2"));
    p.left.add_remote_candidate(host_with_pref(R, 65535, "1"));
    p.left.add_remote_candidate(host_with_pref(R2, 1000, "2"));
    p.right.add_remote_candidate(host(L));
    p.blocked.push((R.parse().unwrap(), SimTime::from_millis(3_000)));
    p.left.start(SimTime::ZERO);
    p.right.start(SimTime::ZERO);
    p.run_until(SimTime::from_millis(10_000));
    p
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn rfc8445_8_1_1_conforming_controlled_side_sends_on_the_nominated_pair() {
    let p = late_better_pair(IceConfig::default());
    assert_eq!(p.right.state(), IceState::Completed);
    assert_eq!(p.right.selected(), Some((addr(R2), addr(L))));
    assert_eq!(p.right.media_pair(), Some((addr(R2), addr(L))));
    // §8.1.2: checks on other pairs stopped at the nomination, so R never became valid.
    let late_from_r = p
        .requests(false)
        .iter()
        .filter(|(t, local, _, _)| *t >= SimTime::from_millis(3_000) && *local == addr(R))
        .count();
    assert_eq!(late_from_r, 0, "the conforming agent kept checking after nomination");
}

#[test]
fn pair_selection_best_valid_moves_media_off_the_nominated_pair() {
    let p = late_better_pair(IceConfig {
        pair_selection: PairSelection::BestValid,
        ..IceConfig::default()
    });
    // The nomination is the same: left chose R2, and right selected it.
    assert_eq!(p.left.selected(), Some((addr(L), addr(R2))));
    assert_eq!(p.right.selected(), Some((addr(R2), addr(L))));
    // Right went on checking the better pair, it succeeded, and media follows it.
    let late_from_r = p
        .requests(false)
        .iter()
        .filter(|(t, local, _, _)| *t >= SimTime::from_millis(3_000) && *local == addr(R))
        .count();
    assert!(
        late_from_r >= 1,
        "no check on the higher-priority pair after nomination"
    );
    assert_eq!(p.right.media_pair(), Some((addr(R), addr(L))));
}
