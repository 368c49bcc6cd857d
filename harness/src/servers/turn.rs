//! A TURN server (RFC 8656) inside the simulator: UDP relays, long-term credentials in the TURN REST
//! form (draft-uberti-rtcweb-turn-rest-00, as coturn runs `use-auth-secret`), permissions, channels.
//!
//! Sans-IO and deterministic: the simulator hands in one message with the simulated time and gets back
//! what to send or why it was dropped ([`TurnOutput`]). Nonces and Data-indication transaction ids come
//! from a [`SimRng`], relay ports are handed out in order, and all state lives in `BTreeMap`s. Every
//! lifetime (allocation, permission, channel, nonce) is checked lazily against the `now` of the call
//! that touches it, so the server needs no timers.
//!
//! The client–server leg may be UDP, TCP or TLS; the relayed leg is always UDP (RFC 8656 §3.1). The
//! simulator's stream transport preserves message boundaries, so one call carries exactly one STUN
//! message or one ChannelData message, and ChannelData sent to a TCP/TLS client is padded to 4 bytes
//! (RFC 8656 §12.5).
//!
//! Authentication (RFC 8656 §5 with RFC 8489 §9.2.4, checked in this order):
//! 1. no MESSAGE-INTEGRITY → 401 with REALM and NONCE;
//! 2. MESSAGE-INTEGRITY without USERNAME, REALM or NONCE → 400;
//! 3. another REALM, a USERNAME that is not `<expiry>[:<user>]`, or an expiry before
//!    [`SimTime::unix_secs`] → 401 (TURN REST, draft-uberti-rtcweb-turn-rest-00 §4.2);
//! 4. MESSAGE-INTEGRITY wrong under every configured secret → 401;
//! 5. a NONCE this server did not issue, or issued more than `nonce_lifetime` ago → 438 with a fresh
//!    NONCE. RFC 8489 checks the nonce after the integrity, so only a client holding valid credentials
//!    is told its nonce is stale; RFC 5389 §10.2.2 (and coturn) check it before the username.
//!
//! Not modelled: RFC 8489 security features (nonce cookie, PASSWORD-ALGORITHMS, USERHASH,
//! MESSAGE-INTEGRITY-SHA256), TCP relays (RFC 6062), port reservations, peer-address restrictions
//! (coturn's `denied-peer-ip`, 403), bandwidth limits.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

use crate::sim::SimRng;
use crate::stun::channel::{decode_channel_data, encode_channel_data, is_valid_channel};
use crate::stun::{
    attr_type, demux, long_term_key, method, Attribute, Class, Demux, ErrorCode, Message, MessageBuilder,
};
use crate::time::SimTime;

/// The first relay port handed out: the start of the dynamic port range RFC 8656 §7.2 recommends.
pub const RELAY_PORT_MIN: u16 = 49152;
/// The last relay port; after it the server wraps to [`RELAY_PORT_MIN`], skipping ports in use.
pub const RELAY_PORT_MAX: u16 = 65535;

/// IANA protocol number of UDP, the only REQUESTED-TRANSPORT this server relays (RFC 8656 §7.2).
const PROTO_UDP: u8 = 17;

/// The transport of the client–server leg, the first element of the allocation's 5-tuple
/// (RFC 8656 §2, §3.1). The relayed leg is UDP whatever this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ClientTransport {
    /// UDP: one STUN message or ChannelData message per datagram, ChannelData unpadded.
    Udp,
    /// TCP (message-preserving in the simulator); ChannelData padded to 4 bytes (RFC 8656 §12.5).
    Tcp,
    /// TLS over TCP; framed as [`ClientTransport::Tcp`].
    Tls,
}

impl ClientTransport {
    /// True for the stream transports, over which ChannelData must be padded (RFC 8656 §12.5).
    pub fn is_stream(self) -> bool {
        !matches!(self, ClientTransport::Udp)
    }
}

impl fmt::Display for ClientTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ClientTransport::Udp => "UDP",
            ClientTransport::Tcp => "TCP",
            ClientTransport::Tls => "TLS",
        })
    }
}

/// Server settings. Durations are simulated time; LIFETIME attributes carry them in whole seconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TurnConfig {
    /// The REALM of the long-term credentials (RFC 8489 §9.2).
    pub realm: String,
    /// TURN REST shared secrets; a request is accepted when any one of them yields its
    /// MESSAGE-INTEGRITY, so two can be live during key rotation (draft-uberti-rtcweb-turn-rest-00 §5.2).
    pub secrets: Vec<String>,
    /// The IP of every relayed transport address (XOR-RELAYED-ADDRESS).
    pub relay_ip: IpAddr,
    /// Live allocations per REST user (the part of USERNAME after the first ':', or all of it without
    /// one); 0 = unlimited. Exceeding it draws 486 (RFC 8656 §7.2, coturn `user-quota`).
    pub user_quota: u32,
    /// Live allocations on the whole server; 0 = unlimited. Exceeding it draws 486 (coturn
    /// `total-quota`).
    pub total_quota: u32,
    /// Allocation lifetime when the client asks for less or nothing, 600 s (RFC 8656 §6).
    pub default_lifetime: Duration,
    /// The most a client may ask for, 3600 s (RFC 8656 §7.2: the server's maximum allowed lifetime).
    pub max_lifetime: Duration,
    /// Permission lifetime, 300 s (RFC 8656 §9: "MUST be 300 seconds").
    pub permission_lifetime: Duration,
    /// Channel-binding lifetime, 600 s (RFC 8656 §12).
    pub channel_lifetime: Duration,
    /// How long a nonce stays valid after it was issued, 600 s; an older one draws 438 (RFC 8489 §9.2.4).
    pub nonce_lifetime: Duration,
}

impl Default for TurnConfig {
    /// Realm `example.org`, secret `north` (the project's TURN REST vector), relay IP 192.0.2.20, no
    /// quotas, and the RFC 8656 lifetimes.
    fn default() -> TurnConfig {
        TurnConfig {
            realm: "example.org".into(),
            secrets: vec!["north".into()],
            relay_ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 20)),
            user_quota: 0,
            total_quota: 0,
            default_lifetime: Duration::from_secs(600),
            max_lifetime: Duration::from_secs(3600),
            permission_lifetime: Duration::from_secs(300),
            channel_lifetime: Duration::from_secs(600),
            nonce_lifetime: Duration::from_secs(600),
        }
    }
}

/// What the server does in answer to one input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TurnOutput {
    /// A STUN message or ChannelData message to the client, on the 5-tuple it came from.
    ToClient {
        /// Transport of the client–server leg.
        transport: ClientTransport,
        /// The client's address as the server sees it (after any NAT).
        client: SocketAddr,
        /// The server address the client talks to (source of this message).
        server: SocketAddr,
        /// The bytes: one STUN message, or one ChannelData message (padded on TCP/TLS).
        payload: Bytes,
    },
    /// A UDP datagram from a relayed transport address to a peer (RFC 8656 §11.2, §12.6).
    ToPeer {
        /// Source: the allocation's relayed transport address.
        relay: SocketAddr,
        /// Destination: the peer.
        peer: SocketAddr,
        /// Application data, unframed: a view of the client's datagram, not a copy.
        payload: Bytes,
    },
    /// The input was discarded; the simulator records the reason in the trace.
    Dropped {
        /// Why, with the addresses involved, e.g. `no permission for 203.0.113.2 on relay 192.0.2.20:49152`.
        reason: String,
    },
}

/// The TURN REST password for `username`: base64(HMAC-SHA1(`secret`, `username`)), standard alphabet
/// with padding (draft-uberti-rtcweb-turn-rest-00 §2.2).
pub fn rest_password(secret: &str, username: &str) -> String {
    let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(username.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The TURN REST username `<expiry_unix>:<user>` (draft-uberti-rtcweb-turn-rest-00 §2.2): valid until
/// `expiry_unix` (UNIX seconds, compare [`SimTime::unix_secs`]); just `<expiry_unix>` when `user` is empty.
pub fn rest_username(expiry_unix: u64, user: &str) -> String {
    if user.is_empty() {
        expiry_unix.to_string()
    } else {
        format!("{expiry_unix}:{user}")
    }
}

/// An allocation's 5-tuple minus the protocol of the relayed leg, which is always UDP (RFC 8656 §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Tuple {
    transport: ClientTransport,
    client: SocketAddr,
    server: SocketAddr,
}

impl fmt::Display for Tuple {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} -> {}", self.transport, self.client, self.server)
    }
}

#[derive(Clone, Debug)]
struct Channel {
    peer: SocketAddr,
    expires: SimTime,
}

#[derive(Clone, Debug)]
struct Allocation {
    relay: SocketAddr,
    /// RFC 8656 §5: later requests on the allocation must use the same USERNAME (else 441).
    username: String,
    /// The REST user the quota counts against.
    user: String,
    expires: SimTime,
    /// Keyed by peer IP: permissions ignore the port (RFC 8656 §9).
    permissions: BTreeMap<IpAddr, SimTime>,
    channels: BTreeMap<u16, Channel>,
    /// The Allocate transaction and its success, resent verbatim to a retransmission (RFC 8656 §7.2).
    allocate_tid: [u8; 12],
    allocate_response: Vec<u8>,
}

impl Allocation {
    fn permits(&self, now: SimTime, ip: IpAddr) -> bool {
        self.permissions.get(&ip).is_some_and(|&exp| exp > now)
    }

