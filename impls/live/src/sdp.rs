//! The SDP side of an RTCPeerConnection mapped to and from what the ice-adapter protocol carries
//! (ADAPTERS.md): the XEP-0176 transport (ufrag, pwd, candidates) and the XEP-0320 fingerprint and
//! `setup`, as SDP writes them (RFC 8839 for ICE, RFC 8842 and RFC 8122 for DTLS). The stacks that
//! speak SDP use it: the webrtc-rs adapter directly, and the browser pages through the harness,
//! which hands them the remote description and candidate lines built here.

use std::net::IpAddr;

use crate::adapter::WireCandidate;

/// What the adapter protocol takes from a local description: ICE credentials, and the
/// certificate fingerprint (`sha-256 AB:CD:…`) and `setup` role when the description has them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    /// `a=ice-ufrag` (RFC 8839 §5.4).
    pub ufrag: String,
    /// `a=ice-pwd`.
    pub pwd: String,
    /// `a=fingerprint` as written: hash function, space, hex (RFC 8122 §5).
    pub fingerprint: Option<String>,
    /// `a=setup` (RFC 4145 §4): `actpass`, `active` or `passive`.
    pub setup: Option<String>,
}

/// The remote party as signalling gave it: what [`remote_description`] writes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Remote {
    /// Remote ufrag.
    pub ufrag: String,
    /// Remote pwd.
    pub pwd: String,
    /// Its fingerprint (`sha-256 AB:CD:…`), when it signalled one.
    pub fingerprint: Option<String>,
    /// Its `setup`, with the fingerprint.
    pub setup: Option<String>,
}

fn attribute<'a>(sdp: &'a str, name: &str) -> Option<&'a str> {
    sdp.lines()
        .find_map(|l| {
            l.trim_end_matches('\r')
                .strip_prefix("a=")?
                .strip_prefix(name)?
                .strip_prefix(':')
        })
        .map(str::trim)
}

/// The credentials of a local description (the first of each attribute: one bundled m-line).
///
/// Errors: a description without `a=ice-ufrag` or `a=ice-pwd`.
pub fn credentials_of(sdp: &str) -> Result<Credentials, String> {
    let need = |n: &str| {
        attribute(sdp, n)
            .map(String::from)
            .ok_or(format!("the description has no a={n}"))
    };
    Ok(Credentials {
        ufrag: need("ice-ufrag")?,
        pwd: need("ice-pwd")?,
        fingerprint: attribute(sdp, "fingerprint").map(|f| f.split_whitespace().collect::<Vec<_>>().join(" ")),
        setup: attribute(sdp, "setup").map(String::from),
    })
}

/// An SDP candidate (`candidate:F C udp PRIO IP PORT typ T [raddr A rport P] …`, with or without
/// `a=`) as the adapter protocol's candidate; `Ok(None)` for a TCP one, which the live network
/// cannot carry.
///
/// Errors: a line that does not parse, an mDNS `.local` name included (RFC 8839 §5.1 with
/// draft-ietf-mmusic-mdns-ice-candidates; every stack here has mDNS off), naming what is wrong.
pub fn parse_candidate(line: &str) -> Result<Option<WireCandidate>, String> {
    let line = line.trim().trim_start_matches("a=").trim_start_matches("candidate:");
    let f: Vec<&str> = line.split_whitespace().collect();
    if f.len() < 8 || f[6] != "typ" {
        return Err(format!("not an SDP candidate: `{line}`"));
    }
    if !f[2].eq_ignore_ascii_case("udp") {
        return Ok(None);
    }
    let field = |i: usize, what: &str| format!("candidate `{line}`: {what} `{}`", f[i]);
    let mut c = WireCandidate {
        foundation: f[0].to_string(),
        component: f[1].parse().map_err(|_| field(1, "component"))?,
        priority: f[3].parse().map_err(|_| field(3, "priority"))?,
        ip: f[4]
            .parse::<IpAddr>()
            .map_err(|_| field(4, "address (not an IP address)"))?,
        port: f[5].parse().map_err(|_| field(5, "port"))?,
        typ: f[7].to_string(),
        rel_addr: None,
        rel_port: None,
    };
    for kv in f[8..].chunks(2) {
        match kv {
            ["raddr", a] => c.rel_addr = a.parse().ok(),
            ["rport", p] => c.rel_port = p.parse().ok(),
            _ => {}
        }
    }
    Ok(Some(c))
}

