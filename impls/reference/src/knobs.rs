//! The behaviour knobs of profiles built on the reference endpoint: each models one documented
//! deviation of a deployed client (docs/field-failures.md); the default is conforming. Written in
//! profiles and scenarios as `name: value` (impls/profiles/README.md).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::ice;

/// How a side writes the `creator` of the contents it sends (XEP-0166 §7.3; docs/field-failures.md
/// §Content creator from the sender's role).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CreatorMode {
    /// The party that created the content: `initiator` for every content of a session-initiate
    /// (conforming).
    #[default]
    Initiator,
    /// The sender's own role (a responder writes `responder` in session-accept): the outbound-gateway
    /// bug Gajim rejects.
    OwnRole,
}

/// Where a callee's and caller's JMI replies go (XEP-0353 §3; docs/field-failures.md §JMI replies to
/// the bare JID).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum JmiAddressing {
    /// XEP-0353 0.8: ringing, proceed, reject and finish to the peer's full JID (conforming).
    #[default]
    Full,
    /// XEP-0353 0.6/0.7: the same to the peer's bare JID. Source: XEP-0353's revision history (0.8.0:
    /// "Send JMI responses to full JID of initiator instead of bare JID") and Conversations'
    /// JingleConnectionManager.java (`addressedDirectly`: it drops such replies as not addressed to
    /// it).
    Bare,
}

/// When the callee's ICE agent starts its connectivity checks (RFC 8445 §6.1.1: once the offer/answer
/// exchange is done; docs/field-failures.md §Asterisk 2021 Failed pairs and early checks).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StartChecksAt {
    /// When it sends session-accept, as the caller does when it receives it (conforming).
    #[default]
    SessionAccept,
    /// As soon as session-initiate brings the caller's candidates, while its user is still rung.
    /// Asterisk's chan_motif calls `ice->start()` for every transport it reads
    /// (`jingle_interpret_ice_udp_transport`), session-initiate included, and rings the phone
    /// meanwhile; chan_motif speaks no JMI, so the caller initiates directly.
    SessionInitiate,
    /// As `session-initiate`, for a JMI call: the callee answers a propose with proceed at once (a
    /// gateway that rings the network behind it), so session-initiate arrives and checks start while
    /// its user is rung; session-accept follows the user's answer.
    Propose,
}

/// How an ICE restart is offered and answered in Jingle (XEP-0176 §5.9; Conversations'
/// JingleRtpConnection.java).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RestartForm {
    /// XEP-0176: the restarting side sends transport-info with new ufrag and pwd and its
    /// candidates (generation + 1); the peer restarts too and answers in kind. Any transport-info
    /// with new credentials is an offer, unless this side is waiting for the answer to its own
    /// (conforming).
    #[default]
    Xep,
    /// Conversations: the offer is a transport-info with new credentials and no candidates; the
    /// peer's first transport-info with new credentials and candidates is the answer, and the
    /// offerer trickles its own candidates after it. New credentials with candidates from a peer
    /// that was not asked to answer cannot be applied, so the session ends with
    /// failed-application; crossing offers are settled for the initiator's (conflict +
    /// tie-break to the responder's). Source: Conversations' JingleRtpConnection.java
    /// (`checkForIceRestart`: new credentials without candidates are an offer, with candidates an
    /// answer, so an XEP-0176-style restart is misread as a restart answer; `respondWithTieBreak`).
    Conversations,
}

