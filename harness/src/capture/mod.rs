//! Captures: writing a run's trace as pcapng ([`write_pcapng`]), and judging a capture from the
//! field (`cargo xtask judge`): [`read`] reads pcap and pcapng, [`agents`] finds the ICE agents,
//! their calls and where the capture saw each, [`stanzas`] reads stanza logs, and [`judge`] turns
//! each call into a run for the judge and reads its verdicts for what a capture can decide.
//! docs/capture-judging.md says how, with its limits.

pub mod agents;
pub mod judge;
pub mod read;
pub mod stanzas;
mod write;

pub use write::{write_pcapng, write_pcapng_at};

use judge::LoggedStanza;

/// The stanzas this project's own captures carry as exported PDUs, as a stanza log.
pub fn own_stanzas(cap: &read::Capture) -> Vec<LoggedStanza> {
    cap.stanzas
        .iter()
        .filter_map(|s| {
            Some(LoggedStanza {
                time_ns: s.time_ns,
                stream: s.stream.clone()?,
                from_client: s.from_client,
                element: s.xml.parse().ok()?,
                origin: s.frame,
            })
        })
        .collect()
}
