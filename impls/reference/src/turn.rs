//! The reference endpoint's TURN client (RFC 8656), sans-IO: one allocation on one server over one
//! client transport, its permissions and the Send/Data indication data path.
//!
//! The endpoint carries the bytes: over UDP as datagrams from its socket, over TCP/TLS as messages
//! on a stream. Data for a peer is held until the permission for the peer's IP is installed, so no
//! ICE check from the relayed candidate is sent into a missing permission (RFC 8445 §7.2.1 asks for
//! the permission first).

use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use endpoint_contract::SimRng;
use endpoint_contract::SimTime;
use stun_codec::{attr_type, long_term_key, method, Attribute, Class, Message, MessageBuilder};

/// Client–server transport of an allocation (the relayed leg is always UDP).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TurnTransport {
    /// UDP to port 3478; requests are retransmitted.
    Udp,
    /// TCP to port 3478.
    Tcp,
    /// TLS over TCP (XEP-0215 type `turns`), typically port 443.
    Tls,
}

/// A TURN service as XEP-0215 announced it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TurnService {
    /// Server address.
    pub addr: SocketAddr,
    /// Client transport.
    pub transport: TurnTransport,
    /// REST username (`expiry:user`).
    pub username: String,
    /// REST password.
    pub password: String,
}

/// What happened to the allocation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TurnEvent {
    /// Allocated: the relayed transport address and the client's address as the server saw it.
    Allocated {
        /// XOR-RELAYED-ADDRESS.
        relayed: SocketAddr,
        /// XOR-MAPPED-ADDRESS.
        mapped: Option<SocketAddr>,
    },
    /// The permission for `ip` is installed (a CreatePermission success, RFC 8656 §9): data to it
    /// is relayed from now on.
    Permitted {
        /// The peer IP.
        ip: IpAddr,
    },
    /// The permission for `ip` could not be installed (an error response or no answer): nothing
    /// is relayed to it.
    Refused {
        /// The peer IP.
        ip: IpAddr,
    },
    /// The allocation failed or was lost; `code` is the STUN error code when the server gave one.
    Failed {
        /// ERROR-CODE, if any.
        code: Option<u16>,
        /// Why.
        reason: String,
    },
}

/// UDP request retransmission: RTO 500 ms doubling, 7 sends, then 16 × RTO (RFC 8489 §6.2.1).
const RTO: Duration = Duration::from_millis(500);
const MAX_SENDS: u32 = 7;
/// Over TCP/TLS a request is sent once and times out after 39.5 s (RFC 8489 §6.2.2).
const STREAM_TIMEOUT: Duration = Duration::from_millis(39_500);
/// Refresh the allocation this long before it expires.
const REFRESH_MARGIN: Duration = Duration::from_secs(60);
/// Permissions last 300 s; renew after 240 s (RFC 8656 §9: refresh before expiry).
const PERMISSION_REFRESH: Duration = Duration::from_secs(240);

#[derive(Clone, Debug, PartialEq, Eq)]
enum Kind {
    Allocate,
    Refresh { lifetime: u32 },
    Permission(IpAddr),
}

struct Transaction {
    kind: Kind,
    bytes: Vec<u8>,
    sends: u32,
    next: SimTime,
    /// A 438 was already answered by retrying with the fresh nonce.
    stale_retried: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Idle,
    Allocating,
    Allocated { relayed: SocketAddr, expires: SimTime },
    Failed,
    Closed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Perm {
    Pending,
    Installed { renew_at: SimTime },
}

/// One TURN allocation.
pub struct TurnClient {
    /// The service in use.
    pub service: TurnService,
    rng: SimRng,
    state: State,
    realm: Option<String>,
    nonce: Option<String>,
    key: Option<Vec<u8>>,
    transactions: BTreeMap<[u8; 12], Transaction>,
    permissions: BTreeMap<IpAddr, Perm>,
    /// Data waiting for its peer's permission.
    held: Vec<(SocketAddr, Vec<u8>)>,
    out: VecDeque<Vec<u8>>,
    events: VecDeque<TurnEvent>,
    /// [`TurnClient::poll_timeout`] as last computed, `None` once a method that can move it ran.
    /// The endpoint asks after every input it handles, and most inputs (RTP, ICE checks on other
    /// pairs) never reach this client.
    deadline: std::cell::Cell<Option<Option<SimTime>>>,
}

impl TurnClient {
    /// A client for `service`, drawing transaction ids from `rng`. Nothing is sent before
    /// [`TurnClient::start`].
    pub fn new(service: TurnService, rng: SimRng) -> TurnClient {
        TurnClient {
            service,
            rng,
            state: State::Idle,
            realm: None,
            nonce: None,
            key: None,
            transactions: BTreeMap::new(),
            permissions: BTreeMap::new(),
            held: Vec::new(),
            out: VecDeque::new(),
            events: VecDeque::new(),
            deadline: std::cell::Cell::new(None),
        }
    }

