//! rtc-stun draws STUN transaction IDs from `rand::rng()`, which no API seeds: two runs with the
//! same seed send the same datagrams at the same times, but rtc-ice's transaction IDs (bytes 8..20)
//! differ. This is why a trace hash over an rtc-ice party must mask them.

mod common;

use common::*;

#[test]
fn same_seed_same_timing_and_credentials_but_different_transaction_ids() {
    let a = run(true, 7, 3000);
    let b = run(true, 7, 3000);
    assert_eq!(
        a.drivers[0].local_credentials(),
        b.drivers[0].local_credentials(),
        "ufrag and pwd come from the seeded crypto-provider random source"
    );
    let shape = |l: &reference::ice::Loopback| -> Vec<(u64, usize, usize)> {
        l.sent
            .iter()
            .map(|s| (s.at.as_micros(), s.from, s.transmit.payload.len()))
            .collect()
    };
    assert_eq!(shape(&a), shape(&b), "timing and sizes repeat");
    let tids = |l: &reference::ice::Loopback| -> Vec<[u8; 12]> {
        l.sent
            .iter()
            .filter(|s| s.from == 0 && s.is_request())
            .map(|s| s.stun().transaction_id)
            .collect()
    };
    let (ta, tb) = (tids(&a), tids(&b));
    assert!(!ta.is_empty());
    assert_eq!(ta.len(), tb.len());
    assert!(
        ta.iter().zip(&tb).all(|(x, y)| x != y),
        "rtc-ice's transaction IDs repeated across runs: they would not need masking"
    );
}

#[test]
fn credentials_follow_the_seed() {
    let a = rtc_ice(reference::ice::Role::Controlling, 1);
    let b = rtc_ice(reference::ice::Role::Controlling, 2);
    assert_ne!(a.local_credentials(), b.local_credentials());
    let (u, p) = a.local_credentials();
    // RFC 8445 §5.3: at least 24 bits of ufrag and 128 bits of pwd.
    assert!(u.len() >= 4 && p.len() >= 22, "{u} {p}");
}
