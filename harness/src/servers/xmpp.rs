//! An XMPP server model: bound client sessions, presence broadcast, RFC 6121 routing, XEP-0280
//! Message Carbons, disco#info and XEP-0215 external service discovery.
//!
//! Streams, SASL and resource binding are taken as done before the run starts: each client is bound to
//! its full JID at time 0. An account may have several sessions (a party's devices,
//! `party@example.org/device1` …). Every party's account has a mutual presence subscription with every
//! other (a shared roster), as callers and callees in a scenario know each other; presence also
//! reaches the account's own other resources.
//!
//! Routing (RFC 6121 §8.5): a message to a bare JID goes to every available resource with
//! non-negative priority (or is stored while there is none); to a full JID, to that resource, or as if
//! to the bare JID when that resource is unavailable. Carbons (XEP-0280): a resource that enabled
//! them gets a `<received/>` copy of each chat message its account receives on another resource, and
//! a `<sent/>` copy of each chat message another of its resources sends.

use minidom::Element;

use crate::xml::{bare, carbon_payload, el, iq_error, iq_result, ns, set_attr, BuilderExt, CarbonKind};

/// One XEP-0215 `<service/>` entry the server hands out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtService {
    /// `stun`, `turn`, `stuns`, `turns`.
    pub kind: String,
    /// Host (an IP literal inside the simulator).
    pub host: String,
    /// Port.
    pub port: u16,
    /// `udp` or `tcp`.
    pub transport: String,
    /// Short-term credentials, when the service needs them.
    pub username: Option<String>,
    /// Password for `username`.
    pub password: Option<String>,
    /// XEP-0082 dateTime when the credentials expire.
    pub expires: Option<String>,
    /// Time-limited TURN REST credentials minted per requesting user instead of fixed ones.
    pub rest: Option<RestCredentials>,
}

/// How the server mints TURN REST credentials (draft-uberti-behave-turn-rest §2.2;
/// draft-uberti-rtcweb-turn-rest-00 §2.2):
/// `username = expiry[:user]`, `password = base64(HMAC-SHA1(secret, username))`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestCredentials {
    /// The secret shared with the TURN server.
    pub secret: String,
    /// Expiry of the credentials, UNIX seconds (simulated calendar, see [`crate::time::SIM_EPOCH_UNIX`]).
    pub expiry_unix: u64,
    /// The user part: `None` puts the requester's localpart in it; `Some(u)` gives every account
    /// the same user `u` (Prosody's mod_turn_external with a fixed `turn_external_user`), so a
    /// per-user TURN quota is shared by everyone on the server.
    pub shared_user: Option<String>,
}

/// XEP-0082 dateTime (`2026-01-02T00:00:00Z`) of a UNIX time in seconds.
pub fn xep0082_datetime(unix: u64) -> String {
    // Days-to-civil conversion for the proleptic Gregorian calendar (H. Hinnant's algorithm).
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

struct Session {
    jid: String,
    presence: Option<Element>,
    /// The client said `<inactive/>` (XEP-0352) and has not said `<active/>` since.
    inactive: bool,
    /// Stanzas held while inactive, delivered in order on `<active/>`.
    held: Vec<Element>,
    /// It enabled XEP-0280 carbons (and has not disabled them).
    carbons: bool,
}

/// What the server holds for a CSI-inactive client (XEP-0352 §2 leaves it to the server;
/// docs/field-failures.md §CSI holding JMI messages).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CsiPolicy {
    /// Deliver everything at once (a conformant server for calls).
    #[default]
    None,
    /// Hold messages without a body, JMI included (Openfire before OF-2750, older Prosody mod_csi_simple).
    QueueBodyless,
    /// Hold bodyless messages except JMI ("jingle call" exempt, newer Prosody and Openfire).
    QueueExceptJmi,
}

impl CsiPolicy {
    fn holds(self, m: &Element) -> bool {
        let bodyless = m.name() == "message" && !m.has_child("body", ns::CLIENT);
        // A carbon copy of a JMI message is as urgent as the message: it stops the ringing.
        let inner = carbon_payload(m).map(|(_, inner)| inner).unwrap_or(m);
        match self {
            CsiPolicy::None => false,
            CsiPolicy::QueueBodyless => bodyless,
            CsiPolicy::QueueExceptJmi => bodyless && !inner.children().any(|c| c.has_ns(ns::JMI)),
        }
    }
}

