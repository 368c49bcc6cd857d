//! `cargo xtask judge CAPTURE`: the judge over a capture from the field (docs/capture-judging.md).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use harness::capture::{self, judge::CaptureRun, read, stanzas};
use harness::checks::{Level, Verdict};
use harness::endpoint::{Ics, Renomination};
use harness::run::{DeviceInfo, PartyInfo};

/// `cargo xtask judge` arguments.
#[derive(clap::Args)]
pub struct JudgeArgs {
    /// The capture: pcap or pcapng, gzip-compressed or not.
    capture: PathBuf,
    /// The call's stanzas: a Prosody log with mod_stanza_debug, a copy of Gajim's debug console,
    /// or a capture of this project's carrying them (a live run's capture.pcapng.gz, to judge a
    /// tcpdump of the same run with).
    #[arg(long, value_name = "LOG")]
    stanzas: Option<PathBuf>,
    /// The stanza log's clock against UTC, `+01:00` (logs stamp local time).
    #[arg(long, value_name = "±HH:MM", default_value = "+00:00", value_parser = parse_offset, allow_hyphen_values = true)]
    stanzas_utc_offset: i64,
    /// Output folder.
    #[arg(long, default_value = "reports/judge")]
    out: PathBuf,
}

fn parse_offset(s: &str) -> Result<i64, String> {
    let (sign, rest) = match s.as_bytes().first() {
        Some(b'+') => (1, &s[1..]),
        Some(b'-') => (-1, &s[1..]),
        _ => return Err("write ±HH:MM, e.g. +01:00".into()),
    };
    let (h, m) = rest.split_once(':').ok_or("write ±HH:MM, e.g. +01:00")?;
    let (h, m): (i64, i64) = (
        h.parse().map_err(|_| "HH is not a number")?,
        m.parse().map_err(|_| "MM is not a number")?,
    );
    Ok(sign * (h * 3600 + m * 60))
}

fn bad(path: &Path, e: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {}: {e}", path.display());
    ExitCode::from(2)
}

/// Runs the command: 0 when no MUST failed, 1 when one did, 2 on bad input.
pub fn run(args: JudgeArgs) -> ExitCode {
    let bytes = match std::fs::read(&args.capture) {
        Ok(b) => b,
        Err(e) => return bad(&args.capture, e),
    };
    let cap = match read::read(&bytes) {
        Ok(c) => c,
        Err(e) => return bad(&args.capture, e),
    };
    if let Some(t) = &cap.truncated {
        eprintln!(
            "warning: {}: the capture is cut short or damaged {t}; judging the frames before it",
            args.capture.display()
        );
    }
    let mut logged = capture::own_stanzas(&cap);
    if let Some(log) = &args.stanzas {
        let bytes = match std::fs::read(log) {
            Ok(b) => b,
            Err(e) => return bad(log, e),
        };
        match read::read(&bytes) {
            Ok(c) => {
                if let Some(t) = &c.truncated {
                    eprintln!(
                        "warning: {}: the capture is cut short or damaged {t}; taking the stanzas before it",
                        log.display()
                    );
                }
                if args.stanzas_utc_offset != 0 {
                    eprintln!("warning: --stanzas-utc-offset ignored: a capture's stanzas carry their own UTC times");
                }
                let own = capture::own_stanzas(&c);
                if own.is_empty() {
                    return bad(log, "a capture without the stanzas this project's captures carry");
                }
                logged.extend(own);
            }
            Err(read::ReadError::NotACapture(_)) => {
                let text = match String::from_utf8(bytes) {
                    Ok(t) => t,
                    Err(e) => return bad(log, format!("neither a capture nor a text log: {e}")),
                };
                let first = cap.packets.iter().map(|p| p.time_ns).min().unwrap_or(0);
                match stanzas::read_log(&text, stanzas::year_of(first), args.stanzas_utc_offset) {
                    Ok(s) => logged.extend(s),
                    Err(e) => return bad(log, e),
                }
            }
            Err(e) => return bad(log, e),
        }
    }
    let name = args
        .capture
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "capture".into());
    let name = name.split('.').next().unwrap_or("capture").replace(['/', ' '], "_");
    let runs = match capture::judge::runs(&cap, &name, &logged) {
        Ok(r) => r,
        Err(e) => return bad(&args.capture, e),
    };
    let out = &args.out;
    let mut writer = match harness::report::ReportWriter::create(out) {
        Ok(w) => w,
        Err(e) => return bad(out, e),
    };
    let mut failed = false;
    for run in &runs {
        let mut r = capture::judge::judge(run);
        let dir = Path::new("runs").join(&r.id);
        let svg = ladder(run);
        if let Err(e) = std::fs::create_dir_all(out.join(&dir))
            .and_then(|()| std::fs::write(out.join(&dir).join("ladder.svg"), svg))
        {
            return bad(out, e);
        }
        r.artefacts = Some(dir.to_string_lossy().into_owned());
        r.files = vec!["ladder.svg".into()];
        print(run, &r);
        failed |= r
            .checks
            .iter()
            .any(|c| c.level == Level::Must && c.verdict == Verdict::Fail);
        if let Err(e) = writer.push(&r) {
            return bad(out, e);
        }
    }
    match writer.finish() {
        Ok((files, _)) => {
            for f in files {
                println!("wrote {}", f.display());
            }
        }
        Err(e) => return bad(out, e),
    }
    ExitCode::from(u8::from(failed))
}