/// The SDP candidate (`candidate:…`, no `a=`) of a signalled candidate. RFC 8839 §5.1 has raddr
/// and rport on every candidate but a host one, while XEP-0176 makes rel-addr optional; Firefox
/// ignores a server-reflexive or relayed candidate without them, so a missing related address is
/// written as browsers write a hidden one: 0.0.0.0, port 0.
pub fn candidate_line(c: &WireCandidate) -> String {
    let mut s = format!(
        "candidate:{} {} udp {} {} {} typ {}",
        c.foundation, c.component, c.priority, c.ip, c.port, c.typ
    );
    match c.rel_addr {
        Some(a) => s.push_str(&format!(" raddr {a} rport {}", c.rel_port.unwrap_or(0))),
        None if c.typ != "host" => s.push_str(" raddr 0.0.0.0 rport 0"),
        None => {}
    }
    s
}

/// `sdp` with "renomination" in every `a=ice-options` (added after each `a=ice-pwd` where there is
/// none), as Conversations <= 2.9.7 hard-coded it in both descriptions
/// (draft-thatcher-ice-renomination-00 §3); `sdp` as it is when `renomination` is false.
pub fn with_renomination(sdp: &str, renomination: bool) -> String {
    if !renomination {
        return sdp.to_string();
    }
    let has_options = sdp.lines().any(|l| l.starts_with("a=ice-options:"));
    let mut out = String::with_capacity(sdp.len() + 64);
    for line in sdp.split_inclusive('\n') {
        let bare = line.trim_end_matches(['\r', '\n']);
        if let Some(opts) = bare.strip_prefix("a=ice-options:") {
            if opts.split_whitespace().any(|o| o == "renomination") {
                out.push_str(line);
            } else {
                out.push_str(&format!("a=ice-options:{opts} renomination\r\n"));
            }
            continue;
        }
        out.push_str(line);
        if !has_options && bare.starts_with("a=ice-pwd:") {
            out.push_str("a=ice-options:trickle renomination\r\n");
        }
    }
    out
}