    /// Sends the first Allocate, without credentials: the server answers 401 with REALM and NONCE
    /// (RFC 8656 §7.1, RFC 8489 §9.2).
    pub fn start(&mut self, now: SimTime) {
        self.deadline.set(None);
        if self.state != State::Idle {
            return;
        }
        self.state = State::Allocating;
        self.request(now, Kind::Allocate);
    }

    /// The relayed transport address, once allocated.
    pub fn relayed(&self) -> Option<SocketAddr> {
        match self.state {
            State::Allocated { relayed, .. } => Some(relayed),
            _ => None,
        }
    }

    /// True once the allocation has succeeded or failed for good.
    pub fn resolved(&self) -> bool {
        !matches!(self.state, State::Idle | State::Allocating)
    }

    /// Asks for a permission for `peer` (RFC 8656 §9) unless one exists or is pending.
    pub fn permit(&mut self, now: SimTime, peer: IpAddr) {
        self.deadline.set(None);
        if self.relayed().is_none() || self.permissions.contains_key(&peer) {
            return;
        }
        self.permissions.insert(peer, Perm::Pending);
        self.request(now, Kind::Permission(peer));
    }

    /// Sends `data` to `peer` through the relay as a Send indication (RFC 8656 §11.1); held until
    /// the peer's permission is installed.
    pub fn send_to(&mut self, now: SimTime, peer: SocketAddr, data: &[u8]) {
        // Keeps the cached deadline: an indication is no transaction and held data sets no timer;
        // only asking for a new permission does, and `permit` clears it. (Every relayed media
        // packet comes through here.)
        if self.relayed().is_none() {
            return;
        }
        match self.permissions.get(&peer.ip()) {
            Some(Perm::Installed { .. }) => self.send_indication(peer, data),
            Some(Perm::Pending) => self.held.push((peer, data.to_vec())),
            None => {
                self.held.push((peer, data.to_vec()));
                self.permit(now, peer.ip());
            }
        }
    }

    /// Releases the allocation (Refresh with LIFETIME 0, RFC 8656 §7.2), freeing the server's quota.
    pub fn close(&mut self, now: SimTime) {
        self.deadline.set(None);
        if self.relayed().is_some() {
            self.request(now, Kind::Refresh { lifetime: 0 });
        }
        self.state = State::Closed;
        self.held.clear();
    }

    fn send_indication(&mut self, peer: SocketAddr, data: &[u8]) {
        let mut tid = [0u8; 12];
        self.rng.fill(&mut tid);
        let m = MessageBuilder::new(method::SEND, Class::Indication, tid)
            .attr(&Attribute::XorPeerAddress(peer))
            .raw_attr(attr_type::DATA, data)
            .build(None, false);
        self.out.push_back(m);
    }

    fn build(&self, kind: &Kind, tid: [u8; 12]) -> Vec<u8> {
        let m = match kind {
            Kind::Allocate => {
                MessageBuilder::new(method::ALLOCATE, Class::Request, tid).attr(&Attribute::RequestedTransport(17))
            }
            Kind::Refresh { lifetime } => {
                MessageBuilder::new(method::REFRESH, Class::Request, tid).attr(&Attribute::Lifetime(*lifetime))
            }
            Kind::Permission(ip) => MessageBuilder::new(method::CREATE_PERMISSION, Class::Request, tid)
                .attr(&Attribute::XorPeerAddress(SocketAddr::new(*ip, 0))),
        };
        match (&self.key, &self.realm, &self.nonce) {
            (Some(key), Some(realm), Some(nonce)) => m
                .attr(&Attribute::Username(self.service.username.clone()))
                .attr(&Attribute::Realm(realm.clone()))
                .attr(&Attribute::Nonce(nonce.clone()))
                .build(Some(key), true),
            _ => m.build(None, true),
        }
    }