/// The behaviour knobs of a profile built on the reference endpoint; the default is conforming. Each
/// knob models one documented deviation of a deployed client (docs/field-failures.md). Written in
/// profiles and scenarios as `name: value` (impls/profiles/README.md).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Knobs {
    /// `nomination`: how nominations are marked and whether the agent renominates (`use-candidate`,
    /// `c001-always`, `c001-negotiated`, `aggressive`, `renomination2`, `renomination2-always`).
    pub nomination: ice::Nomination,
    /// `accept-c001-as-use-candidate`: take an un-negotiated 0xC001 NOMINATION as a nomination.
    pub accept_c001_as_use_candidate: bool,
    /// `omit-fingerprint`: send transports without a DTLS fingerprint (XEP-0320).
    pub omit_fingerprint: bool,
    /// `initiate-extra-media`: media added to session-initiate that the JMI propose did not carry
    /// (the caller upgraded the call; docs/field-failures.md §JMI propose and session-initiate
    /// media), e.g. `video`.
    pub initiate_extra_media: Option<String>,
    /// `creator`: `initiator` or `own-role`.
    pub creator: CreatorMode,
    /// `strict-creator`: reject a session-accept or transport-info whose contents' (creator, name)
    /// are not those of the session-initiate, after acking it (Gajim; docs/field-failures.md
    /// §Content creator from the sender's role).
    pub strict_creator: bool,
    /// `jmi`: advertise and speak XEP-0353 (default true). Without it the client ignores proposes,
    /// and callers must send session-initiate directly (XEP-0353 §2).
    pub no_jmi: bool,
    /// `advertise-dtls`: list urn:xmpp:jingle:apps:dtls:0 in disco and caps (default true); false
    /// models a client without DTLS-SRTP (docs/field-failures.md §Missing DTLS fingerprint), to which
    /// Conversations offers no call (Conversations' RtpCapability.java).
    pub no_dtls_feature: bool,
    /// `jmi-addressing`: `full` (XEP-0353 0.8) or `bare` (the 0.6/0.7 text) for ringing, proceed,
    /// reject and finish.
    pub jmi_addressing: JmiAddressing,
    /// `pair-selection`: `nominated` (RFC 8445 §8.1.1) or `best-valid` (Asterisk before JMP's fix).
    pub pair_selection: ice::PairSelection,
    /// `retrigger-failed-pairs`: RFC 8445 §7.3.1.4 Failed → Waiting on an incoming check (default
    /// true; pjnath false).
    pub retrigger_failed_pairs: bool,
    /// `check-max-sends`: Rc, requests per check (RFC 5389 §7.2.1: 7).
    pub check_max_sends: u32,
    /// `check-interval-ms`: a fixed interval between requests and after the last one, in ms, instead
    /// of the doubling RTO (default none).
    pub check_interval_ms: Option<u64>,
    /// `check-rto-ms`: the initial RTO of a check, in ms (RFC 8445 §14.3: 500).
    pub check_rto_ms: u64,
    /// `check-final-wait`: Rm, the wait after the last request as a multiple of the RTO (RFC 5389
    /// §7.2.1: 16).
    pub check_final_wait: u32,
    /// `ta-ms`: Ta, the pacing of new checks, in ms (RFC 8445 §14.2: 50).
    pub ta_ms: u64,
    /// `nomination-delay-ms`: how long the controlling agent keeps checking after its first valid
    /// pair before nominating the best valid pair, in ms (the reference's stopping point: 1000).
    pub nomination_delay_ms: u64,
    /// `start-checks-at`: when the callee starts connectivity checks.
    pub start_checks_at: StartChecksAt,
    /// `wait-for-nomination-before-media`: send media only on the selected pair (default true), or,
    /// before nomination, on the best valid pair (RFC 8445 §12.1).
    pub wait_for_nomination_before_media: bool,
    /// `relay-only`: gather and signal only the relayed candidate; checks and media leave from it
    /// (WebRTC `iceTransportPolicy: relay`; Conversations' WebRTCWrapper.java).
    pub relay_only: bool,
    /// `relay-only-accepts-prflx`: under `relay-only`, pair remote peer-reflexive candidates
    /// learned from checks (default true, Chromium) or not (Firefox; docs/field-failures.md
    /// §Relay-only policy and peer-reflexive candidates).
    pub relay_only_accepts_prflx: bool,
    /// `trickle`: send session-initiate/accept with the candidates gathered so far and each later
    /// one in its own transport-info (RFC 8838, XEP-0176 §7.1; default true), or wait for
    /// gathering to end and send them all at once.
    pub trickle: bool,
    /// `candidates-in-initiate`: put the candidates gathered so far in session-initiate (default
    /// true), or send the offer without candidates and each candidate in its own transport-info
    /// right after it, in the order the browser reports them, component 1 before component 2
    /// (Movim's front end, JMP's "Adventures in WebRTC: Making Phone Calls from XMPP": Jingle
    /// "would send each candidate as it discovered them", and Firefox "sends the 'component 2'
    /// candidates after the 'component 1' candidates").
    pub candidates_in_initiate: bool,
    /// `restart-on-each-trickled-candidate`: on every transport-info, start ICE over with only
    /// that transport-info's candidates (Asterisk chan_motif; docs/field-failures.md §Firefox
    /// component 2 and per-candidate restarts).
    pub restart_on_each_trickled_candidate: bool,
    /// `ice-restart`: how an ICE restart is offered and answered, `xep` (XEP-0176, conforming) or
    /// `conversations` (Conversations' JingleRtpConnection.java).
    pub restart_form: RestartForm,
    /// `rtcp-mux`: offer and accept `<rtcp-mux/>` (RFC 5761; default true). Without it, or when the
    /// peer's description lacks it, RTCP gets its own ICE component, 2, which is gathered,
    /// signalled, checked and kept alive like component 1 (XEP-0167 §3, RFC 8445 §6.1.2.2).
    pub rtcp_mux: bool,
    /// `components-before-answer`: as the offerer, gather and trickle candidates for this many
    /// components (1 or 2) until the answer says whether rtcp-mux holds, then keep one if it does.
    /// Firefox gathers component 2 for every unbundled offer (docs/field-failures.md §Firefox
    /// component 2 and per-candidate restarts; JMP's account in "Adventures in WebRTC: Making Phone
    /// Calls from XMPP": "by then Firefox has already sent all of the candidates for both
    /// components"). Default 1.
    pub components_before_answer: u8,
    /// `ignore-component-2`: drop every signalled candidate of component 2, in offers, answers and
    /// transport-info alike. JMP's Asterisk patch (JMP's "Adventures in WebRTC: Making Phone Calls
    /// from XMPP": "I just put some code in the XMPP integration part of Asterisk that ignores
    /// candidates for component 2"). Default false.
    pub ignore_component_2: bool,
    /// `consent-freshness`: RFC 7675 consent checks on the pair media uses (default true); false
    /// keeps only RFC 8445 §11 keepalives, as libnice does without
    /// `NICE_AGENT_OPTION_CONSENT_FRESHNESS` (agent/agent.h, since 0.1.19).
    pub consent_freshness: bool,
}

