//! What the network did to the packets a verdict depends on. The network is a cause, never a
//! culprit: where a check's evidence was lost on the way (random loss, a queue overflow, a link
//! down: [`DropSeen::is_path_fault`]), the verdict is `inconclusive` naming the drop, not a failure
//! of an implementation. NAT filtering and firewall rules are the topology ICE works through; the
//! checks judge them as such (a check filtered before the peer opened its NAT is ordinary ICE).

use super::Ctx;
use crate::wire::DropSeen;

/// The path faults that dropped part of STUN transaction `id` (requests, responses or their
/// retransmissions, direct or relayed), in trace order.
fn stun_drops<'c, 'a>(ctx: &'c Ctx<'a>, id: &[u8; 12]) -> impl Iterator<Item = &'c DropSeen<'a>> + 'c {
    let id = *id;
    ctx.wire
        .drops
        .iter()
        .filter(move |d| d.transaction_id == Some(id) && d.is_path_fault())
}

/// The first drop of STUN transaction `id`, as a clause for a verdict's detail
/// (`"; dropped at caller-site/uplink (loss) at 1.2 s"`), or `""` when none was dropped.
pub(super) fn stun_fate(ctx: &Ctx, id: &[u8; 12]) -> String {
    stun_drops(ctx, id).next().map(describe).unwrap_or_default()
}

/// What became of the datagram recorded at trace index `sent`: its STUN transaction's first drop
/// as a clause for a detail, or `""`.
pub(super) fn fate(ctx: &Ctx, sent: usize) -> String {
    ctx.wire
        .stun
        .iter()
        .find(|s| s.index == sent)
        .map(|s| stun_fate(ctx, &s.msg.transaction_id))
        .unwrap_or_default()
}

/// `"; dropped at POINT (REASON) at TIME"`.
fn describe(d: &DropSeen) -> String {
    format!("; the network dropped it at {} ({}) at {}", d.point, d.reason, d.time)
}

/// True when the network dropped any part of STUN transaction `id`.
pub(super) fn stun_dropped(ctx: &Ctx, id: &[u8; 12]) -> bool {
    stun_drops(ctx, id).next().is_some()
}

/// The first drop, between `from` and `to`, of a STUN transaction `party` took part in as the
/// client (its checks, its TURN Allocate, Refresh, CreatePermission and ChannelBind, and the
/// responses to them), directly or relayed: what may have held its ICE processing back.
pub(super) fn party_transaction_dropped<'c, 'a>(
    ctx: &'c Ctx<'a>,
    party: &str,
    from: crate::time::SimTime,
    to: crate::time::SimTime,
) -> Option<&'c DropSeen<'a>> {
    ctx.wire
        .drops
        .iter()
        .filter(|d| d.time >= from && d.time <= to && d.is_path_fault())
        .find(|d| {
            d.transaction_id.is_some_and(|id| {
                ctx.wire.stun.iter().any(|s| {
                    s.party == party
                        && s.dir == crate::trace::Dir::Tx
                        && s.msg.class == crate::stun::Class::Request
                        && s.msg.transaction_id == id
                })
            })
        })
}
