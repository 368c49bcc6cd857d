//! A live program as the signalling half of an [`Endpoint`]: started inside its namespace, told
//! `config`, stanzas and user actions as they happen; its stanzas and claims become outputs
//! whenever it writes them, and the harness is woken to collect them ([`LiveContext::wake`]).

use std::collections::VecDeque;
use std::os::unix::process::CommandExt as _;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use endpoint_contract::endpoint::{Endpoint, EndpointConfig, Ics, Input, LiveContext, Output};
use endpoint_contract::SimTime;
use external::protocol::{Config, FromProcess, IcsDecl, ToProcess};
use external::{excerpt, read_lines, write_lines, FromStdout};

use crate::PROTOCOL;

/// How long a program has to write its first line (`hello`, or any message) after `config`
/// before it counts as hung; it is then killed and the fault recorded.
pub const START_LIMIT: Duration = Duration::from_secs(10);

/// Shared between the endpoint and its reader thread.
struct Shared {
    out: VecDeque<Output>,
    /// Set once the endpoint is being dropped: the end of the program's output is then expected.
    closing: bool,
    /// Set after a fault: nothing more is sent to or taken from the program.
    failed: bool,
}

/// An endpoint played by a live program (see the module docs).
pub struct LiveProgram {
    ics: Ics,
    shared: Arc<Mutex<Shared>>,
    to_child: Option<Sender<String>>,
    child: Arc<Mutex<Option<Child>>>,
    wake: Arc<dyn Fn() + Send + Sync>,
}

impl LiveProgram {
    /// Starts `argv` inside `ctx.netns` (`ip netns exec`) for the endpoint `cfg` describes, registered
    /// as `name`: sends `config` and waits up to [`START_LIMIT`] for its first line (its ICS from
    /// `hello`, else the defaults of [`IcsDecl`]). A program that fails here gives an endpoint that
    /// reports the fault at its first poll and stays silent.
    pub fn start(name: &str, argv: &[String], cfg: EndpointConfig, ctx: LiveContext) -> LiveProgram {
        let shared = Arc::new(Mutex::new(Shared {
            out: VecDeque::new(),
            closing: false,
            failed: false,
        }));
        let child = Arc::new(Mutex::new(None));
        let mut me = LiveProgram {
            ics: IcsDecl::default()
                .into_ics(name)
                .expect("the default declaration is valid"),
            shared,
            to_child: None,
            child,
            wake: Arc::clone(&ctx.wake),
        };
        let (c, stdin, stdout) = match spawn_in(&ctx.netns, argv) {
            Ok(x) => x,
            Err(e) => {
                me.fail(format!("live program failed: {e}"));
                return me;
            }
        };
        *me.child.lock().expect("fresh") = Some(c);
        let (to_child, rx) = mpsc::channel();
        std::thread::spawn(move || write_lines(stdin, rx));
        let mut config = Config::from_endpoint_config(&cfg);
        config.protocol = PROTOCOL.to_string();
        let line = serde_json::to_string(&ToProcess::Config(config)).expect("serialisable");
        let _ = to_child.send(line);
        me.to_child = Some(to_child);
        let (tx, from_child) = mpsc::channel();
        std::thread::spawn(move || read_lines(stdout, tx));
        // The first line, synchronously: a `hello` declares the ICS the run records.
        let first = match from_child.recv_timeout(START_LIMIT) {
            Ok(FromStdout::Line(l)) => match serde_json::from_str::<FromProcess>(&l) {
                Ok(FromProcess::Hello { protocol, ics }) if protocol == PROTOCOL => match ics.into_ics(name) {
                    Ok(ics) => {
                        me.ics = ics;
                        None
                    }
                    Err(e) => Some(FromStdout::Bad(format!("its hello: {e}: {}", excerpt(&l)))),
                },
                Ok(FromProcess::Hello { protocol, .. }) => Some(FromStdout::Bad(format!(
                    "its hello names `{protocol}`, not {PROTOCOL}: {}",
                    excerpt(&l)
                ))),
                _ => Some(FromStdout::Line(l)),
            },
            Ok(other) => Some(other),
            Err(_) => {
                me.fail(format!(
                    "live program failed: no line within {}s of config (hung); killed",
                    START_LIMIT.as_secs()
                ));
                return me;
            }
        };
        let shared = Arc::clone(&me.shared);
        let child = Arc::clone(&me.child);
        let wake = Arc::clone(&me.wake);
        std::thread::spawn(move || {
            let lines = first.into_iter().chain(from_child);
            for msg in lines {
                let fault = match msg {
                    FromStdout::Line(l) => match line_output(&l) {
                        Ok(out) => {
                            let mut s = shared.lock().unwrap_or_else(|e| e.into_inner());
                            if !s.failed {
                                s.out.push_back(out);
                            }
                            drop(s);
                            wake();
                            continue;
                        }
                        Err(why) => format!("live program broke {PROTOCOL}: {why}: {}", excerpt(&l)),
                    },
                    FromStdout::Bad(why) => format!("live program broke {PROTOCOL}: {why}"),
                    FromStdout::Eof => {
                        if shared.lock().unwrap_or_else(|e| e.into_inner()).closing {
                            return;
                        }
                        let status = exit_status(&child);
                        format!("live program failed: it exited ({status}) before the run ended")
                    }
                };
                let mut s = shared.lock().unwrap_or_else(|e| e.into_inner());
                if !s.closing && !s.failed {
                    s.failed = true;
                    s.out.push_back(Output::Fault(fault));
                }
                drop(s);
                kill(&child);
                wake();
                return;
            }
        });
        me
    }

