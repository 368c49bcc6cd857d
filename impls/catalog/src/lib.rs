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
