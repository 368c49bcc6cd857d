//! TURN ChannelData framing, RFC 8656 §12.4.
//!
//! ```text
//! | channel number (16 bits) | length (16 bits: bytes of application data, padding excluded) |
//! | application data (length bytes) | padding to a multiple of 4 (required over TCP/TLS) |
//! ```
//!
//! The first byte of a ChannelData message is 0x40–0x4F, the RFC 7983 range that
//! [`super::demux`] reports as [`super::Demux::ChannelData`].

use std::fmt;

/// The lowest channel number a client may bind, RFC 8656 §12.
pub const CHANNEL_MIN: u16 = 0x4000;
/// The highest channel number a client may bind, RFC 8656 §12 (RFC 5766 §11 allowed up to 0x7FFF;
/// 0x5000–0x7FFF are reserved since RFC 8656).
pub const CHANNEL_MAX: u16 = 0x4FFF;
/// Bytes of the ChannelData header (channel number and length), RFC 8656 §12.4.
pub const CHANNEL_DATA_HEADER_LEN: usize = 4;

/// True when `n` is a channel number RFC 8656 §12 lets a client bind: 0x4000..=0x4FFF.
pub fn is_valid_channel(n: u16) -> bool {
    (CHANNEL_MIN..=CHANNEL_MAX).contains(&n)
}

/// Why bytes are not a ChannelData message. Never a panic: malformed input is evidence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChannelDataError {
    /// Fewer than the 4 header bytes.
    TooShort {
        /// Bytes present.
        have: usize,
    },
    /// The channel number is outside 0x4000..=0x4FFF (RFC 8656 §12.6: the reserved range is discarded).
    BadChannel(u16),
    /// The length field claims more data than the bytes hold (RFC 8656 §12.6: discard).
    Truncated {
        /// Data bytes the length field declares.
        declared: usize,
        /// Data bytes present after the header.
        have: usize,
    },
    /// More bytes follow the data than padding to a multiple of 4 accounts for.
    TrailingBytes {
        /// Data bytes the length field declares.
        declared: usize,
        /// Bytes after the data.
        extra: usize,
    },
}

impl fmt::Display for ChannelDataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChannelDataError::TooShort { have } => write!(f, "ChannelData of {have} bytes is shorter than its header"),
            ChannelDataError::BadChannel(n) => write!(f, "channel number {n:#06x} is outside 0x4000..=0x4fff"),
            ChannelDataError::Truncated { declared, have } => {
                write!(f, "ChannelData length field says {declared} bytes, {have} present")
            }
            ChannelDataError::TrailingBytes { declared, extra } => {
                write!(
                    f,
                    "{extra} bytes follow {declared} bytes of ChannelData, more than padding to 4"
                )
            }
        }
    }
}

impl std::error::Error for ChannelDataError {}

/// Padding bytes that bring `len` data bytes to a multiple of 4.
fn pad_len(len: usize) -> usize {
    (4 - len % 4) % 4
}

