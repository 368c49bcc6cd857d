//! The stream transport: a reliable, ordered, message-preserving model of TCP (and TLS over TCP)
//! from a host to a server, for TURN over TCP/TLS (RFC 8656 §3.1) and STUN over TCP.
//!
//! A connection passes the site's NATs (their TCP tables) and firewall like a SYN would; a blocked
//! connection fails after [`CONNECT_TIMEOUT`]. On an open stream each message the sender writes
//! arrives whole and in order: the framing layer above TCP (RFC 8656 §12.4 padding, RFC 4571) is
//! taken as given, so a message is never split or coalesced. Loss costs retransmission time, never
//! data: a lost segment is re-sent after an RTO that starts at [`MIN_RTO`] and doubles. TLS payloads
//! are recorded in the trace as the application wrote them (the simulator terminates TLS).

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;

use super::firewall::Proto;
use super::{Attach, Net, Owner, Part};
use crate::time::SimTime;
use crate::trace::{Dir, Point, Trace, TraceKind};

/// How long a client waits for a connection that never answers before giving up, 10 s (browsers and
/// libwebrtc give up on a TURN/TCP connect within seconds, well before the kernel's SYN retries end).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Initial retransmission timeout for a lost segment (RFC 6298 allows 1 s; Linux uses 200 ms).
pub const MIN_RTO: Duration = Duration::from_millis(200);

/// Segments lost this many times in a row reset the connection.
const MAX_RETRANSMITS: u32 = 8;

/// A stream's handle, unique within a run.
pub type StreamId = usize;

#[derive(Debug)]
pub(crate) struct Stream {
    client: Attach,
    /// The client's address on its host.
    local: SocketAddr,
    /// The client's address as the server sees it (after the NATs).
    public: SocketAddr,
    server: SocketAddr,
    server_who: Attach,
    client_site: usize,
    server_site: usize,
    tls: bool,
    /// Arrival time of the last message each way ([to server, to client]), to keep order.
    last: [SimTime; 2],
    open: bool,
}

/// The outcome of opening a stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamOpen {
    /// The handshake (TCP, plus one more round trip for TLS 1.3) completes at `at`; the server sees
    /// the client as `public`.
    Established {
        /// When the client may send.
        at: SimTime,
        /// The client's address as the server sees it.
        public: SocketAddr,
    },
    /// The connection fails at `at` (a timeout when packets were silently dropped).
    Failed {
        /// When the client learns it.
        at: SimTime,
        /// Why, for the trace and the report.
        reason: String,
    },
}

/// A message on its way along a stream; hand it to [`Net::stream_arrive`] at its time.
#[derive(Clone, Debug)]
pub struct StreamInFlight {
    /// The stream.
    pub id: StreamId,
    /// `true` when travelling from the client to the server.
    pub to_server: bool,
    /// The message.
    pub payload: Bytes,
}

/// A message delivered from a stream.
#[derive(Clone, Debug)]
pub struct StreamDelivery {
    /// The stream.
    pub id: StreamId,
    /// Who receives it.
    pub to: Attach,
    /// `true` when the server receives it.
    pub to_server: bool,
    /// The receiver's own address on this stream.
    pub local: SocketAddr,
    /// The other end's address as the receiver sees it.
    pub remote: SocketAddr,
    /// Whether the stream is TLS.
    pub tls: bool,
    /// The message.
    pub payload: Bytes,
}

impl Net {
    /// Opens a stream from `who`'s address `local` to the server at `remote` at `now` (`tls`: TLS
    /// over TCP). Returns the stream's id and when it opens or fails. A blocked or unroutable
    /// connection is recorded as a dropped SYN (empty payload) where it died.
    pub fn stream_open(
        &mut self,
        now: SimTime,
        who: Attach,
        local: SocketAddr,
        remote: SocketAddr,
        tls: bool,
        trace: &mut Trace,
    ) -> (StreamId, StreamOpen) {
        let id = self.streams.len();
        let fail = |trace: &mut Trace, point: Point, src: SocketAddr, reason: String| {
            trace.push(
                now,
                TraceKind::Dropped {
                    point,
                    src,
                    dst: remote,
                    reason: format!("tcp connect: {reason}"),
                    payload: Bytes::new(),
                },
            );
            StreamOpen::Failed {
                at: now + CONNECT_TIMEOUT,
                reason: format!("no answer from {remote} ({reason})"),
            }
        };
        let Some(site) = self.site_of(who, local.ip()) else {
            let r = fail(
                trace,
                "core".into(),
                local,
                format!("{local} is not an interface of the sender"),
            );
            return (id, r);
        };
        let mut cur = local;
        for k in 0..self.sites[site].nats.len() {
            let n = self.sites[site].nats[k];
            let node = &mut self.nats[n];
            match node.tcp.outbound(now, cur, remote) {
                Ok(ext) => cur = ext,
                Err(e) => {
                    let point = node.point.clone();
                    return (id, fail(trace, point, cur, e.to_string()));
                }
            }
        }
        if let Some(fw) = &mut self.sites[site].firewall {
            if let Err(e) = fw.outbound(now, Proto::Tcp, cur, remote) {
                let point = self.sites[site].point(Part::Firewall);
                return (id, fail(trace, point, cur, e.to_string()));
            }
        }
        let Some(Owner::Node {
            site: server_site,
            who: server_who,
        }) = self.public.get(&remote.ip()).copied()
        else {
            let point = self.sites[site].point(Part::Uplink);
            return (id, fail(trace, point, cur, format!("no server at {}", remote.ip())));
        };
        // SYN, SYN-ACK (and for TLS 1.3 one more round trip), each leg retried on loss.
        let mut t = now;
        let legs = if tls { 4 } else { 2 };
        for leg in 0..legs {
            let (from, to) = if leg % 2 == 0 {
                (site, server_site)
            } else {
                (server_site, site)
            };
            match self.reliable_leg(from, to, t, 64) {
                Some(at) => t = at,
                None => {
                    let point = self.sites[site].point(Part::Uplink);
                    return (id, fail(trace, point, cur, "handshake lost".into()));
                }
            }
        }
        self.streams.push(Stream {
            client: who,
            local,
            public: cur,
            server: remote,
            server_who,
            client_site: site,
            server_site,
            tls,
            last: [t, t],
            open: true,
        });
        (id, StreamOpen::Established { at: t, public: cur })
    }

