//! Live mode's implementations: any program speaking `jingle-interop/live/1` (PROTOCOL.md beside
//! this crate) as a live party, run in its own network namespace behind the simulated network in
//! real time (the harness's `live` module carries its datagrams), and `reference-live`, the
//! reference endpoint as such a program ([`shell`]).

pub mod adapter;
pub mod program;
pub mod sdp;
pub mod shell;
pub mod webrtc_rs;

use endpoint_contract::endpoint::{Ics, ImplEntry, Registry, Renomination};
use reference::{Knobs, ReferenceEndpoint};

/// The protocol name and version, sent in `config` and echoed in `hello`.
pub const PROTOCOL: &str = "jingle-interop/live/1";

/// How `--impl` and `--peer` name a live program: `live:COMMAND`.
pub const PREFIX: &str = "live:";

/// The registered name of the reference endpoint on real sockets.
pub const REFERENCE_LIVE: &str = "reference-live";

/// The registry entry of the live program `argv` under `name`: every endpoint it makes is one
/// process in the device's namespace. Knobs go to the program in `config` as they are.
pub fn entry(name: &str, description: String, argv: Vec<String>) -> ImplEntry {
    let registered = name.to_string();
    let make_argv = argv.clone();
    ImplEntry {
        name: name.to_string(),
        description,
        // Reached only if a live entry is run outside live mode, which the harness never does.
        make: Box::new(move |_| panic!("`{}` is a live implementation: run it in live mode", argv.join(" "))),
        check_knobs: Some(|_| Ok(())),
        live: Some(Box::new(move |cfg, ctx| {
            Box::new(program::LiveProgram::start(&registered, &make_argv, cfg, ctx))
        })),
    }
}

/// Registers `reference-live`: `program` followed by `reference` must start the [`shell`] serving
/// the reference endpoint (the `reference-live` binary, or `cargo xtask live-endpoint`).
pub fn register_reference_live(registry: &mut Registry, program: Vec<String>) {
    let mut argv = program;
    argv.push("reference".into());
    registry.register(entry(
        REFERENCE_LIVE,
        format!(
            "the reference endpoint as a real program on real UDP sockets, over {PROTOCOL} (live mode, needs root)"
        ),
        argv,
    ));
}

/// Makes `name` usable: a `live:COMMAND` name is registered in `registry` (once) under its
/// registered name (the command percent-encoded, as for `external:`), which is returned; any other
/// name is returned as it is.
///
/// Errors: a command that cannot be split or is empty.
pub fn resolve(registry: &mut Registry, name: &str) -> Result<String, String> {
    if !name.starts_with(PREFIX) {
        return Ok(name.to_string());
    }
    let command = external::decode_command_with(PREFIX, name)?;
    let program = external::Program::parse(&command)?;
    let canonical = external::registered_name_with(PREFIX, &command);
    if registry.get(&canonical).is_none() {
        let description = format!(
            "live program `{}` over {PROTOCOL} (impls/live/PROTOCOL.md)",
            program.argv.join(" ")
        );
        registry.register(entry(&canonical, description, program.argv));
    }
    Ok(canonical)
}

/// Where the ICE adapters of the real stacks live (impls/live/adapters, ADAPTERS.md there).
pub const ADAPTERS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/adapters");

/// The Python the adapters run under: Debian's, where `python3-gi`, `gir1.2-nice-0.1` and
/// `python3-aioice` install (a `python3` earlier on PATH may be another one).
pub const PYTHON: &str = "/usr/bin/python3";

/// How a real stack does NOMINATION 0xC001 (draft-thatcher-ice-renomination-00).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StackRenomination {
    /// Not at all.
    No,
    /// When a scenario gives the party `nomination: c001-negotiated` or `c001-always`: its adapter
    /// gets `--support-renomination` (libnice's `support-renomination`: as the controlled agent it
    /// follows 0xC001, agent/conncheck.c `conn_check_handle_renomination`) and the party
    /// advertises `<renomination/>`.
    WhenAsked,
    /// Always, as its adapter's arguments set it up, advertising `<renomination/>` (Conversations
    /// <= 2.9.7 put "renomination" in both descriptions' ice-options).
    Always,
}

/// A real ICE stack in the matrix: a registered name, the adapter command (relative to
/// [`ADAPTERS_DIR`] for the script), the modelled profile whose signalling knobs it runs under
/// (`None`: the reference's), and a description for `cargo xtask list impls`.
struct Stack {
    name: &'static str,
    script: &'static str,
    args: &'static [&'static str],
    profile: Option<&'static str>,
    /// How it does 0xC001 renomination.
    renomination: StackRenomination,
    /// It sends media only after a DTLS-SRTP handshake (a browser): `Ics::dtls_srtp_media`.
    dtls_srtp_media: bool,
    description: &'static str,
}

