//! Live mode's implementations: any program speaking `jingle-interop/live/1` (PROTOCOL.md beside
//! this crate) as a live party, run in its own network namespace behind the simulated network in
//! real time (the harness's `live` module carries its datagrams), and `reference-live`, the
//! reference endpoint as such a program ([`shell`]).

pub mod program;
pub mod shell;

use endpoint_contract::endpoint::{ImplEntry, Registry};

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
