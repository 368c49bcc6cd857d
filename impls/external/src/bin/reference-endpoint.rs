//! `reference-endpoint [NAME]`: a built-in implementation (default `reference`; any name of
//! `cargo xtask list impls`, so profiles too) served over the endpoint protocol
//! `jingle-interop/endpoint/1` on stdin and stdout (impls/external/PROTOCOL.md).
//!
//! It builds the endpoint exactly as the catalog does in-process, with the random stream the
//! `config` line carries, so a run through `--impl external:'reference-endpoint NAME'` has the trace
//! hash of the same run with `NAME` in-process.
//!
//! Exit status: 0 when stdin ends, 2 on a bad argument or a line that is not the protocol (the
//! reason on stderr).

use std::io::{BufRead, Write};
use std::process::ExitCode;

use external::protocol::{FromProcess, IcsDecl, ToProcess, PROTOCOL};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let name = match args.as_slice() {
        [] => "reference".to_string(),
        [n] if !n.starts_with('-') => n.clone(),
        _ => {
            eprintln!("usage: reference-endpoint [NAME]   (NAME: a built-in implementation, default reference)");
            return ExitCode::from(2);
        }
    };
    match serve(&name, std::io::stdin().lock(), std::io::stdout().lock()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("reference-endpoint: {e}");
            ExitCode::from(2)
        }
    }
}

/// Serves implementation `name` until `input` ends.
///
/// Errors: an unknown name, bad knobs, a line that is not the protocol, or an I/O error.
fn serve(name: &str, input: impl BufRead, mut out: impl Write) -> Result<(), String> {
    let registry = impl_catalog::registry();
    let entry = registry.get(name).ok_or_else(|| {
        let known: Vec<_> = registry.entries().iter().map(|e| e.name.as_str()).collect();
        format!("unknown implementation `{name}` (known: {})", known.join(", "))
    })?;
    let mut lines = input.lines();
    let first = lines
        .next()
        .ok_or("stdin ended before the config line")?
        .map_err(|e| e.to_string())?;
    let config = match serde_json::from_str::<ToProcess>(&first) {
        Ok(ToProcess::Config(c)) => c,
        Ok(other) => return Err(format!("the first line is {}, not config", other.kind())),
        Err(e) => return Err(format!("the first line is not a config line: {e}")),
    };
    let cfg = config.into_endpoint_config()?;
    if let Some(check) = entry.check_knobs {
        check(&cfg.knobs)?;
    }
    let mut ep = (entry.make)(cfg);
    let hello = FromProcess::Hello {
        protocol: PROTOCOL.to_string(),
        ics: IcsDecl::from_ics(ep.ics()),
    };
    write_line(&mut out, &hello)?;
    finish(&mut out, ep.poll_timeout())?;
    for line in lines {
        let line = line.map_err(|e| e.to_string())?;
        let msg: ToProcess = serde_json::from_str(&line).map_err(|e| format!("not a protocol line ({e}): {line}"))?;
        let kind = msg.kind();
        let Some((now, input)) = msg.into_input()? else {
            return Err(format!("a second {kind} line"));
        };
        ep.handle_input(now, input);
        while let Some(o) = ep.poll_output() {
            if let Some(m) = FromProcess::from_output(&o) {
                write_line(&mut out, &m)?;
            }
        }
        finish(&mut out, ep.poll_timeout())?;
    }
    Ok(())
}

fn write_line(out: &mut impl Write, m: &FromProcess) -> Result<(), String> {
    serde_json::to_writer(&mut *out, m).map_err(|e| e.to_string())?;
    out.write_all(b"\n").map_err(|e| e.to_string())
}

/// Ends an answer with `done` and flushes it: the harness reads nothing until then.
fn finish(out: &mut impl Write, next: Option<endpoint_contract::SimTime>) -> Result<(), String> {
    write_line(
        out,
        &FromProcess::Done {
            next_timeout_us: next.map(|t| t.as_micros()),
        },
    )?;
    out.flush().map_err(|e| e.to_string())
}
