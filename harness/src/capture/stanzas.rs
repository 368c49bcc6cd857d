//! Stanza logs: the XMPP stanzas of a call as a server or a client logged them, for `--stanzas`.
//!
//! Formats read (docs/capture-judging.md shows examples):
//! - **Prosody's file log with `mod_stanza_debug`** (prosody `plugins/mod_stanza_debug.lua`,
//!   `core/loggingmanager.lua`): `MMM DD HH:MM:SS SESSION<TAB>debug<TAB>RECV: <stanza>` for what a
//!   client sent, `SEND: <stanza>` for what the server delivered; a stanza may continue on the
//!   following lines. A session's JID comes from its `Resource bound: JID` line. The lines carry
//!   no year and whole seconds of local time.
//! - **Gajim's debug console** (gajim `gajim/gtk/debug_console.py`), copied as text:
//!   `<!-- Outgoing Sat Aug  8 09:40:35 2026 (account) -->` before each stanza (C locale `%c`),
//!   `Incoming` for what the server delivered.
//!
//! Logged times are local: `utc_offset_s` is added back to make them UTC (`--stanzas-utc-offset`).
//! Whole-second stamps put every stanza at the start of its second.

use minidom::Element;

use super::judge::LoggedStanza;

/// A log that could not be read, with where.
#[derive(Debug)]
pub struct LogError(pub String);

impl std::fmt::Display for LogError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Days from 1970-01-01 to the civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil year of `unix_ns`.
pub fn year_of(unix_ns: u64) -> i64 {
    let days = (unix_ns / 1_000_000_000 / 86_400) as i64;
    // Walk from the year's estimate; at most one step off.
    let mut y = 1970 + days / 365;
    while days_from_civil(y, 1, 1) > days {
        y -= 1;
    }
    while days_from_civil(y + 1, 1, 1) <= days {
        y += 1;
    }
    y
}

fn unix_ns(year: i64, month: u32, day: u32, h: u32, m: u32, s: u32, utc_offset_s: i64) -> u64 {
    let secs = days_from_civil(year, month, day) * 86_400 + i64::from(h * 3600 + m * 60 + s) - utc_offset_s;
    u64::try_from(secs).unwrap_or(0) * 1_000_000_000
}

fn month(name: &str) -> Option<u32> {
    MONTHS.iter().position(|m| *m == name).map(|i| i as u32 + 1)
}

fn hms(t: &str) -> Option<(u32, u32, u32)> {
    let mut it = t.split(':').map(|x| x.parse::<u32>().ok());
    Some((it.next()??, it.next()??, it.next()??))
}

/// A stanza's text as an element: a log leaves out the stream's default namespace, which is
/// `jabber:client` on a client stream.
fn element(xml: &str) -> Option<Element> {
    let xml = xml.trim();
    if let Ok(e) = xml.parse::<Element>() {
        return Some(e);
    }
    let end = xml.find(['>', ' ', '/'])?;
    let with_ns = format!("{} xmlns='jabber:client'{}", &xml[..end], &xml[end..]);
    with_ns.parse::<Element>().ok()
}

/// Reads a stanza log in any of the formats above. `year` is for formats that write none (the
/// capture's year). Lines that are no stanza (logins, stream features) are passed over.
///
/// Errors: a log in none of the formats, or one in which no stanza parses, with the first line.
pub fn read_log(text: &str, year: i64, utc_offset_s: i64) -> Result<Vec<LoggedStanza>, LogError> {
    if text.contains("<!-- Outgoing ") || text.contains("<!-- Incoming ") {
        return gajim(text, utc_offset_s);
    }
    prosody(text, year, utc_offset_s)
}

fn prosody(text: &str, year: i64, utc_offset_s: i64) -> Result<Vec<LoggedStanza>, LogError> {
    // (line, time, session, from client, text)
    let mut open: Vec<(usize, u64, String, bool, String)> = Vec::new();
    let mut jids: std::collections::BTreeMap<String, String> = Default::default();
    let mut current: Option<usize> = None;
    let mut headers = 0;
    for (n, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line.splitn(3, '\t').collect();
        let head: Vec<&str> = fields[0].split_whitespace().collect();
        let parsed = (fields.len() == 3 && head.len() == 4)
            .then(|| Some((month(head[0])?, head[1].parse::<u32>().ok()?, hms(head[2])?)))
            .flatten();
        let Some((mon, day, (h, m, s))) = parsed else {
            // A stanza with newlines in it goes on.
            if let Some(i) = current {
                open[i].4.push('\n');
                open[i].4.push_str(line);
            }
            continue;
        };
        headers += 1;
        current = None;
        let session = head[3].to_string();
        let msg = fields[2];
        if let Some(jid) = msg.strip_prefix("Resource bound: ") {
            jids.insert(session.clone(), jid.trim().to_string());
        }
        let dir = if let Some(x) = msg.strip_prefix("RECV: ") {
            Some((true, x))
        } else {
            msg.strip_prefix("SEND: ").map(|x| (false, x))
        };
        if let Some((from_client, xml)) = dir {
            let t = unix_ns(year, mon, day, h, m, s, utc_offset_s);
            open.push((n + 1, t, session, from_client, xml.to_string()));
            current = Some(open.len() - 1);
        }
    }
    if headers == 0 {
        let first = text.lines().next().unwrap_or("");
        return Err(LogError(format!(
            "neither a Prosody log (MMM DD HH:MM:SS SESSION<TAB>LEVEL<TAB>MESSAGE) nor a Gajim console \
             copy (<!-- Outgoing DATE (ACCOUNT) -->): its first line is {first:?}"
        )));
    }
    let out: Vec<LoggedStanza> = open
        .into_iter()
        .filter_map(|(line, time_ns, session, from_client, xml)| {
            Some(LoggedStanza {
                time_ns,
                stream: jids.get(&session).cloned().unwrap_or(session),
                from_client,
                element: element(&xml).filter(|e| matches!(e.name(), "iq" | "message" | "presence"))?,
                origin: line,
            })
        })
        .collect();
    if out.is_empty() {
        return Err(LogError(
            "a Prosody log without a stanza: log them with mod_stanza_debug at level debug (RECV:/SEND: lines)".into(),
        ));
    }
    Ok(out)
}

