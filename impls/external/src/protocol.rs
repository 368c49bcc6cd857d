//! The wire format of the endpoint protocol `jingle-interop/endpoint/1` (impls/external/PROTOCOL.md):
//! one JSON object per line, UTF-8, ended by `\n`, told apart by its `type`. Both directions are here
//! with their conversions to and from the [`endpoint_contract::endpoint`] types, so the adapter and the
//! `reference-endpoint` binary share one definition.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;
use endpoint_contract::endpoint::{CallClaim, EndpointConfig, EndpointEvent, IceState, Ics, Input, Output, UserAction};
use endpoint_contract::SimRng;
use endpoint_contract::SimTime;
use minidom::Element;
use serde::{Deserialize, Serialize};

/// The protocol name and version, sent in `config` and echoed in `hello`.
pub const PROTOCOL: &str = "jingle-interop/endpoint/1";

/// A line from the harness to the process: the `config` line first, then one input per line.
/// Every input carries `now_us`, the simulated time in microseconds since the run began; it never
/// decreases.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ToProcess {
    /// Who the endpoint is; the first line, answered like an input.
    Config(Config),
    /// A UDP datagram arrived on `local` from `remote`.
    Datagram {
        /// Simulated time, µs.
        now_us: u64,
        /// The host address and port it arrived on.
        local: SocketAddr,
        /// Where it came from, as seen by the host.
        remote: SocketAddr,
        /// UDP payload, base64 (RFC 4648 §4, padded).
        #[serde(with = "b64")]
        payload: Vec<u8>,
    },
    /// A stanza from the XMPP server, as XML text (namespace `jabber:client` declared on it).
    Stanza {
        /// Simulated time, µs.
        now_us: u64,
        /// The stanza.
        xml: String,
    },
    /// A scripted user action: `call` (with `to` and `media`), `answer`, `reject`, `hangup`,
    /// `go-inactive`, `go-active`.
    User {
        /// Simulated time, µs.
        now_us: u64,
        /// The action's name as in scenarios.
        action: String,
        /// `call` only: the callee's bare JID.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<String>,
        /// `call` only: media types (`audio`, `video`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        media: Option<Vec<String>>,
    },
    /// The time the process last asked for (`done.next_timeout_us`) has come.
    Timeout {
        /// Simulated time, µs.
        now_us: u64,
    },
    /// The host's interfaces changed: datagrams may now be sent only from these addresses.
    InterfacesChanged {
        /// Simulated time, µs.
        now_us: u64,
        /// The host's addresses now.
        interfaces: Vec<IpAddr>,
    },
    /// The stream the process opened with `id` is established.
    StreamOpened {
        /// Simulated time, µs.
        now_us: u64,
        /// The process's stream id.
        id: u64,
        /// Its own end of the stream.
        local: SocketAddr,
    },
    /// The stream `id` could not be opened or was reset.
    StreamFailed {
        /// Simulated time, µs.
        now_us: u64,
        /// The process's stream id.
        id: u64,
        /// Why, for logs.
        reason: String,
    },
    /// One message arrived on stream `id`.
    StreamData {
        /// Simulated time, µs.
        now_us: u64,
        /// The process's stream id.
        id: u64,
        /// The message, base64.
        #[serde(with = "b64")]
        payload: Vec<u8>,
    },
}

/// The `config` line: everything an endpoint is created with ([`EndpointConfig`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Always [`PROTOCOL`]; a process that does not speak it exits.
    pub protocol: String,
    /// Scenario party name (`caller`).
    pub party: String,
    /// Full JID the server bound (`caller@example.org/device1`).
    pub jid: String,
    /// Domain of the XMPP server (`example.org`).
    pub server: String,
    /// The host's addresses; datagrams may be sent only from these.
    pub interfaces: Vec<IpAddr>,
    /// The endpoint's random stream.
    pub rng: RngState,
    /// Knobs the scenario set for this party, as text.
    pub knobs: BTreeMap<String, String>,
}

