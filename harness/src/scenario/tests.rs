use super::*;

const GOOD: &str = "id: t/x
title: a call
parties:
  caller: {impl: $under_test, nat: port-restricted-cone}
  callee: {impl: $peer, nat: [open, symmetric]}
network:
  signalling: {latency: 80ms}
  media: {latency: 40ms, loss: 1%}
script:
  - {at: 0s, caller: call, to: callee, media: [audio]}
  - {at: 3s, callee: answer}
  - {at: 20s, caller: hangup}
expect:
  outcome: connected
";

#[test]
fn parses_and_expands_lists_and_pairings() {
    let sc = Arc::new(Scenario::parse(Path::new("t/x.yaml"), GOOD, Some("t/x")).unwrap());
    assert_eq!(sc.network.media.latency, Some(Duration::from_millis(40)));
    assert_eq!(sc.network.media.loss, Some(super::LossSetting::Rate(0.01)));
    assert_eq!(
        sc.script[1],
        Step {
            at: Duration::from_secs(3),
            party: "callee".into(),
            device: 1,
            action: Action::Answer
        }
    );
    let m = MatrixSpec {
        pairings: vec![("a".into(), "b".into()), ("b".into(), "a".into())],
        nat_override: None,
        seeds: vec![1, 2],
    };
    let runs = expand(&sc, &m);
    assert_eq!(runs.len(), 2 * 2 * 2);
    assert!(runs
        .iter()
        .any(|r| r.id == "t/x/a->b/port-restricted-cone+symmetric/seed-2"));
    assert_eq!(sc.deadline(), Duration::from_secs(30));
}

#[test]
fn unknown_key_names_file_line_column_and_path() {
    let text = GOOD.replace(
        "media: {latency: 40ms, loss: 1%}",
        "media: {latency: 40ms, lattency: 1ms}",
    );
    assert_located(&text, "network.media.lattency", 8, "unknown field `lattency`");
}

/// `text` fails to parse as `t/x.yaml` with an error at `path` on `line` (with a column) whose message
/// contains `message`, displayed as `t/x.yaml:LINE:COLUMN: PATH: MESSAGE`.
fn assert_located(text: &str, path: &str, line: usize, message: &str) {
    let e = Scenario::parse(Path::new("t/x.yaml"), text, None).unwrap_err();
    assert_eq!((e.path.as_deref(), e.line), (Some(path), Some(line)), "{e}");
    assert!(e.column.is_some(), "{e}");
    assert!(e.message.contains(message), "{e}");
    assert!(e.to_string().starts_with(&format!("t/x.yaml:{line}:")), "{e}");
}

#[test]
fn unknown_nat_profile_and_bad_duration_are_errors() {
    let e = Scenario::parse(
        Path::new("x.yaml"),
        &GOOD.replace("nat: [open, symmetric]", "nat: moon"),
        None,
    )
    .unwrap_err();
    assert_eq!(e.path.as_deref(), Some("parties.callee.nat"));
    let e = Scenario::parse(Path::new("x.yaml"), &GOOD.replace("latency: 80ms", "latency: 80"), None).unwrap_err();
    assert_eq!(e.path.as_deref(), Some("network.signalling.latency"));
    assert!(e.message.contains("needs a unit"), "{e}");
}

#[test]
fn durations() {
    assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
    assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
    assert!(parse_duration("fast").is_err());
    assert!(parse_percent("150%").is_err());
}

