//! The connectivity truth table: for every pair of built-in NAT profiles, with and without TURN,
//! whether a call connects and over which kind of path, derived from RFC 4787 behaviours and run
//! cell by cell through the simulator with the reference endpoint on both sides.
//!
//! Rule (from the mapping and filtering behaviours of RFC 4787 §4.1 and §5, REQ-1 and REQ-8): a
//! side whose mapping is not endpoint-independent sends its checks from a port the peer never
//! advertised; they pass the peer's NAT only if its filtering is not address-and-port-dependent. A
//! firewall that admits no UDP leaves no direct path at all. Without a direct path the call needs
//! TURN, which every profile reaches (UDP, or TLS on 443 behind a UDP-blocking firewall); with TURN
//! offered, ICE still prefers a direct path when one exists.
//!
//! The same rule renders `docs/nat-truth-table.md`; the test fails when that file is stale.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use harness::conform::run_one;
use harness::net::nat::{FilteringBehaviour, MappingBehaviour, NatBehaviour};
use harness::net::{nat_profiles, NatProfile};
use harness::scenario::{PartySpec, RunSpec, Scenario};

fn effective(nats: &[NatBehaviour]) -> (bool, bool) {
    // (endpoint-independent mapping through the whole chain, APDF anywhere on the chain)
    let eim = nats.iter().all(|n| n.mapping == MappingBehaviour::EndpointIndependent);
    let apdf = nats
        .iter()
        .any(|n| n.filtering == FilteringBehaviour::AddressAndPortDependent);
    (eim, apdf)
}

/// Whether a direct (non-relayed) path exists between two sites.
fn direct_path_exists(a: &NatProfile, b: &NatProfile) -> bool {
    // The only firewall profile passes no UDP at all.
    if a.firewall.is_some() || b.firewall.is_some() {
        return false;
    }
    let (a_eim, a_apdf) = effective(&a.nats);
    let (b_eim, b_apdf) = effective(&b.nats);
    // A side with a fresh port per destination is only reachable through a filter that ignores ports.
    (a_eim || !b_apdf) && (b_eim || !a_apdf)
}

/// What a cell shows: `direct`, `relay` or `none`.
fn expected(a: &NatProfile, b: &NatProfile, turn: bool) -> &'static str {
    match (direct_path_exists(a, b), turn) {
        (true, _) => "direct",
        (false, true) => "relay",
        (false, false) => "none",
    }
}

fn render(profiles: &BTreeMap<String, NatProfile>) -> String {
    let mut s = String::from(
        "# NAT connectivity truth table\n\n\
         Generated from the rule in `scenarios/tests/nat_truth_table.rs` (RFC 4787 mapping and filtering,\n\
         §4.1 and §5); that test runs every cell through the simulator and fails when this file is\n\
         stale. Rows are the caller's profile, columns the callee's. Each cell reads `without TURN / with\n\
         TURN`: `direct` = connects on host, server-reflexive or peer-reflexive candidates; `relay` =\n\
         connects only through a TURN relay; `none` = no path, the call fails.\n\n\
         Why: a side whose mapping is not endpoint-independent sends its checks from a port the peer never\n\
         saw; a peer with address-and-port-dependent filtering drops them. `udp-blocked` passes no UDP, so it\n\
         is reachable only through TURN over TLS on 443.\n\n",
    );
    let names: Vec<&String> = profiles.keys().collect();
    s += "| caller \\ callee |";
    for n in &names {
        s += &format!(" {n} |");
    }
    s += "\n|---|";
    for _ in &names {
        s += "---|";
    }
    s += "\n";
    for a in &names {
        s += &format!("| **{a}** |");
        for b in &names {
            let (pa, pb) = (&profiles[*a], &profiles[*b]);
            s += &format!(" {} / {} |", expected(pa, pb, false), expected(pa, pb, true));
        }
        s += "\n";
    }
    s
}

#[test]
fn the_documented_truth_table_is_current() {
    let doc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/nat-truth-table.md");
    let want = render(&nat_profiles());
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&doc, &want).unwrap();
    }
    let have = std::fs::read_to_string(&doc).unwrap_or_default();
    assert!(
        have == want,
        "docs/nat-truth-table.md is stale; regenerate with UPDATE_DOCS=1 cargo test -p scenarios --test nat_truth_table"
    );
}

#[test]
fn every_profile_pair_connects_exactly_as_the_truth_table_says_with_and_without_turn() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(dir.join("basic/audio-call.yaml")).unwrap();
    let base = Scenario::parse(Path::new("basic/audio-call.yaml"), &text, None).unwrap();
    let registry = impl_catalog::registry();
    let profiles = nat_profiles();
    let mut mismatches = Vec::new();
    let mut cells = 0;
    for turn in [false, true] {
        let mut sc = base.clone();
        sc.servers.turn.enabled = turn;
        let sc = Arc::new(sc);
        for (an, a) in &profiles {
            for (bn, b) in &profiles {
                let party = |name: &str, nat_name: &str, nat: &NatProfile| PartySpec {
                    name: name.into(),
                    implementation: "reference".into(),
                    nat_name: nat_name.into(),
                    nat: nat.clone(),
                    knobs: Default::default(),
                    lan: None,
                    signalling_latency: None,
                };
                let spec = RunSpec {
                    id: format!("truth/{an}+{bn}/turn-{turn}"),
                    scenario: sc.clone(),
                    parties: vec![party("caller", an, a), party("callee", bn, b)],
                    seed: 1,
                };
                let r = run_one(&spec, &registry);
                let got = match (&r.outcome[..], &r.selected_pair) {
                    ("connected", Some(p)) => {
                        let types = [&p.caller.local, &p.caller.remote, &p.callee.local, &p.callee.remote];
                        if types.iter().any(|t| *t == "relay") {
                            "relay"
                        } else {
                            "direct"
                        }
                    }
                    ("connected", None) => "connected without a selected pair",
                    _ => "none",
                };
                let want = expected(a, b, turn);
                cells += 1;
                if got != want {
                    mismatches.push(format!(
                        "{an} -> {bn} (TURN {}): expected {want}, got {got} ({})",
                        if turn { "on" } else { "off" },
                        r.outcome
                    ));
                }
            }
        }
    }
    assert!(cells >= 200, "only {cells} cells ran");
    assert!(
        mismatches.is_empty(),
        "truth table mismatches:\n{}",
        mismatches.join("\n")
    );
}