/// Messages held for an account with no available resource (RFC 6121 §8.5.2.2.1 allows storing
/// them; JMI messages carry a store hint, XEP-0353 §3).
struct Offline {
    bare: String,
    stanza: Element,
}

/// The server. Pure: it takes a stanza from a client and returns the stanzas to deliver, by client
/// index; the simulator adds the latency.
pub struct XmppServer {
    /// The server's domain (`example.org`).
    pub domain: String,
    sessions: Vec<Session>,
    services: Vec<ExtService>,
    offline: Vec<Offline>,
    csi: CsiPolicy,
    /// XEP-0280 is offered.
    carbons: bool,
}

/// Features the server advertises in disco#info (with [`ns::CARBONS`] when carbons are offered).
const SERVER_FEATURES: &[&str] = &[ns::DISCO_INFO, ns::EXTDISCO, ns::CSI];

/// Whether a message is copied to the account's other resources (XEP-0280 §6: type chat; not a
/// carbon itself; not marked `<private/>` with a `<no-copy/>` hint).
fn carbon_eligible(m: &Element) -> bool {
    m.name() == "message"
        && m.attr("type") == Some("chat")
        && carbon_payload(m).is_none()
        && !(m.has_child("private", ns::CARBONS) && m.has_child("no-copy", ns::HINTS))
}

/// The carbon copy of `original` for resource `to` of account `account`: from the bare JID,
/// `<sent|received xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'>` around it.
fn carbon(kind: CarbonKind, account: &str, to: &str, original: &Element) -> Element {
    el("message", ns::CLIENT)
        .a("from", account)
        .a("to", to)
        .a("type", "chat")
        .append(
            el(kind.name(), ns::CARBONS)
                .append(el("forwarded", ns::FORWARD).append(original.clone()).build())
                .build(),
        )
        .build()
}

impl XmppServer {
    /// A server for `domain` with these external services and one bound session per JID in `clients`
    /// (client index = position).
    pub fn new(domain: &str, clients: &[String], services: Vec<ExtService>) -> XmppServer {
        XmppServer {
            domain: domain.to_string(),
            sessions: clients
                .iter()
                .map(|j| Session {
                    jid: j.clone(),
                    presence: None,
                    inactive: false,
                    held: Vec::new(),
                    carbons: false,
                })
                .collect(),
            services,
            offline: Vec::new(),
            csi: CsiPolicy::None,
            carbons: true,
        }
    }

    /// The server offering XEP-0280 carbons (`true`, the default) or not: then an enable request
    /// draws service-unavailable and no copies are made.
    pub fn with_carbons(mut self, offered: bool) -> XmppServer {
        self.carbons = offered;
        self
    }

    /// The server with this CSI policy.
    pub fn with_csi(mut self, csi: CsiPolicy) -> XmppServer {
        self.csi = csi;
        self
    }

    fn index_of_full(&self, jid: &str) -> Option<usize> {
        self.sessions.iter().position(|s| s.jid == jid)
    }

    /// Available resources of a bare JID with non-negative priority (RFC 6121 §8.5.2.1.1), in session order.
    fn available_resources(&self, bare_jid: &str) -> Vec<usize> {
        self.sessions
            .iter()
            .enumerate()
            .filter(|(_, s)| bare(&s.jid) == bare_jid && s.presence.is_some())
            .filter(|(_, s)| {
                let prio: i32 = s
                    .presence
                    .as_ref()
                    .and_then(|p| p.get_child("priority", ns::CLIENT))
                    .and_then(|p| p.text().trim().parse().ok())
                    .unwrap_or(0);
                prio >= 0
            })
            .map(|(i, _)| i)
            .collect()
    }

    fn has_account(&self, bare_jid: &str) -> bool {
        self.sessions.iter().any(|s| bare(&s.jid) == bare_jid)
    }