/// The real stacks and the live profiles, in the order `list impls` shows them. Each source is
/// said in ADAPTERS.md.
const STACKS: &[Stack] = &[
    Stack {
        name: "libnice",
        renomination: StackRenomination::WhenAsked,
        dtls_srtp_media: false,
        script: "libnice_adapter.py",
        args: &["--nomination", "regular"],
        profile: None,
        description: "libnice 0.1 (GObject introspection), RFC 5245 compatibility, regular nomination (NICE_AGENT_OPTION_REGULAR_NOMINATION), under the reference signalling",
    },
    Stack {
        name: "libnice-aggressive",
        renomination: StackRenomination::WhenAsked,
        dtls_srtp_media: false,
        script: "libnice_adapter.py",
        args: &["--nomination", "aggressive"],
        profile: None,
        description: "libnice 0.1 as Dino sets it up (plugins/ice/src/module.vala: RFC 5245, no option flags, so aggressive nomination; ice-tcp off), under the reference signalling",
    },
    Stack {
        name: "aioice",
        renomination: StackRenomination::No,
        dtls_srtp_media: false,
        script: "aioice_adapter.py",
        args: &[],
        profile: None,
        description: "aioice (aiortc's ICE) as aiortc's RTCIceTransport drives it, under the reference signalling",
    },
    Stack {
        name: "chromium",
        script: "chromium_adapter.py",
        args: &[],
        profile: None,
        renomination: StackRenomination::No,
        dtls_srtp_media: true,
        description: "Chromium (libwebrtc) headless, an RTCPeerConnection driven over the DevTools protocol, mDNS host obfuscation off, DTLS-SRTP media, under the reference signalling",
    },
    Stack {
        name: "chromium-renomination",
        script: "chromium_adapter.py",
        args: &["--renomination"],
        profile: None,
        renomination: StackRenomination::Always,
        dtls_srtp_media: true,
        description: "Chromium with \"renomination\" in both descriptions' ice-options, as Conversations <= 2.9.7 hard-coded it: libwebrtc nominates with NOMINATION 0xC001; under the reference signalling",
    },
    Stack {
        name: "firefox",
        script: "firefox_adapter.py",
        args: &[],
        profile: None,
        renomination: StackRenomination::No,
        dtls_srtp_media: true,
        description: "Firefox ESR headless (nICEr ICE, NSS DTLS), an RTCPeerConnection driven over WebDriver BiDi, mDNS host obfuscation off, DTLS-SRTP media, under the reference signalling",
    },
    Stack {
        name: "conversations-2.9.7-live",
        renomination: StackRenomination::Always,
        dtls_srtp_media: true,
        script: "chromium_adapter.py",
        args: &["--renomination"],
        profile: Some("conversations-2.9.7"),
        description: "Conversations 2.9.7: real libwebrtc (Chromium) with \"renomination\" hard-coded in both descriptions (chromium-renomination) under the modelled `conversations-2.9.7` profile's signalling knobs",
    },
    Stack {
        name: "movim-chromium-live",
        renomination: StackRenomination::No,
        dtls_srtp_media: true,
        script: "chromium_adapter.py",
        args: &[],
        profile: Some("movim-chromium"),
        description: "Movim in Chromium: real libwebrtc (chromium) under the modelled `movim-chromium` profile's signalling knobs",
    },
    Stack {
        name: "movim-firefox-live",
        renomination: StackRenomination::No,
        dtls_srtp_media: true,
        script: "firefox_adapter.py",
        args: &[],
        profile: Some("movim-firefox"),
        description: "Movim in Firefox: real Firefox (firefox) under the modelled `movim-firefox` profile's signalling knobs",
    },
    Stack {
        name: "dino-live",
        renomination: StackRenomination::WhenAsked,
        dtls_srtp_media: false,
        script: "libnice_adapter.py",
        args: &["--nomination", "aggressive"],
        profile: Some("dino"),
        description: "Dino: real libnice as Dino sets it up (libnice-aggressive) under the signalling knobs of the modelled `dino` profile",
    },
    Stack {
        name: "gajim-live",
        renomination: StackRenomination::WhenAsked,
        dtls_srtp_media: false,
        script: "libnice_adapter.py",
        args: &["--nomination", "aggressive"],
        profile: Some("gajim"),
        description: "Gajim: real libnice with no option flags, as Farstream's nice transmitter creates it (aggressive nomination), under the signalling knobs of the modelled `gajim` profile",
    },
];

/// What a real stack under the reference signalling supports (its ICS before the knobs):
/// one component (rtcp-mux), the renomination it does (`renomination`), TURN over UDP only (the
/// live network carries UDP), no ICE restart over the adapter protocol, transaction IDs from the
/// stack's own randomness, and whether it sends media only after DTLS-SRTP (`dtls_srtp_media`).
fn stack_ics(name: &str, renomination: Renomination, dtls_srtp_media: bool) -> Ics {
    Ics {
        name: name.into(),
        jmi: true,
        trickle: true,
        rtcp_mux: true,
        renomination,
        turn_transports: vec!["udp".into()],
        ice_restart: false,
        unseeded_stun_transaction_ids: true,
        dtls_srtp_media,
        stack: None,
    }
}

