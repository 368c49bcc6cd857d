//! The plan holds run ids and rebuilds each spec from its id when the run starts: the rebuilt spec
//! must be the one the matrix expansion made, for every run of the default suite.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use harness::conform::{plan, Selection};
use harness::scenario::{expand, MatrixSpec, Scenario};

#[test]
fn specs_rebuilt_from_run_ids_equal_the_expanded_ones() {
    let registry = impl_catalog::registry();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let sel = Selection {
        seeds: vec![1, 2],
        ..Default::default()
    };
    let p = plan(dir, &sel, &registry).unwrap();
    let names: Vec<String> = registry.entries().iter().map(|e| e.name.clone()).collect();
    let m = MatrixSpec {
        pairings: names
            .iter()
            .flat_map(|a| names.iter().map(move |b| (a.clone(), b.clone())))
            .collect(),
        nat_override: None,
        seeds: vec![1, 2],
    };
    let mut expanded = BTreeMap::new();
    for sc in Scenario::load_dir(dir).unwrap() {
        for r in expand(&Arc::new(sc), &m) {
            expanded.insert(r.id.clone(), format!("{r:?}"));
        }
    }
    assert_eq!(p.len(), expanded.len());
    assert!(p.len() > 100, "the default suite has {} runs over two seeds", p.len());
    for (i, (id, want)) in expanded.iter().enumerate() {
        assert_eq!(&p.id(i), id, "plan order is id order");
        assert_eq!(&format!("{:?}", p.spec(i)), want, "run {id}");
    }
}

/// Parties on one LAN share its NAT chain: `--nat` (or NAT lists) never labels a run with a NAT
/// one of them is not behind (issue 23).
#[test]
fn nat_override_on_a_shared_lan_applies_to_the_lan_as_one() {
    let registry = impl_catalog::registry();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let sel = Selection {
        under_test: Some("reference".into()),
        peers: vec!["reference".into()],
        nats: vec!["open".into(), "symmetric".into()],
        scenarios: vec!["basic/same-lan".into()],
        ..Default::default()
    };
    let p = plan(dir, &sel, &registry).unwrap();
    let ids: Vec<String> = (0..p.len()).map(|i| p.id(i)).collect();
    assert_eq!(
        ids,
        [
            "basic/same-lan/reference->reference/open+open/seed-1",
            "basic/same-lan/reference->reference/symmetric+symmetric/seed-1",
        ]
    );
}