/// The state of the endpoint's seeded random stream ([`SimRng::state`]): rand_chacha's `ChaCha8Rng`
/// keyed with `key`, stream 0, at `word_pos` 32-bit words into its keystream. A program with its own
/// generator seeds that from `key`; it must draw no other randomness.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RngState {
    /// 32 bytes, 64 lower-case hex digits.
    pub key: String,
    /// Position in the keystream in 32-bit words (0 for a fresh stream).
    pub word_pos: u64,
}

/// A line from the process to the harness. The answer to each harness line is any number of
/// outputs (after `config`: an optional `hello` instead) and then exactly one `done`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum FromProcess {
    /// First line of the answer to `config`, optional: the protocol it speaks and its ICS.
    Hello {
        /// Must be [`PROTOCOL`].
        protocol: String,
        /// What it supports; absent fields take the defaults of [`IcsDecl`].
        #[serde(default)]
        ics: IcsDecl,
    },
    /// Send a UDP datagram from `local` (an address of the host) to `remote`.
    Datagram {
        /// Source address and port on the host.
        local: SocketAddr,
        /// Destination.
        remote: SocketAddr,
        /// UDP payload, base64.
        #[serde(with = "b64")]
        payload: Vec<u8>,
    },
    /// Send a stanza to the XMPP server, as XML text with its namespace declared.
    Stanza {
        /// The stanza.
        xml: String,
    },
    /// Open a TCP (or TLS) stream from `local` to `remote`; answered later by `stream-opened` or
    /// `stream-failed` with the same `id`.
    StreamOpen {
        /// The process's stream id, unique for it.
        id: u64,
        /// Source address on the host.
        local: SocketAddr,
        /// The server.
        remote: SocketAddr,
        /// TLS over TCP.
        tls: bool,
    },
    /// Write one message (a STUN message or a ChannelData frame) on an open stream.
    StreamSend {
        /// The process's stream id.
        id: u64,
        /// The message, base64.
        #[serde(with = "b64")]
        payload: Vec<u8>,
    },
    /// Claim: call state as the user would see it (`proposed`, `ringing`, `connected`, `ended`).
    CallState {
        /// The state.
        state: String,
    },
    /// Claim: ICE agent state (`checking`, `connected`, `completed`, `failed`).
    IceState {
        /// The state.
        state: String,
    },
    /// Claim: the pair it selected.
    SelectedPair {
        /// Local base address.
        local: SocketAddr,
        /// Remote candidate address.
        remote: SocketAddr,
    },
    /// Claim: the first SRTP packet from the peer authenticated (RFC 3711 §3.3).
    MediaAuthenticated {},
    /// The end of an answer: when the process next wants a `timeout` input, in simulated µs since
    /// the run began; `null` (or absent) when it waits for nothing.
    Done {
        /// Next wake-up, µs.
        #[serde(default)]
        next_timeout_us: Option<u64>,
    },
}

/// The ICS a process declares in `hello` ([`Ics`] without the name, which is the registered one).
/// Absent fields take the default: `jmi` true, `trickle` false, `rtcp_mux` false, `renomination`
/// `none`, `turn_transports` empty, `ice_restart` false.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IcsDecl {
    /// Sends and answers XEP-0353 Jingle Message Initiation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jmi: Option<bool>,
    /// Trickles candidates (RFC 8838).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trickle: Option<bool>,
    /// Offers and accepts rtcp-mux.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtcp_mux: Option<bool>,
    /// `none`, `legacy-c001` or `renomination2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renomination: Option<String>,
    /// TURN client transports, of `udp`, `tcp`, `tls`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn_transports: Option<Vec<String>>,
    /// Can perform an ICE restart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ice_restart: Option<bool>,
}

impl IcsDecl {
    /// Every field of `ics` but its name.
    pub fn from_ics(ics: &Ics) -> IcsDecl {
        IcsDecl {
            jmi: Some(ics.jmi),
            trickle: Some(ics.trickle),
            rtcp_mux: Some(ics.rtcp_mux),
            renomination: Some(ics.renomination.as_str().to_string()),
            turn_transports: Some(ics.turn_transports.clone()),
            ice_restart: Some(ics.ice_restart),
        }
    }

