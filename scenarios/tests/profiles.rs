//! A profile's notes say what its runs show: the refusals every profile takes from the reference
//! (Conversations' security-error texts) are listed as not modelled for every client but
//! Conversations, and the runs show exactly those texts (issue 23).

use std::path::Path;

use harness::trace::{Dir, TraceKind};
use harness::xml::ns;

/// The `<text/>` of the session-terminate the callee of `id` sent.
fn terminate_text(id: &str) -> Option<String> {
    let registry = impl_catalog::registry();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let spec = harness::conform::spec_from_id(dir, id, &registry).unwrap();
    let out = harness::run::run(&spec, &registry).unwrap();
    out.trace.events.iter().find_map(|e| match &e.kind {
        TraceKind::Stanza {
            party,
            dir: Dir::Tx,
            element,
            ..
        } if party == "callee" => {
            let j = element.get_child("jingle", ns::JINGLE)?;
            (j.attr("action") == Some("session-terminate")).then(|| {
                j.get_child("reason", ns::JINGLE)
                    .and_then(|r| r.get_child("text", ns::JINGLE))
                    .map(|t| t.text())
                    .unwrap_or_default()
            })
        }
        _ => None,
    })
}

#[test]
fn the_dtls_and_media_match_refusals_are_documented_where_they_are_not_the_client_s() {
    for p in impl_catalog::profiles() {
        let text = terminate_text(&format!(
            "jingle/no-fingerprint-security-error/reference->{}/port-restricted-cone+port-restricted-cone/seed-1",
            p.name
        ));
        assert_eq!(
            text.as_deref(),
            Some("Use of DTLS-SRTP (XEP-0320) is required for content audio"),
            "{}",
            p.name
        );
        let listed = p
            .not_yet_modelled
            .iter()
            .any(|n| n.contains("DTLS fingerprint") && n.contains("other media than the propose"));
        if p.name.starts_with("conversations") {
            assert!(!listed, "{}: Conversations' own refusal is modelled, not a gap", p.name);
        } else {
            assert!(
                listed,
                "{}: refuses with Conversations' text without saying it is not its own",
                p.name
            );
        }
    }
}