/// The registry entry of a real ICE stack whose adapter is `argv` (ADAPTERS.md): a live
/// implementation whose endpoint is the reference signalling with `knobs` (then the scenario's)
/// around the adapter, doing renomination as `renomination` says; `dtls_srtp_media` for a stack
/// that sends media only after a DTLS-SRTP handshake (its ICS says so).
pub fn adapter_entry(
    name: &str,
    description: String,
    argv: Vec<String>,
    knobs: Knobs,
    renomination: StackRenomination,
    dtls_srtp_media: bool,
) -> ImplEntry {
    let registered = name.to_string();
    let shown = argv.join(" ");
    ImplEntry {
        name: name.to_string(),
        description,
        // Reached only if a live entry is run outside live mode, which the harness never does.
        make: Box::new(move |_| panic!("`{shown}` is a live implementation: run it in live mode")),
        check_knobs: Some(Knobs::check),
        live: Some(Box::new(move |cfg, ctx| {
            let mut argv = argv.clone();
            // A scenario that asks this party for 0xC001 renomination gets the stack's own
            // support for it, advertised with <renomination/> as Conversations does.
            let asks = matches!(
                cfg.knobs.get("nomination").map(String::as_str),
                Some("c001-negotiated" | "c001-always")
            );
            if asks && renomination == StackRenomination::WhenAsked {
                argv.push("--support-renomination".into());
            }
            let renomination = match renomination {
                StackRenomination::No => false,
                StackRenomination::WhenAsked => asks,
                StackRenomination::Always => true,
            };
            let ics = stack_ics(
                &registered,
                if renomination {
                    Renomination::LegacyC001
                } else {
                    Renomination::None
                },
                dtls_srtp_media,
            );
            Box::new(adapter::StackEndpoint::start(&argv, &ctx, renomination, |factory| {
                ReferenceEndpoint::with_stack(cfg, ics, &knobs, factory)
            }))
        })),
    }
}

/// The registered name of the webrtc-rs stack.
pub const WEBRTC_RS: &str = "webrtc-rs";

/// Registers `webrtc-rs`: `program` must start the webrtc-rs adapter ([`webrtc_rs`]: the
/// `webrtc-rs-adapter` binary, or `cargo xtask webrtc-rs-adapter`).
pub fn register_webrtc_rs(registry: &mut Registry, program: Vec<String>) {
    registry.register(adapter_entry(
        WEBRTC_RS,
        format!("{} (live mode, needs root)", webrtc_rs::DESCRIPTION),
        program,
        Knobs::default(),
        StackRenomination::No,
        true,
    ));
}

fn stack_of(name: &str) -> &'static Stack {
    STACKS.iter().find(|s| s.name == name).expect("a registered stack")
}

/// The adapter command of the registered stack `name`.
fn argv_of(name: &str) -> Vec<String> {
    let s = stack_of(name);
    let mut v = vec![PYTHON.to_string(), format!("{ADAPTERS_DIR}/{}", s.script)];
    v.extend(s.args.iter().map(|a| a.to_string()));
    v
}

/// Registers the real ICE stacks (`libnice`, `libnice-aggressive`, `aioice`, `chromium`,
/// `chromium-renomination`, `firefox`) and the live profiles (`conversations-2.9.7-live`,
/// `movim-chromium-live`, `movim-firefox-live`, `dino-live`, `gajim-live`), each a live
/// implementation (needs root).
///
/// Panics when a live profile names a modelled profile that does not exist (a build-time fact,
/// caught by this crate's tests).
pub fn register_stacks(registry: &mut Registry) {
    let profiles = impl_catalog::profiles();
    for s in STACKS {
        let knobs = match s.profile {
            None => Knobs::default(),
            Some(p) => profiles
                .iter()
                .find(|x| x.name == p)
                .unwrap_or_else(|| panic!("live profile {}: no profile `{p}`", s.name))
                .knobs()
                .unwrap_or_else(|e| panic!("impls/profiles/{p}.yaml: {e}")),
        };
        registry.register(adapter_entry(
            s.name,
            format!("{} (live mode, needs root)", s.description),
            argv_of(s.name),
            knobs,
            s.renomination,
            s.dtls_srtp_media,
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A browser page writes "renomination" into its own description from its `--renomination`
    /// argument, and the harness into the remote one from the stack's [`StackRenomination`]: the
    /// two must say the same, or libwebrtc would see renomination on one side only.
    #[test]
    fn sdp_stacks_write_renomination_on_both_sides_or_neither() {
        let browsers: Vec<&Stack> = STACKS
            .iter()
            .filter(|s| s.script == "chromium_adapter.py" || s.script == "firefox_adapter.py")
            .collect();
        assert!(
            browsers.len() >= 3,
            "the browser stacks are registered: {}",
            browsers.len()
        );
        for s in browsers {
            let page = s.args.contains(&"--renomination");
            let harness = s.renomination == StackRenomination::Always;
            assert_eq!(page, harness, "{}", s.name);
            assert_ne!(
                s.renomination,
                StackRenomination::WhenAsked,
                "{}: no page flag for it",
                s.name
            );
        }
    }
}
