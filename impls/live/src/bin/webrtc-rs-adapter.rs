//! The webrtc-rs ICE adapter (`live::webrtc_rs`): webrtc-rs's RTCPeerConnection speaking
//! jingle-interop/ice-adapter/1 on stdin and stdout (impls/live/ADAPTERS.md).

fn main() -> std::process::ExitCode {
    live::webrtc_rs::main()
}
