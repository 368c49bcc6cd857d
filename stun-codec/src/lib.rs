//! STUN wire codec (RFC 5389 / RFC 8489) with the ICE (RFC 8445) and TURN (RFC 8656) attributes.
//!
//! Lossless: a decoded [`Message`] keeps every attribute as it was on the wire, unknown ones included,
//! in order, with their padding bytes, and the original bytes for integrity checks. The judge and the
//! reference endpoint share this codec.
//!
//! A crate of its own so that an implementation of the endpoint contract (`endpoint-contract`) can
//! speak STUN without depending on the harness; `harness::stun` re-exports it.
#![warn(missing_docs, unreachable_pub)]

mod attr;
pub mod channel;
pub mod classic;
mod message;

pub use attr::{attr_type, Attribute, ErrorCode};
pub use channel::{decode_channel_data, encode_channel_data, ChannelDataError};
pub use message::{
    is_stun, long_term_key, Attributes, Class, DecodeError, Message, MessageBuilder, RawAttribute, MAGIC_COOKIE,
};

/// STUN method numbers (RFC 5389 §18.1, RFC 8656 §17).
pub mod method {
    /// Binding (0x001).
    pub const BINDING: u16 = 0x001;
    /// TURN Allocate (0x003).
    pub const ALLOCATE: u16 = 0x003;
    /// TURN Refresh (0x004).
    pub const REFRESH: u16 = 0x004;
    /// TURN Send indication (0x006).
    pub const SEND: u16 = 0x006;
    /// TURN Data indication (0x007).
    pub const DATA: u16 = 0x007;
    /// TURN CreatePermission (0x008).
    pub const CREATE_PERMISSION: u16 = 0x008;
    /// TURN ChannelBind (0x009).
    pub const CHANNEL_BIND: u16 = 0x009;
}

/// What the first byte of a datagram says it carries, RFC 7983 §7.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Demux {
    /// 0–3: STUN.
    Stun,
    /// 20–63: DTLS.
    Dtls,
    /// 64–79: TURN ChannelData.
    ChannelData,
    /// 128–191: RTP or RTCP.
    Rtp,
    /// Anything else (16–19 ZRTP, or garbage).
    Other,
}

/// Classifies a datagram by its first byte, RFC 7983 §7.
pub fn demux(payload: &[u8]) -> Demux {
    match payload.first() {
        Some(0..=3) => Demux::Stun,
        Some(20..=63) => Demux::Dtls,
        Some(64..=79) => Demux::ChannelData,
        Some(128..=191) => Demux::Rtp,
        _ => Demux::Other,
    }
}