impl Default for Knobs {
    fn default() -> Knobs {
        let ice = ice::IceConfig::default();
        Knobs {
            nomination: ice.nomination,
            accept_c001_as_use_candidate: ice.accept_c001_as_use_candidate,
            omit_fingerprint: false,
            initiate_extra_media: None,
            creator: CreatorMode::default(),
            strict_creator: false,
            no_jmi: false,
            no_dtls_feature: false,
            jmi_addressing: JmiAddressing::default(),
            pair_selection: ice.pair_selection,
            retrigger_failed_pairs: ice.retrigger_failed_pairs,
            check_max_sends: ice.max_sends,
            check_interval_ms: None,
            check_rto_ms: ice.rto.as_millis() as u64,
            check_final_wait: ice.final_wait,
            ta_ms: ice.ta.as_millis() as u64,
            nomination_delay_ms: ice.nomination_delay.as_millis() as u64,
            start_checks_at: StartChecksAt::default(),
            wait_for_nomination_before_media: !ice.media_before_nomination,
            relay_only: false,
            relay_only_accepts_prflx: true,
            trickle: true,
            candidates_in_initiate: true,
            restart_on_each_trickled_candidate: false,
            restart_form: RestartForm::default(),
            rtcp_mux: true,
            components_before_answer: 1,
            ignore_component_2: false,
            consent_freshness: ice.consent_freshness,
        }
    }
}

