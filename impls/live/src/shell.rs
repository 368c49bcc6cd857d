//! The I/O shell that runs a sans-IO [`Endpoint`] as a real network program speaking
//! `jingle-interop/live/1`: real UDP sockets bound on the host's addresses, the monotonic clock
//! (simulated time is time since the program started), timers from `poll_timeout`, signalling on
//! stdin and stdout. `reference-live` is this shell around the reference endpoint; it is also the
//! model of how a client developer wraps a real client.
//!
//! Sockets are bound when the endpoint first sends from an address (its STUN and TURN gathering,
//! or its first check), as the endpoint never announces a bind; a datagram arriving at a port
//! nothing sent from yet is refused by the kernel (ICMP port unreachable, which the harness drops
//! and records). Streams (TURN over TCP/TLS) are not carried: each `StreamOpen` is answered
//! `StreamFailed` at once.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use endpoint_contract::endpoint::{Endpoint, Input, Output};
use endpoint_contract::SimTime;
use external::protocol::{FromProcess, IcsDecl, ToProcess};
use tokio::io::AsyncBufReadExt;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use crate::PROTOCOL;

/// Largest UDP payload read, bytes.
const MAX_DATAGRAM: usize = 65_535;

/// Serves implementation `name` of `registry` over live/1 on this process's stdin and stdout until
/// stdin ends.
///
/// Errors: an unknown name, bad knobs, a first line that is not `config`, a later line that is not
/// a live/1 input, or an I/O error.
pub fn serve(name: &str, registry: &endpoint_contract::Registry) -> Result<(), String> {
    let entry = registry.get(name).ok_or_else(|| {
        let known: Vec<_> = registry.entries().iter().map(|e| e.name.as_str()).collect();
        format!("unknown implementation `{name}` (known: {})", known.join(", "))
    })?;
    let mut first = String::new();
    std::io::stdin().read_line(&mut first).map_err(|e| e.to_string())?;
    let config = match serde_json::from_str::<ToProcess>(&first) {
        Ok(ToProcess::Config(c)) => c,
        Ok(other) => return Err(format!("the first line is {}, not config", other.kind())),
        Err(e) => return Err(format!("the first line is not a config line: {e}")),
    };
    let mut cfg = config.into_endpoint_config_of(PROTOCOL)?;
    // This shell is a live program: real sockets, real time, so the endpoint may do what only a
    // live run may (the reference's DTLS-SRTP handshake).
    cfg.live = true;
    if let Some(check) = entry.check_knobs {
        check(&cfg.knobs)?;
    }
    let ep = (entry.make)(cfg);
    write_line(&FromProcess::Hello {
        protocol: PROTOCOL.to_string(),
        ics: IcsDecl::from_ics(ep.ics()),
    })?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(run(ep))
}

fn write_line(m: &FromProcess) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, m).map_err(|e| e.to_string())?;
    out.write_all(b"\n")
        .and_then(|_| out.flush())
        .map_err(|e| e.to_string())
}

/// A datagram one of the sockets received: (local, remote, payload).
type Received = (SocketAddr, SocketAddr, Vec<u8>);

async fn run(mut ep: Box<dyn Endpoint>) -> Result<(), String> {
    let start = Instant::now();
    let now = move || SimTime::from_micros(start.elapsed().as_micros() as u64);
    let (dg_tx, mut dg_rx) = mpsc::unbounded_channel::<Received>();
    let (line_tx, mut line_rx) = mpsc::unbounded_channel::<Option<String>>();
    tokio::spawn(async move {
        let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
        loop {
            let l = lines.next_line().await.ok().flatten();
            let end = l.is_none();
            if line_tx.send(l).is_err() || end {
                return;
            }
        }
    });
    let mut sockets: BTreeMap<SocketAddr, Arc<UdpSocket>> = BTreeMap::new();
    // Outputs first: an endpoint may have some before any input (none of ours do).
    let mut pending: Vec<Input> = Vec::new();
    loop {
        for input in pending.drain(..) {
            ep.handle_input(now(), input);
        }
        while let Some(out) = ep.poll_output() {
            match out {
                Output::Datagram { local, remote, payload } => {
                    let sock = match sockets.get(&local) {
                        Some(s) => Arc::clone(s),
                        None => match UdpSocket::bind(local).await {
                            Ok(s) => {
                                let s = Arc::new(s);
                                sockets.insert(local, Arc::clone(&s));
                                tokio::spawn(receive(Arc::clone(&s), local, dg_tx.clone()));
                                s
                            }
                            Err(e) => {
                                eprintln!("live shell: cannot bind {local}: {e}");
                                continue;
                            }
                        },
                    };
                    // A full socket buffer loses the datagram, as it would on any host.
                    let _ = sock.try_send_to(&payload, remote);
                }
                Output::StreamOpen { id, .. } => pending.push(Input::StreamFailed {
                    id,
                    reason: "live mode carries UDP only".into(),
                }),
                Output::StreamSend { .. } | Output::Fault(_) => {}
                other => {
                    if let Some(m) = FromProcess::from_output(&other) {
                        write_line(&m)?;
                    }
                }
            }
        }
        if !pending.is_empty() {
            continue;
        }
        let wake = ep.poll_timeout();
        let sleep = async {
            match wake {
                Some(t) => {
                    tokio::time::sleep_until((start + std::time::Duration::from_micros(t.as_micros())).into()).await
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            line = line_rx.recv() => {
                let Some(Some(line)) = line else { return Ok(()) };
                let msg: ToProcess = serde_json::from_str(&line).map_err(|e| format!("not a live/1 line ({e}): {line}"))?;
                match msg.into_input()? {
                    Some((_, input)) => pending.push(input),
                    None => return Err("a second config line".into()),
                }
            }
            Some((local, remote, payload)) = dg_rx.recv() => {
                pending.push(Input::Datagram { local, remote, payload: payload.into() });
            }
            _ = sleep => pending.push(Input::Timeout),
        }
    }
}

/// Hands every datagram `sock` (bound on `local`) receives to `tx`, until the program ends.
async fn receive(sock: Arc<UdpSocket>, local: SocketAddr, tx: mpsc::UnboundedSender<Received>) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        match sock.recv_from(&mut buf).await {
            Ok((n, remote)) => {
                if tx.send((local, remote, buf[..n].to_vec())).is_err() {
                    return;
                }
            }
            // ICMP errors surface as errors on a UDP socket (ECONNREFUSED); the socket stays usable.
            Err(_) => continue,
        }
    }
}
