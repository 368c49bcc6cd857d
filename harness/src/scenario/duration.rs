//! Durations (`80ms`, `3s`, `1.5s`, `2m`) and percentages (`1%`) as scenarios write them.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// Parses `80ms`, `3s`, `1.5s`, `2m`, `0` into a duration (microsecond precision).
///
/// Errors: a message naming the accepted forms.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let bad = || format!("`{s}` is not a duration (write 80ms, 3s, 1.5s or 2m)");
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let (num, unit_us) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1_000.0)
    } else if let Some(n) = s.strip_suffix("us") {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1_000_000.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60_000_000.0)
    } else {
        return Err(bad());
    };
    let v: f64 = num.trim().parse().map_err(|_| bad())?;
    if !v.is_finite() || v < 0.0 {
        return Err(bad());
    }
    Ok(Duration::from_micros((v * unit_us).round() as u64))
}

/// Parses `1%`, `0.5%` or a fraction `0.01` into a probability 0.0–1.0.
///
/// Errors: out of range or not a number.
pub fn parse_percent(s: &str) -> Result<f64, String> {
    let s = s.trim();
    let bad = || format!("`{s}` is not a percentage (write 1% or 0.5%)");
    let v = match s.strip_suffix('%') {
        Some(n) => n.trim().parse::<f64>().map_err(|_| bad())? / 100.0,
        None => s.parse::<f64>().map_err(|_| bad())?,
    };
    if !(0.0..=1.0).contains(&v) {
        return Err(bad());
    }
    Ok(v)
}

#[derive(Deserialize)]
#[serde(untagged)]
enum StrOrNum {
    S(String),
    N(f64),
}

pub(super) fn opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    match StrOrNum::deserialize(d)? {
        StrOrNum::S(s) => parse_duration(&s).map(Some).map_err(serde::de::Error::custom),
        StrOrNum::N(0.0) => Ok(Some(Duration::ZERO)),
        StrOrNum::N(n) => Err(serde::de::Error::custom(format!(
            "`{n}` needs a unit (write {n}ms or {n}s)"
        ))),
    }
}

pub(super) fn opt_percent<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    match StrOrNum::deserialize(d)? {
        StrOrNum::S(s) => parse_percent(&s).map(Some).map_err(serde::de::Error::custom),
        StrOrNum::N(n) => parse_percent(&n.to_string())
            .map(Some)
            .map_err(serde::de::Error::custom),
    }
}

pub(super) fn percent<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    opt_percent(d).map(|v| v.unwrap_or(0.0))
}

/// Parses a bandwidth `1mbit`, `256kbit`, `64000bit` into bits per second.
///
/// Errors: no unit, zero, or not a number.
pub fn parse_bandwidth(s: &str) -> Result<u64, String> {
    let t = s.trim().to_ascii_lowercase();
    let bad = || format!("`{s}` is not a bandwidth (write 1mbit, 256kbit or 64000bit)");
    let (num, mul) = if let Some(n) = t.strip_suffix("mbit") {
        (n, 1_000_000.0)
    } else if let Some(n) = t.strip_suffix("kbit") {
        (n, 1_000.0)
    } else if let Some(n) = t.strip_suffix("bit") {
        (n, 1.0)
    } else {
        return Err(bad());
    };
    let v: f64 = num.trim().parse().map_err(|_| bad())?;
    let bps = (v * mul).round();
    if !bps.is_finite() || bps < 1.0 {
        return Err(bad());
    }
    Ok(bps as u64)
}

pub(super) fn opt_bandwidth<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let s = String::deserialize(d)?;
    parse_bandwidth(&s).map(Some).map_err(serde::de::Error::custom)
}