    /// The ICS registered as `name`, defaults filled in.
    ///
    /// Errors: a renomination flavour or TURN transport outside the lists above.
    pub fn into_ics(self, name: &str) -> Result<Ics, String> {
        let named = self.renomination.unwrap_or_else(|| "none".into());
        let Some(renomination) = endpoint_contract::Renomination::from_name(&named) else {
            return Err(format!(
                "ics.renomination `{named}` is not none, legacy-c001 or renomination2"
            ));
        };
        let turn_transports = self.turn_transports.unwrap_or_default();
        if let Some(t) = turn_transports
            .iter()
            .find(|t| !["udp", "tcp", "tls"].contains(&t.as_str()))
        {
            return Err(format!("ics.turn_transports: `{t}` is not udp, tcp or tls"));
        }
        Ok(Ics {
            name: name.to_string(),
            jmi: self.jmi.unwrap_or(true),
            trickle: self.trickle.unwrap_or(false),
            rtcp_mux: self.rtcp_mux.unwrap_or(false),
            renomination,
            turn_transports,
            ice_restart: self.ice_restart.unwrap_or(false),
            unseeded_stun_transaction_ids: false,
            dtls_srtp_media: false,
            stack: None,
        })
    }
}

impl Config {
    /// The `config` line for `cfg`.
    pub fn from_endpoint_config(cfg: &EndpointConfig) -> Config {
        let (key, word_pos) = cfg.rng.state();
        Config {
            protocol: PROTOCOL.to_string(),
            party: cfg.party.clone(),
            jid: cfg.jid.clone(),
            server: cfg.server.clone(),
            interfaces: cfg.interfaces.clone(),
            rng: RngState {
                key: key.iter().map(|b| format!("{b:02x}")).collect(),
                // 2^64 words is 64 EiB of randomness: no run gets near it.
                word_pos: u64::try_from(word_pos).expect("a random stream drawn past 2^64 words"),
            },
            knobs: cfg.knobs.clone(),
        }
    }

    /// The [`EndpointConfig`] this line describes, with the random stream exactly where the
    /// harness's was.
    ///
    /// Errors: another protocol, or a key that is not 64 hex digits.
    pub fn into_endpoint_config(self) -> Result<EndpointConfig, String> {
        self.into_endpoint_config_of(PROTOCOL)
    }

    /// [`Config::into_endpoint_config`] for a line of `protocol` (`jingle-interop/live/1` shares
    /// this `config`).
    ///
    /// Errors: as [`Config::into_endpoint_config`].
    pub fn into_endpoint_config_of(self, protocol: &str) -> Result<EndpointConfig, String> {
        if self.protocol != protocol {
            return Err(format!("protocol `{}`, this speaks {protocol}", self.protocol));
        }
        let k = self.rng.key.as_bytes();
        if k.len() != 64 || !k.iter().all(u8::is_ascii_hexdigit) {
            return Err("rng.key is not 64 hex digits".into());
        }
        let mut key = [0u8; 32];
        for (i, b) in key.iter_mut().enumerate() {
            *b = u8::from_str_radix(&self.rng.key[2 * i..2 * i + 2], 16).expect("checked hex");
        }
        Ok(EndpointConfig {
            party: self.party,
            jid: self.jid,
            server: self.server,
            interfaces: self.interfaces,
            rng: SimRng::from_state(key, u128::from(self.rng.word_pos)),
            // An external program is a simulated endpoint; a live shell sets this itself.
            knobs: self.knobs,
            live: false,
        })
    }
}