    fn install_permission(&mut self, now: SimTime, ip: IpAddr, lifetime: Duration) {
        self.permissions.retain(|_, exp| *exp > now);
        self.permissions.insert(ip, now + lifetime);
    }

    fn channel_peer(&self, now: SimTime, number: u16) -> Option<SocketAddr> {
        self.channels.get(&number).filter(|c| c.expires > now).map(|c| c.peer)
    }

    fn channel_of(&self, now: SimTime, peer: SocketAddr) -> Option<u16> {
        self.channels
            .iter()
            .find(|(_, c)| c.peer == peer && c.expires > now)
            .map(|(n, _)| *n)
    }
}

/// Who an authenticated request comes from.
struct Auth {
    username: String,
    user: String,
    key: Vec<u8>,
}

/// The outcome of a TURN request handler, turned into bytes by [`TurnServer::on_request`].
enum Reply {
    Success(Vec<Attribute>),
    Error(u16, String),
    /// Already encoded: the cached answer to a retransmitted Allocate.
    Encoded(Vec<u8>),
}

/// A TURN server: allocations keyed by 5-tuple, each with one UDP relayed transport address on
/// [`TurnConfig::relay_ip`]. See the module docs for the behaviour and what is not modelled.
#[derive(Clone, Debug)]
pub struct TurnServer {
    config: TurnConfig,
    rng: SimRng,
    /// Issued nonces and when; pruned whenever a new one is issued.
    nonces: BTreeMap<String, SimTime>,
    allocations: BTreeMap<Tuple, Allocation>,
    /// Relayed transport address → the allocation's 5-tuple, for traffic from peers.
    relays: BTreeMap<SocketAddr, Tuple>,
    next_port: u16,
    /// The long-term keys of a username, one per secret in [`TurnConfig::secrets`] order, for the
    /// configured realm: deriving one (HMAC-SHA1, base64, MD5) for every request cost more than
    /// checking it. A pure function of the username, as deriving afresh would give.
    keys: Vec<(String, Vec<Vec<u8>>)>,
}

impl TurnServer {
    /// A server with no allocations. `rng` draws nonces and the transaction ids of Data indications,
    /// so the same seed gives the same bytes.
    pub fn new(config: TurnConfig, rng: SimRng) -> TurnServer {
        TurnServer {
            config,
            rng,
            nonces: BTreeMap::new(),
            allocations: BTreeMap::new(),
            relays: BTreeMap::new(),
            next_port: RELAY_PORT_MIN,
            keys: Vec::new(),
        }
    }

    /// The configuration the server runs with.
    pub fn config(&self) -> &TurnConfig {
        &self.config
    }

    /// True when `addr` is in this server's relay space ([`TurnConfig::relay_ip`], ports
    /// [`RELAY_PORT_MIN`]..=[`RELAY_PORT_MAX`]), allocated or not: the simulator hands every datagram to
    /// such an address to [`TurnServer::on_peer`], which drops it with a reason when nothing is allocated.
    pub fn is_relay(&self, addr: SocketAddr) -> bool {
        addr.ip() == self.config.relay_ip && addr.port() >= RELAY_PORT_MIN
    }

    /// Live allocations at `now` (expired ones are not counted).
    pub fn allocation_count(&self, now: SimTime) -> usize {
        self.allocations.values().filter(|a| a.expires > now).count()
    }

    /// Handles one message from a client on the 5-tuple (`transport`, `client`, `server`): a STUN
    /// request or Send indication (RFC 8656 §7–§12), or a ChannelData message (RFC 8656 §12.6).
    ///
    /// Returns the response for a request, a [`TurnOutput::ToPeer`] for relayed data, or a
    /// [`TurnOutput::Dropped`] with the reason for anything discarded (undecodable bytes, a bad
    /// FINGERPRINT, data without an allocation, permission or channel). Never panics on any input.
    pub fn on_client(
        &mut self,
        now: SimTime,
        transport: ClientTransport,
        client: SocketAddr,
        server: SocketAddr,
        payload: &Bytes,
    ) -> Vec<TurnOutput> {
        let tuple = Tuple {
            transport,
            client,
            server,
        };
        match demux(payload) {
            Demux::Stun => self.on_stun(now, tuple, payload),
            Demux::ChannelData => vec![self.on_client_channel_data(now, tuple, payload)],
            _ => vec![dropped(format!(
                "from {tuple}: neither STUN nor ChannelData ({} bytes, first byte {:#04x})",
                payload.len(),
                payload.first().copied().unwrap_or(0)
            ))],
        }
    }

    /// Handles one UDP datagram from `peer` arriving at the relayed transport address `relay`
    /// (RFC 8656 §11.3, §12.7).
    ///
    /// Delivered to the client only when the allocation is live and has a permission for the peer's IP:
    /// as ChannelData when a channel is bound to exactly `peer`, else as a Data indication
    /// (XOR-PEER-ADDRESS + DATA). Otherwise [`TurnOutput::Dropped`] with the reason.
    pub fn on_peer(&mut self, now: SimTime, relay: SocketAddr, peer: SocketAddr, payload: &[u8]) -> Vec<TurnOutput> {
        let Some(tuple) = self.relays.get(&relay).copied() else {
            return vec![dropped(format!("from {peer}: no allocation on relay {relay}"))];
        };
        let Some(alloc) = self.live(now, tuple) else {
            return vec![dropped(format!(
                "from {peer}: the allocation on relay {relay} has expired"
            ))];
        };
        if !alloc.permits(now, peer.ip()) {
            return vec![dropped(format!(
                "from {peer}: no permission for {} on relay {relay}",
                peer.ip()
            ))];
        }
        let framed = if let Some(number) = alloc.channel_of(now, peer) {
            if payload.len() > u16::MAX as usize {
                return vec![dropped(format!(
                    "from {peer}: {} bytes do not fit ChannelData",
                    payload.len()
                ))];
            }
            encode_channel_data(number, payload, tuple.transport.is_stream())
        } else {
            let addr_len = if peer.is_ipv4() { 8 } else { 20 };
            // Header length is 16 bits: XOR-PEER-ADDRESS, padded DATA and FINGERPRINT must fit.
            let body = 4 + addr_len + 4 + payload.len().div_ceil(4) * 4 + 8;
            if body > 0xFFFC {
                return vec![dropped(format!(
                    "from {peer}: {} bytes do not fit a Data indication",
                    payload.len()
                ))];
            }
            let mut tid = [0u8; 12];
            self.rng.fill(&mut tid);
            MessageBuilder::new(method::DATA, Class::Indication, tid)
                .attr(&Attribute::XorPeerAddress(peer))
                .raw_attr(attr_type::DATA, payload)
                .build(None, true)
        };
        vec![to_client(tuple, framed)]
    }

    fn on_stun(&mut self, now: SimTime, tuple: Tuple, payload: &Bytes) -> Vec<TurnOutput> {
        let msg = match Message::decode_shared(payload) {
            Ok(m) => m,
            Err(e) => return vec![dropped(format!("from {tuple}: undecodable STUN: {e}"))],
        };
        if msg.verify_fingerprint() == Some(false) {
            return vec![dropped(format!(
                "from {tuple}: {} with a wrong FINGERPRINT",
                describe(msg.method, msg.class)
            ))];
        }
        match msg.class {
            Class::Request => vec![to_client(tuple, self.on_request(now, tuple, &msg))],
            Class::Indication if msg.method == method::SEND => vec![self.on_send(now, tuple, &msg)],
            _ => vec![dropped(format!(
                "from {tuple}: {} is not handled by a TURN server",
                describe(msg.method, msg.class)
            ))],
        }
    }

    fn on_request(&mut self, now: SimTime, tuple: Tuple, req: &Message) -> Vec<u8> {
        if req.method == method::BINDING {
            // TURN extends STUN (RFC 8656 §5), so Binding is answered too; unauthenticated, as coturn does.
            let unknown = req.unknown_comprehension_required();
            if !unknown.is_empty() {
                return error_response(
                    req,
                    420,
                    "Unknown Attribute",
                    &[Attribute::UnknownAttributes(unknown)],
                    None,
                );
            }
            return MessageBuilder::new(method::BINDING, Class::Success, req.transaction_id)
                .attr(&Attribute::XorMappedAddress(tuple.client))
                .build(None, true);
        }
        let known = [
            method::ALLOCATE,
            method::REFRESH,
            method::CREATE_PERMISSION,
            method::CHANNEL_BIND,
        ];
        if !known.contains(&req.method) {
            return error_response(
                req,
                400,
                format!("Bad Request: method {:#05x} is not a TURN request", req.method),
                &[],
                None,
            );
        }
        let auth = match self.authenticate(now, req) {
            Ok(a) => a,
            Err(resp) => return resp,
        };
        // RFC 8489 §6.3.1: unknown comprehension-required attributes are checked after authentication.
        let unknown = req.unknown_comprehension_required();
        if !unknown.is_empty() {
            return error_response(
                req,
                420,
                "Unknown Attribute",
                &[Attribute::UnknownAttributes(unknown)],
                Some(&auth.key),
            );
        }
        let reply = match req.method {
            method::ALLOCATE => self.allocate(now, tuple, req, &auth),
            method::REFRESH => self.refresh(now, tuple, req, &auth),
            method::CREATE_PERMISSION => self.create_permission(now, tuple, req, &auth),
            _ => self.channel_bind(now, tuple, req, &auth),
        };
        match reply {
            Reply::Success(attrs) => {
                let mut b = MessageBuilder::new(req.method, Class::Success, req.transaction_id);
                for a in &attrs {
                    b = b.attr(a);
                }
                b.build(Some(&auth.key), true)
            }
            Reply::Error(code, reason) => error_response(req, code, reason, &[], Some(&auth.key)),
            Reply::Encoded(bytes) => bytes,
        }
    }

