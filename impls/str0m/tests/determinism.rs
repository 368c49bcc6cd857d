//! Everything `is` draws (tie-breaker, credentials, transaction IDs) comes from `fastrand`, which
//! the driver seeds from the endpoint's stream before each call: the same seed gives the same
//! datagrams, byte for byte, whatever ran on the thread before.

mod common;

use common::*;

fn bytes(l: &reference::ice::Loopback) -> Vec<(u64, usize, Vec<u8>)> {
    l.sent
        .iter()
        .map(|s| (s.at.as_micros(), s.from, s.transmit.payload.clone()))
        .collect()
}

#[test]
fn same_seed_same_bytes_in_both_roles() {
    for controls in [true, false] {
        let a = run(controls, 3, 4000);
        // Draw from the thread's generator in between: the driver must not depend on it.
        fastrand::seed(99);
        let _ = fastrand::u64(..);
        let b = run(controls, 3, 4000);
        assert!(!a.sent.is_empty());
        assert_eq!(bytes(&a), bytes(&b), "str0m controlling: {controls}");
    }
}

#[test]
fn another_seed_gives_other_transaction_ids_and_credentials() {
    let a = run(true, 3, 1000);
    let b = run(true, 4, 1000);
    assert_ne!(a.drivers[0].local_credentials(), b.drivers[0].local_credentials());
    let tid = |l: &reference::ice::Loopback| {
        l.sent
            .iter()
            .find(|s| s.from == 0 && s.is_request())
            .map(|s| s.stun().transaction_id)
    };
    assert_ne!(tid(&a), tid(&b));
}