impl ToProcess {
    /// The line for `input` at `now`.
    pub fn from_input(now: SimTime, input: &Input) -> ToProcess {
        let now_us = now.as_micros();
        match input {
            Input::Datagram { local, remote, payload } => ToProcess::Datagram {
                now_us,
                local: *local,
                remote: *remote,
                payload: payload.to_vec(),
            },
            Input::Stanza(e) => ToProcess::Stanza {
                now_us,
                xml: endpoint_contract::xml::to_string(e),
            },
            Input::User(a) => {
                let (to, media) = match a {
                    UserAction::Call { to, media } => (Some(to.clone()), Some(media.clone())),
                    _ => (None, None),
                };
                ToProcess::User {
                    now_us,
                    action: a.name().to_string(),
                    to,
                    media,
                }
            }
            Input::Timeout => ToProcess::Timeout { now_us },
            Input::InterfacesChanged(ifs) => ToProcess::InterfacesChanged {
                now_us,
                interfaces: ifs.clone(),
            },
            Input::StreamOpened { id, local } => ToProcess::StreamOpened {
                now_us,
                id: *id,
                local: *local,
            },
            Input::StreamFailed { id, reason } => ToProcess::StreamFailed {
                now_us,
                id: *id,
                reason: reason.clone(),
            },
            Input::StreamData { id, payload } => ToProcess::StreamData {
                now_us,
                id: *id,
                payload: payload.to_vec(),
            },
        }
    }

    /// The `type` of this line (`datagram`, `config`), for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            ToProcess::Config(_) => "config",
            ToProcess::Datagram { .. } => "datagram",
            ToProcess::Stanza { .. } => "stanza",
            ToProcess::User { .. } => "user",
            ToProcess::Timeout { .. } => "timeout",
            ToProcess::InterfacesChanged { .. } => "interfaces-changed",
            ToProcess::StreamOpened { .. } => "stream-opened",
            ToProcess::StreamFailed { .. } => "stream-failed",
            ToProcess::StreamData { .. } => "stream-data",
        }
    }

    /// The input this line carries and its time; `None` for `config`.
    ///
    /// Errors: an unknown user action, `call` without `to` or `media` (or another action with
    /// them), a stanza that is not well-formed XML.
    pub fn into_input(self) -> Result<Option<(SimTime, Input)>, String> {
        let at = SimTime::from_micros;
        Ok(Some(match self {
            ToProcess::Config(_) => return Ok(None),
            ToProcess::Datagram {
                now_us,
                local,
                remote,
                payload,
            } => (
                at(now_us),
                Input::Datagram {
                    local,
                    remote,
                    payload: Bytes::from(payload),
                },
            ),
            ToProcess::Stanza { now_us, xml } => (at(now_us), Input::Stanza(parse_xml(&xml)?.into())),
            ToProcess::User {
                now_us,
                action,
                to,
                media,
            } => {
                let a = match (action.as_str(), to, media) {
                    ("call", Some(to), Some(media)) => UserAction::Call { to, media },
                    ("call", ..) => return Err("user action call needs `to` and `media`".into()),
                    (_, Some(_), _) | (_, _, Some(_)) => {
                        return Err(format!("user action {action} takes no `to` or `media`"))
                    }
                    ("answer", ..) => UserAction::Answer,
                    ("reject", ..) => UserAction::Reject,
                    ("hangup", ..) => UserAction::Hangup,
                    ("go-inactive", ..) => UserAction::GoInactive,
                    ("go-active", ..) => UserAction::GoActive,
                    (other, ..) => return Err(format!("unknown user action `{other}`")),
                };
                (at(now_us), Input::User(a))
            }
            ToProcess::Timeout { now_us } => (at(now_us), Input::Timeout),
            ToProcess::InterfacesChanged { now_us, interfaces } => (at(now_us), Input::InterfacesChanged(interfaces)),
            ToProcess::StreamOpened { now_us, id, local } => (at(now_us), Input::StreamOpened { id, local }),
            ToProcess::StreamFailed { now_us, id, reason } => (at(now_us), Input::StreamFailed { id, reason }),
            ToProcess::StreamData { now_us, id, payload } => (
                at(now_us),
                Input::StreamData {
                    id,
                    payload: Bytes::from(payload),
                },
            ),
        }))
    }
}

