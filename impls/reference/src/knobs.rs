//! The behaviour knobs of profiles built on the reference endpoint: each models one documented
//! deviation of a deployed client (digest §8–§9); the default is conforming. Written in profiles and
//! scenarios as `name: value` (impls/profiles/README.md).

use std::collections::BTreeMap;

use crate::ice;

/// How a side writes the `creator` of the contents it sends (XEP-0166 §7.3, digest §9.3).
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

/// Where a callee's and caller's JMI replies go (XEP-0353 §3; digest §1.2, §9.11).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum JmiAddressing {
    /// XEP-0353 0.8: ringing, proceed, reject and finish to the peer's full JID (conforming).
    #[default]
    Full,
    /// XEP-0353 0.6/0.7: the same to the peer's bare JID. Source: digest §1.2 ("full-JID addressing
    /// of ringing/proceed/reject/finish is new in 0.8.0; 0.6/0.7 used the bare JID") and §9.11
    /// (Conversations drops such replies as not addressed to it).
    Bare,
}

/// The behaviour knobs of a profile built on the reference endpoint; the default is conforming. Each
/// knob models one documented deviation of a deployed client (digest §8–§9). Written in profiles
/// and scenarios as `name: value` (impls/profiles/README.md).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Knobs {
    /// `nomination`: how nominations are marked (`use-candidate`, `c001-always`, `c001-negotiated`).
    pub nomination: ice::Nomination,
    /// `accept-c001-as-use-candidate`: take an un-negotiated 0xC001 NOMINATION as a nomination.
    pub accept_c001_as_use_candidate: bool,
    /// `omit-fingerprint`: send transports without a DTLS fingerprint (XEP-0320).
    pub omit_fingerprint: bool,
    /// `initiate-extra-media`: media added to session-initiate that the JMI propose did not carry
    /// (the caller upgraded the call, digest §9.6), e.g. `video`.
    pub initiate_extra_media: Option<String>,
    /// `creator`: `initiator` or `own-role`.
    pub creator: CreatorMode,
    /// `strict-creator`: reject a session-accept or transport-info whose contents' (creator, name)
    /// are not those of the session-initiate, after acking it (Gajim, digest §9.3).
    pub strict_creator: bool,
    /// `jmi`: advertise and speak XEP-0353 (default true). Without it the client ignores proposes,
    /// and callers must send session-initiate directly (XEP-0353 §2).
    pub no_jmi: bool,
    /// `jmi-addressing`: `full` (XEP-0353 0.8) or `bare` (the 0.6/0.7 text) for ringing, proceed,
    /// reject and finish.
    pub jmi_addressing: JmiAddressing,
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
    "jmi-addressing",
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
        match name {
            "nomination" => {
                self.nomination = match value {
                    "use-candidate" => ice::Nomination::UseCandidate,
                    "c001-always" => ice::Nomination::C001Always,
                    "c001-negotiated" => ice::Nomination::C001Negotiated,
                    _ => {
                        return Err(format!(
                            "knob `nomination` takes use-candidate, c001-always or c001-negotiated, not `{value}`"
                        ))
                    }
                }
            }
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
