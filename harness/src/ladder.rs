//! ladder.svg: a run's signalling and STUN exchanges as a ladder diagram — one lane per party and
//! server, one row per message in trace order, arrows from sender to receiver, drops in red with the
//! reason as a tooltip. RTP is left out (it would bury the protocol in media packets).

use std::fmt::Write as _;
use std::net::IpAddr;

use crate::stun::{self, attr_type, Class, Message};
use crate::trace::{Dir, Trace, TraceKind};

/// Rows drawn at most; a note says when more were left out.
const MAX_ROWS: usize = 600;
const LANE_W: usize = 190;
const ROW_H: usize = 18;
const TOP: usize = 40;
const LEFT: usize = 90;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A short label for a stanza: `message propose`, `iq set session-initiate`, `iq result`.
fn stanza_label(e: &minidom::Element) -> String {
    let typ = e.attr("type").unwrap_or("");
    let inner = e
        .children()
        .next()
        .map(|c| match c.attr("action") {
            Some(a) => a.to_string(),
            None => c.name().to_string(),
        })
        .unwrap_or_default();
    format!("{} {typ} {inner}", e.name())
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// A short label for a STUN message: `Binding request USE-CANDIDATE`, `Allocate error 401`.
fn stun_label(m: &Message) -> String {
    let method = match m.method {
        stun::method::BINDING => "Binding",
        stun::method::ALLOCATE => "Allocate",
        stun::method::REFRESH => "Refresh",
        stun::method::SEND => "Send",
        stun::method::DATA => "Data",
        stun::method::CREATE_PERMISSION => "CreatePermission",
        stun::method::CHANNEL_BIND => "ChannelBind",
        _ => "STUN",
    };
    let class = match m.class {
        Class::Request => "request",
        Class::Indication => "indication",
        Class::Success => "success",
        Class::Error => "error",
    };
    let mut l = format!("{method} {class}");
    if let Some(Ok(stun::Attribute::ErrorCode(e))) = m.get(attr_type::ERROR_CODE) {
        let _ = write!(l, " {}", e.code);
    }
    if m.has(attr_type::USE_CANDIDATE) {
        l.push_str(" USE-CANDIDATE");
    }
    if m.has(attr_type::NOMINATION_LEGACY) {
        l.push_str(" 0xC001");
    }
    l
}

/// Renders the ladder of `trace` for `parties` (caller first). Servers are lanes `xmpp`, `stun` and
/// `turn`; `stun_ip` and `turn_ip` tell which addresses are theirs, and a party owns its host and
/// public addresses.
pub fn render_svg(trace: &Trace, parties: &[crate::run::PartyInfo], stun_ip: IpAddr, turn_ip: IpAddr) -> String {
    let mut lanes: Vec<String> = Vec::new();
    if let Some(first) = parties.first() {
        lanes.push(first.name.clone());
    }
    lanes.extend(["stun", "xmpp", "turn"].map(String::from));
    lanes.extend(parties.iter().skip(1).map(|p| p.name.clone()));
    let lane = |name: &str| lanes.iter().position(|l| l == name);
    let x = |i: usize| LEFT + i * LANE_W + LANE_W / 2;
    // (time, from lane, to lane, label, dropped reason)
    let mut rows: Vec<(String, usize, usize, String, Option<String>)> = Vec::new();
    let mut left_out = 0;
    for e in &trace.events {
        let row = match &e.kind {
            TraceKind::Stanza {
                party, dir, element, ..
            } => {
                let (Some(p), Some(srv)) = (lane(party), lane("xmpp")) else {
                    continue;
                };
                let (a, b) = if *dir == Dir::Tx { (p, srv) } else { (srv, p) };
                Some((a, b, stanza_label(element), None))
            }
            TraceKind::Datagram {
                point,
                dir: Dir::Tx,
                dst,
                payload,
                ..
            }
            | TraceKind::Segment {
                point,
                dir: Dir::Tx,
                dst,
                payload,
                ..
            } => {
                let Some(from) = lane(point) else { continue };
                if stun::demux(payload) != stun::Demux::Stun {
                    continue;
                }
                let Ok(m) = Message::decode(payload) else { continue };
                let to = if dst.ip() == stun_ip {
                    lane("stun")
                } else if dst.ip() == turn_ip {
                    lane("turn")
                } else {
                    parties
                        .iter()
                        .find(|p| {
                            p.devices
                                .iter()
                                .any(|d| d.host_ip == dst.ip() || d.public_ip == dst.ip())
                        })
                        .and_then(|p| lane(&p.name))
                };
                let Some(to) = to else { continue };
                Some((from, to, stun_label(&m), None))
            }
            TraceKind::Dropped {
                point, reason, payload, ..
            } => {
                let owner = point.split('/').next().unwrap_or("");
                let Some(l) = lane(owner) else { continue };
                let what = if stun::demux(payload) == stun::Demux::Stun {
                    Message::decode(payload)
                        .map(|m| stun_label(&m))
                        .unwrap_or_else(|_| "STUN".into())
                } else {
                    "packet".into()
                };
                Some((l, l, format!("dropped at {point}: {what}"), Some(reason.clone())))
            }
            // A multi-device party's actions are recorded as `party/deviceN`: the party's lane, labelled
            // with the device.
            TraceKind::User { party, action } => {
                let (owner, device) = party.split_once('/').unwrap_or((party, ""));
                let on = if device.is_empty() {
                    String::new()
                } else {
                    format!(" ({device})")
                };
                lane(owner).map(|l| (l, l, format!("user: {action}{on}"), None))
            }
            _ => None,
        };
        if let Some((a, b, label, drop)) = row {
            if rows.len() >= MAX_ROWS {
                left_out += 1;
                continue;
            }
            rows.push((e.time.to_string(), a, b, label, drop));
        }
    }
    let width = LEFT + lanes.len() * LANE_W + 20;
    let height = TOP + (rows.len() + 2) * ROW_H;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"11\">"
    );
    // Shared presentation in one style sheet keeps each of the hundreds of rows short.
    let _ = writeln!(
        s,
        "<style>.t{{fill:#666}}.m{{stroke:#333;marker-end:url(#a)}}.c{{text-anchor:middle}}.s{{fill:#06c}}.d{{fill:#c00}}</style>\n\
         <defs><marker id=\"a\" markerWidth=\"8\" markerHeight=\"6\" refX=\"8\" refY=\"3\" orient=\"auto\"><path d=\"M0,0 L8,3 L0,6 z\"/></marker></defs>"
    );
    for (i, l) in lanes.iter().enumerate() {
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"20\" text-anchor=\"middle\" font-weight=\"bold\">{}</text><line x1=\"{0}\" y1=\"28\" x2=\"{0}\" y2=\"{}\" stroke=\"#bbb\"/>",
            x(i),
            esc(l),
            height - ROW_H
        );
    }
    for (k, (t, a, b, label, drop)) in rows.iter().enumerate() {
        let y = TOP + k * ROW_H;
        let _ = writeln!(s, "<text class=\"t\" x=\"4\" y=\"{}\">{}</text>", y + 4, esc(t));
        match drop {
            Some(reason) => {
                let _ = writeln!(
                    s,
                    "<g class=\"d\"><title>{}</title><text x=\"{}\" y=\"{}\">✗ {}</text></g>",
                    esc(reason),
                    x(*a) + 4,
                    y + 4,
                    esc(label)
                );
            }
            None if a == b => {
                let _ = writeln!(
                    s,
                    "<text class=\"s\" x=\"{}\" y=\"{}\">{}</text>",
                    x(*a) + 4,
                    y + 4,
                    esc(label)
                );
            }
            None => {
                let (x1, x2) = (x(*a), x(*b));
                let _ = writeln!(
                    s,
                    "<path class=\"m\" d=\"M{x1} {y}H{x2}\"/><text class=\"c\" x=\"{}\" y=\"{}\">{}</text>",
                    (x1 + x2) / 2,
                    y - 3,
                    esc(label)
                );
            }
        }
    }
    if left_out > 0 {
        let _ = writeln!(
            s,
            "<text x=\"4\" y=\"{}\">… {left_out} more messages left out (see the capture)</text>",
            TOP + rows.len() * ROW_H + 4
        );
    }
    s.push_str("</svg>\n");
    s
}
