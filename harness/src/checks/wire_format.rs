//! What a party puts on the wire parses as what it claims to be. A malformed message is a finding
//! against its sender, never a message the judge skips in silence or a harness crash.

use super::{result, CheckDef, CheckResult, Ctx, Level, Verdict};
use crate::trace::Dir;

/// Every STUN message, RTP header, Jingle action and JMI element a party sends is well-formed.
pub const WELL_FORMED: CheckDef = CheckDef {
    id: "wire.well-formed",
    level: Level::Must,
    cite: "RFC 8489 §5, RFC 3550 §5.1, XEP-0166 §7.1",
    summary: "every STUN message (direct or relayed), RTP header, Jingle action and JMI element a party sends parses: a STUN header and attributes of the right lengths, a whole RTP header, a Jingle action with action and sid, a JMI element with its id",
};

/// See [`WELL_FORMED`]: judges the party that sent the first malformed message.
pub fn well_formed(ctx: &Ctx) -> CheckResult {
    let d = &WELL_FORMED;
    if let Some(m) = ctx.wire.malformed.first() {
        let more = ctx.wire.malformed.iter().filter(|x| x.party == m.party).count() - 1;
        let more = if more > 0 {
            format!(" ({more} more from {})", m.party)
        } else {
            String::new()
        };
        return result(
            d,
            Verdict::Fail,
            format!("{} sent {} at {}{more}", m.party, m.what, m.time),
            vec![m.index],
        )
        .by(&m.party);
    }
    let sent = ctx.wire.stun.iter().filter(|s| s.dir == Dir::Tx).count()
        + ctx.wire.rtp.iter().filter(|r| r.dir == Dir::Tx).count()
        + ctx.wire.jingle.iter().filter(|j| j.dir == Dir::Tx).count();
    if sent == 0 {
        return result(
            d,
            Verdict::Inconclusive,
            "no party sent STUN, RTP or Jingle".into(),
            vec![],
        );
    }
    result(
        d,
        Verdict::Pass,
        format!("{sent} STUN messages, RTP packets and Jingle actions sent, all well-formed"),
        vec![],
    )
}