/// Frames `data` as a ChannelData message on `channel`, RFC 8656 §12.4.
///
/// `pad_to_4` appends zero padding to a multiple of 4 bytes, which RFC 8656 §12.5 requires over
/// TCP/TLS (the length field never counts it); over UDP it is optional and usually omitted.
///
/// Panics when `data` is longer than 65535 bytes, which the 16-bit length field cannot express; no
/// UDP payload is that long, so this is a caller bug.
pub fn encode_channel_data(channel: u16, data: &[u8], pad_to_4: bool) -> Vec<u8> {
    let len = u16::try_from(data.len()).expect("ChannelData carries at most 65535 bytes");
    let pad = if pad_to_4 { pad_len(data.len()) } else { 0 };
    let mut out = Vec::with_capacity(CHANNEL_DATA_HEADER_LEN + data.len() + pad);
    out.extend_from_slice(&channel.to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(data);
    out.extend(std::iter::repeat_n(0u8, pad));
    out
}

/// Parses one ChannelData message: `(channel number, application data)`, RFC 8656 §12.4, §12.6.
///
/// Accepts padding after the data (0–3 bytes, up to the next multiple of 4, any value) whether the
/// message came over UDP or TCP/TLS. Errors: see [`ChannelDataError`]; never panics on any input.
pub fn decode_channel_data(b: &[u8]) -> Result<(u16, &[u8]), ChannelDataError> {
    if b.len() < CHANNEL_DATA_HEADER_LEN {
        return Err(ChannelDataError::TooShort { have: b.len() });
    }
    let channel = u16::from_be_bytes([b[0], b[1]]);
    if !is_valid_channel(channel) {
        return Err(ChannelDataError::BadChannel(channel));
    }
    let declared = u16::from_be_bytes([b[2], b[3]]) as usize;
    let body = &b[CHANNEL_DATA_HEADER_LEN..];
    if body.len() < declared {
        return Err(ChannelDataError::Truncated {
            declared,
            have: body.len(),
        });
    }
    let extra = body.len() - declared;
    if extra > pad_len(declared) {
        return Err(ChannelDataError::TrailingBytes { declared, extra });
    }
    Ok((channel, &body[..declared]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn encodes_header_and_pads_only_when_asked() {
        assert_eq!(
            encode_channel_data(0x4001, &[1, 2, 3], false),
            vec![0x40, 0x01, 0, 3, 1, 2, 3]
        );
        assert_eq!(
            encode_channel_data(0x4001, &[1, 2, 3], true),
            vec![0x40, 0x01, 0, 3, 1, 2, 3, 0]
        );
        assert_eq!(encode_channel_data(0x4FFF, &[], true), vec![0x4F, 0xFF, 0, 0]);
        assert_eq!(encode_channel_data(0x4000, &[9; 4], true).len(), 8);
    }

    #[test]
    fn decodes_with_and_without_padding() {
        assert_eq!(
            decode_channel_data(&[0x40, 0x00, 0, 2, 7, 8]),
            Ok((0x4000, &[7u8, 8][..]))
        );
        // Padding content is ignored, as STUN padding is (RFC 8489 §14).
        assert_eq!(
            decode_channel_data(&[0x40, 0x00, 0, 2, 7, 8, 0xAA, 0xBB]),
            Ok((0x4000, &[7u8, 8][..]))
        );
        assert_eq!(decode_channel_data(&[0x4F, 0xFF, 0, 0]), Ok((0x4FFF, &[][..])));
    }

    #[test]
    fn malformed_input_is_an_error_value() {
        assert_eq!(decode_channel_data(&[]), Err(ChannelDataError::TooShort { have: 0 }));
        assert_eq!(
            decode_channel_data(&[0x40, 0x00, 0]),
            Err(ChannelDataError::TooShort { have: 3 })
        );
        assert_eq!(
            decode_channel_data(&[0x3F, 0xFF, 0, 0]),
            Err(ChannelDataError::BadChannel(0x3FFF))
        );
        // RFC 5766 allowed 0x5000..=0x7FFF; RFC 8656 reserves it.
        assert_eq!(
            decode_channel_data(&[0x50, 0x00, 0, 0]),
            Err(ChannelDataError::BadChannel(0x5000))
        );
        assert_eq!(
            decode_channel_data(&[0x40, 0x00, 0, 5, 1, 2, 3]),
            Err(ChannelDataError::Truncated { declared: 5, have: 3 })
        );
        assert_eq!(
            decode_channel_data(&[0x40, 0x00, 0xFF, 0xFF]),
            Err(ChannelDataError::Truncated {
                declared: 65535,
                have: 0
            })
        );
        // Four data bytes need no padding, so any byte after them is junk.
        assert_eq!(
            decode_channel_data(&[0x40, 0x00, 0, 4, 1, 2, 3, 4, 0]),
            Err(ChannelDataError::TrailingBytes { declared: 4, extra: 1 })
        );
        assert_eq!(
            decode_channel_data(&[0x40, 0x00, 0, 1, 1, 0, 0, 0, 0]),
            Err(ChannelDataError::TrailingBytes { declared: 1, extra: 4 })
        );
        assert!(decode_channel_data(&[0x40, 0x00, 0, 1, 1, 0, 0, 0, 0])
            .unwrap_err()
            .to_string()
            .contains("4 bytes follow"));
    }

    proptest! {
        #[test]
        fn round_trip(channel in CHANNEL_MIN..=CHANNEL_MAX, data in proptest::collection::vec(any::<u8>(), 0..300),
                      pad in any::<bool>()) {
            let framed = encode_channel_data(channel, &data, pad);
            if pad {
                prop_assert_eq!(framed.len() % 4, 0);
            } else {
                prop_assert_eq!(framed.len(), 4 + data.len());
            }
            prop_assert_eq!(decode_channel_data(&framed), Ok((channel, &data[..])));
        }

        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok((channel, data)) = decode_channel_data(&b) {
                prop_assert!(is_valid_channel(channel));
                prop_assert!(data.len() + 4 <= b.len());
                prop_assert!(b.len() - 4 - data.len() <= 3);
            }
        }
    }
}