    /// One traversal from site `from` to site `to`, re-sent after a doubling RTO on loss; `None`
    /// once [`MAX_RETRANSMITS`] are spent or a link is down.
    fn reliable_leg(&mut self, from: usize, to: usize, start: SimTime, len: usize) -> Option<SimTime> {
        let mut rto = MIN_RTO;
        let mut t = start;
        for _ in 0..=MAX_RETRANSMITS {
            let up = self.traverse(from, t, true, len);
            let down = match up {
                Ok((mid, _)) => self.traverse(to, mid, false, len),
                Err(e) => Err(e),
            };
            match down {
                Ok((at, _)) => return Some(at),
                Err(_) if !self.sites[from].up || !self.sites[to].up => return None,
                Err(_) => {
                    t += rto;
                    rto *= 2;
                }
            }
        }
        None
    }

    /// The client (`to_server`) or the server writes one message on stream `id` at `now`. Records it
    /// at the sender and returns when it arrives, or `None` when the stream is closed or reset (the
    /// reset is recorded).
    pub fn stream_send(
        &mut self,
        now: SimTime,
        id: StreamId,
        to_server: bool,
        payload: Bytes,
        trace: &mut Trace,
    ) -> Option<(SimTime, StreamInFlight)> {
        let s = self.streams.get(id)?;
        if !s.open {
            return None;
        }
        let (point, src, dst, from, to) = if to_server {
            (
                self.point_of(s.client, s.local.ip()),
                s.local,
                s.server,
                s.client_site,
                s.server_site,
            )
        } else {
            (
                self.point_of(s.server_who, s.server.ip()),
                s.server,
                s.public,
                s.server_site,
                s.client_site,
            )
        };
        let tls = s.tls;
        trace.push(
            now,
            TraceKind::Segment {
                point: point.clone(),
                dir: Dir::Tx,
                tls,
                src,
                dst,
                payload: payload.clone(),
            },
        );
        let Some(at) = self.reliable_leg(from, to, now, payload.len()) else {
            self.streams[id].open = false;
            trace.push(
                now,
                TraceKind::Dropped {
                    point,
                    src,
                    dst,
                    reason: "tcp: connection reset after repeated loss".into(),
                    payload,
                },
            );
            return None;
        };
        let slot = &mut self.streams[id].last[usize::from(!to_server)];
        let at = at.max(*slot);
        *slot = at;
        Some((at, StreamInFlight { id, to_server, payload }))
    }

    /// A message reaches the end of its stream at `now`: records it at the receiver and returns the
    /// delivery.
    pub fn stream_arrive(&mut self, now: SimTime, f: StreamInFlight, trace: &mut Trace) -> StreamDelivery {
        let s = &self.streams[f.id];
        let (to, local, remote) = if f.to_server {
            (s.server_who, s.server, s.public)
        } else {
            (s.client, s.local, s.server)
        };
        trace.push(
            now,
            TraceKind::Segment {
                point: self.point_of(to, local.ip()),
                dir: Dir::Rx,
                tls: s.tls,
                src: remote,
                dst: local,
                payload: f.payload.clone(),
            },
        );
        StreamDelivery {
            id: f.id,
            to,
            to_server: f.to_server,
            local,
            remote,
            tls: s.tls,
            payload: f.payload,
        }
    }

    /// Closes stream `id` (either end); later writes are refused.
    pub fn stream_close(&mut self, id: StreamId) {
        if let Some(s) = self.streams.get_mut(id) {
            s.open = false;
        }
    }
}
