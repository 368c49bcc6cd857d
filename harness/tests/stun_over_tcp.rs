//! The STUN server answers Binding over the stream transport too (RFC 8489 §6.2.2): a minimal
//! endpoint opens TCP to it from behind a NAT and reads its server-reflexive address from the answer.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::Path;

use bytes::Bytes;
use harness::endpoint::{Endpoint, EndpointEvent, Ics, ImplEntry, Input, Output, Registry};
use harness::stun::{attr_type, method, Attribute, Class, Message, MessageBuilder};
use harness::trace::TraceKind;
use harness::SimTime;

struct TcpProbe {
    ics: Ics,
    local: SocketAddr,
    out: VecDeque<Output>,
    started: bool,
}

impl Endpoint for TcpProbe {
    fn ics(&self) -> &Ics {
        &self.ics
    }
    fn handle_input(&mut self, _now: SimTime, input: Input) {
        match input {
            Input::Timeout if !self.started => {
                self.started = true;
                self.out.push_back(Output::StreamOpen {
                    id: 7,
                    local: self.local,
                    remote: harness::run::STUN_ADDR.parse().unwrap(),
                    tls: false,
                });
            }
            Input::StreamOpened { id: 7, .. } => {
                let req = MessageBuilder::new(method::BINDING, Class::Request, [9; 12]).build(None, true);
                self.out.push_back(Output::StreamSend {
                    id: 7,
                    payload: Bytes::from(req),
                });
            }
            Input::StreamData { id: 7, payload } => {
                if let Ok(m) = Message::decode(&payload) {
                    if let Some(Ok(Attribute::XorMappedAddress(a))) = m.get(attr_type::XOR_MAPPED_ADDRESS) {
                        let claim = EndpointEvent::SelectedPair {
                            local: self.local,
                            remote: a,
                        };
                        self.out.push_back(Output::Event(claim));
                    }
                }
            }
            _ => {}
        }
    }
    fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }
    fn poll_timeout(&self) -> Option<SimTime> {
        (!self.started).then_some(SimTime::ZERO)
    }
}

#[test]
fn binding_over_tcp_reflects_the_nat_mapping() {
    let mut registry = Registry::new();
    registry.register(ImplEntry {
        name: "tcp-probe".into(),
        description: "opens TCP to the STUN server and asks for its mapping".into(),
        make: Box::new(|cfg| {
            Box::new(TcpProbe {
                ics: Ics {
                    name: "tcp-probe".into(),
                    jmi: false,
                    trickle: false,
                    rtcp_mux: false,
                    renomination: harness::endpoint::Renomination::None,
                    turn_transports: vec![],
                    ice_restart: false,
                    unseeded_stun_transaction_ids: false,
                    dtls_srtp_media: false,
                    stack: None,
                },
                local: SocketAddr::new(cfg.interfaces[0], 45000),
                out: VecDeque::new(),
                started: false,
            })
        }),
        check_knobs: None,
        live: None,
    });
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let id = "basic/audio-call/tcp-probe->tcp-probe/port-restricted-cone+port-restricted-cone/seed-1";
    let spec = harness::conform::spec_from_id(&dir, id, &registry).unwrap();
    let out = harness::run::run(&spec, &registry).unwrap();
    let claim = out.trace.events.iter().find_map(|e| match &e.kind {
        TraceKind::Claim { party, claim } if party == "caller" => Some(claim.clone()),
        _ => None,
    });
    // The server saw the caller's NAT (203.0.113.1), TCP port preserved (45000).
    assert_eq!(claim.as_deref(), Some("selected-pair 10.0.1.2:45000 203.0.113.1:45000"));
    let at_server = out
        .trace
        .events
        .iter()
        .filter(|e| matches!(&e.kind, TraceKind::Segment { point, .. } if &**point == "stun"))
        .count();
    assert_eq!(
        at_server, 4,
        "request and answer, each seen at the server by both parties' probes"
    );
}