impl FromProcess {
    /// The line for `out`; `None` for [`Output::Fault`], which adapters make and no process sends.
    pub fn from_output(out: &Output) -> Option<FromProcess> {
        Some(match out {
            Output::Datagram { local, remote, payload } => FromProcess::Datagram {
                local: *local,
                remote: *remote,
                payload: payload.to_vec(),
            },
            Output::Stanza(e) => FromProcess::Stanza {
                xml: endpoint_contract::xml::to_string(e),
            },
            Output::StreamOpen { id, local, remote, tls } => FromProcess::StreamOpen {
                id: *id,
                local: *local,
                remote: *remote,
                tls: *tls,
            },
            Output::StreamSend { id, payload } => FromProcess::StreamSend {
                id: *id,
                payload: payload.to_vec(),
            },
            Output::Event(EndpointEvent::CallState(s)) => FromProcess::CallState { state: s.to_string() },
            Output::Event(EndpointEvent::IceState(s)) => FromProcess::IceState {
                state: s.as_str().to_string(),
            },
            Output::Event(EndpointEvent::SelectedPair { local, remote }) => FromProcess::SelectedPair {
                local: *local,
                remote: *remote,
            },
            Output::Event(EndpointEvent::MediaAuthenticated) => FromProcess::MediaAuthenticated {},
            Output::Fault(_) => return None,
        })
    }

    /// The output this line carries; `None` for `hello` and `done`, which steer the exchange.
    ///
    /// Errors: a stanza that is not well-formed XML.
    pub fn into_output(self) -> Result<Option<Output>, String> {
        Ok(Some(match self {
            FromProcess::Hello { .. } | FromProcess::Done { .. } => return Ok(None),
            FromProcess::Datagram { local, remote, payload } => Output::Datagram {
                local,
                remote,
                payload: Bytes::from(payload),
            },
            FromProcess::Stanza { xml } => Output::Stanza(parse_xml(&xml)?),
            FromProcess::StreamOpen { id, local, remote, tls } => Output::StreamOpen { id, local, remote, tls },
            FromProcess::StreamSend { id, payload } => Output::StreamSend {
                id,
                payload: Bytes::from(payload),
            },
            FromProcess::CallState { state } => Output::Event(EndpointEvent::CallState(CallClaim::from_name(&state))),
            FromProcess::IceState { state } => Output::Event(EndpointEvent::IceState(
                IceState::from_name(&state).ok_or_else(|| {
                    format!("ice-state `{state}` is not new, checking, connected, completed, disconnected, failed or closed")
                })?,
            )),
            FromProcess::SelectedPair { local, remote } => Output::Event(EndpointEvent::SelectedPair { local, remote }),
            FromProcess::MediaAuthenticated {} => Output::Event(EndpointEvent::MediaAuthenticated),
        }))
    }
}

/// Parses one stanza.
///
/// Errors: not well-formed, or no namespace on the root (minidom's message).
fn parse_xml(xml: &str) -> Result<Element, String> {
    xml.parse::<Element>()
        .map_err(|e| format!("stanza is not well-formed XML: {e}"))
}