#[test]
fn impairments_burst_loss_bandwidth_and_network_steps_parse() {
    let text = GOOD
        .replace(
            "media: {latency: 40ms, loss: 1%}",
            "media: {latency: 40ms, loss: {model: gilbert-elliott, p: 1%, r: 25%}, duplicate: 0.5%, \
             reorder: 2%, reorder-delay: 30ms, bandwidth: 256kbit}",
        )
        .replace(
            "  - {at: 20s, caller: hangup}",
            "  - {at: 8s, caller: link-down}\n  - {at: 9s, caller: link-up}\n  \
             - {at: 10s, callee: switch-interface, nat: cgnat}\n  - {at: 20s, caller: hangup}",
        );
    let sc = Scenario::parse(Path::new("t/x.yaml"), &text, None).unwrap();
    let link = sc.network.media.per_link();
    assert_eq!(link.latency, Duration::from_millis(20));
    assert_eq!(
        link.loss,
        crate::net::LossModel::GilbertElliott {
            p: 0.01,
            r: 0.25,
            loss_good: 0.0,
            loss_bad: 1.0
        }
    );
    assert_eq!((link.duplicate, link.reorder), (0.005, 0.02));
    assert_eq!(link.reorder_delay, Duration::from_millis(30));
    assert_eq!(link.bandwidth_bps, Some(256_000));
    assert_eq!(sc.script[2].action, Action::LinkDown);
    assert_eq!(sc.script[4].action, Action::SwitchInterface { nat: "cgnat".into() });

    let e = Scenario::parse(
        Path::new("x.yaml"),
        &text.replace("model: gilbert-elliott", "model: markov"),
        None,
    )
    .unwrap_err();
    assert_eq!(e.path.as_deref(), Some("network.media.loss"));
    assert!(e.message.contains("unknown variant `markov`"), "{e}");
    let e = Scenario::parse(Path::new("x.yaml"), &text.replace("256kbit", "fast"), None).unwrap_err();
    assert_eq!(e.path.as_deref(), Some("network.media.bandwidth"));
    let e = Scenario::parse(Path::new("x.yaml"), &text.replace("nat: cgnat", "nat: moon"), None).unwrap_err();
    assert_eq!(e.path.as_deref(), Some("script[4].nat"));
}

#[test]
fn devices_and_step_devices_parse_and_default_to_one() {
    let sc = Scenario::parse(Path::new("t/x.yaml"), GOOD, None).unwrap();
    assert!(sc.parties.values().all(|p| p.devices == 1));
    assert!(sc.script.iter().all(|s| s.device == 1));
    assert!(sc.servers.xmpp.carbons);
    let text = GOOD
        .replace(
            "callee: {impl: $peer, nat: [open, symmetric]}",
            "callee: {impl: $peer, nat: open, devices: 2}",
        )
        .replace("{at: 3s, callee: answer}", "{at: 3s, callee: answer, device: 2}");
    let sc = Arc::new(Scenario::parse(Path::new("t/x.yaml"), &text, None).unwrap());
    assert_eq!(sc.parties["callee"].devices, 2);
    assert_eq!((sc.script[1].party.as_str(), sc.script[1].device), ("callee", 2));
    let m = MatrixSpec {
        pairings: vec![("a".into(), "b".into())],
        nat_override: None,
        seeds: vec![1],
    };
    let runs = expand(&sc, &m);
    assert_eq!((runs[0].devices("callee"), runs[0].devices("caller")), (2, 1));
}

#[test]
fn device_counts_out_of_range_name_file_line_column_and_key() {
    let text = GOOD.replace(
        "callee: {impl: $peer, nat: [open, symmetric]}",
        "callee: {impl: $peer, nat: open, devices: 5}",
    );
    assert_located(&text, "parties.callee.devices", 5, "`devices` takes 1 to 4, not `5`");
    assert_located(
        &text.replace("devices: 5", "devices: 0"),
        "parties.callee.devices",
        5,
        "`devices` takes 1 to 4, not `0`",
    );
    let text = GOOD.replace("{at: 3s, callee: answer}", "{at: 3s, callee: answer, device: 9}");
    assert_located(&text, "script[1].device", 11, "`device` takes 1 to 4, not `9`");

    // In range, but the party has fewer devices.
    let text = GOOD.replace("{at: 3s, callee: answer}", "{at: 3s, callee: answer, device: 2}");
    let e = Scenario::parse(Path::new("t/x.yaml"), &text, None).unwrap_err();
    assert_eq!(e.path.as_deref(), Some("script[1].device"));
    assert!(
        e.message
            .contains("party `callee` has 1 device(s), so there is no device 2"),
        "{e}"
    );
}