/// The remote party's description: one bundled audio m-line (Opus, payload type 111), its ICE
/// credentials, trickle, its fingerprint and `setup`, rtcp-mux, with `renomination` added to the
/// ice-options when asked ([`with_renomination`]). A peer that signalled no fingerprint gets a
/// placeholder and `a=setup:active`: the stack then waits as the DTLS server for a handshake that
/// never comes, and sends no media.
pub fn remote_description(remote: &Remote, renomination: bool) -> String {
    let placeholder;
    let fingerprint = match &remote.fingerprint {
        Some(f) => f.as_str(),
        None => {
            placeholder = format!("sha-256 {}", vec!["AB"; 32].join(":"));
            &placeholder
        }
    };
    let setup = match (&remote.fingerprint, &remote.setup) {
        (Some(_), Some(s)) if !s.is_empty() => s.as_str(),
        _ => "active",
    };
    let lines = [
        "v=0".to_string(),
        "o=- 4611731400430051336 2 IN IP4 127.0.0.1".into(),
        "s=-".into(),
        "t=0 0".into(),
        "a=group:BUNDLE 0".into(),
        "a=msid-semantic: WMS".into(),
        "m=audio 9 UDP/TLS/RTP/SAVPF 111".into(),
        "c=IN IP4 0.0.0.0".into(),
        "a=rtcp:9 IN IP4 0.0.0.0".into(),
        format!("a=ice-ufrag:{}", remote.ufrag),
        format!("a=ice-pwd:{}", remote.pwd),
        "a=ice-options:trickle".into(),
        format!("a=fingerprint:{fingerprint}"),
        format!("a=setup:{setup}"),
        "a=mid:0".into(),
        "a=sendrecv".into(),
        "a=rtcp-mux".into(),
        "a=rtpmap:111 opus/48000/2".into(),
    ];
    let mut sdp = lines.join("\r\n");
    sdp.push_str("\r\n");
    with_renomination(&sdp, renomination)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHROMIUM_OFFER: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=ice-ufrag:Xy1z\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n\
a=ice-options:trickle\r\na=fingerprint:sha-256 01:02:03\r\na=setup:actpass\r\na=mid:0\r\na=sendrecv\r\n";

    #[test]
    fn credentials_come_from_the_first_m_line_and_fail_without_ice_attributes() {
        let c = credentials_of(CHROMIUM_OFFER).unwrap();
        assert_eq!(c.ufrag, "Xy1z");
        assert_eq!(c.pwd, "abcdefghijklmnopqrstuvwx");
        assert_eq!(c.fingerprint.as_deref(), Some("sha-256 01:02:03"));
        assert_eq!(c.setup.as_deref(), Some("actpass"));
        let e = credentials_of("v=0\r\na=ice-ufrag:x\r\n").unwrap_err();
        assert!(e.contains("ice-pwd"), "{e}");
    }

    #[test]
    fn candidates_round_trip_tcp_ones_are_left_out_and_mdns_names_are_errors() {
        let line =
            "candidate:842163049 1 udp 1677729535 203.0.113.7 40001 typ srflx raddr 10.0.0.2 rport 5000 generation 0";
        let c = parse_candidate(&format!("a={line}")).unwrap().unwrap();
        assert_eq!((c.typ.as_str(), c.port, c.rel_port), ("srflx", 40001, Some(5000)));
        assert_eq!(candidate_line(&c), line.trim_end_matches(" generation 0"));
        assert_eq!(
            parse_candidate("candidate:1 1 tcp 1518280447 10.0.0.2 9 typ host tcptype active"),
            Ok(None)
        );
        let e = parse_candidate("candidate:1 1 udp 2122260223 a1b2.local 5000 typ host").unwrap_err();
        assert!(e.contains("a1b2.local"), "{e}");
        assert!(parse_candidate("candidate:garbage").is_err());
        let bare = WireCandidate {
            rel_addr: None,
            rel_port: None,
            ..c
        };
        assert!(candidate_line(&bare).ends_with("typ srflx raddr 0.0.0.0 rport 0"));
    }

    #[test]
    fn renomination_joins_existing_ice_options_or_follows_each_pwd() {
        let with = with_renomination(CHROMIUM_OFFER, true);
        assert!(with.contains("a=ice-options:trickle renomination\r\n"), "{with}");
        assert_eq!(with_renomination(&with, true), with);
        let without = CHROMIUM_OFFER.replace("a=ice-options:trickle\r\n", "");
        let added = with_renomination(&without, true);
        assert!(added.contains("a=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=ice-options:trickle renomination\r\n"));
        assert_eq!(with_renomination(CHROMIUM_OFFER, false), CHROMIUM_OFFER);
    }

    #[test]
    fn a_remote_without_a_fingerprint_gets_a_placeholder_and_the_active_role() {
        let r = Remote {
            ufrag: "u".into(),
            pwd: "p".into(),
            ..Remote::default()
        };
        let sdp = remote_description(&r, false);
        assert!(sdp.contains("a=setup:active\r\n") && sdp.contains("a=fingerprint:sha-256 AB:AB:"));
        let r = Remote {
            fingerprint: Some("sha-256 01:02".into()),
            setup: Some("passive".into()),
            ..r
        };
        let sdp = remote_description(&r, true);
        assert!(sdp.contains("a=setup:passive\r\n") && sdp.contains("a=fingerprint:sha-256 01:02\r\n"));
        assert!(sdp.contains("a=ice-options:trickle renomination\r\n"));
        assert_eq!(credentials_of(&sdp).unwrap().ufrag, "u");
    }
}