/// Every knob name [`Knobs::apply`] accepts.
pub const KNOB_NAMES: &[&str] = &[
    "nomination",
    "accept-c001-as-use-candidate",
    "omit-fingerprint",
    "initiate-extra-media",
    "creator",
    "strict-creator",
    "jmi",
    "advertise-dtls",
    "jmi-addressing",
    "pair-selection",
    "retrigger-failed-pairs",
    "check-max-sends",
    "check-interval-ms",
    "check-rto-ms",
    "check-final-wait",
    "ta-ms",
    "nomination-delay-ms",
    "start-checks-at",
    "wait-for-nomination-before-media",
    "relay-only",
    "relay-only-accepts-prflx",
    "trickle",
    "candidates-in-initiate",
    "restart-on-each-trickled-candidate",
    "ice-restart",
    "rtcp-mux",
    "components-before-answer",
    "ignore-component-2",
    "consent-freshness",
];

impl Knobs {
    /// Sets knob `name` from its written `value`.
    ///
    /// Errors: an unknown knob or a value it does not take, in words for the user.
    pub fn apply(&mut self, name: &str, value: &str) -> Result<(), String> {
        let flag = |v: &str| match v {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(format!("knob `{name}` takes true or false, not `{v}`")),
        };
        // Whole numbers in `range`, for the timing knobs.
        let number = |v: &str, range: std::ops::RangeInclusive<u64>| match v.parse::<u64>() {
            Ok(n) if range.contains(&n) => Ok(n),
            _ => Err(format!(
                "knob `{name}` takes a whole number from {} to {}, not `{v}`",
                range.start(),
                range.end()
            )),
        };
        match name {
            "nomination" => {
                self.nomination = match value {
                    "use-candidate" => ice::Nomination::UseCandidate,
                    "c001-always" => ice::Nomination::C001Always,
                    "c001-negotiated" => ice::Nomination::C001Negotiated,
                    "aggressive" => ice::Nomination::Aggressive,
                    "renomination2" => ice::Nomination::Renomination2,
                    "renomination2-always" => ice::Nomination::Renomination2Always,
                    _ => {
                        return Err(format!(
                            "knob `nomination` takes use-candidate, c001-always, c001-negotiated, aggressive, \
                             renomination2 or renomination2-always, not `{value}`"
                        ))
                    }
                }
            }
            "pair-selection" => {
                self.pair_selection = match value {
                    "nominated" => ice::PairSelection::Nominated,
                    "best-valid" => ice::PairSelection::BestValid,
                    _ => {
                        return Err(format!(
                            "knob `pair-selection` takes nominated or best-valid, not `{value}`"
                        ))
                    }
                }
            }
            "retrigger-failed-pairs" => self.retrigger_failed_pairs = flag(value)?,
            "check-max-sends" => self.check_max_sends = number(value, 1..=100)? as u32,
            "check-interval-ms" => self.check_interval_ms = Some(number(value, 1..=60_000)?),
            "check-rto-ms" => self.check_rto_ms = number(value, 1..=60_000)?,
            "check-final-wait" => self.check_final_wait = number(value, 1..=64)? as u32,
            "ta-ms" => self.ta_ms = number(value, 1..=1_000)?,
            "nomination-delay-ms" => self.nomination_delay_ms = number(value, 0..=60_000)?,
            "start-checks-at" => {
                self.start_checks_at = match value {
                    "session-accept" => StartChecksAt::SessionAccept,
                    "session-initiate" => StartChecksAt::SessionInitiate,
                    "propose" => StartChecksAt::Propose,
                    _ => {
                        return Err(format!(
                            "knob `start-checks-at` takes session-accept, session-initiate or propose, not `{value}`"
                        ))
                    }
                }
            }
            "wait-for-nomination-before-media" => self.wait_for_nomination_before_media = flag(value)?,
            "relay-only" => self.relay_only = flag(value)?,
            "relay-only-accepts-prflx" => self.relay_only_accepts_prflx = flag(value)?,
            "trickle" => self.trickle = flag(value)?,
            "candidates-in-initiate" => self.candidates_in_initiate = flag(value)?,
            "restart-on-each-trickled-candidate" => self.restart_on_each_trickled_candidate = flag(value)?,
            "ice-restart" => {
                self.restart_form = match value {
                    "xep" => RestartForm::Xep,
                    "conversations" => RestartForm::Conversations,
                    _ => return Err(format!("knob `ice-restart` takes xep or conversations, not `{value}`")),
                }
            }
            "rtcp-mux" => self.rtcp_mux = flag(value)?,
            "components-before-answer" => self.components_before_answer = number(value, 1..=2)? as u8,
            "ignore-component-2" => self.ignore_component_2 = flag(value)?,
            "consent-freshness" => self.consent_freshness = flag(value)?,
            "accept-c001-as-use-candidate" => self.accept_c001_as_use_candidate = flag(value)?,
            "omit-fingerprint" => self.omit_fingerprint = flag(value)?,
            "initiate-extra-media" => {
                if !["audio", "video"].contains(&value) {
                    return Err(format!(
                        "knob `initiate-extra-media` takes audio or video, not `{value}`"
                    ));
                }
                self.initiate_extra_media = Some(value.to_string());
            }
            "creator" => {
                self.creator = match value {
                    "initiator" => CreatorMode::Initiator,
                    "own-role" => CreatorMode::OwnRole,
                    _ => return Err(format!("knob `creator` takes initiator or own-role, not `{value}`")),
                }
            }
            "strict-creator" => self.strict_creator = flag(value)?,
            "jmi" => self.no_jmi = !flag(value)?,
            "advertise-dtls" => self.no_dtls_feature = !flag(value)?,
            "jmi-addressing" => {
                self.jmi_addressing = match value {
                    "full" => JmiAddressing::Full,
                    "bare" => JmiAddressing::Bare,
                    _ => return Err(format!("knob `jmi-addressing` takes full or bare, not `{value}`")),
                }
            }
            _ => return Err(format!("no knob `{name}` (knobs: {})", KNOB_NAMES.join(", "))),
        }
        Ok(())
    }