/// What each call was and what the judge said, on stdout.
fn print(run: &CaptureRun, r: &harness::report::RunReport) {
    println!("{}: {}", r.id, r.outcome);
    for (party, agent, _) in &run.agents {
        println!("  {party}: {agent}");
    }
    let ctx = harness::checks::Ctx::new(&run.out);
    use harness::stun::{attr_type, Attribute, Class};
    // Every check that nominated or tried to (USE-CANDIDATE, NOMINATION 0xC001 / 0x0030), with its
    // pair and whether a success response came back; then the nominations that took effect.
    for s in ctx
        .wire
        .stun
        .iter()
        .filter(|s| s.dir == harness::trace::Dir::Tx && s.msg.class == Class::Request)
    {
        let mark = match (
            s.msg.get(attr_type::NOMINATION_LEGACY),
            s.msg.get(attr_type::NOMINATION_RENOMINATION2),
        ) {
            (Some(Ok(Attribute::NominationLegacy(v))), _) => format!("NOMINATION 0xC001 = {v}"),
            (_, Some(Ok(Attribute::NominationRenomination2(v)))) => format!("NOMINATION 0x0030 = {v}"),
            _ if s.msg.has(attr_type::USE_CANDIDATE) => "USE-CANDIDATE".to_string(),
            _ => continue,
        };
        let answered = ctx.wire.stun.iter().any(|r| {
            r.party == s.party
                && r.dir == harness::trace::Dir::Rx
                && r.msg.class == Class::Success
                && r.msg.transaction_id == s.msg.transaction_id
        });
        println!(
            "  frame {:>6}  {} checks {} -> {} with {mark}{}",
            run.frames.get(s.index).copied().unwrap_or(0),
            s.party,
            s.src,
            s.dst,
            if answered {
                ", answered with success"
            } else {
                ", no success response seen"
            }
        );
    }
    for n in &ctx.nominations {
        let frame = run.frames.get(n.request).copied().unwrap_or(0);
        println!(
            "  nominated (took effect) by {} at frame {frame}: {} -> {}",
            n.controlling, n.controlling_view.0, n.controlling_view.1
        );
    }
    for c in &r.checks {
        if c.verdict == Verdict::Inconclusive {
            continue;
        }
        println!(
            "  {:<12} {:<48} {} (frames {:?})",
            harness::report::verdict_name(c.verdict),
            c.id,
            c.judged_label(),
            c.evidence.iter().take(6).collect::<Vec<_>>()
        );
    }
    let inconclusive = r.checks.iter().filter(|c| c.verdict == Verdict::Inconclusive).count();
    println!("  inconclusive: {inconclusive} checks (report.md says why)");
}

/// The ladder of a call: its parties own every address the capture saw their agent at.
fn ladder(run: &CaptureRun) -> String {
    let mut parties: Vec<PartyInfo> = run.out.parties.clone();
    let mut turn_ip = std::net::IpAddr::from([0, 0, 0, 0]);
    let mut stun_ip = turn_ip;
    for e in &run.out.trace.events {
        if let harness::trace::TraceKind::Datagram {
            point,
            dir,
            src,
            dst,
            payload,
        } = &e.kind
        {
            let p = parties.iter_mut().find(|p| p.name == **point).expect("a party's point");
            let own = if *dir == harness::trace::Dir::Tx { src } else { dst };
            if !p.devices.iter().any(|d| d.host_ip == own.ip()) {
                p.devices.push(device(&p.name, own.ip()));
            }
            if let (Ok(m), harness::trace::Dir::Tx) = (harness::stun::Message::decode(payload), dir) {
                if m.method == harness::stun::method::ALLOCATE {
                    turn_ip = dst.ip();
                } else if m.method == harness::stun::method::BINDING
                    && m.class == harness::stun::Class::Request
                    && !m.has(harness::stun::attr_type::USERNAME)
                {
                    stun_ip = dst.ip();
                }
            }
        }
    }
    // The far side's addresses as each side saw them belong to the far side.
    let seen: Vec<(String, std::net::IpAddr)> = run
        .out
        .trace
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            harness::trace::TraceKind::Datagram {
                point,
                dir,
                src,
                dst,
                payload,
            } if harness::stun::Message::decode(payload).is_ok_and(|m| m.has(harness::stun::attr_type::USERNAME)) => {
                let far = if *dir == harness::trace::Dir::Tx { dst } else { src };
                let other = if &**point == "caller" { "callee" } else { "caller" };
                Some((other.to_string(), far.ip()))
            }
            _ => None,
        })
        .collect();
    for (party, ip) in seen {
        if ip == turn_ip || ip == stun_ip || parties.iter().any(|p| p.devices.iter().any(|d| d.host_ip == ip)) {
            continue;
        }
        if let Some(p) = parties.iter_mut().find(|p| p.name == party) {
            p.devices.push(device(&party, ip));
        }
    }
    harness::ladder::render_svg(&run.out.trace, &parties, stun_ip, turn_ip)
}

fn device(party: &str, ip: std::net::IpAddr) -> DeviceInfo {
    DeviceInfo {
        label: party.to_string(),
        jid: String::new(),
        host_ip: ip,
        public_ip: ip,
        ics: Ics {
            name: "as captured".into(),
            jmi: false,
            trickle: false,
            rtcp_mux: false,
            renomination: Renomination::None,
            turn_transports: Vec::new(),
            ice_restart: false,
            unseeded_stun_transaction_ids: false,
            dtls_srtp_media: false,
            stack: None,
        },
    }
}
