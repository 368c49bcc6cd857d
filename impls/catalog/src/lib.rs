//! The built-in implementations, registered by name. xtask and the scenario tests use this; the
//! harness itself knows none of them.

use harness::endpoint::{ImplEntry, Registry};

/// Every built-in implementation, in the order reports list them.
pub fn registry() -> Registry {
    let mut r = Registry::new();
    r.register(ImplEntry {
        name: "reference".into(),
        description: "conforming reference endpoint: JMI 0.8, Jingle RTP, ICE-UDP (RFC 8445 regular nomination), DTLS fingerprint".into(),
        make: Box::new(|cfg| Box::new(reference::ReferenceEndpoint::new(cfg))),
    });
    r
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_registered_name_is_unique_and_makes_an_endpoint_that_says_its_name() {
        let r = super::registry();
        let mut names: Vec<_> = r.entries().iter().map(|e| e.name.clone()).collect();
        assert!(names.contains(&"reference".to_string()));
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n);
        for e in r.entries() {
            let ep = (e.make)(harness::endpoint::EndpointConfig {
                party: "p".into(),
                jid: "p@example.org/d".into(),
                server: "example.org".into(),
                interfaces: vec!["10.0.0.2".parse().unwrap()],
                rng: harness::sim::SimRng::derive(1, "t"),
            });
            assert_eq!(ep.ics().name, e.name);
        }
    }
}