    /// The ICE agent configuration these knobs give: RFC defaults except where a knob says otherwise.
    pub fn ice_config(&self) -> ice::IceConfig {
        ice::IceConfig {
            ta: Duration::from_millis(self.ta_ms),
            rto: Duration::from_millis(self.check_rto_ms),
            max_sends: self.check_max_sends,
            final_wait: self.check_final_wait,
            nomination_delay: Duration::from_millis(self.nomination_delay_ms),
            nomination: self.nomination,
            accept_c001_as_use_candidate: self.accept_c001_as_use_candidate,
            check_interval: self.check_interval_ms.map(Duration::from_millis),
            retrigger_failed_pairs: self.retrigger_failed_pairs,
            pair_selection: self.pair_selection,
            media_before_nomination: !self.wait_for_nomination_before_media,
            pair_remote_prflx: !self.relay_only || self.relay_only_accepts_prflx,
            consent_freshness: self.consent_freshness,
            ..ice::IceConfig::default()
        }
    }

    /// Checks scenario knobs without building anything: the `check_knobs` of every implementation
    /// built on the reference endpoint.
    ///
    /// Errors: as [`Knobs::apply`].
    pub fn check(knobs: &BTreeMap<String, String>) -> Result<(), String> {
        let mut k = Knobs::default();
        for (n, v) in knobs {
            k.apply(n, v)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_knobs_give_the_rfc_configuration() {
        assert_eq!(
            format!("{:?}", Knobs::default().ice_config()),
            format!("{:?}", ice::IceConfig::default())
        );
    }

    #[test]
    fn every_knob_name_takes_a_value_and_refuses_nonsense() {
        let good = [
            ("nomination", "aggressive"),
            ("accept-c001-as-use-candidate", "true"),
            ("omit-fingerprint", "true"),
            ("initiate-extra-media", "video"),
            ("creator", "own-role"),
            ("strict-creator", "true"),
            ("jmi", "false"),
            ("advertise-dtls", "false"),
            ("jmi-addressing", "bare"),
            ("pair-selection", "best-valid"),
            ("retrigger-failed-pairs", "false"),
            ("check-max-sends", "45"),
            ("check-interval-ms", "1000"),
            ("check-rto-ms", "100"),
            ("check-final-wait", "1"),
            ("ta-ms", "20"),
            ("nomination-delay-ms", "0"),
            ("start-checks-at", "propose"),
            ("wait-for-nomination-before-media", "false"),
            ("relay-only", "true"),
            ("relay-only-accepts-prflx", "false"),
            ("trickle", "false"),
            ("candidates-in-initiate", "false"),
            ("restart-on-each-trickled-candidate", "true"),
            ("ice-restart", "conversations"),
            ("rtcp-mux", "false"),
            ("components-before-answer", "2"),
            ("ignore-component-2", "true"),
            ("consent-freshness", "false"),
        ];
        assert_eq!(good.len(), KNOB_NAMES.len());
        let mut k = Knobs::default();
        for (n, v) in good {
            assert!(KNOB_NAMES.contains(&n), "{n} missing from KNOB_NAMES");
            k.apply(n, v).unwrap_or_else(|e| panic!("{n}: {v}: {e}"));
            assert!(Knobs::default().apply(n, "nonsense").is_err(), "{n} took nonsense");
        }
        assert!(k.apply("check-max-sends", "0").is_err());
        assert!(k.apply("ta-ms", "-5").is_err());
        assert!(k.apply("no-such-knob", "true").is_err());
        for (v, n) in [
            ("renomination2", ice::Nomination::Renomination2),
            ("renomination2-always", ice::Nomination::Renomination2Always),
        ] {
            k.apply("nomination", v).unwrap();
            assert_eq!(k.ice_config().nomination, n);
        }
    }

    #[test]
    fn timing_and_selection_knobs_reach_the_agent_configuration() {
        let mut k = Knobs::default();
        for (n, v) in [
            ("check-max-sends", "7"),
            ("check-interval-ms", "1000"),
            ("ta-ms", "20"),
            ("check-rto-ms", "100"),
            ("check-final-wait", "1"),
            ("nomination-delay-ms", "0"),
            ("pair-selection", "best-valid"),
            ("retrigger-failed-pairs", "false"),
            ("wait-for-nomination-before-media", "false"),
        ] {
            k.apply(n, v).unwrap();
        }
        let c = k.ice_config();
        assert_eq!(c.check_interval, Some(Duration::from_millis(1000)));
        assert_eq!((c.ta, c.rto), (Duration::from_millis(20), Duration::from_millis(100)));
        assert_eq!((c.max_sends, c.final_wait), (7, 1));
        assert_eq!(c.nomination_delay, Duration::ZERO);
        assert_eq!(c.pair_selection, ice::PairSelection::BestValid);
        assert!(!c.retrigger_failed_pairs && c.media_before_nomination && c.pair_remote_prflx);
        // Peer-reflexive pairing is off only under relay-only.
        k.apply("relay-only-accepts-prflx", "false").unwrap();
        assert!(k.ice_config().pair_remote_prflx);
        k.apply("relay-only", "true").unwrap();
        assert!(!k.ice_config().pair_remote_prflx);
    }
}
