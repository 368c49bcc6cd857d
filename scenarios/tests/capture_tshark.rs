//! The pcapng capture opens in tshark with STUN decoded and finds the nominating check (USE-CANDIDATE,
//! attribute 0x0025). Needs tshark (Debian package `tshark`): `.ci/run` installs it and runs this test
//! with `--ignored`; without tshark the test fails rather than pass on nothing.

use std::path::Path;
use std::process::Command;

use harness::conform::{spec_from_id, write_artefacts, ArtefactForm};
use harness::run::run;

#[test]
#[ignore = "needs tshark; .ci/run installs it and runs ignored tests"]
fn tshark_finds_use_candidate_checks_and_xmpp_stanzas() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let registry = impl_catalog::registry();
    let id = "basic/audio-call/reference->reference/port-restricted-cone+port-restricted-cone/seed-1";
    let spec = spec_from_id(dir, id, &registry).unwrap();
    let out = run(&spec, &registry).unwrap();
    let tmp = std::env::temp_dir().join(format!("jingle-interop-capture-{}", std::process::id()));
    let path = tmp.join("capture.pcapng");
    write_artefacts(&out, &tmp, ArtefactForm::Full).unwrap();
    let gz = tmp.join("gz");
    write_artefacts(&out, &gz, ArtefactForm::Published).unwrap();
    let count = |path: &Path, filter: &str| -> usize {
        let o = Command::new("tshark")
            .args(["-r", path.to_str().unwrap(), "-Y", filter])
            .output()
            .expect("tshark is not installed (apt-get install tshark)");
        assert!(
            o.status.success(),
            "tshark failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).lines().count()
    };
    let tshark = |filter: &str| count(&path, filter);
    let use_candidate = tshark("stun.att.type == 0x0025");
    assert!(use_candidate >= 1, "no Binding request with USE-CANDIDATE decoded");
    // The nominating check is seen at the caller, outside its NAT, outside the callee's NAT, and at the callee.
    assert_eq!(
        use_candidate % 4,
        0,
        "each nominating check appears at four observation points, got {use_candidate}"
    );
    assert!(tshark("xml") > 10, "stanzas not decoded as XML");
    assert!(
        tshark("stun.type == 0x0101") > 1,
        "no Binding success responses decoded"
    );
    // The published form (gzip) decodes to the same packets.
    let gzipped = gz.join("capture.pcapng.gz");
    assert_eq!(count(&gzipped, "stun.att.type == 0x0025"), use_candidate);
    assert_eq!(count(&gzipped, "xml"), tshark("xml"));
    let _ = std::fs::remove_dir_all(&tmp);
}
