//! The srflx/prflx connectivity truth table (no TURN), derived from RFC 4787 behaviours, checked cell
//! by cell through the simulator with the reference endpoint on both sides.
//!
//! Rule: a side whose mapping is not endpoint-independent sends its checks from a port the peer never
//! advertised; they pass the peer's NAT only if its filtering is not address-and-port-dependent. The
//! call connects unless that fails in either direction (digest §7; TURN rescues the failing cells).

use std::path::Path;
use std::sync::Arc;

use harness::conform::run_one;
use harness::net::nat::{FilteringBehaviour, MappingBehaviour, NatBehaviour};
use harness::net::nat_profiles;
use harness::scenario::{PartySpec, RunSpec, Scenario};

fn effective(nats: &[NatBehaviour]) -> (bool, bool) {
    // (endpoint-independent mapping through the whole chain, APDF anywhere on the chain)
    let eim = nats.iter().all(|n| n.mapping == MappingBehaviour::EndpointIndependent);
    let apdf = nats
        .iter()
        .any(|n| n.filtering == FilteringBehaviour::AddressAndPortDependent);
    (eim, apdf)
}

/// Whether a direct (non-relayed) path exists between two NAT chains.
pub fn direct_path_exists(a: &[NatBehaviour], b: &[NatBehaviour]) -> bool {
    let (a_eim, a_apdf) = effective(a);
    let (b_eim, b_apdf) = effective(b);
    // A side with a fresh port per destination is only reachable through a filter that ignores ports.
    (a_eim || !b_apdf) && (b_eim || !a_apdf)
}

#[test]
fn every_profile_pair_connects_exactly_when_rfc4787_says_a_direct_path_exists() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(dir.join("basic/audio-call.yaml")).unwrap();
    let sc = Arc::new(Scenario::parse(Path::new("basic/audio-call.yaml"), &text, None).unwrap());
    let registry = impl_catalog::registry();
    let profiles = nat_profiles();
    let mut mismatches = Vec::new();
    let mut cells = 0;
    for (an, a) in &profiles {
        for (bn, b) in &profiles {
            let spec = RunSpec {
                id: format!("truth/{an}+{bn}"),
                scenario: sc.clone(),
                parties: vec![
                    PartySpec {
                        name: "caller".into(),
                        implementation: "reference".into(),
                        nat_name: an.clone(),
                        nat: a.clone(),
                    },
                    PartySpec {
                        name: "callee".into(),
                        implementation: "reference".into(),
                        nat_name: bn.clone(),
                        nat: b.clone(),
                    },
                ],
                seed: 1,
            };
            let r = run_one(&spec, &registry);
            // A firewall that admits no UDP leaves no direct path at all.
            let udp_blocked = |p: &harness::net::NatProfile| p.firewall.is_some();
            let expected = !udp_blocked(a) && !udp_blocked(b) && direct_path_exists(&a.nats, &b.nats);
            cells += 1;
            if (r.outcome == "connected") != expected {
                mismatches.push(format!(
                    "{an} -> {bn}: expected {}, got {}",
                    if expected { "connected" } else { "no path" },
                    r.outcome
                ));
            }
        }
    }
    assert!(cells >= 100, "only {cells} cells ran");
    assert!(
        mismatches.is_empty(),
        "truth table mismatches:\n{}",
        mismatches.join("\n")
    );
}