    /// The long-term keys (RFC 8489 §9.2.2) of `username` in the configured realm, one per secret,
    /// derived once per server (see [`TurnServer::keys`]).
    fn keys_of(&mut self, username: &str) -> &[Vec<u8>] {
        let at = match self.keys.iter().position(|(u, _)| u == username) {
            Some(at) => at,
            None => {
                let keys = self
                    .config
                    .secrets
                    .iter()
                    .map(|s| long_term_key(username, &self.config.realm, &rest_password(s, username)))
                    .collect();
                self.keys.push((username.to_string(), keys));
                self.keys.len() - 1
            }
        };
        &self.keys[at].1
    }

    /// RFC 8489 §9.2.4 with TURN REST usernames; the order is in the module docs. `Err` is the encoded
    /// error response.
    fn authenticate(&mut self, now: SimTime, req: &Message) -> Result<Auth, Vec<u8>> {
        if !req.has(attr_type::MESSAGE_INTEGRITY) {
            return Err(self.challenge(
                now,
                req,
                401,
                "Unauthorized: the request carries no MESSAGE-INTEGRITY".into(),
                None,
            ));
        }
        let username = match req.get(attr_type::USERNAME) {
            Some(Ok(Attribute::Username(u))) => u,
            _ => return Err(bad_request(req, "MESSAGE-INTEGRITY without a valid USERNAME")),
        };
        let realm = match req.get(attr_type::REALM) {
            Some(Ok(Attribute::Realm(r))) => r,
            _ => return Err(bad_request(req, "MESSAGE-INTEGRITY without a valid REALM")),
        };
        let nonce = match req.get(attr_type::NONCE) {
            Some(Ok(Attribute::Nonce(n))) => n,
            _ => return Err(bad_request(req, "MESSAGE-INTEGRITY without a valid NONCE")),
        };
        let nonce_fresh = self.nonce_is_fresh(now, &nonce);
        // A 401 with a still-valid nonce repeats it, so the client's retry does not also draw a 438.
        let keep = nonce_fresh.then(|| nonce.clone());
        if realm != self.config.realm {
            let reason = format!("Unauthorized: REALM {realm:?} is not {:?}", self.config.realm);
            return Err(self.challenge(now, req, 401, reason, keep));
        }
        let (expiry_text, user) = match username.split_once(':') {
            Some((e, u)) => (e, u),
            None => (username.as_str(), username.as_str()),
        };
        let Ok(expiry) = expiry_text.parse::<u64>() else {
            let reason = format!("Unauthorized: USERNAME {username:?} is not a TURN REST username <expiry>:<user>");
            return Err(self.challenge(now, req, 401, reason, keep));
        };
        if expiry < now.unix_secs() {
            let reason = format!(
                "Unauthorized: TURN REST credentials expired at {expiry} (server time {})",
                now.unix_secs()
            );
            return Err(self.challenge(now, req, 401, reason, keep));
        }
        let key = self
            .keys_of(&username)
            .iter()
            .find(|k| req.verify_integrity(k))
            .cloned();
        let Some(key) = key else {
            let reason = "Unauthorized: MESSAGE-INTEGRITY does not match (wrong password or secret)".to_string();
            return Err(self.challenge(now, req, 401, reason, keep));
        };
        if !nonce_fresh {
            let reason = format!("Stale Nonce: {nonce:?} is unknown or older than the nonce lifetime");
            return Err(self.challenge(now, req, 438, reason, None));
        }
        let user = user.to_string();
        Ok(Auth { username, user, key })
    }

    /// A 401 or 438 with REALM and NONCE (`nonce`, or a fresh one), unsigned (RFC 8489 §9.2.4).
    fn challenge(&mut self, now: SimTime, req: &Message, code: u16, reason: String, nonce: Option<String>) -> Vec<u8> {
        let nonce = nonce.unwrap_or_else(|| self.issue_nonce(now));
        let extra = [Attribute::Realm(self.config.realm.clone()), Attribute::Nonce(nonce)];
        error_response(req, code, reason, &extra, None)
    }

    fn nonce_is_fresh(&self, now: SimTime, nonce: &str) -> bool {
        self.nonces
            .get(nonce)
            .is_some_and(|&issued| now.saturating_since(issued) <= self.config.nonce_lifetime)
    }

    fn issue_nonce(&mut self, now: SimTime) -> String {
        let lifetime = self.config.nonce_lifetime;
        self.nonces
            .retain(|_, issued| now.saturating_since(*issued) <= lifetime);
        loop {
            let n = format!("{:016x}", self.rng.next_u64());
            if !self.nonces.contains_key(&n) {
                self.nonces.insert(n.clone(), now);
                return n;
            }
        }
    }

    /// The allocation on `tuple` if it is live at `now`; an expired one is removed on the way.
    fn live(&mut self, now: SimTime, tuple: Tuple) -> Option<&mut Allocation> {
        if self.allocations.get(&tuple).is_some_and(|a| a.expires <= now) {
            self.remove(tuple);
        }
        self.allocations.get_mut(&tuple)
    }

    fn remove(&mut self, tuple: Tuple) {
        if let Some(a) = self.allocations.remove(&tuple) {
            self.relays.remove(&a.relay);
        }
    }

    fn purge_expired(&mut self, now: SimTime) {
        let dead: Vec<Tuple> = self
            .allocations
            .iter()
            .filter(|(_, a)| a.expires <= now)
            .map(|(t, _)| *t)
            .collect();
        for t in dead {
            self.remove(t);
        }
    }

    /// The next free relayed transport address, in port order from [`RELAY_PORT_MIN`], wrapping.
    fn next_relay(&mut self, even: bool) -> Option<SocketAddr> {
        let span = (RELAY_PORT_MAX - RELAY_PORT_MIN) as usize + 1;
        for _ in 0..span {
            let port = self.next_port;
            self.next_port = if port == RELAY_PORT_MAX {
                RELAY_PORT_MIN
            } else {
                port + 1
            };
            if even && !port.is_multiple_of(2) {
                continue;
            }
            let addr = SocketAddr::new(self.config.relay_ip, port);
            if !self.relays.contains_key(&addr) {
                return Some(addr);
            }
        }
        None
    }

    /// RFC 8656 §7.2 / §8.2: min(requested, maximum), but never below the default.
    fn granted_lifetime(&self, requested: Option<u32>) -> Duration {
        match requested {
            None => self.config.default_lifetime,
            Some(secs) => Duration::from_secs(secs as u64)
                .min(self.config.max_lifetime)
                .max(self.config.default_lifetime),
        }
    }

    fn requested_lifetime(req: &Message) -> Result<Option<u32>, Reply> {
        match req.get(attr_type::LIFETIME) {
            None => Ok(None),
            Some(Ok(Attribute::Lifetime(s))) => Ok(Some(s)),
            _ => Err(Reply::Error(400, "Bad Request: malformed LIFETIME".into())),
        }
    }

    fn relay_family(&self) -> u8 {
        if self.config.relay_ip.is_ipv4() {
            0x01
        } else {
            0x02
        }
    }

