//! The webrtc-rs ICE adapter: webrtc-rs's RTCPeerConnection (the `webrtc` crate on tokio) as a
//! party of a live run, speaking `jingle-interop/ice-adapter/1` (ADAPTERS.md) on stdin and stdout,
//! as the browser pages do: one peer connection per `gather`, an Opus track (payload type 111)
//! sending a 20-byte payload every 200 ms once DTLS-SRTP is up, the remote description and
//! candidates written by [`crate::sdp`].
//!
//! webrtc 0.21 is an async shell over webrtc-rs's sans-IO `rtc` crate: its ICE agent is `rtc-ice`
//! (regular nomination, no renomination; `rtc-ice` `agent/agent_selector.rs`), the same code the
//! simulated `rtc-ice` entry drives, here on real sockets with webrtc-rs's own DTLS and SRTP.
//!
//! Run as `webrtc-rs-adapter` (this crate's binary) or `cargo xtask webrtc-rs-adapter`. Exits 0
//! at the end of stdin, 70 with the reason on stderr when the stack fails.

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::AsyncBufReadExt as _;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    register_default_interceptors, MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCConfigurationBuilder, RTCIceCandidateInit, RTCIceConnectionState, RTCIceGatheringState, RTCIceServer,
    RTCIceTransportPolicy, RTCPeerConnectionIceEvent, RTCPeerConnectionState, RTCSessionDescription,
    RTCStatsReportEntry, Registry, SettingEngineBuilder, StatsSelector,
};

use crate::adapter::{FromAdapter, ToAdapter, ADAPTER_PROTOCOL};
use crate::sdp;

/// The stack's name and version in `hello`.
pub const STACK: &str = "webrtc-rs 0.21 (webrtc crate on tokio; ICE from rtc-ice)";

/// What `cargo xtask list impls` says of the stack.
pub const DESCRIPTION: &str = "webrtc-rs 0.21: the `webrtc` crate's RTCPeerConnection on tokio (ICE from rtc-ice: regular nomination, no renomination; its own DTLS and SRTP), mDNS off, DTLS-SRTP media, under the reference signalling";

/// The adapter's error exit: an exception in its loop (ADAPTERS.md §Failures).
const EXIT_FAILED: u8 = 70;

/// With `JINGLE_INTEROP_ADAPTER_LOG` set to a file, both directions of the protocol are appended
/// to it as the other adapters do (`PID < line` from the harness, `PID > line` to it).
fn trace(direction: char, line: &str) {
    if let Some(path) = std::env::var_os("JINGLE_INTEROP_ADAPTER_LOG") {
        if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
            let _ = writeln!(f, "{} {direction} {line}", std::process::id());
        }
    }
}