    fn request(&mut self, now: SimTime, kind: Kind) {
        self.request_with(now, kind, false);
    }

    fn request_with(&mut self, now: SimTime, kind: Kind, stale_retried: bool) {
        let mut tid = [0u8; 12];
        self.rng.fill(&mut tid);
        let bytes = self.build(&kind, tid);
        self.out.push_back(bytes.clone());
        let next = now
            + if self.service.transport == TurnTransport::Udp {
                RTO
            } else {
                STREAM_TIMEOUT
            };
        self.transactions.insert(
            tid,
            Transaction {
                kind,
                bytes,
                sends: 1,
                next,
                stale_retried,
            },
        );
    }

    fn fail(&mut self, code: Option<u16>, reason: String) {
        if matches!(self.state, State::Failed | State::Closed) {
            return;
        }
        self.state = State::Failed;
        self.held.clear();
        self.events.push_back(TurnEvent::Failed { code, reason });
    }

    /// One message from the server (a datagram from its address, or a stream message). Returns the
    /// relayed data it carried, as `(peer, data)`; responses are consumed here.
    pub fn on_message(&mut self, now: SimTime, payload: &Bytes) -> Option<(SocketAddr, Bytes)> {
        self.deadline.set(None);
        // Shared, not copied: a Data indication's DATA is handed on as a slice of the datagram.
        let m = Message::decode_shared(payload).ok()?;
        if m.class == Class::Indication && m.method == method::DATA {
            let peer = match m.get(attr_type::XOR_PEER_ADDRESS) {
                Some(Ok(Attribute::XorPeerAddress(a))) => a,
                _ => return None,
            };
            return m.raw_shared(attr_type::DATA).map(|d| (peer, d));
        }
        let t = self.transactions.remove(&m.transaction_id)?;
        if let Some(key) = &self.key {
            // A response to an authenticated request must carry our key's integrity (RFC 8489 §9.2.5).
            if m.has(attr_type::MESSAGE_INTEGRITY) && !m.verify_integrity(key) {
                self.transactions.insert(m.transaction_id, t);
                return None;
            }
        }
        match m.class {
            Class::Success => self.on_success(now, t.kind, &m),
            Class::Error => self.on_error(now, t, &m),
            _ => {}
        }
        None
    }

    fn on_success(&mut self, now: SimTime, kind: Kind, m: &Message) {
        match kind {
            Kind::Allocate => {
                let relayed = match m.get(attr_type::XOR_RELAYED_ADDRESS) {
                    Some(Ok(Attribute::XorRelayedAddress(a))) => a,
                    _ => return self.fail(None, "Allocate success without XOR-RELAYED-ADDRESS".into()),
                };
                let mapped = match m.get(attr_type::XOR_MAPPED_ADDRESS) {
                    Some(Ok(Attribute::XorMappedAddress(a))) => Some(a),
                    _ => None,
                };
                let lifetime = match m.get(attr_type::LIFETIME) {
                    Some(Ok(Attribute::Lifetime(s))) => s,
                    _ => 600,
                };
                if self.state == State::Allocating {
                    self.state = State::Allocated {
                        relayed,
                        expires: now + Duration::from_secs(lifetime.into()),
                    };
                    self.events.push_back(TurnEvent::Allocated { relayed, mapped });
                }
            }
            Kind::Refresh { lifetime } => {
                if let State::Allocated { relayed, .. } = self.state {
                    let granted = match m.get(attr_type::LIFETIME) {
                        Some(Ok(Attribute::Lifetime(s))) => s,
                        _ => lifetime,
                    };
                    self.state = State::Allocated {
                        relayed,
                        expires: now + Duration::from_secs(granted.into()),
                    };
                }
            }
            Kind::Permission(ip) => {
                self.permissions.insert(
                    ip,
                    Perm::Installed {
                        renew_at: now + PERMISSION_REFRESH,
                    },
                );
                let (ready, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.held)
                    .into_iter()
                    .partition(|(p, _)| p.ip() == ip);
                self.held = keep;
                for (peer, data) in ready {
                    self.send_indication(peer, &data);
                }
                self.events.push_back(TurnEvent::Permitted { ip });
            }
        }
    }