    /// Handles one stanza (or CSI nonza) sent by client `from_idx`; returns deliveries as (client
    /// index, stanza). Deliveries to a CSI-inactive client that the policy holds are kept until it
    /// says `<active/>`.
    pub fn handle(&mut self, from_idx: usize, stanza: Element) -> Vec<(usize, Element)> {
        if stanza.has_ns(ns::CSI) {
            match stanza.name() {
                "inactive" => self.sessions[from_idx].inactive = true,
                "active" => {
                    self.sessions[from_idx].inactive = false;
                    let held = std::mem::take(&mut self.sessions[from_idx].held);
                    return held.into_iter().map(|s| (from_idx, s)).collect();
                }
                _ => {}
            }
            return Vec::new();
        }
        let mut out = Vec::new();
        for (i, s) in self.handle_stanza(from_idx, stanza) {
            if self.sessions[i].inactive && self.csi.holds(&s) {
                self.sessions[i].held.push(s);
            } else {
                out.push((i, s));
            }
        }
        out
    }

    fn handle_stanza(&mut self, from_idx: usize, mut stanza: Element) -> Vec<(usize, Element)> {
        let from = self.sessions[from_idx].jid.clone();
        // The server stamps the sender's full JID, whatever the client wrote (RFC 6120 §8.1.2.1).
        set_attr(&mut stanza, "from", from.clone());
        let to = stanza.attr("to").map(str::to_string);
        let mut out = Vec::new();
        match stanza.name() {
            "presence" => match to {
                None => {
                    let first = self.sessions[from_idx].presence.is_none();
                    let available = stanza.attr("type").is_none();
                    self.sessions[from_idx].presence = if available { Some(stanza.clone()) } else { None };
                    for (i, s) in self.sessions.iter().enumerate() {
                        if i != from_idx {
                            let mut p = stanza.clone();
                            set_attr(&mut p, "to", s.jid.clone());
                            out.push((i, p));
                        }
                    }
                    if first && available {
                        // Initial presence: the server sends the client its contacts' current presence,
                        // then the messages it held while the account was offline.
                        for (i, s) in self.sessions.iter().enumerate() {
                            if i != from_idx {
                                if let Some(p) = &s.presence {
                                    let mut p = p.clone();
                                    set_attr(&mut p, "to", from.clone());
                                    out.push((from_idx, p));
                                }
                            }
                        }
                        let me = bare(&from).to_string();
                        let (mine, rest): (Vec<Offline>, Vec<Offline>) = std::mem::take(&mut self.offline)
                            .into_iter()
                            .partition(|o| o.bare == me);
                        self.offline = rest;
                        out.extend(mine.into_iter().map(|o| (from_idx, o.stanza)));
                    }
                }
                Some(to) => out.extend(self.route(&to, stanza)),
            },
            "iq" => match to.as_deref() {
                None => out.extend(self.handle_own_iq(from_idx, &stanza)),
                Some(t) if t == self.domain => out.extend(self.handle_own_iq(from_idx, &stanza)),
                Some(t) => {
                    if let Some(i) = self.index_of_full(t).filter(|i| self.sessions[*i].presence.is_some()) {
                        out.push((i, stanza));
                    } else if matches!(stanza.attr("type"), Some("get" | "set")) {
                        // RFC 6121 §8.5.3.2.1 / §8.5.2.2.1: no such resource, or an IQ to a bare JID the
                        // server answers itself.
                        out.push((from_idx, iq_error(&stanza, t, "cancel", "service-unavailable", None)));
                    }
                }
            },
            "message" => {
                let Some(to) = to else { return out };
                let copies = self.sessions.iter().any(|s| s.carbons) && carbon_eligible(&stanza);
                let original = copies.then(|| stanza.clone());
                out.extend(self.route(&to, stanza));
                if let Some(m) = original {
                    let got: Vec<usize> = out.iter().map(|(i, _)| *i).collect();
                    out.extend(self.carbons_of(from_idx, &to, &m, &got));
                }
            }
            _ => {
                if let Some(to) = to {
                    out.extend(self.route(&to, stanza));
                }
            }
        }
        out
    }