    /// Records `what` as the program's fault and stops it.
    fn fail(&mut self, what: String) {
        let mut s = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        if !s.failed {
            s.failed = true;
            s.out.push_back(Output::Fault(what));
        }
        drop(s);
        self.to_child = None;
        kill(&self.child);
        // Nothing else would make the harness poll a program that never started.
        (self.wake)();
    }
}

/// The output a program's line carries.
///
/// Errors: not a message of live/1 (not JSON, an unknown type or field, a stanza that is not XML,
/// a datagram or stream line, which live programs send on their network instead, or `done`).
fn line_output(line: &str) -> Result<Output, String> {
    let msg: FromProcess = serde_json::from_str(line).map_err(|e| format!("not a message ({e})"))?;
    match msg {
        FromProcess::Datagram { .. } | FromProcess::StreamOpen { .. } | FromProcess::StreamSend { .. } => {
            Err("datagrams and streams go on the namespace's network, not on stdout".into())
        }
        FromProcess::Done { .. } => Err("`done` is not part of live/1 (no lock-step)".into()),
        FromProcess::Hello { .. } => Err("`hello` comes only as the first line".into()),
        other => other
            .into_output()?
            .ok_or_else(|| "a message that carries nothing".to_string()),
    }
}

/// Starts `argv` inside network namespace `netns` (`ip netns exec`), in its own process group
/// (so [`kill`] takes its children too), stdin and stdout piped, stderr inherited.
///
/// Errors: `ip` cannot be started.
pub(crate) fn spawn_in(netns: &str, argv: &[String]) -> Result<(Child, ChildStdin, ChildStdout), String> {
    let mut c = Command::new("ip")
        .args(["netns", "exec", netns])
        .args(argv)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot start `ip netns exec` for `{}`: {e}", argv.join(" ")))?;
    let stdin = c.stdin.take().expect("piped");
    let stdout = c.stdout.take().expect("piped");
    Ok((c, stdin, stdout))
}

/// How the program ended, for the fault's evidence.
pub(crate) fn exit_status(child: &Mutex<Option<Child>>) -> String {
    let mut c = child.lock().unwrap_or_else(|e| e.into_inner());
    let Some(c) = c.as_mut() else {
        return "never started".into();
    };
    for _ in 0..50 {
        if let Ok(Some(s)) = c.try_wait() {
            return s.to_string();
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    "still running, its stdout closed".into()
}

/// Gives a program whose stdin was closed up to `grace` to exit by itself (an adapter cleans up
/// behind it: a browser, a temporary profile), then kills its process group and reaps it.
pub(crate) fn wait_then_kill(child: &Mutex<Option<Child>>, grace: Duration) {
    let deadline = std::time::Instant::now() + grace;
    while std::time::Instant::now() < deadline {
        let exited = child
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
            .is_none_or(|c| matches!(c.try_wait(), Ok(Some(_))));
        if exited {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    kill(child);
}

/// Kills the program's process group and reaps it.
pub(crate) fn kill(child: &Mutex<Option<Child>>) {
    let mut c = child.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(mut c) = c.take() {
        // SAFETY: kill(2) of the process group we started (process_group(0): its id is the child's).
        unsafe {
            libc::kill(-(c.id() as i32), libc::SIGKILL);
        }
        let _ = c.kill();
        let _ = c.wait();
    }
}

impl Drop for LiveProgram {
    fn drop(&mut self) {
        self.shared.lock().unwrap_or_else(|e| e.into_inner()).closing = true;
        self.to_child = None;
        kill(&self.child);
    }
}

impl Endpoint for LiveProgram {
    fn ics(&self) -> &Ics {
        &self.ics
    }

    fn handle_input(&mut self, now: SimTime, input: Input) {
        // Datagrams never come here (the harness writes them to the TUN device); a timeout is never
        // asked for; streams are not carried for live parties.
        let line = match &input {
            Input::Stanza(_) | Input::User(_) | Input::InterfacesChanged(_) => ToProcess::from_input(now, &input),
            _ => return,
        };
        if self.shared.lock().unwrap_or_else(|e| e.into_inner()).failed {
            return;
        }
        if let Some(tx) = &self.to_child {
            let _ = tx.send(serde_json::to_string(&line).expect("serialisable"));
        }
    }

    fn poll_output(&mut self) -> Option<Output> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner()).out.pop_front()
    }

    fn poll_timeout(&self) -> Option<SimTime> {
        None
    }
}