    /// RFC 8656 §7.2.
    fn allocate(&mut self, now: SimTime, tuple: Tuple, req: &Message, auth: &Auth) -> Reply {
        if let Some(a) = self.live(now, tuple) {
            if a.allocate_tid == req.transaction_id {
                return Reply::Encoded(a.allocate_response.clone());
            }
            return Reply::Error(
                437,
                format!("Allocation Mismatch: {tuple} already has the allocation {}", a.relay),
            );
        }
        match req.get(attr_type::REQUESTED_TRANSPORT) {
            None => return Reply::Error(400, "Bad Request: Allocate without REQUESTED-TRANSPORT".into()),
            Some(Ok(Attribute::RequestedTransport(PROTO_UDP))) => {}
            Some(Ok(Attribute::RequestedTransport(p))) => {
                return Reply::Error(
                    442,
                    format!("Unsupported Transport Protocol: REQUESTED-TRANSPORT {p}, only UDP (17) is relayed"),
                )
            }
            Some(_) => return Reply::Error(400, "Bad Request: malformed REQUESTED-TRANSPORT".into()),
        }
        let token = req.has(attr_type::RESERVATION_TOKEN);
        let even_port = req.raw(attr_type::EVEN_PORT).map(|a| a.value);
        let family = req.raw(attr_type::REQUESTED_ADDRESS_FAMILY).map(|a| a.value);
        if token && (even_port.is_some() || family.is_some()) {
            return Reply::Error(
                400,
                "Bad Request: RESERVATION-TOKEN with EVEN-PORT or REQUESTED-ADDRESS-FAMILY".into(),
            );
        }
        if token {
            // No reservations are ever made here, so no token can be valid (RFC 8656 §7.2: 508).
            return Reply::Error(508, "Insufficient Capacity: unknown RESERVATION-TOKEN".into());
        }
        let even = match even_port {
            None => false,
            Some([flags]) if flags & 0x80 == 0 => true,
            Some([_]) => {
                return Reply::Error(
                    508,
                    "Insufficient Capacity: EVEN-PORT with R set, port reservation is not supported".into(),
                )
            }
            Some(_) => return Reply::Error(400, "Bad Request: EVEN-PORT must be 1 byte".into()),
        };
        match family {
            None => {}
            Some([f, 0, 0, 0]) if *f == self.relay_family() => {}
            Some([f, 0, 0, 0]) if *f == 0x01 || *f == 0x02 => {
                return Reply::Error(
                    440,
                    format!("Address Family not Supported: relays are on {}", self.config.relay_ip),
                )
            }
            Some(_) => return Reply::Error(400, "Bad Request: malformed REQUESTED-ADDRESS-FAMILY".into()),
        }
        let requested = match Self::requested_lifetime(req) {
            Ok(r) => r,
            Err(reply) => return reply,
        };
        self.purge_expired(now);
        let user_count = self.allocations.values().filter(|a| a.user == auth.user).count();
        if self.config.user_quota != 0 && user_count >= self.config.user_quota as usize {
            return Reply::Error(
                486,
                format!(
                    "Allocation Quota Reached: user {:?} has {user_count} of {} allocations",
                    auth.user, self.config.user_quota
                ),
            );
        }
        if self.config.total_quota != 0 && self.allocations.len() >= self.config.total_quota as usize {
            return Reply::Error(
                486,
                format!(
                    "Allocation Quota Reached: the server has {} of {} allocations",
                    self.allocations.len(),
                    self.config.total_quota
                ),
            );
        }
        let Some(relay) = self.next_relay(even) else {
            return Reply::Error(508, "Insufficient Capacity: no relay port is free".into());
        };
        let lifetime = self.granted_lifetime(requested);
        let response = MessageBuilder::new(method::ALLOCATE, Class::Success, req.transaction_id)
            .attr(&Attribute::XorRelayedAddress(relay))
            .attr(&Attribute::Lifetime(secs(lifetime)))
            .attr(&Attribute::XorMappedAddress(tuple.client))
            .build(Some(&auth.key), true);
        self.relays.insert(relay, tuple);
        self.allocations.insert(
            tuple,
            Allocation {
                relay,
                username: auth.username.clone(),
                user: auth.user.clone(),
                expires: now + lifetime,
                permissions: BTreeMap::new(),
                channels: BTreeMap::new(),
                allocate_tid: req.transaction_id,
                allocate_response: response.clone(),
            },
        );
        Reply::Encoded(response)
    }

    /// The live allocation a non-Allocate request refers to, or the error it draws (RFC 8656 §5): 437 when
    /// there is none, 441 when USERNAME differs from the one that created the allocation.
    fn allocation_for(&mut self, now: SimTime, tuple: Tuple, auth: &Auth) -> Result<&mut Allocation, Reply> {
        let Some(a) = self.live(now, tuple) else {
            return Err(Reply::Error(
                437,
                format!("Allocation Mismatch: no allocation on {tuple}"),
            ));
        };
        if a.username != auth.username {
            return Err(Reply::Error(
                441,
                format!(
                    "Wrong Credentials: the allocation belongs to {:?}, not {:?}",
                    a.username, auth.username
                ),
            ));
        }
        Ok(a)
    }

    /// RFC 8656 §8.2.
    fn refresh(&mut self, now: SimTime, tuple: Tuple, req: &Message, auth: &Auth) -> Reply {
        let requested = match Self::requested_lifetime(req) {
            Ok(r) => r,
            Err(reply) => return reply,
        };
        let family_ok = match req.raw(attr_type::REQUESTED_ADDRESS_FAMILY).map(|a| a.value) {
            None => true,
            Some(v) => v.first() == Some(&self.relay_family()),
        };
        let lifetime = self.granted_lifetime(requested);
        let alloc = match self.allocation_for(now, tuple, auth) {
            Ok(a) => a,
            Err(reply) => return reply,
        };
        if !family_ok {
            return Reply::Error(443, "Peer Address Family Mismatch: REQUESTED-ADDRESS-FAMILY".into());
        }
        if requested == Some(0) {
            self.remove(tuple);
            return Reply::Success(vec![Attribute::Lifetime(0)]);
        }
        alloc.expires = now + lifetime;
        Reply::Success(vec![Attribute::Lifetime(secs(lifetime))])
    }

    /// Every XOR-PEER-ADDRESS of `req`, decoded; 400 when one is malformed, 443 when one is not of the
    /// relay's family (RFC 8656 §10.2, §12.2).
    fn peer_addresses(&self, req: &Message) -> Result<Vec<SocketAddr>, Reply> {
        let mut peers = Vec::new();
        for raw in req.attributes().filter(|a| a.typ == attr_type::XOR_PEER_ADDRESS) {
            match Attribute::decode(raw.typ, raw.value, &req.transaction_id) {
                Ok(Attribute::XorPeerAddress(p)) => peers.push(p),
                _ => return Err(Reply::Error(400, "Bad Request: malformed XOR-PEER-ADDRESS".into())),
            }
        }
        if let Some(p) = peers.iter().find(|p| p.is_ipv4() != self.config.relay_ip.is_ipv4()) {
            return Err(Reply::Error(
                443,
                format!(
                    "Peer Address Family Mismatch: peer {p}, relay on {}",
                    self.config.relay_ip
                ),
            ));
        }
        Ok(peers)
    }

    /// RFC 8656 §10.2: all peers are checked before any permission is installed.
    fn create_permission(&mut self, now: SimTime, tuple: Tuple, req: &Message, auth: &Auth) -> Reply {
        let peers = match self.peer_addresses(req) {
            Ok(p) if p.is_empty() => {
                return Reply::Error(400, "Bad Request: CreatePermission without XOR-PEER-ADDRESS".into())
            }
            Ok(p) => p,
            Err(reply) => return reply,
        };
        let lifetime = self.config.permission_lifetime;
        let alloc = match self.allocation_for(now, tuple, auth) {
            Ok(a) => a,
            Err(reply) => return reply,
        };
        for p in peers {
            alloc.install_permission(now, p.ip(), lifetime);
        }
        Reply::Success(Vec::new())
    }

    /// RFC 8656 §12.2.
    fn channel_bind(&mut self, now: SimTime, tuple: Tuple, req: &Message, auth: &Auth) -> Reply {
        let number = match req.get(attr_type::CHANNEL_NUMBER) {
            Some(Ok(Attribute::ChannelNumber(n))) if is_valid_channel(n) => n,
            Some(Ok(Attribute::ChannelNumber(n))) => {
                return Reply::Error(
                    400,
                    format!("Bad Request: CHANNEL-NUMBER {n:#06x} is outside 0x4000..=0x4fff"),
                )
            }
            None => return Reply::Error(400, "Bad Request: ChannelBind without CHANNEL-NUMBER".into()),
            Some(_) => return Reply::Error(400, "Bad Request: malformed CHANNEL-NUMBER".into()),
        };
        let peer = match self.peer_addresses(req) {
            Ok(p) => match p.first() {
                Some(p) => *p,
                None => return Reply::Error(400, "Bad Request: ChannelBind without XOR-PEER-ADDRESS".into()),
            },
            Err(reply) => return reply,
        };
        let (permission_lifetime, channel_lifetime) = (self.config.permission_lifetime, self.config.channel_lifetime);
        let alloc = match self.allocation_for(now, tuple, auth) {
            Ok(a) => a,
            Err(reply) => return reply,
        };
        if let Some(bound) = alloc.channel_peer(now, number).filter(|b| *b != peer) {
            return Reply::Error(
                400,
                format!("Bad Request: channel {number:#06x} is bound to {bound}, not {peer}"),
            );
        }
        if let Some(other) = alloc.channel_of(now, peer).filter(|n| *n != number) {
            return Reply::Error(
                400,
                format!("Bad Request: {peer} is bound to channel {other:#06x}, not {number:#06x}"),
            );
        }
        alloc.channels.retain(|_, c| c.expires > now);
        alloc.channels.insert(
            number,
            Channel {
                peer,
                expires: now + channel_lifetime,
            },
        );
        alloc.install_permission(now, peer.ip(), permission_lifetime);
        Reply::Success(Vec::new())
    }

    /// RFC 8656 §11.2: no authentication; a Send indication does not refresh the permission (only
    /// CreatePermission and ChannelBind do, RFC 8656 §9).
    fn on_send(&mut self, now: SimTime, tuple: Tuple, msg: &Message) -> TurnOutput {
        let unknown = msg.unknown_comprehension_required();
        if !unknown.is_empty() {
            return dropped(format!(
                "from {tuple}: Send indication with unknown comprehension-required attributes {unknown:04x?}"
            ));
        }
        let peer = match msg.get(attr_type::XOR_PEER_ADDRESS) {
            Some(Ok(Attribute::XorPeerAddress(p))) => p,
            _ => {
                return dropped(format!(
                    "from {tuple}: Send indication without a valid XOR-PEER-ADDRESS"
                ))
            }
        };
        // DATA cannot be malformed: any bytes are application data.
        let Some(data) = msg.raw_shared(attr_type::DATA) else {
            return dropped(format!("from {tuple}: Send indication to {peer} without DATA"));
        };
        let Some(alloc) = self.live(now, tuple) else {
            return dropped(format!("from {tuple}: Send indication to {peer} with no allocation"));
        };
        if !alloc.permits(now, peer.ip()) {
            return dropped(format!(
                "to {peer}: no permission for {} on relay {}",
                peer.ip(),
                alloc.relay
            ));
        }
        TurnOutput::ToPeer {
            relay: alloc.relay,
            peer,
            payload: data,
        }
    }