    /// XEP-0280 copies of chat message `m`, which client `from_idx` sent to `to` and clients `got`
    /// received: `<sent/>` to the sender's other carbons-enabled resources, `<received/>` to the
    /// recipient account's carbons-enabled resources that did not get it (those with negative
    /// priority, or the others when it went to one full JID). Available resources only.
    fn carbons_of(&self, from_idx: usize, to: &str, m: &Element, got: &[usize]) -> Vec<(usize, Element)> {
        let sender = bare(&self.sessions[from_idx].jid).to_string();
        let recipient = bare(to);
        let mut out = Vec::new();
        for (i, s) in self.sessions.iter().enumerate() {
            if !s.carbons || s.presence.is_none() || i == from_idx || got.contains(&i) {
                continue;
            }
            let account = bare(&s.jid);
            let kind = if account == sender {
                CarbonKind::Sent
            } else if account == recipient {
                CarbonKind::Received
            } else {
                continue;
            };
            out.push((i, carbon(kind, account, &s.jid, m)));
        }
        out
    }

    fn route(&mut self, to: &str, stanza: Element) -> Vec<(usize, Element)> {
        if to.contains('/') {
            if let Some(i) = self.index_of_full(to).filter(|i| self.sessions[*i].presence.is_some()) {
                return vec![(i, stanza)];
            }
            // A message to an unavailable full JID is handled like one to the bare JID (RFC 6121 §8.5.3.2.1).
            if stanza.name() != "message" {
                return Vec::new();
            }
        }
        let b = bare(to);
        if !self.has_account(b) {
            return Vec::new();
        }
        let targets = self.available_resources(b);
        if targets.is_empty() {
            if stanza.name() == "message" && matches!(stanza.attr("type"), None | Some("chat" | "normal")) {
                self.offline.push(Offline {
                    bare: b.to_string(),
                    stanza,
                });
            }
            return Vec::new();
        }
        // A copy for each resource but the last, which takes the stanza itself.
        let (&last, others) = targets.split_last().expect("no targets returned above");
        let mut out: Vec<(usize, Element)> = others.iter().map(|&i| (i, stanza.clone())).collect();
        out.push((last, stanza));
        out
    }

