//! The built-in implementations, registered by name. xtask and the scenario tests use this; the
//! harness itself knows none of them. Programs outside the workspace (`--impl external:COMMAND`) are
//! registered on demand by `impls/external`, which also serves these built-ins over its protocol.

use std::collections::BTreeMap;

use harness::endpoint::{ImplEntry, Registry};
use reference::Knobs;
use serde::Deserialize;

/// The profile files (`impls/profiles/*.yaml`), compiled in so every build knows the same set.
const PROFILES: &[(&str, &str)] = &[
    ("asterisk-2021", include_str!("../../profiles/asterisk-2021.yaml")),
    (
        "asterisk-jmp-patched",
        include_str!("../../profiles/asterisk-jmp-patched.yaml"),
    ),
    ("conversations", include_str!("../../profiles/conversations.yaml")),
    (
        "conversations-2.9.7",
        include_str!("../../profiles/conversations-2.9.7.yaml"),
    ),
    ("dino", include_str!("../../profiles/dino.yaml")),
    ("gajim", include_str!("../../profiles/gajim.yaml")),
    ("movim-chromium", include_str!("../../profiles/movim-chromium.yaml")),
    ("movim-firefox", include_str!("../../profiles/movim-firefox.yaml")),
];

/// An implementation profile: the reference endpoint with knobs, and where each knob comes from.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Profile {
    /// Registered name; must equal the file name.
    pub name: String,
    /// One line for `cargo xtask list impls`.
    pub description: String,
    /// Knob settings (see impls/profiles/README.md).
    #[serde(default)]
    pub knobs: BTreeMap<String, KnobValue>,
    /// For each knob, where the behaviour is documented.
    pub sources: BTreeMap<String, String>,
    /// Documented behaviours of the client this profile does not reproduce yet.
    #[serde(default)]
    pub not_yet_modelled: Vec<String>,
}

/// A knob value as written in a profile: the scenario files' type (string, boolean or number), so
/// `check-max-sends: 7` needs no quotes in either.
pub use harness::scenario::KnobValue;

impl Profile {
    /// The typed knobs.
    ///
    /// Errors: an unknown knob or value ([`Knobs::apply`]).
    pub fn knobs(&self) -> Result<Knobs, String> {
        let mut k = Knobs::default();
        for (name, v) in &self.knobs {
            k.apply(name, &v.to_string())?;
        }
        Ok(k)
    }
}

/// The built-in profiles, parsed and checked.
///
/// Panics with the file name when a built-in profile is malformed (a build-time fact, caught by the
/// catalog's tests).
pub fn profiles() -> Vec<Profile> {
    PROFILES
        .iter()
        .map(|(file, text)| {
            let p: Profile =
                serde_yaml_ng::from_str(text).unwrap_or_else(|e| panic!("impls/profiles/{file}.yaml: {e}"));
            assert_eq!(
                &p.name, file,
                "impls/profiles/{file}.yaml: name must equal the file name"
            );
            p
        })
        .collect()
}

/// Every built-in implementation, in the order reports list them: `reference`, the independent ICE
/// stacks under its signalling (`rtc-ice`, `str0m`), then the profiles.
pub fn registry() -> Registry {
    let mut r = Registry::new();
    r.register(ImplEntry {
        name: "reference".into(),
        description: "conforming reference endpoint: JMI 0.8, Jingle RTP, ICE-UDP (RFC 8445 regular nomination), DTLS fingerprint, TURN client".into(),
        make: Box::new(|cfg| {
            Box::new(reference::ReferenceEndpoint::with_knobs(cfg, "reference", &Knobs::default()))
        }),
        check_knobs: Some(Knobs::check),
        live: None,
    });
    // ICE stacks nobody here wrote, under the reference signalling; the scenario's knobs shape the
    // signalling only.
    r.register(ImplEntry {
        name: impl_rtc_ice::NAME.into(),
        description: format!(
            "{} (webrtc-rs) as the ICE agent under the reference signalling: regular nomination only, the controlled side keeps the first nomination, all pairs checked on a 200 ms tick, Failed after 30 s",
            impl_rtc_ice::STACK_VERSION
        ),
        make: Box::new(|cfg| {
            Box::new(reference::ReferenceEndpoint::with_driver(cfg, impl_rtc_ice::ics(), impl_rtc_ice::factory))
        }),
        check_knobs: Some(Knobs::check),
        live: None,
    });
    r.register(ImplEntry {
        name: impl_str0m::NAME.into(),
        description: format!(
            "{} as the ICE agent under the reference signalling: nominates with USE-CANDIDATE on every check and moves to a better pair, Ta 50 ms, no Failed state",
            impl_str0m::STACK_VERSION
        ),
        make: Box::new(|cfg| {
            Box::new(reference::ReferenceEndpoint::with_driver(cfg, impl_str0m::ics(), impl_str0m::factory))
        }),
        check_knobs: Some(Knobs::check),
        live: None,
    });
    for p in profiles() {
        let knobs = p
            .knobs()
            .unwrap_or_else(|e| panic!("impls/profiles/{}.yaml: {e}", p.name));
        let name = p.name.clone();
        r.register(ImplEntry {
            name: p.name.clone(),
            description: p.description.clone(),
            make: Box::new(move |cfg| Box::new(reference::ReferenceEndpoint::with_knobs(cfg, &name, &knobs))),
            check_knobs: Some(Knobs::check),
            live: None,
        });
    }
    r
}

#[cfg(test)]
mod tests {
    #[test]
    fn bare_numbers_in_a_profile_reach_the_knobs() {
        let p = super::profiles()
            .into_iter()
            .find(|p| p.name == "asterisk-2021")
            .unwrap();
        assert!(matches!(p.knobs["check-max-sends"], super::KnobValue::Num(_)));
        let k = p.knobs().unwrap();
        assert_eq!((k.check_max_sends, k.check_interval_ms), (7, Some(1000)));
    }

    #[test]
    fn every_profile_file_is_compiled_in() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../profiles");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| {
                let p = e.unwrap().path();
                (p.extension()? == "yaml").then(|| p.file_stem().unwrap().to_string_lossy().into_owned())
            })
            .collect();
        on_disk.sort();
        let compiled: Vec<String> = super::PROFILES.iter().map(|(n, _)| n.to_string()).collect();
        assert_eq!(on_disk, compiled, "add new profile files to PROFILES (sorted)");
    }

    #[test]
    fn every_profile_cites_a_source_for_each_knob_it_sets() {
        for p in super::profiles() {
            assert!(!p.knobs.is_empty(), "{} sets no knob", p.name);
            for knob in p.knobs.keys() {
                assert!(p.sources.contains_key(knob), "{}: no source for `{knob}`", p.name);
            }
            p.knobs().unwrap();
        }
    }

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
                knobs: Default::default(),
                live: false,
            });
            assert_eq!(ep.ics().name, e.name);
        }
    }
}