    /// RFC 8656 §12.6: relayed only on a bound channel; it refreshes neither the channel nor the
    /// permission.
    fn on_client_channel_data(&mut self, now: SimTime, tuple: Tuple, payload: &Bytes) -> TurnOutput {
        let (number, data) = match decode_channel_data(payload) {
            Ok(x) => x,
            Err(e) => return dropped(format!("from {tuple}: bad ChannelData: {e}")),
        };
        let Some(alloc) = self.live(now, tuple) else {
            return dropped(format!("from {tuple}: ChannelData on {number:#06x} with no allocation"));
        };
        let Some(peer) = alloc.channel_peer(now, number) else {
            return dropped(format!(
                "from {tuple}: channel {number:#06x} is not bound on relay {}",
                alloc.relay
            ));
        };
        TurnOutput::ToPeer {
            relay: alloc.relay,
            peer,
            payload: payload.slice_ref(data),
        }
    }
}

fn dropped(reason: String) -> TurnOutput {
    TurnOutput::Dropped { reason }
}

fn to_client(tuple: Tuple, payload: Vec<u8>) -> TurnOutput {
    TurnOutput::ToClient {
        transport: tuple.transport,
        client: tuple.client,
        server: tuple.server,
        payload: payload.into(),
    }
}

fn secs(d: Duration) -> u32 {
    u32::try_from(d.as_secs()).unwrap_or(u32::MAX)
}

fn describe(m: u16, class: Class) -> String {
    let name = match m {
        method::BINDING => "Binding".to_string(),
        method::ALLOCATE => "Allocate".to_string(),
        method::REFRESH => "Refresh".to_string(),
        method::SEND => "Send".to_string(),
        method::DATA => "Data".to_string(),
        method::CREATE_PERMISSION => "CreatePermission".to_string(),
        method::CHANNEL_BIND => "ChannelBind".to_string(),
        other => format!("method {other:#05x}"),
    };
    let class = match class {
        Class::Request => "request",
        Class::Indication => "indication",
        Class::Success => "success response",
        Class::Error => "error response",
    };
    format!("{name} {class}")
}

/// An error response with ERROR-CODE, then `extra`, then MESSAGE-INTEGRITY when `key` is given, then
/// FINGERPRINT.
fn error_response(
    req: &Message,
    code: u16,
    reason: impl Into<String>,
    extra: &[Attribute],
    key: Option<&[u8]>,
) -> Vec<u8> {
    let mut b =
        MessageBuilder::new(req.method, Class::Error, req.transaction_id).attr(&Attribute::ErrorCode(ErrorCode {
            code,
            reason: reason.into(),
        }));
    for a in extra {
        b = b.attr(a);
    }
    b.build(key, true)
}

