//! `reference-live [NAME]`: a built-in implementation (default `reference`; any name of `cargo
//! xtask list impls` that is simulated, so profiles too) as a real network program speaking
//! `jingle-interop/live/1` on stdin and stdout (impls/live/PROTOCOL.md), with real UDP sockets and
//! the real clock. The harness starts it inside a live party's namespace.
//!
//! Exit status: 0 when stdin ends, 2 on a bad argument or a line that is not the protocol (the
//! reason on stderr).

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let name = match args.as_slice() {
        [] => "reference".to_string(),
        [n] if !n.starts_with('-') => n.clone(),
        _ => {
            eprintln!("usage: reference-live [NAME]   (NAME: a built-in implementation, default reference)");
            return ExitCode::from(2);
        }
    };
    match live::shell::serve(&name, &impl_catalog::registry()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("reference-live: {e}");
            ExitCode::from(2)
        }
    }
}