#[test]
fn a_partys_signalling_latency_is_written_in_kebab_case_as_documented() {
    let text = GOOD.replace(
        "callee: {impl: $peer, nat: [open, symmetric]}",
        "callee: {impl: $peer, nat: [open, symmetric], signalling-latency: 700ms}",
    );
    let sc = Scenario::parse(Path::new("t/x.yaml"), &text, Some("t/x")).unwrap();
    assert_eq!(
        sc.parties["callee"].signalling_latency,
        Some(Duration::from_millis(700))
    );
    assert_eq!(sc.parties["caller"].signalling_latency, None);
    let snake = GOOD.replace(
        "callee: {impl: $peer, nat: [open, symmetric]}",
        "callee: {impl: $peer, nat: [open, symmetric], signalling_latency: 700ms}",
    );
    assert!(Scenario::parse(Path::new("t/x.yaml"), &snake, Some("t/x")).is_err());
}

#[test]
fn semantic_errors_point_at_their_line_too() {
    // (text, key path, line, message): each error a valid YAML file can still have.
    let cases = [
        (
            GOOD.replace("nat: [open, symmetric]", "nat: moon"),
            "parties.callee.nat",
            5,
            "unknown NAT profile",
        ),
        (
            GOOD.replace("{at: 3s, callee: answer}", "{at: 3s, bob: answer}"),
            "script[1].bob",
            11,
            "no party named `bob`",
        ),
        (
            GOOD.replace("{at: 3s, callee: answer}", "{at: 30s, callee: answer}"),
            "script[2].at",
            12,
            "time order",
        ),
        (
            GOOD.replace("to: callee", "to: carol"),
            "script[0].to",
            10,
            "no party named `carol`",
        ),
        (format!("{GOOD}settle: -5s\n"), "settle", 15, "not a duration"),
        (
            GOOD.replace("outcome: connected", "outcome: maybe"),
            "expect.outcome",
            14,
            "unknown variant `maybe`",
        ),
    ];
    for (text, path, line, message) in cases {
        assert_located(&text, path, line, message);
    }
    let e = Scenario::parse(Path::new("t/x.yaml"), GOOD, Some("t/other")).unwrap_err();
    assert_eq!(
        (e.path.as_deref(), e.line, e.column),
        (Some("id"), Some(1), Some(1)),
        "{e}"
    );
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    /// The scenario library's texts, with their ids.
    fn library() -> &'static [(String, String)] {
        static LIB: std::sync::OnceLock<Vec<(String, String)>> = std::sync::OnceLock::new();
        LIB.get_or_init(|| {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
            let mut files = Vec::new();
            collect_yaml(&dir, &mut files).unwrap();
            files.sort();
            files
                .iter()
                .map(|f| {
                    let id = f
                        .strip_prefix(&dir)
                        .unwrap()
                        .with_extension("")
                        .to_string_lossy()
                        .into_owned();
                    (id, std::fs::read_to_string(f).unwrap())
                })
                .collect()
        })
    }

    /// Tokens a user mistypes into a scenario.
    const JUNK: &[&str] = &[
        "-5s", "moon", "[]", "{}", "\"\"", "7", "true", "bob", "$peer", "null", "1%", "- x", ": :", "{at: 1s}", "[a, b",
    ];

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        /// Random edits of the library's files: the loader never panics, and every error it gives
        /// names a line and column.
        #[test]
        fn mutated_scenarios_load_or_fail_with_a_position(
            file in any::<prop::sample::Index>(),
            line in any::<prop::sample::Index>(),
            junk in any::<prop::sample::Index>(),
            how in 0u8..4,
        ) {
            let lib = library();
            let (id, text) = &lib[file.index(lib.len())];
            let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
            let i = line.index(lines.len());
            let j = JUNK[junk.index(JUNK.len())];
            match how {
                // A value replaced.
                0 => {
                    if let Some(c) = lines[i].rfind(": ") {
                        lines[i] = format!("{}: {j}", &lines[i][..c]);
                    }
                }
                // A line dropped.
                1 => {
                    lines.remove(i);
                }
                // A line duplicated.
                2 => {
                    let l = lines[i].clone();
                    lines.insert(i, l);
                }
                // A stray key.
                _ => lines.insert(i, format!("junk: {j}")),
            }
            let text = lines.join("\n") + "\n";
            if let Err(e) = Scenario::parse(Path::new("x.yaml"), &text, Some(id)) {
                prop_assert!(e.line.is_some() && e.column.is_some(), "no position: {e}\n{text}");
            }
        }
    }
}