/// RFC 8489 §9.2.4: a 400 for MESSAGE-INTEGRITY without the attributes that give its key; unsigned.
fn bad_request(req: &Message, why: &str) -> Vec<u8> {
    error_response(req, 400, format!("Bad Request: {why}"), &[], None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::SIM_EPOCH_UNIX;
    use proptest::prelude::*;

    const SERVER: &str = "192.0.2.20:3478";

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn at(secs: u64) -> SimTime {
        SimTime::from_millis(secs * 1000)
    }

    fn server_with(config: TurnConfig) -> TurnServer {
        TurnServer::new(config, SimRng::derive(1, "turn"))
    }

    fn server() -> TurnServer {
        server_with(TurnConfig::default())
    }

    /// A REST username valid for a day after the simulated epoch.
    fn valid(user: &str) -> String {
        rest_username(SIM_EPOCH_UNIX + 86_400, user)
    }

    /// A TURN client on one 5-tuple with the REST credentials of `username` under secret `north`.
    struct Client {
        transport: ClientTransport,
        addr: SocketAddr,
        username: String,
        password: String,
        nonce: String,
        tid: u8,
    }

    impl Client {
        fn new(addr: &str, username: &str) -> Client {
            Client {
                transport: ClientTransport::Udp,
                addr: self::addr(addr),
                username: username.to_string(),
                password: rest_password("north", username),
                nonce: String::new(),
                tid: 0,
            }
        }

        fn next_tid(&mut self) -> [u8; 12] {
            self.tid += 1;
            let mut t = [0u8; 12];
            t[0] = self.tid;
            t[1..9].copy_from_slice(&self.addr.port().to_be_bytes().repeat(4));
            t
        }

        fn key(&self) -> Vec<u8> {
            long_term_key(&self.username, "example.org", &self.password)
        }

        fn signed(&self, m: u16, tid: [u8; 12], attrs: &[Attribute]) -> Vec<u8> {
            let mut b = MessageBuilder::new(m, Class::Request, tid);
            for a in attrs {
                b = b.attr(a);
            }
            b.attr(&Attribute::Username(self.username.clone()))
                .attr(&Attribute::Realm("example.org".into()))
                .attr(&Attribute::Nonce(self.nonce.clone()))
                .build(Some(&self.key()), true)
        }

        fn send(&self, s: &mut TurnServer, now: SimTime, bytes: &[u8]) -> Vec<TurnOutput> {
            s.on_client(
                now,
                self.transport,
                self.addr,
                addr(SERVER),
                &Bytes::copy_from_slice(bytes),
            )
        }

        /// Sends `bytes`, expects exactly one STUN message back on this 5-tuple.
        fn exchange(&self, s: &mut TurnServer, now: SimTime, bytes: &[u8]) -> Message {
            let out = self.send(s, now, bytes);
            assert_eq!(out.len(), 1, "{out:?}");
            match &out[0] {
                TurnOutput::ToClient {
                    transport,
                    client,
                    server,
                    payload,
                } => {
                    assert_eq!(
                        (*transport, *client, *server),
                        (self.transport, self.addr, addr(SERVER))
                    );
                    let m = Message::decode(payload).unwrap();
                    assert_eq!(m.verify_fingerprint(), Some(true));
                    m
                }
                other => panic!("expected a response, got {other:?}"),
            }
        }

        /// A signed request with the current nonce.
        fn request(&mut self, s: &mut TurnServer, now: SimTime, m: u16, attrs: &[Attribute]) -> Message {
            let tid = self.next_tid();
            let resp = self.exchange(s, now, &self.signed(m, tid, attrs));
            assert_eq!(resp.transaction_id, tid);
            resp
        }

        /// An unsigned Allocate; takes the nonce of the 401.
        fn challenge(&mut self, s: &mut TurnServer, now: SimTime) {
            let tid = self.next_tid();
            let req = MessageBuilder::new(method::ALLOCATE, Class::Request, tid)
                .attr(&Attribute::RequestedTransport(17))
                .build(None, true);
            let resp = self.exchange(s, now, &req);
            assert_eq!(error(&resp).0, 401);
            self.nonce = nonce(&resp);
        }

        /// Challenge, then a signed Allocate for UDP: the relayed address, or the error response.
        fn allocate(&mut self, s: &mut TurnServer, now: SimTime) -> Result<SocketAddr, Message> {
            self.challenge(s, now);
            let resp = self.request(s, now, method::ALLOCATE, &[Attribute::RequestedTransport(17)]);
            match resp.class {
                Class::Success => match resp.get(attr_type::XOR_RELAYED_ADDRESS) {
                    Some(Ok(Attribute::XorRelayedAddress(r))) => Ok(r),
                    other => panic!("no XOR-RELAYED-ADDRESS: {other:?}"),
                },
                _ => Err(resp),
            }
        }

        fn send_indication(&self, s: &mut TurnServer, now: SimTime, peer: SocketAddr, data: &[u8]) -> Vec<TurnOutput> {
            let req = MessageBuilder::new(method::SEND, Class::Indication, [0x5E; 12])
                .attr(&Attribute::XorPeerAddress(peer))
                .raw_attr(attr_type::DATA, data)
                .build(None, true);
            self.send(s, now, &req)
        }
    }

    fn error(m: &Message) -> (u16, String) {
        assert_eq!(m.class, Class::Error, "{m:?}");
        match m.get(attr_type::ERROR_CODE) {
            Some(Ok(Attribute::ErrorCode(e))) => (e.code, e.reason),
            other => panic!("no ERROR-CODE: {other:?}"),
        }
    }

    fn nonce(m: &Message) -> String {
        match m.get(attr_type::NONCE) {
            Some(Ok(Attribute::Nonce(n))) => n,
            other => panic!("no NONCE: {other:?}"),
        }
    }

    fn lifetime(m: &Message) -> u32 {
        match m.get(attr_type::LIFETIME) {
            Some(Ok(Attribute::Lifetime(l))) => l,
            other => panic!("no LIFETIME: {other:?}"),
        }
    }

    fn reason_of(out: &[TurnOutput]) -> String {
        match out {
            [TurnOutput::Dropped { reason }] => reason.clone(),
            other => panic!("expected one Dropped, got {other:?}"),
        }
    }

    fn to_client_payload(out: &[TurnOutput]) -> Vec<u8> {
        match out {
            [TurnOutput::ToClient { payload, .. }] => payload.to_vec(),
            other => panic!("expected one ToClient, got {other:?}"),
        }
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn rest_credentials_match_the_vector() {
        // Secret `north`, username `1735689600:alice`: HMAC-SHA1, base64 (draft-uberti-rtcweb-turn-rest-00 §2.2).
        assert_eq!(rest_username(1_735_689_600, "alice"), "1735689600:alice");
        assert_eq!(rest_username(1_735_689_600, ""), "1735689600");
        let password = rest_password("north", "1735689600:alice");
        assert_eq!(password, "HbvWA6hGDtdv3wflBolXLhvzs0w=");
        assert_eq!(
            hex(&long_term_key("1735689600:alice", "example.org", &password)),
            "15fe1d291db14ef2a00c206559e9d387"
        );
    }

    #[test]
    fn allocate_needs_credentials_then_succeeds() {
        let mut s = server();
        let mut c = Client::new("203.0.113.1:40000", &valid("alice"));
        let req = MessageBuilder::new(method::ALLOCATE, Class::Request, [1; 12])
            .attr(&Attribute::RequestedTransport(17))
            .build(None, true);
        let resp = c.exchange(&mut s, at(0), &req);
        assert_eq!(error(&resp).0, 401);
        assert_eq!(
            resp.get(attr_type::REALM),
            Some(Ok(Attribute::Realm("example.org".into())))
        );
        assert!(!resp.has(attr_type::MESSAGE_INTEGRITY));
        c.nonce = nonce(&resp);
        assert_eq!(c.nonce.len(), 16);

        let resp = c.request(&mut s, at(1), method::ALLOCATE, &[Attribute::RequestedTransport(17)]);
        assert_eq!(resp.class, Class::Success);
        assert!(resp.verify_integrity(&c.key()));
        assert_eq!(
            resp.get(attr_type::XOR_RELAYED_ADDRESS),
            Some(Ok(Attribute::XorRelayedAddress(addr("192.0.2.20:49152"))))
        );
        assert_eq!(
            resp.get(attr_type::XOR_MAPPED_ADDRESS),
            Some(Ok(Attribute::XorMappedAddress(c.addr)))
        );
        assert_eq!(lifetime(&resp), 600);
        assert!(s.is_relay(addr("192.0.2.20:49152")));
        assert!(!s.is_relay(addr("192.0.2.20:3478")));
        assert!(!s.is_relay(addr("192.0.2.21:49152")));

        // Ports are handed out in order; a second client on the same host port but another transport
        // is another 5-tuple.
        let mut d = Client::new("203.0.113.1:40000", &valid("bob"));
        d.transport = ClientTransport::Tcp;
        assert_eq!(d.allocate(&mut s, at(2)).unwrap(), addr("192.0.2.20:49153"));
        assert_eq!(s.allocation_count(at(2)), 2);
    }

    #[test]
    fn expired_rest_credentials_draw_401() {
        let mut s = server();
        // The vector's username expired on 2025-01-01; the simulation runs in 2026.
        let mut c = Client::new("203.0.113.1:40000", "1735689600:alice");
        c.challenge(&mut s, at(0));
        let resp = c.request(&mut s, at(0), method::ALLOCATE, &[Attribute::RequestedTransport(17)]);
        let (code, reason) = error(&resp);
        assert_eq!(code, 401);
        assert!(reason.contains("expired"), "{reason}");
        assert!(!resp.has(attr_type::MESSAGE_INTEGRITY));
        assert!(resp.has(attr_type::REALM));
        // The nonce was still good, so the 401 repeats it.
        assert_eq!(nonce(&resp), c.nonce);

        // Valid until the very second of expiry, rejected one second later.
        let mut c = Client::new("203.0.113.1:40001", &rest_username(SIM_EPOCH_UNIX + 10, "alice"));
        assert!(c.allocate(&mut s, at(10)).is_ok());
        let resp = c.request(&mut s, at(11), method::REFRESH, &[]);
        assert_eq!(error(&resp).0, 401);
    }

    #[test]
    fn wrong_password_and_wrong_realm_draw_401() {
        let mut s = server();
        let mut c = Client::new("203.0.113.1:40000", &valid("alice"));
        c.password = rest_password("south", &c.username);
        let err = c.allocate(&mut s, at(0)).unwrap_err();
        let (code, reason) = error(&err);
        assert_eq!(code, 401);
        assert!(reason.contains("MESSAGE-INTEGRITY"), "{reason}");
        assert_eq!(s.allocation_count(at(0)), 0);

        let mut c = Client::new("203.0.113.1:40001", &valid("alice"));
        c.challenge(&mut s, at(0));
        let req = MessageBuilder::new(method::ALLOCATE, Class::Request, [9; 12])
            .attr(&Attribute::RequestedTransport(17))
            .attr(&Attribute::Username(c.username.clone()))
            .attr(&Attribute::Realm("example.com".into()))
            .attr(&Attribute::Nonce(c.nonce.clone()))
            .build(Some(&long_term_key(&c.username, "example.com", &c.password)), true);
        let (code, reason) = error(&c.exchange(&mut s, at(0), &req));
        assert_eq!(code, 401);
        assert!(reason.contains("REALM"), "{reason}");

        // MESSAGE-INTEGRITY without NONCE: 400.
        let req = MessageBuilder::new(method::ALLOCATE, Class::Request, [10; 12])
            .attr(&Attribute::RequestedTransport(17))
            .attr(&Attribute::Username(c.username.clone()))
            .attr(&Attribute::Realm("example.org".into()))
            .build(Some(&c.key()), true);
        assert_eq!(error(&c.exchange(&mut s, at(0), &req)).0, 400);
    }

    #[test]
    fn either_secret_is_accepted_during_rotation() {
        let mut s = server_with(TurnConfig {
            secrets: vec!["old".into(), "north".into()],
            ..TurnConfig::default()
        });
        let mut c = Client::new("203.0.113.1:40000", &valid("alice"));
        assert!(c.allocate(&mut s, at(0)).is_ok());
        let mut d = Client::new("203.0.113.2:40000", &valid("bob"));
        d.password = rest_password("old", &d.username);
        assert!(d.allocate(&mut s, at(0)).is_ok());
        let mut e = Client::new("203.0.113.3:40000", &valid("carol"));
        e.password = rest_password("ancient", &e.username);
        assert_eq!(error(&e.allocate(&mut s, at(0)).unwrap_err()).0, 401);
    }

    #[test]
    fn stale_or_unknown_nonce_draws_438_with_a_fresh_one() {
        let mut s = server();
        let mut c = Client::new("203.0.113.1:40000", &valid("alice"));
        c.allocate(&mut s, at(0)).unwrap();
        assert_eq!(c.request(&mut s, at(300), method::REFRESH, &[]).class, Class::Success);
        // Exactly the nonce lifetime old is still fresh.
        assert_eq!(c.request(&mut s, at(600), method::REFRESH, &[]).class, Class::Success);
        let old = c.nonce.clone();
        let resp = c.request(&mut s, at(601), method::REFRESH, &[]);
        let (code, reason) = error(&resp);
        assert_eq!(code, 438);
        assert!(reason.contains("Stale Nonce"), "{reason}");
        assert!(resp.has(attr_type::REALM));
        c.nonce = nonce(&resp);
        assert_ne!(c.nonce, old);
        // The 438 did not touch the allocation, refreshed at 600 s.
        assert_eq!(c.request(&mut s, at(601), method::REFRESH, &[]).class, Class::Success);

        c.nonce = "not-issued".into();
        assert_eq!(error(&c.request(&mut s, at(602), method::REFRESH, &[])).0, 438);
    }

    #[test]
    fn user_quota_draws_486_and_counts_per_rest_user() {
        let mut s = server_with(TurnConfig {
            user_quota: 1,
            ..TurnConfig::default()
        });
        let mut a1 = Client::new("203.0.113.1:40000", &valid("alice"));
        a1.allocate(&mut s, at(0)).unwrap();
        // Another expiry, same REST user: the quota is per user, not per username.
        let mut a2 = Client::new("203.0.113.1:40001", &rest_username(SIM_EPOCH_UNIX + 99_999, "alice"));
        let (code, reason) = error(&a2.allocate(&mut s, at(1)).unwrap_err());
        assert_eq!(code, 486);
        assert!(reason.contains("alice"), "{reason}");
        let mut b = Client::new("203.0.113.1:40002", &valid("bob"));
        assert!(b.allocate(&mut s, at(1)).is_ok());
    }

    #[test]
    fn total_quota_draws_486() {
        let mut s = server_with(TurnConfig {
            total_quota: 2,
            ..TurnConfig::default()
        });
        for (i, user) in ["alice", "bob"].iter().enumerate() {
            let mut c = Client::new(&format!("203.0.113.{}:40000", i + 1), &valid(user));
            c.allocate(&mut s, at(0)).unwrap();
        }
        let mut c = Client::new("203.0.113.3:40000", &valid("carol"));
        let (code, reason) = error(&c.allocate(&mut s, at(0)).unwrap_err());
        assert_eq!(code, 486);
        assert!(reason.contains("server"), "{reason}");
    }

    #[test]
    fn an_expired_allocation_frees_its_quota() {
        let mut s = server_with(TurnConfig {
            user_quota: 1,
            ..TurnConfig::default()
        });
        let mut a1 = Client::new("203.0.113.1:40000", &valid("alice"));
        let r1 = a1.allocate(&mut s, at(0)).unwrap();
        let mut a2 = Client::new("203.0.113.1:40001", &valid("alice"));
        assert_eq!(error(&a2.allocate(&mut s, at(599)).unwrap_err()).0, 486);
        let r2 = a2.allocate(&mut s, at(600)).unwrap();
        assert_ne!(r1, r2);
        assert_eq!(s.allocation_count(at(600)), 1);
        // The expired allocation is gone for its own client too.
        a1.challenge(&mut s, at(600));
        assert_eq!(error(&a1.request(&mut s, at(600), method::REFRESH, &[])).0, 437);
        let peer_out = s.on_peer(at(600), r1, addr("198.51.100.7:5000"), b"late");
        assert!(reason_of(&peer_out).contains("no allocation"), "{peer_out:?}");
    }

    #[test]
    fn second_allocate_draws_437_but_a_retransmission_gets_the_same_answer() {
        let mut s = server();
        let mut c = Client::new("203.0.113.1:40000", &valid("alice"));
        c.challenge(&mut s, at(0));
        let tid = c.next_tid();
        let req = c.signed(method::ALLOCATE, tid, &[Attribute::RequestedTransport(17)]);
        let first = c.exchange(&mut s, at(0), &req);
        assert_eq!(first.class, Class::Success);
        let again = c.exchange(&mut s, at(1), &req);
        assert_eq!(again.as_bytes(), first.as_bytes());

        let resp = c.request(&mut s, at(2), method::ALLOCATE, &[Attribute::RequestedTransport(17)]);
        let (code, reason) = error(&resp);
        assert_eq!(code, 437);
        assert!(reason.contains("192.0.2.20:49152"), "{reason}");
        assert!(resp.verify_integrity(&c.key()));
        assert_eq!(s.allocation_count(at(2)), 1);

        let mut d = Client::new("203.0.113.2:40000", &valid("bob"));
        d.challenge(&mut s, at(0));
        assert_eq!(error(&d.request(&mut s, at(0), method::REFRESH, &[])).0, 437);
        let peer = Attribute::XorPeerAddress(addr("198.51.100.7:5000"));
        assert_eq!(
            error(&d.request(&mut s, at(0), method::CREATE_PERMISSION, &[peer])).0,
            437
        );
    }

    #[test]
    fn requested_transport_must_be_udp() {
        let mut s = server();
        let mut c = Client::new("203.0.113.1:40000", &valid("alice"));
        c.challenge(&mut s, at(0));
        let (code, reason) = error(&c.request(&mut s, at(0), method::ALLOCATE, &[Attribute::RequestedTransport(6)]));
        assert_eq!(code, 442);
        assert!(reason.contains("REQUESTED-TRANSPORT 6"), "{reason}");
        assert_eq!(error(&c.request(&mut s, at(0), method::ALLOCATE, &[])).0, 400);
        assert_eq!(s.allocation_count(at(0)), 0);
    }

    #[test]
    fn another_username_on_the_allocation_draws_441() {
        let mut s = server();
        let mut c = Client::new("203.0.113.1:40000", &valid("alice"));
        c.allocate(&mut s, at(0)).unwrap();
        c.username = rest_username(SIM_EPOCH_UNIX + 99_999, "alice");
        c.password = rest_password("north", &c.username);
        assert_eq!(error(&c.request(&mut s, at(1), method::REFRESH, &[])).0, 441);
    }

    #[test]
    fn without_permission_both_directions_are_dropped() {
        let mut s = server();
        let mut c = Client::new("203.0.113.1:40000", &valid("alice"));
        let relay = c.allocate(&mut s, at(0)).unwrap();
        let peer = addr("198.51.100.7:5000");
        let reason = reason_of(&c.send_indication(&mut s, at(1), peer, b"hello"));
        assert_eq!(
            reason,
            "to 198.51.100.7:5000: no permission for 198.51.100.7 on relay 192.0.2.20:49152"
        );
        let reason = reason_of(&s.on_peer(at(1), relay, peer, b"hi"));
        assert!(
            reason.contains("no permission for 198.51.100.7 on relay 192.0.2.20:49152"),
            "{reason}"
        );
        // Data to a relay port nobody holds.
        let reason = reason_of(&s.on_peer(at(1), addr("192.0.2.20:50000"), peer, b"hi"));
        assert!(reason.contains("no allocation on relay 192.0.2.20:50000"), "{reason}");
    }

    #[test]
    fn permission_relays_send_and_peer_data_then_channel_bind_switches_to_channel_data() {
        let mut s = server();
        let mut c = Client::new("203.0.113.1:40000", &valid("alice"));
        let relay = c.allocate(&mut s, at(0)).unwrap();
        let peer = addr("198.51.100.7:5000");
        // The permission is for the IP; the port in XOR-PEER-ADDRESS does not matter.
        let perm = Attribute::XorPeerAddress(addr("198.51.100.7:1"));
        let resp = c.request(&mut s, at(1), method::CREATE_PERMISSION, &[perm]);
        assert_eq!(resp.class, Class::Success);
        assert!(resp.verify_integrity(&c.key()));

        assert_eq!(
            c.send_indication(&mut s, at(2), peer, b"hello"),
            vec![TurnOutput::ToPeer {
                relay,
                peer,
                payload: Bytes::from_static(b"hello")
            }]
        );
        // Another IP still has no permission.
        let other = addr("198.51.100.8:5000");
        assert!(reason_of(&c.send_indication(&mut s, at(2), other, b"x")).contains("no permission"));

        let data = Message::decode(&to_client_payload(&s.on_peer(at(3), relay, peer, b"pong"))).unwrap();
        assert_eq!((data.method, data.class), (method::DATA, Class::Indication));
        assert_eq!(
            data.get(attr_type::XOR_PEER_ADDRESS),
            Some(Ok(Attribute::XorPeerAddress(peer)))
        );
        assert_eq!(data.get(attr_type::DATA), Some(Ok(Attribute::Data(b"pong".to_vec()))));

        let bind = [Attribute::ChannelNumber(0x4001), Attribute::XorPeerAddress(peer)];
        assert_eq!(
            c.request(&mut s, at(4), method::CHANNEL_BIND, &bind).class,
            Class::Success
        );
        let framed = to_client_payload(&s.on_peer(at(5), relay, peer, b"pong"));
        assert_eq!(framed, encode_channel_data(0x4001, b"pong", false));
        // Same IP, another port: permitted, but no channel for that exact address.
        let data = Message::decode(&to_client_payload(&s.on_peer(
            at(5),
            relay,
            addr("198.51.100.7:5001"),
            b"p",
        )))
        .unwrap();
        assert_eq!(data.method, method::DATA);

        let out = c.send(&mut s, at(6), &encode_channel_data(0x4001, b"ping", false));
        assert_eq!(
            out,
            vec![TurnOutput::ToPeer {
                relay,
                peer,
                payload: Bytes::from_static(b"ping")
            }]
        );
        let reason = reason_of(&c.send(&mut s, at(6), &encode_channel_data(0x4002, b"ping", false)));
        assert!(reason.contains("channel 0x4002 is not bound"), "{reason}");
    }

    #[test]
    fn permissions_and_channels_expire() {
        let mut s = server();
        let mut c = Client::new("203.0.113.1:40000", &valid("alice"));
        let relay = c.allocate(&mut s, at(0)).unwrap();
        let peer = addr("198.51.100.7:5000");
        let bind = [Attribute::ChannelNumber(0x4001), Attribute::XorPeerAddress(peer)];
        assert_eq!(
            c.request(&mut s, at(0), method::CHANNEL_BIND, &bind).class,
            Class::Success
        );
        assert_eq!(c.request(&mut s, at(250), method::REFRESH, &[]).class, Class::Success);
        assert!(matches!(
            s.on_peer(at(299), relay, peer, b"x")[..],
            [TurnOutput::ToClient { .. }]
        ));
        // ChannelBind installed the permission for 300 s; the channel itself lives 600 s.
        assert!(reason_of(&s.on_peer(at(300), relay, peer, b"x")).contains("no permission"));
        let out = c.send(&mut s, at(300), &encode_channel_data(0x4001, b"y", false));
        assert!(matches!(out[..], [TurnOutput::ToPeer { .. }]), "{out:?}");
        let out = c.send(&mut s, at(600), &encode_channel_data(0x4001, b"y", false));
        assert!(reason_of(&out).contains("not bound"));
        // After expiry the number may be bound to another peer.
        c.challenge(&mut s, at(600));
        let rebind = [
            Attribute::ChannelNumber(0x4001),
            Attribute::XorPeerAddress(addr("198.51.100.9:1")),
        ];
        assert_eq!(
            c.request(&mut s, at(600), method::CHANNEL_BIND, &rebind).class,
            Class::Success
        );
    }

    #[test]
    fn channel_bind_conflicts_and_bad_numbers_draw_400() {
        let mut s = server();
        let mut c = Client::new("203.0.113.1:40000", &valid("alice"));
        c.allocate(&mut s, at(0)).unwrap();
        let a = addr("198.51.100.7:5000");
        let b = addr("198.51.100.8:5000");
        let bind = |n, p| [Attribute::ChannelNumber(n), Attribute::XorPeerAddress(p)];
        assert_eq!(
            c.request(&mut s, at(1), method::CHANNEL_BIND, &bind(0x4001, a)).class,
            Class::Success
        );
        // Rebinding the same pair refreshes it.
        assert_eq!(
            c.request(&mut s, at(2), method::CHANNEL_BIND, &bind(0x4001, a)).class,
            Class::Success
        );
        let (code, reason) = error(&c.request(&mut s, at(3), method::CHANNEL_BIND, &bind(0x4001, b)));
        assert_eq!(code, 400);
        assert!(
            reason.contains("channel 0x4001 is bound to 198.51.100.7:5000"),
            "{reason}"
        );
        let (code, reason) = error(&c.request(&mut s, at(3), method::CHANNEL_BIND, &bind(0x4002, a)));
        assert_eq!(code, 400);
        assert!(reason.contains("bound to channel 0x4001"), "{reason}");
        assert_eq!(
            error(&c.request(&mut s, at(3), method::CHANNEL_BIND, &bind(0x3FFF, b))).0,
            400
        );
        assert_eq!(
            error(&c.request(&mut s, at(3), method::CHANNEL_BIND, &bind(0x5000, b))).0,
            400
        );
        let only_number = [Attribute::ChannelNumber(0x4003)];
        assert_eq!(
            error(&c.request(&mut s, at(3), method::CHANNEL_BIND, &only_number)).0,
            400
        );
        assert_eq!(error(&c.request(&mut s, at(3), method::CREATE_PERMISSION, &[])).0, 400);
        let v6 = [Attribute::XorPeerAddress(addr("[2001:db8::1]:5000"))];
        assert_eq!(error(&c.request(&mut s, at(3), method::CREATE_PERMISSION, &v6)).0, 443);
    }

    #[test]
    fn refresh_clamps_lifetime_and_zero_deletes() {
        let mut s = server();
        let mut c = Client::new("203.0.113.1:40000", &valid("alice"));
        let relay = c.allocate(&mut s, at(0)).unwrap();
        let resp = c.request(&mut s, at(1), method::REFRESH, &[Attribute::Lifetime(100_000)]);
        assert_eq!(lifetime(&resp), 3600);
        assert!(resp.verify_integrity(&c.key()));
        assert_eq!(
            lifetime(&c.request(&mut s, at(1), method::REFRESH, &[Attribute::Lifetime(60)])),
            600
        );
        // The 3600 s refresh was replaced by the 600 s one.
        assert_eq!(s.allocation_count(at(600)), 1);
        assert_eq!(s.allocation_count(at(601)), 0);

        let perm = [Attribute::XorPeerAddress(addr("198.51.100.7:5000"))];
        assert_eq!(
            c.request(&mut s, at(2), method::CREATE_PERMISSION, &perm).class,
            Class::Success
        );
        let resp = c.request(&mut s, at(3), method::REFRESH, &[Attribute::Lifetime(0)]);
        assert_eq!((resp.class, lifetime(&resp)), (Class::Success, 0));
        assert_eq!(s.allocation_count(at(3)), 0);
        let peer = addr("198.51.100.7:5000");
        assert!(reason_of(&s.on_peer(at(4), relay, peer, b"x")).contains("no allocation"));
        assert!(reason_of(&c.send_indication(&mut s, at(4), peer, b"x")).contains("no allocation"));
        assert_eq!(
            error(&c.request(&mut s, at(4), method::REFRESH, &[Attribute::Lifetime(0)])).0,
            437
        );
        // The 5-tuple is free again; the freed port is not reused right away.
        let resp = c.request(&mut s, at(5), method::ALLOCATE, &[Attribute::RequestedTransport(17)]);
        assert_eq!(
            resp.get(attr_type::XOR_RELAYED_ADDRESS),
            Some(Ok(Attribute::XorRelayedAddress(addr("192.0.2.20:49153"))))
        );
    }

    #[test]
    fn allocate_honours_lifetime_and_even_port() {
        let mut s = server();
        let mut c = Client::new("203.0.113.1:40000", &valid("alice"));
        c.allocate(&mut s, at(0)).unwrap(); // takes 49152
        let mut d = Client::new("203.0.113.2:40000", &valid("bob"));
        d.challenge(&mut s, at(0));
        let attrs = [
            Attribute::RequestedTransport(17),
            Attribute::Lifetime(1200),
            Attribute::Unknown {
                typ: attr_type::EVEN_PORT,
                value: vec![0],
            },
        ];
        let resp = d.request(&mut s, at(0), method::ALLOCATE, &attrs);
        assert_eq!(lifetime(&resp), 1200);
        assert_eq!(
            resp.get(attr_type::XOR_RELAYED_ADDRESS),
            Some(Ok(Attribute::XorRelayedAddress(addr("192.0.2.20:49154"))))
        );
        let mut e = Client::new("203.0.113.3:40000", &valid("carol"));
        e.challenge(&mut s, at(0));
        let v6 = [
            Attribute::RequestedTransport(17),
            Attribute::Unknown {
                typ: attr_type::REQUESTED_ADDRESS_FAMILY,
                value: vec![2, 0, 0, 0],
            },
        ];
        assert_eq!(error(&e.request(&mut s, at(0), method::ALLOCATE, &v6)).0, 440);
    }

    #[test]
    fn tcp_clients_get_padded_channel_data() {
        let mut s = server();
        let mut c = Client::new("203.0.113.1:40000", &valid("alice"));
        c.transport = ClientTransport::Tls;
        let relay = c.allocate(&mut s, at(0)).unwrap();
        let peer = addr("198.51.100.7:5000");
        let bind = [Attribute::ChannelNumber(0x4ABC), Attribute::XorPeerAddress(peer)];
        assert_eq!(
            c.request(&mut s, at(0), method::CHANNEL_BIND, &bind).class,
            Class::Success
        );
        let framed = to_client_payload(&s.on_peer(at(1), relay, peer, b"abc"));
        assert_eq!(framed, vec![0x4A, 0xBC, 0, 3, b'a', b'b', b'c', 0]);
        // Padded ChannelData from the client is accepted.
        let out = c.send(&mut s, at(1), &encode_channel_data(0x4ABC, b"xyz", true));
        assert_eq!(
            out,
            vec![TurnOutput::ToPeer {
                relay,
                peer,
                payload: Bytes::from_static(b"xyz")
            }]
        );
    }

    #[test]
    fn binding_is_answered_and_garbage_is_dropped() {
        let mut s = server();
        let c = Client::new("203.0.113.1:40000", &valid("alice"));
        let req = MessageBuilder::new(method::BINDING, Class::Request, [3; 12]).build(None, true);
        let resp = c.exchange(&mut s, at(0), &req);
        assert_eq!(resp.class, Class::Success);
        assert_eq!(
            resp.get(attr_type::XOR_MAPPED_ADDRESS),
            Some(Ok(Attribute::XorMappedAddress(c.addr)))
        );

        assert!(reason_of(&c.send(&mut s, at(0), &[0x80, 0, 0, 0])).contains("neither STUN nor ChannelData"));
        assert!(reason_of(&c.send(&mut s, at(0), &[0, 1, 0])).contains("undecodable STUN"));
        assert!(reason_of(&c.send(&mut s, at(0), &[0x40, 0, 0, 9])).contains("bad ChannelData"));
        let mut bad_fp = req.clone();
        *bad_fp.last_mut().unwrap() ^= 1;
        assert!(reason_of(&c.send(&mut s, at(0), &bad_fp)).contains("wrong FINGERPRINT"));
        let success = MessageBuilder::new(method::ALLOCATE, Class::Success, [4; 12]).build(None, false);
        assert!(reason_of(&c.send(&mut s, at(0), &success)).contains("Allocate success response"));
        let unknown = MessageBuilder::new(0x0FF, Class::Request, [5; 12]).build(None, false);
        assert_eq!(error(&c.exchange(&mut s, at(0), &unknown)).0, 400);
    }

    #[test]
    fn same_seed_same_bytes() {
        let run = || {
            let mut s = server();
            let mut c = Client::new("203.0.113.1:40000", &valid("alice"));
            let relay = c.allocate(&mut s, at(0)).unwrap();
            let perm = [Attribute::XorPeerAddress(addr("198.51.100.7:5000"))];
            c.request(&mut s, at(1), method::CREATE_PERMISSION, &perm);
            let data = s.on_peer(at(2), relay, addr("198.51.100.7:5000"), b"x");
            (c.nonce, data)
        };
        assert_eq!(run(), run());
        let other = TurnServer::new(TurnConfig::default(), SimRng::derive(2, "turn")).issue_nonce(at(0));
        assert_ne!(run().0, other);
    }

    proptest! {
        #[test]
        fn arbitrary_input_never_panics(b in proptest::collection::vec(any::<u8>(), 0..120), first in 0u8..0x50) {
            let mut s = server();
            let mut c = Client::new("203.0.113.1:40000", &valid("alice"));
            let relay = c.allocate(&mut s, at(0)).unwrap();
            let mut b = b;
            if let Some(x) = b.first_mut() {
                *x = first;
            }
            for out in c.send(&mut s, at(1), &b) {
                let relayed = matches!(out, TurnOutput::ToPeer { .. });
                prop_assert!(!relayed, "relayed without permission: {:?}", out);
            }
            let _ = s.on_peer(at(1), relay, addr("198.51.100.7:5000"), &b);
        }
    }
}