    fn handle_own_iq(&mut self, from_idx: usize, iq: &Element) -> Vec<(usize, Element)> {
        let domain = self.domain.clone();
        let typ = iq.attr("type").unwrap_or("");
        if typ == "result" || typ == "error" {
            return Vec::new();
        }
        let result = |payload: Element| {
            el("iq", ns::CLIENT)
                .a("type", "result")
                .a_opt("id", iq.attr("id"))
                .a_opt("to", iq.attr("from"))
                .a("from", domain.clone())
                .append(payload)
                .build()
        };
        // XEP-0280 §4: enable or disable carbons for this session; the account answers.
        let toggle = ["enable", "disable"].into_iter().find(|n| iq.has_child(n, ns::CARBONS));
        if let (true, "set", Some(n)) = (self.carbons, typ, toggle) {
            self.sessions[from_idx].carbons = n == "enable";
            let account = bare(&self.sessions[from_idx].jid).to_string();
            return vec![(from_idx, iq_result(iq, &account))];
        }
        if typ == "get" && iq.has_child("query", ns::DISCO_INFO) {
            let mut q = el("query", ns::DISCO_INFO).append(
                el("identity", ns::DISCO_INFO)
                    .a("category", "server")
                    .a("type", "im")
                    .build(),
            );
            let carbons = self.carbons.then_some(ns::CARBONS);
            for f in SERVER_FEATURES.iter().copied().chain(carbons) {
                q = q.append(el("feature", ns::DISCO_INFO).a("var", f).build());
            }
            return vec![(from_idx, result(q.build()))];
        }
        if typ == "get" && iq.has_child("services", ns::EXTDISCO) {
            let want = iq
                .get_child("services", ns::EXTDISCO)
                .and_then(|s| s.attr("type"))
                .map(str::to_string);
            let mut q = el("services", ns::EXTDISCO);
            for s in self
                .services
                .iter()
                .filter(|s| want.as_deref().is_none_or(|w| w == s.kind))
            {
                let (username, password, expires) = match &s.rest {
                    Some(r) => {
                        let user = r.shared_user.clone().unwrap_or_else(|| {
                            self.sessions[from_idx]
                                .jid
                                .split('@')
                                .next()
                                .unwrap_or_default()
                                .to_string()
                        });
                        let u = crate::servers::turn::rest_username(r.expiry_unix, &user);
                        let p = crate::servers::turn::rest_password(&r.secret, &u);
                        (Some(u), Some(p), Some(xep0082_datetime(r.expiry_unix)))
                    }
                    None => (s.username.clone(), s.password.clone(), s.expires.clone()),
                };
                q = q.append(
                    el("service", ns::EXTDISCO)
                        .a("type", s.kind.clone())
                        .a("host", s.host.clone())
                        .a("port", s.port.to_string())
                        .a("transport", s.transport.clone())
                        .a_opt("restricted", username.as_ref().map(|_| "true"))
                        .a_opt("username", username)
                        .a_opt("password", password)
                        .a_opt("expires", expires)
                        .build(),
                );
            }
            return vec![(from_idx, result(q.build()))];
        }
        vec![(from_idx, iq_error(iq, &domain, "cancel", "service-unavailable", None))]
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn xep0082_dates() {
        assert_eq!(super::xep0082_datetime(1_735_689_600), "2025-01-01T00:00:00Z");
        assert_eq!(
            super::xep0082_datetime(1_767_225_600 + 86_400 + 3723),
            "2026-01-02T01:02:03Z"
        );
        assert_eq!(super::xep0082_datetime(951_782_400), "2000-02-29T00:00:00Z");
    }

    use super::*;

    fn parse(s: &str) -> Element {
        s.parse().unwrap()
    }

    #[test]
    fn presence_broadcast_and_chat_to_bare_jid_reaches_available_resources() {
        let mut s = XmppServer::new(
            "example.org",
            &["a@example.org/1".into(), "b@example.org/2".into()],
            vec![],
        );
        let p = parse("<presence xmlns='jabber:client'/>");
        let out = s.handle(0, p.clone());
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].0, 1);
        assert_eq!(out[0].1.attr("from"), Some("a@example.org/1"));
        // b comes online and gets a's presence.
        let out = s.handle(1, p);
        assert_eq!(out.iter().map(|(i, _)| *i).collect::<Vec<_>>(), vec![0, 1]);
        let m = parse("<message xmlns='jabber:client' to='b@example.org' type='chat'><x xmlns='y'/></message>");
        let out = s.handle(0, m);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].0, 1);
    }

    #[test]
    fn chat_to_an_offline_account_is_held_until_initial_presence() {
        let mut s = XmppServer::new(
            "example.org",
            &["a@example.org/1".into(), "b@example.org/2".into()],
            vec![],
        );
        s.handle(0, parse("<presence xmlns='jabber:client'/>"));
        let m = parse("<message xmlns='jabber:client' to='b@example.org' type='chat'><x xmlns='y'/></message>");
        assert!(s.handle(0, m).is_empty());
        let out = s.handle(1, parse("<presence xmlns='jabber:client'/>"));
        assert_eq!(out.last().unwrap().0, 1);
        assert_eq!(out.last().unwrap().1.name(), "message");
    }

    /// Two devices of b (carbons enabled on both) and a: what each client index receives.
    fn two_devices(carbons_offered: bool) -> XmppServer {
        let mut s = XmppServer::new(
            "example.org",
            &[
                "a@example.org/device1".into(),
                "b@example.org/device1".into(),
                "b@example.org/device2".into(),
            ],
            vec![],
        )
        .with_carbons(carbons_offered);
        for i in 0..3 {
            s.handle(i, parse("<presence xmlns='jabber:client'/>"));
        }
        for i in 1..3 {
            let out = s.handle(
                i,
                parse("<iq xmlns='jabber:client' type='set' id='c1'><enable xmlns='urn:xmpp:carbons:2'/></iq>"),
            );
            assert_eq!(out.len(), 1);
            let want = if carbons_offered { "result" } else { "error" };
            assert_eq!(out[0].1.attr("type"), Some(want));
        }
        s
    }

    fn jmi(to: &str, what: &str) -> Element {
        parse(&format!(
            "<message xmlns='jabber:client' to='{to}' type='chat'><{what} xmlns='urn:xmpp:jingle-message:0' id='s1'/>\
             <store xmlns='urn:xmpp:hints'/></message>"
        ))
    }

    #[test]
    fn chat_to_a_bare_jid_reaches_every_device_and_needs_no_carbon() {
        let mut s = two_devices(true);
        let out = s.handle(0, jmi("b@example.org", "propose"));
        assert_eq!(out.iter().map(|(i, _)| *i).collect::<Vec<_>>(), vec![1, 2]);
        assert!(out.iter().all(|(_, m)| carbon_payload(m).is_none()));
    }

    #[test]
    fn carbons_copy_sent_and_received_chat_to_the_other_devices() {
        let mut s = two_devices(true);
        // b's device2 answers a: a gets the proceed, b's device1 a <sent/> copy from b's bare JID.
        let out = s.handle(2, jmi("a@example.org/device1", "proceed"));
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].0, 0);
        assert_eq!(out[0].1.attr("from"), Some("b@example.org/device2"));
        let (to, copy) = &out[1];
        assert_eq!(*to, 1);
        assert_eq!(copy.attr("from"), Some("b@example.org"));
        assert_eq!(copy.attr("to"), Some("b@example.org/device1"));
        let (kind, inner) = carbon_payload(copy).unwrap();
        assert_eq!(kind, CarbonKind::Sent);
        assert_eq!(inner.attr("from"), Some("b@example.org/device2"));
        assert!(inner.has_child("proceed", ns::JMI));
        // a writes to b's device2: device1 gets a <received/> copy.
        let out = s.handle(0, jmi("b@example.org/device2", "finish"));
        assert_eq!(out.iter().map(|(i, _)| *i).collect::<Vec<_>>(), vec![2, 1]);
        assert_eq!(carbon_payload(&out[1].1).unwrap().0, CarbonKind::Received);
        // IQs and presence are never copied; a disabled resource gets nothing.
        s.handle(
            1,
            parse("<iq xmlns='jabber:client' type='set' id='c2'><disable xmlns='urn:xmpp:carbons:2'/></iq>"),
        );
        assert_eq!(s.handle(2, jmi("a@example.org/device1", "reject")).len(), 1);
    }

    #[test]
    fn a_carbon_of_jmi_is_exempt_where_jmi_is_and_held_where_jmi_is_held() {
        for (csi, delivered) in [(CsiPolicy::QueueExceptJmi, 2), (CsiPolicy::QueueBodyless, 1)] {
            let mut s = two_devices(true).with_csi(csi);
            s.handle(1, parse("<inactive xmlns='urn:xmpp:csi:0'/>"));
            let out = s.handle(2, jmi("a@example.org/device1", "proceed"));
            assert_eq!(out.len(), delivered, "{csi:?}");
        }
    }

    #[test]
    fn without_carbons_the_other_device_hears_nothing() {
        let mut s = two_devices(false);
        let out = s.handle(2, jmi("a@example.org/device1", "proceed"));
        assert_eq!(out.iter().map(|(i, _)| *i).collect::<Vec<_>>(), vec![0]);
        let disco = parse(
            "<iq xmlns='jabber:client' type='get' id='d'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>",
        );
        let has_carbons = |s: &mut XmppServer| {
            s.handle(0, disco.clone())[0]
                .1
                .get_child("query", ns::DISCO_INFO)
                .unwrap()
                .children()
                .any(|f| f.attr("var") == Some(ns::CARBONS))
        };
        assert!(!has_carbons(&mut s));
        assert!(has_carbons(&mut two_devices(true)));
    }

    #[test]
    fn iq_to_unknown_full_jid_is_service_unavailable() {
        let mut s = XmppServer::new("example.org", &["a@example.org/1".into()], vec![]);
        let iq = parse("<iq xmlns='jabber:client' type='get' id='x' to='b@example.org/9'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>");
        let out = s.handle(0, iq);
        assert_eq!(out[0].1.attr("type"), Some("error"));
        assert!(out[0]
            .1
            .get_child("error", ns::CLIENT)
            .unwrap()
            .has_child("service-unavailable", ns::STANZAS));
    }
}