    fn on_error(&mut self, now: SimTime, t: Transaction, m: &Message) {
        let (code, reason) = match m.get(attr_type::ERROR_CODE) {
            Some(Ok(Attribute::ErrorCode(e))) => (e.code, e.reason),
            _ => (0, String::new()),
        };
        let realm = match m.get(attr_type::REALM) {
            Some(Ok(Attribute::Realm(r))) => Some(r),
            _ => None,
        };
        let nonce = match m.get(attr_type::NONCE) {
            Some(Ok(Attribute::Nonce(n))) => Some(n),
            _ => None,
        };
        match code {
            // The challenge: retry once with credentials (RFC 8489 §9.2.3).
            401 if self.key.is_none() && realm.is_some() && nonce.is_some() => {
                let realm = realm.expect("checked");
                self.key = Some(long_term_key(&self.service.username, &realm, &self.service.password));
                self.realm = Some(realm);
                self.nonce = nonce;
                self.request(now, t.kind);
            }
            // Stale nonce: retry once with the fresh one (RFC 8489 §9.2.5).
            438 if !t.stale_retried && nonce.is_some() => {
                self.nonce = nonce;
                if realm.is_some() {
                    self.realm = realm;
                }
                self.request_with(now, t.kind, true);
            }
            _ => match t.kind {
                Kind::Permission(ip) => {
                    self.permissions.remove(&ip);
                    self.held.retain(|(p, _)| p.ip() != ip);
                    self.events.push_back(TurnEvent::Refused { ip });
                }
                Kind::Refresh { lifetime: 0 } => {}
                _ => self.fail(Some(code), format!("{code} {reason}")),
            },
        }
    }

    /// Messages for the server, in order.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.out.pop_front()
    }

    /// Allocation events.
    pub fn poll_event(&mut self) -> Option<TurnEvent> {
        self.events.pop_front()
    }

    /// The next time [`TurnClient::handle_timeout`] has work.
    pub fn poll_timeout(&self) -> Option<SimTime> {
        if let Some(d) = self.deadline.get() {
            debug_assert_eq!(
                d,
                self.compute_timeout(),
                "a method that moves the deadline left it cached"
            );
            return d;
        }
        let d = self.compute_timeout();
        self.deadline.set(Some(d));
        d
    }

    /// [`TurnClient::poll_timeout`] from the transactions, the allocation and the permissions.
    fn compute_timeout(&self) -> Option<SimTime> {
        // While a Refresh is in flight its transaction drives the timer; the refresh time itself has
        // passed and would wake the endpoint in a loop.
        let (mut tx, mut refreshing) = (None::<SimTime>, false);
        for t in self.transactions.values() {
            tx = Some(tx.map_or(t.next, |x| x.min(t.next)));
            refreshing |= matches!(t.kind, Kind::Refresh { .. });
        }
        let refresh = match self.state {
            State::Allocated { expires, .. } if !refreshing => Some(SimTime::from_micros(
                expires.as_micros().saturating_sub(REFRESH_MARGIN.as_micros() as u64),
            )),
            _ => None,
        };
        let perms = self.permissions.values().filter_map(|p| match p {
            Perm::Installed { renew_at } => Some(*renew_at),
            Perm::Pending => None,
        });
        [tx, refresh]
            .into_iter()
            .flatten()
            .chain(
                if self.relayed().is_some() {
                    Some(perms.min())
                } else {
                    None
                }
                .flatten(),
            )
            .min()
    }

