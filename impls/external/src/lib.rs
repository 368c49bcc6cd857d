//! Any program that speaks the JSON-lines endpoint protocol `jingle-interop/endpoint/1` on its
//! stdin and stdout (PROTOCOL.md beside this crate) as an [`Endpoint`], so implementations in any
//! language run in the simulator.
//!
//! The exchange is lock-step: each input is one line to the process, and the harness waits for
//! the answer (outputs, then `done` with the next timeout) before simulated time moves on, so a run
//! through a process is as deterministic as the process. The one wall clock here is outside the
//! simulation: a process that does not finish an answer within [`Program::step_limit`] is killed.
//! A process that fails — cannot be started, exits, hangs, or writes a line that is not the
//! protocol — is recorded as one [`Output::Fault`] (a violation in the trace, with the line as
//! evidence), and the endpoint is silent from then on; the run and the rest of the matrix go on.

pub mod protocol;

use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use endpoint_contract::endpoint::{Endpoint, EndpointConfig, Ics, ImplEntry, Input, Output, Registry};
use endpoint_contract::SimTime;

use protocol::{Config, FromProcess, IcsDecl, ToProcess, PROTOCOL};

/// How `--impl` and `--peer` name an external program: `external:COMMAND`.
pub const PREFIX: &str = "external:";

/// Wall-clock time a process has for one answer (and for starting and answering `config`) before
/// it is taken as hung and killed.
pub const DEFAULT_STEP_LIMIT: Duration = Duration::from_secs(10);

/// The longest line a process may write, in bytes; a longer one is a protocol violation (it keeps a
/// runaway writer from exhausting memory).
pub const MAX_LINE: usize = 1 << 20;

/// The longest excerpt of an offending line quoted in a violation, in bytes.
const EVIDENCE: usize = 400;

/// A program to run as an endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    /// The program and its arguments; one process per endpoint (per device of a party).
    pub argv: Vec<String>,
    /// Wall-clock time for one answer, see [`DEFAULT_STEP_LIMIT`].
    pub step_limit: Duration,
}

impl Program {
    /// A command line split as a POSIX shell splits words (quotes and backslashes; no expansion),
    /// with the default step limit.
    ///
    /// Errors: unbalanced quotes, or no program.
    pub fn parse(command: &str) -> Result<Program, String> {
        let argv = shlex::split(command).ok_or_else(|| format!("cannot split `{command}`: unbalanced quotes"))?;
        if argv.is_empty() {
            return Err("`external:` needs a command, e.g. external:'path/to/binary args'".into());
        }
        Ok(Program {
            argv,
            step_limit: DEFAULT_STEP_LIMIT,
        })
    }
}

/// The registered name of `external:COMMAND`: the prefix and the command with every byte outside
/// `A-Z a-z 0-9 - . _ ~ : @ , = +` written `%XX` (RFC 3986 percent-encoding), so the name can
/// stand in a run id (`SCENARIO/A->B/NATS/seed-N`), a folder name and a single-quoted replay
/// command. [`decode_command`] reverses it.
pub fn registered_name(command: &str) -> String {
    registered_name_with(PREFIX, command)
}