fn gajim(text: &str, utc_offset_s: i64) -> Result<Vec<LoggedStanza>, LogError> {
    let mut out = Vec::new();
    let mut rest = text;
    let mut line = 1;
    while let Some(at) = rest.find("<!-- ") {
        line += rest[..at].matches('\n').count();
        let header_end = rest[at..].find("-->").map(|e| at + e + 3);
        let Some(header_end) = header_end else { break };
        let header = &rest[at + 5..header_end - 3];
        let body_end = rest[header_end..].find("<!-- ").map_or(rest.len(), |e| header_end + e);
        let body = &rest[header_end..body_end];
        let words: Vec<&str> = header.split_whitespace().collect();
        // Outgoing Sat Aug 8 09:40:35 2026 (account)
        let parsed = (words.len() >= 7)
            .then(|| {
                let from_client = match words[0] {
                    "Outgoing" => true,
                    "Incoming" => false,
                    _ => return None,
                };
                let (h, m, s) = hms(words[4])?;
                let t = unix_ns(
                    words[5].parse().ok()?,
                    month(words[2])?,
                    words[3].parse().ok()?,
                    h,
                    m,
                    s,
                    utc_offset_s,
                );
                let account = words[6..].join(" ");
                Some((from_client, t, account.trim_matches(['(', ')']).to_string()))
            })
            .flatten();
        if let Some((from_client, time_ns, stream)) = parsed {
            if let Some(e) = element(body).filter(|e| matches!(e.name(), "iq" | "message" | "presence")) {
                out.push(LoggedStanza {
                    time_ns,
                    stream,
                    from_client,
                    element: e,
                    origin: line,
                });
            }
        }
        line += rest[at..body_end].matches('\n').count();
        rest = &rest[body_end..];
    }
    if out.is_empty() {
        return Err(LogError("a Gajim console copy without a stanza that parses".into()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_count_from_the_epoch() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2026, 12, 7), 20_794);
        assert_eq!(year_of(20_794 * 86_400 * 1_000_000_000), 2026);
        assert_eq!(year_of(0), 1970);
    }

    #[test]
    fn prosody_lines_give_direction_jid_time_and_multiline_stanzas() {
        let log = "Dec 07 02:00:00 c2s55d0e4f7c8a0\tinfo\tAuthenticated as alice@example.org\n\
                   Dec 07 02:00:00 c2s55d0e4f7c8a0\tdebug\tResource bound: alice@example.org/pc\n\
                   Dec 07 02:00:01 c2s55d0e4f7c8a0\tdebug\tRECV: <iq type='set' id='a1' to='bob@example.org/phone'><jingle xmlns='urn:xmpp:jingle:1'\n\
                   action='session-initiate' sid='s1'/></iq>\n\
                   Dec 07 02:00:01 c2s55d0e4f7c8a0\tdebug\tReceived[c2s]: <iq type='set' id='a1'>\n\
                   Dec 07 02:00:02 c2s55e1a2b3c4d0\tdebug\tSEND: <iq type='result' id='a1' from='bob@example.org/phone'/>\n";
        let s = read_log(log, 2026, 3600).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].stream, "alice@example.org/pc");
        assert!(s[0].from_client);
        assert_eq!(
            s[0].element.children().next().unwrap().attr("action"),
            Some("session-initiate")
        );
        assert_eq!(s[0].time_ns, (20_794 * 86_400 + 7200 + 1 - 3600) * 1_000_000_000);
        assert_eq!(s[0].origin, 3);
        assert_eq!(s[1].stream, "c2s55e1a2b3c4d0");
        assert!(!s[1].from_client);
    }

    #[test]
    fn gajim_console_copies_are_read() {
        let log = "<!-- Outgoing Mon Dec  7 02:00:01 2026 (alice@example.org) -->\n\
                   <iq xmlns=\"jabber:client\" type=\"set\" id=\"a1\">\n  <jingle xmlns=\"urn:xmpp:jingle:1\" action=\"session-initiate\" sid=\"s\"/>\n</iq>\n\n\
                   <!-- Incoming Mon Dec  7 02:00:02 2026 (alice@example.org) -->\n<iq xmlns=\"jabber:client\" type=\"result\" id=\"a1\"/>\n";
        let s = read_log(log, 1999, 0).unwrap();
        assert_eq!(s.len(), 2);
        assert!(s[0].from_client && !s[1].from_client);
        assert_eq!(s[1].time_ns - s[0].time_ns, 1_000_000_000);
        assert_eq!(s[0].stream, "alice@example.org");
    }

    #[test]
    fn anything_else_is_an_error_naming_its_first_line() {
        let e = read_log("hello\nworld\n", 2026, 0).unwrap_err();
        assert!(e.0.contains("\"hello\""), "{e}");
    }
}