    /// Retransmits, refreshes the allocation and renews permissions that are due at `now`.
    pub fn handle_timeout(&mut self, now: SimTime) {
        self.deadline.set(None);
        let due: Vec<[u8; 12]> = self
            .transactions
            .iter()
            .filter(|(_, t)| t.next <= now)
            .map(|(k, _)| *k)
            .collect();
        for tid in due {
            let t = self.transactions.get_mut(&tid).expect("listed");
            let stream = self.service.transport != TurnTransport::Udp;
            if stream || t.sends >= MAX_SENDS {
                let t = self.transactions.remove(&tid).expect("listed");
                match t.kind {
                    Kind::Allocate => self.fail(None, "no answer from the TURN server".into()),
                    Kind::Permission(ip) => {
                        self.permissions.remove(&ip);
                        self.held.retain(|(p, _)| p.ip() != ip);
                        self.events.push_back(TurnEvent::Refused { ip });
                    }
                    Kind::Refresh { .. } => {}
                }
                continue;
            }
            t.sends += 1;
            t.next = if t.sends >= MAX_SENDS {
                now + RTO * 16
            } else {
                now + RTO * (1 << (t.sends - 1))
            };
            let bytes = t.bytes.clone();
            self.out.push_back(bytes);
        }
        if let State::Allocated { expires, .. } = self.state {
            let pending_refresh = self
                .transactions
                .values()
                .any(|t| matches!(t.kind, Kind::Refresh { .. }));
            if !pending_refresh && now + REFRESH_MARGIN >= expires {
                self.request(now, Kind::Refresh { lifetime: 600 });
            }
            let renew: Vec<IpAddr> = self
                .permissions
                .iter()
                .filter(|(_, p)| matches!(p, Perm::Installed { renew_at } if *renew_at <= now))
                .map(|(ip, _)| *ip)
                .collect();
            for ip in renew {
                // Still installed while the renewal is in flight: data keeps flowing.
                self.permissions.insert(ip, Perm::Installed { renew_at: SimTime::MAX });
                self.request(now, Kind::Permission(ip));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use harness::servers::turn::{rest_password, rest_username, ClientTransport, TurnConfig, TurnOutput, TurnServer};

    /// Drives a client against the real server over a lossless UDP "wire" with a 40 ms round trip
    /// until `until`, and returns how many timer wake-ups it took.
    fn drive(until: SimTime) -> (TurnClient, usize) {
        let rtt = std::time::Duration::from_millis(40);
        let mut server = TurnServer::new(TurnConfig::default(), SimRng::derive(1, "s"));
        let username = rest_username(endpoint_contract::SIM_EPOCH_UNIX + 86_400, "alice");
        let service = TurnService {
            addr: "192.0.2.20:3478".parse().unwrap(),
            transport: TurnTransport::Udp,
            password: rest_password("north", &username),
            username,
        };
        let client_addr: SocketAddr = "203.0.113.1:40000".parse().unwrap();
        let mut c = TurnClient::new(service, SimRng::derive(1, "c"));
        let mut now = SimTime::ZERO;
        c.start(now);
        let mut in_flight: VecDeque<(SimTime, Bytes)> = VecDeque::new();
        let mut wakeups = 0;
        loop {
            while let Some(m) = c.poll_transmit() {
                for o in server.on_client(now, ClientTransport::Udp, client_addr, c.service.addr, &Bytes::from(m)) {
                    if let TurnOutput::ToClient { payload, .. } = o {
                        in_flight.push_back((now + rtt, payload));
                    }
                }
            }
            let next_rx = in_flight.front().map(|(t, _)| *t);
            let Some(t) = [c.poll_timeout(), next_rx].into_iter().flatten().min() else {
                break;
            };
            if t > until {
                break;
            }
            assert!(t >= now, "a wake-up in the past: {t} < {now}");
            now = t;
            if next_rx == Some(t) {
                let (_, m) = in_flight.pop_front().expect("peeked");
                c.on_message(now, &m);
            } else {
                c.handle_timeout(now);
                wakeups += 1;
            }
            assert!(wakeups < 1000, "runaway timer at {now}");
        }
        (c, wakeups)
    }

    #[test]
    fn allocation_is_refreshed_before_expiry_for_an_hour_without_spinning() {
        let (c, wakeups) = drive(SimTime::from_millis(3_600_000));
        assert!(c.relayed().is_some(), "still allocated after an hour");
        // One refresh every 540 s: a handful of wake-ups, not thousands.
        assert!((5..=20).contains(&wakeups), "{wakeups} wake-ups");
    }
}