fn emit(m: &FromAdapter) {
    let line = serde_json::to_string(m).expect("serialisable");
    trace('>', &line);
    let mut out = std::io::stdout().lock();
    // A closed stdout means the harness is gone: the next read of stdin ends the adapter.
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

fn log(text: String) {
    emit(&FromAdapter::Log { text });
}

/// Runs the adapter until stdin ends.
pub fn main() -> ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("webrtc-rs adapter: no tokio runtime: {e}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    match rt.block_on(serve()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("webrtc-rs adapter: {e}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}

/// Events of one peer connection, turned into adapter lines.
struct Events {
    agent: u32,
    /// DTLS-SRTP is up (`RTCPeerConnectionState::Connected`): media may go.
    connected: Arc<AtomicBool>,
    /// RTP packets received from the peer (authenticated: they came through SRTP).
    received: Arc<AtomicU64>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Events {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        match event.candidate.to_json() {
            Ok(init) => emit(&FromAdapter::SdpCandidate {
                agent: self.agent,
                line: init.candidate,
            }),
            Err(e) => log(format!("candidate not written: {e}")),
        }
    }

    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            emit(&FromAdapter::GatheringDone { agent: self.agent });
        }
    }

    async fn on_ice_connection_state_change(&self, state: RTCIceConnectionState) {
        if state != RTCIceConnectionState::Unspecified {
            emit(&FromAdapter::State {
                agent: self.agent,
                state: state.to_string(),
            });
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        log(format!("peer connection {state}"));
        self.connected
            .store(state == RTCPeerConnectionState::Connected, Ordering::Relaxed);
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let received = Arc::clone(&self.received);
        // The callback runs on the connection's driver: the read loop goes on its own task.
        tokio::spawn(async move {
            while let Some(ev) = track.poll().await {
                if let TrackRemoteEvent::OnRtpPacket(_) = ev {
                    received.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
}

/// One call's agent: a peer connection and what signalling has given it.
struct Call {
    agent: u32,
    controlling: bool,
    pc: Arc<dyn PeerConnection>,
    /// The remote description, as the harness wrote it (`remote-credentials`).
    remote: String,
    /// Remote candidates (`a=candidate` values) that came before the remote description.
    pending: Vec<String>,
    started: bool,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Call {
    async fn close(self) {
        for t in &self.tasks {
            t.abort();
        }
        if let Err(e) = self.pc.close().await {
            log(format!("close: {e}"));
        }
    }

    async fn add_remote(&mut self, lines: Vec<String>) {
        for line in lines {
            let init = RTCIceCandidateInit {
                candidate: line.clone(),
                sdp_mid: Some("0".into()),
                sdp_mline_index: Some(0),
                ..Default::default()
            };
            // A candidate the stack refuses is logged and the call goes on with the others: the
            // line came from the peer's signalling, whose faults are not this stack's.
            if let Err(e) = self.pc.add_ice_candidate(init).await {
                log(format!("add_ice_candidate {line}: {e}"));
            }
        }
    }

    /// Sets the local description and answers it (`description`: the harness reads the
    /// credentials from it).
    async fn set_local(&self, desc: RTCSessionDescription) -> Result<(), String> {
        self.pc
            .set_local_description(desc)
            .await
            .map_err(|e| format!("set_local_description: {e}"))?;
        let local = self
            .pc
            .local_description()
            .await
            .ok_or("no local description after setting it")?;
        emit(&FromAdapter::Description {
            agent: self.agent,
            sdp: local.sdp,
        });
        Ok(())
    }
}

async fn serve() -> Result<(), String> {
    emit(&FromAdapter::Hello {
        protocol: ADAPTER_PROTOCOL.into(),
        stack: STACK.into(),
    });
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut call: Option<Call> = None;
    while let Some(line) = lines.next_line().await.map_err(|e| format!("stdin: {e}"))? {
        trace('<', &line);
        let msg: ToAdapter =
            serde_json::from_str(&line).map_err(|e| format!("a line not of the protocol: {e}: {line}"))?;
        match msg {
            ToAdapter::Gather {
                agent,
                role,
                servers,
                policy,
            } => {
                if let Some(old) = call.take() {
                    old.close().await;
                }
                call = Some(gather(agent, role == "controlling", servers, policy.as_deref()).await?);
            }
            ToAdapter::RemoteCredentials {
                agent,
                ufrag,
                pwd,
                fingerprint,
                setup,
                description,
            } => {
                let Some(c) = call.as_mut().filter(|c| c.agent == agent) else {
                    continue;
                };
                let remote = sdp::Remote {
                    ufrag,
                    pwd,
                    fingerprint,
                    setup,
                };
                c.remote = description.unwrap_or_else(|| sdp::remote_description(&remote, false));
                if !c.controlling {
                    // The answerer (RFC 8829 §5.3): the peer's offer, then our answer.
                    let offer =
                        RTCSessionDescription::offer(c.remote.clone()).map_err(|e| format!("the remote offer: {e}"))?;
                    c.pc.set_remote_description(offer)
                        .await
                        .map_err(|e| format!("set_remote_description(offer): {e}"))?;
                    let answer =
                        c.pc.create_answer(None)
                            .await
                            .map_err(|e| format!("create_answer: {e}"))?;
                    c.set_local(answer).await?;
                    c.started = true;
                    let pending = std::mem::take(&mut c.pending);
                    c.add_remote(pending).await;
                }
            }
            ToAdapter::RemoteCandidate { agent, candidate, line } => {
                // `line` is optional in the protocol; without it, the same function writes it.
                let line = line.unwrap_or_else(|| sdp::candidate_line(&candidate));
                let Some(c) = call.as_mut().filter(|c| c.agent == agent) else {
                    continue;
                };
                if c.started {
                    c.add_remote(vec![line]).await;
                } else {
                    c.pending.push(line);
                }
            }
            ToAdapter::Start { agent } => {
                let Some(c) = call.as_mut().filter(|c| c.agent == agent) else {
                    continue;
                };
                if c.controlling && !c.started {
                    let answer = RTCSessionDescription::answer(c.remote.clone())
                        .map_err(|e| format!("the remote answer: {e}"))?;
                    c.pc.set_remote_description(answer)
                        .await
                        .map_err(|e| format!("set_remote_description(answer): {e}"))?;
                    c.started = true;
                    let pending = std::mem::take(&mut c.pending);
                    c.add_remote(pending).await;
                }
            }
            ToAdapter::Close { agent } => {
                if call.as_ref().is_some_and(|c| c.agent == agent) {
                    call.take().expect("checked").close().await;
                }
            }
        }
    }
    if let Some(c) = call.take() {
        c.close().await;
    }
    Ok(())
}

/// A new peer connection for `agent` with an audio track; the offerer (controlling, RFC 8829
/// §5.2.1 with RFC 8445 §6.1.1) answers `credentials` from its offer at once, the answerer when
/// the offer comes.
async fn gather(
    agent: u32,
    controlling: bool,
    servers: Vec<crate::adapter::WireServer>,
    policy: Option<&str>,
) -> Result<Call, String> {
    let mut media = MediaEngine::default();
    media
        .register_default_codecs()
        .map_err(|e| format!("register_default_codecs: {e}"))?;
    let registry = register_default_interceptors(Registry::new(), &mut media)
        .map_err(|e| format!("register_default_interceptors: {e}"))?;
    // Host candidates with their real addresses (no mDNS names), IPv4 UDP: what the live
    // network carries.
    let settings = SettingEngineBuilder::new()
        .with_multicast_dns_mode(rtc::ice::mdns::MulticastDnsMode::Disabled)
        .with_network_types(vec![rtc::ice::network_type::NetworkType::Udp4])
        .build();
    let ice_servers = servers
        .into_iter()
        .map(|s| RTCIceServer {
            urls: vec![s.urls],
            username: s.username.unwrap_or_default(),
            credential: s.credential.unwrap_or_default(),
        })
        .collect();
    let mut config = RTCConfigurationBuilder::new().with_ice_servers(ice_servers);
    if policy == Some("relay") {
        config = config.with_ice_transport_policy(RTCIceTransportPolicy::Relay);
    }
    let connected = Arc::new(AtomicBool::new(false));
    let received = Arc::new(AtomicU64::new(0));
    let events = Events {
        agent,
        connected: Arc::clone(&connected),
        received: Arc::clone(&received),
    };
    let pc = PeerConnectionBuilder::new()
        .with_configuration(config.build())
        .with_setting_engine(settings)
        .with_media_engine(media)
        .with_interceptor_registry(registry)
        .with_handler(Arc::new(events))
        .with_udp_addrs(vec!["0.0.0.0:0"])
        .build()
        .await
        .map_err(|e| format!("the peer connection: {e}"))?;
    let pc: Arc<dyn PeerConnection> = Arc::new(pc);
    let ssrc = 0x5EB0_0000 | agent;
    let opus = rtc::rtp_transceiver::rtp_sender::RTCRtpCodec {
        mime_type: rtc::peer_connection::configuration::media_engine::MIME_TYPE_OPUS.to_owned(),
        clock_rate: 48000,
        channels: 2,
        sdp_fmtp_line: "minptime=10;useinbandfec=1".to_owned(),
        rtcp_feedback: vec![],
    };
    let track = Arc::new(TrackLocalStaticRTP::new(rtc::media_stream::MediaStreamTrack::new(
        format!("jingle-interop-{agent}"),
        format!("audio-{agent}"),
        "audio".into(),
        rtc::rtp_transceiver::rtp_sender::RtpCodecKind::Audio,
        vec![rtc::rtp_transceiver::rtp_sender::RTCRtpEncodingParameters {
            rtp_coding_parameters: rtc::rtp_transceiver::rtp_sender::RTCRtpCodingParameters {
                ssrc: Some(ssrc),
                ..Default::default()
            },
            codec: opus,
            ..Default::default()
        }],
    )));
    pc.add_track(Arc::clone(&track) as Arc<dyn TrackLocal>)
        .await
        .map_err(|e| format!("add_track: {e}"))?;
    let tasks = vec![
        tokio::spawn(send_media(track, ssrc, connected)),
        tokio::spawn(watch_stats(agent, Arc::clone(&pc), received)),
    ];
    let call = Call {
        agent,
        controlling,
        pc,
        remote: String::new(),
        pending: Vec::new(),
        started: false,
        tasks,
    };
    if controlling {
        let offer = call
            .pc
            .create_offer(None)
            .await
            .map_err(|e| format!("create_offer: {e}"))?;
        call.set_local(offer).await?;
    }
    Ok(call)
}

/// The reference's media cadence (ADAPTERS.md): a 20-byte payload every 200 ms, from when
/// DTLS-SRTP is up (RFC 5764 §4.1: no media before the handshake).
async fn send_media(track: Arc<TrackLocalStaticRTP>, ssrc: u32, connected: Arc<AtomicBool>) {
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    // A stalled loop sends the next packet late, not a burst of the missed ones.
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seq: u16 = 0;
    loop {
        tick.tick().await;
        if !connected.load(Ordering::Relaxed) {
            continue;
        }
        seq = seq.wrapping_add(1);
        let packet = rtc::rtp::Packet {
            header: rtc::rtp::header::Header {
                version: 2,
                payload_type: 111,
                sequence_number: seq,
                // 200 ms at Opus's 48 kHz RTP clock.
                timestamp: u32::from(seq).wrapping_mul(9600),
                ssrc,
                ..Default::default()
            },
            payload: bytes::Bytes::from_static(&[0u8; 20]),
        };
        if let Err(e) = track.write_rtp(packet).await {
            log(format!("write_rtp: {e}"));
        }
    }
}

/// Reports the selected pair when it changes (webrtc-stats: the transport's
/// `selectedCandidatePairId`), and the peer's packets received, at most once a second, as the
/// browser pages do.
async fn watch_stats(agent: u32, pc: Arc<dyn PeerConnection>, received: Arc<AtomicU64>) {
    let mut selected = String::new();
    let mut told = (0u64, Instant::now());
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let report = pc.get_stats(Instant::now(), StatsSelector::None).await;
        let n = received.load(Ordering::Relaxed);
        if n != told.0 && told.1.elapsed() >= Duration::from_secs(1) {
            told = (n, Instant::now());
            log(format!("inbound-rtp packetsReceived={n}"));
        }
        let Some(pair_id) = report.transport().map(|t| t.selected_candidate_pair_id.clone()) else {
            continue;
        };
        if pair_id.is_empty() || pair_id == selected {
            continue;
        }
        let Some(RTCStatsReportEntry::IceCandidatePair(pair)) = report.get(&pair_id) else {
            continue;
        };
        let address = |id: &str| match report.get(id) {
            Some(RTCStatsReportEntry::LocalCandidate(c) | RTCStatsReportEntry::RemoteCandidate(c)) => {
                Some((c.address.clone(), c.port))
            }
            _ => None,
        };
        let (Some((Some(l), lport)), Some((r, rport))) =
            (address(&pair.local_candidate_id), address(&pair.remote_candidate_id))
        else {
            continue;
        };
        let Ok(local) = format!("{l}:{lport}").parse() else {
            continue;
        };
        selected = pair_id;
        let remote = r.and_then(|r| format!("{r}:{rport}").parse().ok());
        emit(&FromAdapter::Selected {
            agent,
            component: 1,
            local,
            remote,
            remote_port: remote.is_none().then_some(rport),
        });
    }
}