/// Payloads as base64 strings (standard alphabet, padded: RFC 4648 §4).
mod b64 {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(text.as_bytes())
            .map_err(|e| serde::de::Error::custom(format!("payload is not base64: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claimed_states_are_read_and_an_unknown_ice_state_is_refused() {
        let out = FromProcess::CallState {
            state: "dialling".into(),
        }
        .into_output()
        .unwrap();
        assert!(
            matches!(out, Some(Output::Event(EndpointEvent::CallState(CallClaim::Other(ref s)))) if s == "dialling")
        );
        let out = FromProcess::IceState {
            state: "checking".into(),
        }
        .into_output()
        .unwrap();
        assert!(matches!(
            out,
            Some(Output::Event(EndpointEvent::IceState(IceState::Checking)))
        ));
        let bad = FromProcess::IceState {
            state: "gathering".into(),
        }
        .into_output();
        assert!(bad.unwrap_err().contains("ice-state `gathering`"));
    }

    #[test]
    fn lines_have_the_documented_shape() {
        let l = ToProcess::Datagram {
            now_us: 1500,
            local: "10.0.1.2:50000".parse().unwrap(),
            remote: "192.0.2.10:3478".parse().unwrap(),
            payload: vec![0, 1, 0xff],
        };
        let text = serde_json::to_string(&l).unwrap();
        assert_eq!(
            text,
            r#"{"type":"datagram","now_us":1500,"local":"10.0.1.2:50000","remote":"192.0.2.10:3478","payload":"AAH/"}"#
        );
        assert_eq!(serde_json::from_str::<ToProcess>(&text).unwrap(), l);
        let done: FromProcess = serde_json::from_str(r#"{"type":"done","next_timeout_us":null}"#).unwrap();
        assert_eq!(done, FromProcess::Done { next_timeout_us: None });
        let user = serde_json::to_string(&ToProcess::User {
            now_us: 3_000_000,
            action: "answer".into(),
            to: None,
            media: None,
        })
        .unwrap();
        assert_eq!(user, r#"{"type":"user","now_us":3000000,"action":"answer"}"#);
    }

    #[test]
    fn unknown_types_and_fields_are_refused() {
        for bad in [
            r#"{"type":"datagrm","local":"1.2.3.4:5","remote":"1.2.3.4:6","payload":""}"#,
            r#"{"type":"done","next_timeout_us":5,"extra":1}"#,
            r#"{"type":"datagram","local":"1.2.3.4:5","remote":"1.2.3.4:6","payload":"***"}"#,
            r#"{"type":"hello","protocol":"jingle-interop/endpoint/1","ics":{"srtp":true}}"#,
            "garbage",
        ] {
            assert!(serde_json::from_str::<FromProcess>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_config_line_carries_the_random_stream_exactly() {
        let mut rng = SimRng::derive(9, "endpoint/caller");
        let _ = rng.next_u64();
        let cfg = EndpointConfig {
            party: "caller".into(),
            jid: "caller@example.org/device1".into(),
            server: "example.org".into(),
            interfaces: vec!["10.0.1.2".parse().unwrap()],
            rng: rng.clone(),
            knobs: [("omit-fingerprint".to_string(), "true".to_string())].into(),
            live: false,
        };
        let line = serde_json::to_string(&ToProcess::Config(Config::from_endpoint_config(&cfg))).unwrap();
        let ToProcess::Config(back) = serde_json::from_str(&line).unwrap() else {
            panic!("not a config: {line}")
        };
        let mut got = back.into_endpoint_config().unwrap();
        assert_eq!(got.knobs, cfg.knobs);
        assert_eq!(got.interfaces, cfg.interfaces);
        assert_eq!(
            (0..8).map(|_| rng.next_u64()).collect::<Vec<_>>(),
            (0..8).map(|_| got.rng.next_u64()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn user_actions_round_trip_and_bad_ones_are_refused() {
        let call = Input::User(UserAction::Call {
            to: "callee@example.org".into(),
            media: vec!["audio".into()],
        });
        let line = ToProcess::from_input(SimTime::from_millis(5), &call);
        let Some((t, Input::User(a))) = line.into_input().unwrap() else {
            panic!("not a user action")
        };
        assert_eq!(t, SimTime::from_millis(5));
        assert_eq!(
            a,
            UserAction::Call {
                to: "callee@example.org".into(),
                media: vec!["audio".into()]
            }
        );
        let bad = ToProcess::User {
            now_us: 0,
            action: "answer".into(),
            to: Some("x@example.org".into()),
            media: None,
        };
        assert!(bad.into_input().is_err());
    }

    #[test]
    fn declared_ics_fills_defaults_and_refuses_unknown_values() {
        let ics = IcsDecl::default().into_ics("external:x").unwrap();
        assert_eq!(ics.name, "external:x");
        assert!(ics.jmi && !ics.rtcp_mux && ics.renomination == endpoint_contract::Renomination::None);
        let bad = IcsDecl {
            renomination: Some("aggressive".into()),
            ..Default::default()
        };
        assert!(bad.into_ics("x").is_err());
    }
}
