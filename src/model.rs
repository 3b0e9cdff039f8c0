//! Domain value types shared by every layer: parsed once at the boundary,
//! trusted everywhere inside it.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Serialize};

/// A TAXII timestamp: UTC, microsecond precision, stored as microseconds
/// since the Unix epoch so it orders and compares as an integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("'{0}' is not an RFC 3339 timestamp (expected e.g. 2026-01-31T12:00:00.000000Z)")]
pub struct TimestampError(pub String);

impl Timestamp {
    pub const MIN: Timestamp = Timestamp(i64::MIN);

    pub fn from_micros(micros: i64) -> Self {
        Timestamp(micros)
    }

    pub fn micros(self) -> i64 {
        self.0
    }

    pub fn now() -> Self {
        Self::from_datetime(Utc::now())
    }

    pub fn from_datetime(dt: DateTime<Utc>) -> Self {
        Timestamp(dt.timestamp_micros())
    }

    pub fn to_datetime(self) -> DateTime<Utc> {
        Utc.timestamp_micros(self.0)
            .single()
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    /// Parses RFC 3339 with any number of fractional digits (0 to 9) and any
    /// offset; precision beyond microseconds is truncated towards the past,
    /// which keeps `added_after` comparisons exact for microsecond values.
    pub fn parse(text: &str) -> Result<Self, TimestampError> {
        let dt = DateTime::parse_from_rfc3339(text.trim())
            .map_err(|_| TimestampError(text.to_string()))?;
        Ok(Self::from_datetime(dt.with_timezone(&Utc)))
    }

    pub fn plus_micros(self, micros: i64) -> Self {
        Timestamp(self.0.saturating_add(micros))
    }
}

impl fmt::Display for Timestamp {
    /// Always `YYYY-MM-DDTHH:MM:SS.ffffffZ`, as TAXII 2.1 §2 requires.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            &self
                .to_datetime()
                .to_rfc3339_opts(SecondsFormat::Micros, true),
        )
    }
}

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Timestamp::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// TLP 2.0 sharing tiers, ordered from laxest to strictest.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum Tier {
    Clear,
    Green,
    Amber,
    #[serde(rename = "amber+strict", alias = "amber-strict")]
    #[value(name = "amber+strict", alias = "amber-strict")]
    AmberStrict,
    Red,
}

impl Tier {
    pub const ALL: [Tier; 5] = [
        Tier::Clear,
        Tier::Green,
        Tier::Amber,
        Tier::AmberStrict,
        Tier::Red,
    ];

    /// The canonical lowercase label (`clear`, `green`, `amber`, `amber+strict`, `red`).
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Clear => "clear",
            Tier::Green => "green",
            Tier::Amber => "amber",
            Tier::AmberStrict => "amber+strict",
            Tier::Red => "red",
        }
    }

    /// A label safe for URLs and file names (`amber-strict`).
    pub fn slug(self) -> &'static str {
        match self {
            Tier::AmberStrict => "amber-strict",
            other => other.as_str(),
        }
    }

    /// The human label, e.g. `TLP:AMBER+STRICT`.
    pub fn label(self) -> String {
        format!("TLP:{}", self.as_str().to_ascii_uppercase())
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Tier {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        let lower = lower.strip_prefix("tlp:").unwrap_or(&lower);
        match lower {
            "clear" | "white" => Ok(Tier::Clear),
            "green" => Ok(Tier::Green),
            "amber" => Ok(Tier::Amber),
            "amber+strict" | "amber-strict" | "amber_strict" => Ok(Tier::AmberStrict),
            "red" => Ok(Tier::Red),
            _ => Err(format!(
                "'{s}' is not a TLP tier (use clear, green, amber, amber+strict or red)"
            )),
        }
    }
}

/// A collection identifier: a UUID, as TAXII 2.1 §5.2.1 requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CollectionId(pub uuid::Uuid);

impl CollectionId {
    pub fn new_random() -> Self {
        CollectionId(uuid::Uuid::new_v4())
    }
    pub fn parse(text: &str) -> Option<Self> {
        uuid::Uuid::parse_str(text).ok().map(CollectionId)
    }
}

impl fmt::Display for CollectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl Serialize for CollectionId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A STIX identifier as seen at the TAXII boundary: `type--uuid`, lowercase
/// type. Full validation happens in `stix`; this only guarantees the shape
/// the store and URLs rely on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectId(String);

impl ObjectId {
    pub fn parse(text: &str) -> Option<Self> {
        let (ty, uuid) = text.split_once("--")?;
        let type_ok = !ty.is_empty()
            && ty.len() <= 250
            && ty
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        (type_ok && uuid::Uuid::parse_str(uuid).is_ok()).then(|| ObjectId(text.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn object_type(&self) -> &str {
        self.0.split_once("--").map(|(t, _)| t).unwrap_or("")
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_accept_zero_to_nine_fraction_digits() {
        let whole = Timestamp::parse("2026-01-02T03:04:05Z").unwrap();
        for (text, extra) in [
            ("2026-01-02T03:04:05.1Z", 100_000),
            ("2026-01-02T03:04:05.12Z", 120_000),
            ("2026-01-02T03:04:05.123Z", 123_000),
            ("2026-01-02T03:04:05.1234Z", 123_400),
            ("2026-01-02T03:04:05.12345Z", 123_450),
            ("2026-01-02T03:04:05.123456Z", 123_456),
            ("2026-01-02T03:04:05.123456789Z", 123_456),
        ] {
            assert_eq!(
                Timestamp::parse(text).unwrap(),
                whole.plus_micros(extra),
                "{text}"
            );
        }
    }

    #[test]
    fn timestamps_render_with_microseconds_and_z() {
        let ts = Timestamp::parse("2026-01-02T03:04:05.1+00:00").unwrap();
        assert_eq!(ts.to_string(), "2026-01-02T03:04:05.100000Z");
        let offset = Timestamp::parse("2026-01-02T05:04:05+02:00").unwrap();
        assert_eq!(offset.to_string(), "2026-01-02T03:04:05.000000Z");
    }

    #[test]
    fn malformed_timestamps_are_refused() {
        for bad in [
            "",
            "yesterday",
            "2026-13-01T00:00:00Z",
            "2026-01-01 00:00:00",
            "2026-01-01",
        ] {
            assert!(Timestamp::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tiers_order_from_clear_to_red_and_parse_labels() {
        assert!(Tier::Clear < Tier::Green && Tier::Green < Tier::Amber);
        assert!(Tier::Amber < Tier::AmberStrict && Tier::AmberStrict < Tier::Red);
        assert_eq!("TLP:WHITE".parse::<Tier>(), Ok(Tier::Clear));
        assert_eq!("amber-strict".parse::<Tier>(), Ok(Tier::AmberStrict));
        assert_eq!(Tier::AmberStrict.label(), "TLP:AMBER+STRICT");
        assert!("purple".parse::<Tier>().is_err());
    }

    #[test]
    fn object_ids_need_type_and_uuid() {
        let id = ObjectId::parse("indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f").unwrap();
        assert_eq!(id.object_type(), "indicator");
        assert!(ObjectId::parse("indicator--not-a-uuid").is_none());
        assert!(ObjectId::parse("Indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f").is_none());
        assert!(ObjectId::parse("8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f").is_none());
    }
}
