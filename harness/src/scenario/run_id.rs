//! Run ids, formatted and parsed in one place.

use std::fmt;

/// A run's id: `SCENARIO/IMPL->IMPL/NAT+NAT/seed-N`, one implementation and one NAT profile per
/// party in scenario order (`basic/audio-call/reference->conversations/symmetric+open/seed-1`).
/// Scenario ids may hold `/`; implementation and NAT profile names hold neither `/`, `->` nor `+`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunId {
    /// Scenario id.
    pub scenario: String,
    /// Implementation per party.
    pub impls: Vec<String>,
    /// NAT profile per party.
    pub nats: Vec<String>,
    /// Seed.
    pub seed: u64,
    /// Which repetition of a live run (`--repeat N`), 1-based, written `seed-N-repeat-R`; `None`
    /// for a run done once (every simulated run: it would repeat byte for byte).
    pub repeat: Option<u32>,
}

impl RunId {
    /// Reads `id`; `None` when it is not of the form above.
    pub fn parse(id: &str) -> Option<RunId> {
        let mut parts = id.rsplitn(4, '/');
        let seed_part = parts.next()?.strip_prefix("seed-")?;
        let (seed, repeat) = match seed_part.split_once("-repeat-") {
            Some((s, r)) => (s.parse().ok()?, Some(r.parse().ok().filter(|r| *r > 0)?)),
            None => (seed_part.parse().ok()?, None),
        };
        let nats = parts.next()?.split('+').map(str::to_string).collect();
        let impls = parts.next()?.split("->").map(str::to_string).collect();
        let scenario = parts.next()?.to_string();
        Some(RunId {
            scenario,
            impls,
            nats,
            seed,
            repeat,
        })
    }

    /// The same run's repetition `r` (1-based).
    pub fn with_repeat(&self, r: u32) -> RunId {
        RunId {
            repeat: Some(r),
            ..self.clone()
        }
    }

    /// `seed-N`, or `seed-N-repeat-R` for a repetition.
    fn seed_part(&self) -> String {
        match self.repeat {
            Some(r) => format!("seed-{}-repeat-{r}", self.seed),
            None => format!("seed-{}", self.seed),
        }
    }

    /// The same run with another seed.
    pub fn with_seed(&self, seed: u64) -> RunId {
        RunId { seed, ..self.clone() }
    }

    /// The name of the run's folder inside its scenario's folder of a report:
    /// `CALLER-to-CALLEE_NATS_seed-N` (`->` written `-to-`).
    pub fn folder_name(&self) -> String {
        format!(
            "{}_{}_{}",
            self.impls.join("-to-"),
            self.nats.join("+"),
            self.seed_part()
        )
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}/{}",
            self.scenario,
            self.impls.join("->"),
            self.nats.join("+"),
            self.seed_part()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::RunId;

    #[test]
    fn formats_and_parses_back() {
        let id = "field/x/conversations-2.9.7->asterisk-2021/symmetric+open/seed-12";
        let r = RunId::parse(id).unwrap();
        assert_eq!(r.scenario, "field/x");
        assert_eq!(r.impls, ["conversations-2.9.7", "asterisk-2021"]);
        assert_eq!(r.nats, ["symmetric", "open"]);
        assert_eq!(r.seed, 12);
        assert_eq!(r.to_string(), id);
        assert_eq!(r.with_seed(3).to_string(), id.replace("seed-12", "seed-3"));
        assert_eq!(
            r.folder_name(),
            "conversations-2.9.7-to-asterisk-2021_symmetric+open_seed-12"
        );
        let rep = "s/reference-live->reference/open+open/seed-1-repeat-3";
        let r = RunId::parse(rep).unwrap();
        assert_eq!((r.seed, r.repeat), (1, Some(3)));
        assert_eq!(r.to_string(), rep);
        assert_eq!(r.folder_name(), "reference-live-to-reference_open+open_seed-1-repeat-3");
        for bad in [
            "",
            "x/1",
            "s/a->b/open/seed-x",
            "s/a->b/open/1",
            "a->b/open/seed-1",
            "s/a->b/open/seed-1-repeat-0",
            "s/a->b/open/seed-1-repeat-",
        ] {
            assert_eq!(RunId::parse(bad), None, "{bad}");
        }
    }
}
