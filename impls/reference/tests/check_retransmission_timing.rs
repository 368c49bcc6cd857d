//! Knobs `check-max-sends`, `check-interval-ms`, `check-rto-ms`, `check-final-wait`: when the
//! requests of one connectivity check go out and when the pair fails. RFC 5389 §7.2.1 (RFC 8445
//! §14.3): RTO 500 ms doubling, Rc = 7, Rm = 16, failure at 39.5 s. Asterisk's pjnath as JMP found
//! it: 7 requests 1 s apart (docs/field-failures.md §Asterisk 2021 Failed pairs and early checks).
//! libnice: 3 requests, RTO doubling, halved for the last wait, so failure at 4 × RTO (libnice
//! stun/usages/timer.c).

mod common;

use std::time::Duration;

use common::Pair;
use harness::SimTime;
use reference::ice::{IceConfig, IceEvent, IceState};

/// Send times (ms) of left's requests and when its only pair failed, with nothing ever answered.
/// The PAC bound is set to zero so the agent reports failure as soon as its pair failed.
fn black_hole(cfg: IceConfig) -> (Vec<u64>, Option<u64>) {
    let cfg = IceConfig {
        pac: Duration::ZERO,
        ..cfg
    };
    let mut p = Pair::new(cfg);
    p.drop_to_right_until = SimTime::MAX;
    p.left.start(SimTime::ZERO);
    p.run_until(SimTime::from_millis(120_000));
    let sends = p.requests(true).iter().map(|(t, ..)| t.as_millis()).collect();
    let failed = p
        .events_left
        .iter()
        .find(|(_, e)| *e == IceEvent::State(IceState::Failed))
        .map(|(t, _)| t.as_millis());
    (sends, failed)
}

#[test]
fn rfc5389_7_2_1_doubling_rto_seven_sends_failure_at_39_5_s() {
    let (sends, failed) = black_hole(IceConfig::default());
    assert_eq!(sends, vec![0, 500, 1_500, 3_500, 7_500, 15_500, 31_500]);
    assert_eq!(failed, Some(39_500));
}

#[test]
fn check_interval_ms_sends_at_a_fixed_interval_asterisk_7_x_1_s() {
    let (sends, failed) = black_hole(IceConfig {
        check_interval: Some(Duration::from_millis(1_000)),
        ..IceConfig::default()
    });
    assert_eq!(sends, vec![0, 1_000, 2_000, 3_000, 4_000, 5_000, 6_000]);
    assert_eq!(failed, Some(7_000));
}

#[test]
fn check_max_sends_and_final_wait_libnice_three_sends_failure_at_4_rto() {
    let (sends, failed) = black_hole(IceConfig {
        max_sends: 3,
        final_wait: 1,
        ..IceConfig::default()
    });
    assert_eq!(sends, vec![0, 500, 1_500]);
    assert_eq!(failed, Some(2_000));
}

#[test]
fn check_max_sends_with_a_fixed_interval_stretches_the_timeout_jmp_45_s() {
    let (sends, failed) = black_hole(IceConfig {
        check_interval: Some(Duration::from_millis(1_000)),
        max_sends: 45,
        ..IceConfig::default()
    });
    assert_eq!(sends.len(), 45);
    assert_eq!(sends.last(), Some(&44_000));
    assert_eq!(failed, Some(45_000));
}