/// [`registered_name`] under another prefix (`live:` for impls/live).
pub fn registered_name_with(prefix: &str, command: &str) -> String {
    let mut s = String::from(prefix);
    for &b in command.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:@,=+".contains(&b) {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

/// The command of `external:TEXT` with `%XX` escapes decoded; TEXT may be the command as typed
/// or as [`registered_name`] wrote it (a command containing `%` must write it `%25`).
///
/// Errors: a name without the prefix, a bad escape, or text that is not UTF-8.
pub fn decode_command(name: &str) -> Result<String, String> {
    decode_command_with(PREFIX, name)
}

/// [`decode_command`] under another prefix (`live:` for impls/live).
///
/// Errors: as [`decode_command`].
pub fn decode_command_with(prefix: &str, name: &str) -> Result<String, String> {
    let text = name
        .strip_prefix(prefix)
        .ok_or_else(|| format!("`{name}` does not start with `{prefix}`"))?;
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("`{name}`: `%` must start an escape %XX (write `%25` for `%`)"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("`{name}`: escapes do not decode to UTF-8"))
}

/// Makes `name` usable: an `external:COMMAND` name is registered in `registry` (once) under its
/// [`registered_name`] with the default step limit, which is returned; any other name is returned
/// as it is (the plan checks it).
///
/// Errors: a command that cannot be split or is empty.
pub fn resolve(registry: &mut Registry, name: &str) -> Result<String, String> {
    if !name.starts_with(PREFIX) {
        return Ok(name.to_string());
    }
    let command = decode_command(name)?;
    let program = Program::parse(&command)?;
    let canonical = registered_name(&command);
    if registry.get(&canonical).is_none() {
        registry.register(entry(&canonical, program));
    }
    Ok(canonical)
}

/// Registers every `external:` implementation a run id (`SCENARIO/A->B/NATS/seed-N`) names, so
/// `replay` can rebuild it; other names and malformed ids are left for the plan to judge.
///
/// Errors: as [`resolve`].
pub fn resolve_run_id(registry: &mut Registry, id: &str) -> Result<(), String> {
    if let Some(impls) = id.rsplit('/').nth(2) {
        for name in impls.split("->") {
            resolve(registry, name)?;
        }
    }
    Ok(())
}

/// Knobs go to the process in `config` as they are; the process judges them.
fn pass_knobs(_: &BTreeMap<String, String>) -> Result<(), String> {
    Ok(())
}

/// The registry entry of `program` under `name`: every endpoint it makes is one process.
pub fn entry(name: &str, program: Program) -> ImplEntry {
    let registered = name.to_string();
    ImplEntry {
        name: name.to_string(),
        description: format!(
            "external program `{}` over {PROTOCOL} (impls/external/PROTOCOL.md)",
            program.argv.join(" ")
        ),
        make: Box::new(move |cfg| Box::new(ExternalEndpoint::start(&registered, &program, cfg))),
        check_knobs: Some(pass_knobs),
        live: None,
    }
}

/// What the reader thread saw on the process's stdout.
pub enum FromStdout {
    /// One line, without its `\n`.
    Line(String),
    /// The process closed its stdout.
    Eof,
    /// A line that is not UTF-8 or is longer than [`MAX_LINE`]; reading stopped.
    Bad(String),
}

/// A running process and the threads that carry its lines. Writes go through a thread too, so a
/// process that stops reading cannot block the harness: the answer simply does not come in time.
struct Proc {
    child: Child,
    to_child: Option<Sender<String>>,
    from_child: Receiver<FromStdout>,
}

impl Proc {
    fn spawn(program: &Program) -> Result<Proc, String> {
        let mut child = Command::new(&program.argv[0])
            .args(&program.argv[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            // Its diagnostics reach the person running the harness; they are not part of the trace.
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start `{}`: {e}", program.argv[0]))?;
        let stdin = child.stdin.take().expect("piped");
        let stdout = child.stdout.take().expect("piped");
        let (to_child, rx) = mpsc::channel();
        std::thread::spawn(move || write_lines(stdin, rx));
        let (tx, from_child) = mpsc::channel();
        std::thread::spawn(move || read_lines(stdout, tx));
        Ok(Proc {
            child,
            to_child: Some(to_child),
            from_child,
        })
    }

    /// Closes its stdin and kills it; the exit status is collected so no zombie stays.
    fn stop(mut self) {
        self.to_child = None;
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The exit status once the process has gone, waiting until `deadline` at most.
    fn exit_status(&mut self, deadline: Instant) -> Option<std::process::ExitStatus> {
        loop {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// Writes each line received on `rx` to `stdin`, `\n`-terminated and flushed, until `rx` closes or
/// the process stops reading (run on a thread of its own, so a stuck process blocks nobody).
pub fn write_lines(mut stdin: ChildStdin, rx: Receiver<String>) {
    for line in rx {
        if stdin.write_all(line.as_bytes()).is_err() || stdin.write_all(b"\n").is_err() || stdin.flush().is_err() {
            // The process is gone or closed its stdin; its reader side reports what happened.
            return;
        }
    }
}

/// Reads `stdout` line by line into `tx` until end of file, a line that is not UTF-8 or one longer
/// than [`MAX_LINE`] bytes (then [`FromStdout::Bad`] and it stops).
pub fn read_lines(stdout: ChildStdout, tx: Sender<FromStdout>) {
    let mut r = BufReader::new(stdout);
    loop {
        let mut buf = Vec::new();
        let n = match r.by_ref().take(MAX_LINE as u64 + 1).read_until(b'\n', &mut buf) {
            Ok(n) => n,
            Err(e) => {
                let _ = tx.send(FromStdout::Bad(format!("reading its stdout failed: {e}")));
                return;
            }
        };
        if n == 0 {
            let _ = tx.send(FromStdout::Eof);
            return;
        }
        if buf.last() == Some(&b'\n') {
            buf.pop();
        } else if buf.len() > MAX_LINE {
            let _ = tx.send(FromStdout::Bad(format!("a line longer than {MAX_LINE} bytes")));
            return;
        }
        let msg = match String::from_utf8(buf) {
            Ok(line) => FromStdout::Line(line),
            Err(e) => FromStdout::Bad(format!(
                "a line that is not UTF-8: {}",
                excerpt(&String::from_utf8_lossy(e.as_bytes()))
            )),
        };
        let stop = matches!(msg, FromStdout::Bad(_));
        if tx.send(msg).is_err() || stop {
            return;
        }
    }
}

/// `line` quoted for evidence, cut at 400 bytes.
pub fn excerpt(line: &str) -> String {
    if line.len() <= EVIDENCE {
        return format!("{line:?}");
    }
    let mut end = EVIDENCE;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    format!("{:?}… ({} bytes)", &line[..end], line.len())
}

/// One whole answer of the process.
struct Answer {
    /// `hello`'s protocol and ICS, when the answer (to `config`) began with one.
    hello: Option<(String, IcsDecl)>,
    /// The outputs, in order.
    outputs: Vec<Output>,
}

/// An endpoint played by an external process (see the crate docs).
pub struct ExternalEndpoint {
    ics: Ics,
    proc: Option<Proc>,
    step_limit: Duration,
    out: VecDeque<Output>,
    timeout: Option<SimTime>,
}

impl ExternalEndpoint {
    /// Starts `program` for the endpoint `cfg` describes, registered as `name`: spawns it, sends
    /// `config` and takes its answer (the ICS from `hello`, else the defaults of [`IcsDecl`]). A
    /// process that fails here gives an endpoint that reports the fault at its first wake-up (time
    /// 0) and stays silent.
    pub fn start(name: &str, program: &Program, cfg: EndpointConfig) -> ExternalEndpoint {
        let mut ep = ExternalEndpoint {
            ics: IcsDecl::default().into_ics(name).expect("defaults are valid"),
            proc: None,
            step_limit: program.step_limit,
            out: VecDeque::new(),
            timeout: None,
        };
        match Proc::spawn(program) {
            Ok(p) => ep.proc = Some(p),
            Err(e) => {
                ep.fail(format!("external process failed: {e}"));
                return ep;
            }
        }
        let line = ToProcess::Config(Config::from_endpoint_config(&cfg));
        let Some(Answer { hello, outputs }) = ep.exchange(&line, "config") else {
            return ep;
        };
        if let Some((protocol, ics)) = hello {
            if protocol != PROTOCOL {
                ep.fail(format!(
                    "external process broke {PROTOCOL}: its hello names protocol `{protocol}`"
                ));
                return ep;
            }
            match ics.into_ics(name) {
                Ok(ics) => ep.ics = ics,
                Err(e) => {
                    ep.fail(format!(
                        "external process broke {PROTOCOL}: its hello declares a bad ICS: {e}"
                    ));
                    return ep;
                }
            }
        }
        ep.out.extend(outputs);
        ep
    }

    /// Sends `line` and reads the answer up to its `done`, whose timeout it records. Returns the
    /// `hello` (allowed only first in the answer to `config`) and the outputs; `None` after a
    /// failure, which is recorded and discards the unfinished answer: an answer counts only whole.
    fn exchange(&mut self, line: &ToProcess, what: &str) -> Option<Answer> {
        let proc = self.proc.as_mut()?;
        let may_greet = matches!(line, ToProcess::Config(_));
        let text = serde_json::to_string(line).expect("protocol lines serialize");
        if let Some(tx) = &proc.to_child {
            // A send error means the writer stopped (the process closed its stdin or exited); the
            // reader says which, below.
            let _ = tx.send(text);
        }
        let deadline = Instant::now() + self.step_limit;
        let mut hello = None;
        let mut outputs = Vec::new();
        let broke = |l: &str, why: String| {
            format!(
                "external process broke {PROTOCOL}: a line of its answer to {what} {why}: {}",
                excerpt(l)
            )
        };
        let fault = loop {
            let wait = deadline.saturating_duration_since(Instant::now());
            match proc.from_child.recv_timeout(wait) {
                Ok(FromStdout::Line(l)) => match serde_json::from_str::<FromProcess>(&l) {
                    Ok(FromProcess::Done { next_timeout_us }) => {
                        self.timeout = next_timeout_us.map(SimTime::from_micros);
                        return Some(Answer { hello, outputs });
                    }
                    Ok(FromProcess::Hello { protocol, ics }) => {
                        if !may_greet || hello.is_some() || !outputs.is_empty() {
                            break broke(&l, "is a hello, allowed only first in the answer to config".into());
                        }
                        hello = Some((protocol, ics));
                    }
                    Ok(m) => match m.into_output() {
                        Ok(Some(o)) => outputs.push(o),
                        Ok(None) => unreachable!("hello and done are taken above"),
                        Err(e) => break broke(&l, format!("is not valid ({e})")),
                    },
                    Err(e) => break broke(&l, format!("is not a message ({e})")),
                },
                Ok(FromStdout::Bad(why)) => {
                    break format!("external process broke {PROTOCOL}: in its answer to {what}, {why}")
                }
                Ok(FromStdout::Eof) | Err(RecvTimeoutError::Disconnected) => {
                    break match proc.exit_status(deadline) {
                        Some(status) => format!(
                            "external process failed: it exited ({status}) before finishing its answer to {what}"
                        ),
                        None => format!(
                            "external process failed: it closed its stdout before finishing its answer to {what}; killed"
                        ),
                    };
                }
                Err(RecvTimeoutError::Timeout) => {
                    break format!(
                        "external process failed: no complete answer to {what} within {:?} of wall-clock time (hung); killed",
                        self.step_limit
                    )
                }
            }
        };
        self.fail(fault);
        None
    }

    /// Records `what` as a fault, stops the process and goes silent.
    fn fail(&mut self, what: String) {
        if let Some(p) = self.proc.take() {
            p.stop();
        }
        self.out.push_back(Output::Fault(what));
        self.timeout = None;
    }
}

impl Drop for ExternalEndpoint {
    fn drop(&mut self) {
        if let Some(p) = self.proc.take() {
            p.stop();
        }
    }
}

impl Endpoint for ExternalEndpoint {
    fn ics(&self) -> &Ics {
        &self.ics
    }

    fn handle_input(&mut self, now: SimTime, input: Input) {
        if self.proc.is_none() {
            return;
        }
        let line = ToProcess::from_input(now, &input);
        let what = format!("{} at {now}", line.kind());
        if let Some(answer) = self.exchange(&line, &what) {
            self.out.extend(answer.outputs);
        }
    }

    fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    fn poll_timeout(&self) -> Option<SimTime> {
        // A process that failed before any input still has its fault to hand over: wake at once.
        if self.proc.is_none() && !self.out.is_empty() {
            return Some(SimTime::ZERO);
        }
        self.timeout
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_survive_run_ids_folders_and_quotes() {
        let cmd = "./target/debug/reference-endpoint 'conversations' -x>y 100%";
        let name = registered_name(cmd);
        assert_eq!(
            name,
            "external:.%2Ftarget%2Fdebug%2Freference-endpoint%20%27conversations%27%20-x%3Ey%20100%25"
        );
        assert!(!name.contains('/') && !name.contains("->") && !name.contains('\''));
        assert_eq!(decode_command(&name).unwrap(), cmd);
        assert_eq!(registered_name(&decode_command(&name).unwrap()), name);
        assert!(decode_command("external:%zz").is_err());
    }

    #[test]
    fn resolve_registers_once_and_leaves_other_names() {
        let mut r = Registry::new();
        assert_eq!(resolve(&mut r, "reference").unwrap(), "reference");
        assert!(r.entries().is_empty());
        let a = resolve(&mut r, "external:sh -c 'exit 3'").unwrap();
        let b = resolve(&mut r, &a).unwrap();
        assert_eq!(a, b);
        assert_eq!(r.entries().len(), 1);
        assert!(resolve(&mut r, "external:").is_err());
        assert!(resolve(&mut r, "external:sh -c 'unbalanced").is_err());
        resolve_run_id(&mut r, "basic/audio-call/reference->external:true/open+open/seed-1").unwrap();
        assert!(r.get("external:true").is_some());
    }

    #[test]
    fn long_evidence_is_cut_at_a_char_boundary() {
        let line = "é".repeat(EVIDENCE);
        let e = excerpt(&line);
        assert!(
            e.len() < line.len() && e.ends_with(&format!("({} bytes)", line.len())),
            "{e}"
        );
    }
}
