//! The STIX 2.1 type catalogue and the small parsers every rule family shares:
//! identifiers (`type--UUID`) and timestamps (RFC 3339, UTC, `Z`).

/// STIX Domain Objects defined by the specification (section 4).
pub const SDO_TYPES: &[&str] = &[
    "attack-pattern",
    "campaign",
    "course-of-action",
    "grouping",
    "identity",
    "incident",
    "indicator",
    "infrastructure",
    "intrusion-set",
    "location",
    "malware",
    "malware-analysis",
    "note",
    "observed-data",
    "opinion",
    "report",
    "threat-actor",
    "tool",
    "vulnerability",
];

/// STIX Relationship Objects (section 5).
pub const SRO_TYPES: &[&str] = &["relationship", "sighting"];

/// STIX Cyber-observable Objects (section 6).
pub const SCO_TYPES: &[&str] = &[
    "artifact",
    "autonomous-system",
    "directory",
    "domain-name",
    "email-addr",
    "email-message",
    "file",
    "ipv4-addr",
    "ipv6-addr",
    "mac-addr",
    "mutex",
    "network-traffic",
    "process",
    "software",
    "url",
    "user-account",
    "windows-registry-key",
    "x509-certificate",
];

/// STIX Meta Objects (section 7) and the bundle (section 8).
pub const META_TYPES: &[&str] = &[
    "marking-definition",
    "language-content",
    "extension-definition",
];

/// What kind of object a `type` value names; decides which core rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sdo,
    Sro,
    Sco,
    MarkingDefinition,
    LanguageContent,
    ExtensionDefinition,
    Bundle,
    /// A type the specification does not define, carrying `created`/`modified`.
    CustomObject,
    /// A type the specification does not define, without `created`/`modified`.
    CustomObservable,
}

impl Kind {
    /// Kind of a spec-defined type, or `None` for a custom type.
    pub fn of_defined(t: &str) -> Option<Kind> {
        if SDO_TYPES.contains(&t) {
            Some(Kind::Sdo)
        } else if SRO_TYPES.contains(&t) {
            Some(Kind::Sro)
        } else if SCO_TYPES.contains(&t) {
            Some(Kind::Sco)
        } else {
            match t {
                "marking-definition" => Some(Kind::MarkingDefinition),
                "language-content" => Some(Kind::LanguageContent),
                "extension-definition" => Some(Kind::ExtensionDefinition),
                "bundle" => Some(Kind::Bundle),
                _ => None,
            }
        }
    }

    /// True for the kinds that must carry `spec_version: "2.1"`.
    pub fn requires_spec_version(self) -> bool {
        matches!(
            self,
            Kind::Sdo
                | Kind::Sro
                | Kind::MarkingDefinition
                | Kind::LanguageContent
                | Kind::ExtensionDefinition
                | Kind::CustomObject
        )
    }

    pub fn is_observable(self) -> bool {
        matches!(self, Kind::Sco | Kind::CustomObservable)
    }

    pub fn is_custom(self) -> bool {
        matches!(self, Kind::CustomObject | Kind::CustomObservable)
    }
}

/// A parsed identifier: the type prefix and the UUID version digit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedId<'a> {
    pub object_type: &'a str,
    pub uuid_version: u8,
}

/// Why an identifier is malformed, as a sentence fragment.
pub fn parse_id(id: &str) -> Result<ParsedId<'_>, &'static str> {
    let Some((prefix, uuid)) = id.split_once("--") else {
        return Err("must have the form <type>--<UUID>");
    };
    if !is_type_name(prefix) {
        return Err("has an invalid type prefix (lowercase letters, digits and single hyphens)");
    }
    let b = uuid.as_bytes();
    if b.len() != 36 {
        return Err("has a malformed UUID (expected 8-4-4-4-12 hexadecimal digits)");
    }
    for (i, c) in b.iter().enumerate() {
        let ok = if matches!(i, 8 | 13 | 18 | 23) {
            *c == b'-'
        } else {
            c.is_ascii_hexdigit()
        };
        if !ok {
            return Err("has a malformed UUID (expected 8-4-4-4-12 hexadecimal digits)");
        }
    }
    if !matches!(b[19], b'8' | b'9' | b'a' | b'b' | b'A' | b'B') {
        return Err("has a UUID that is not an RFC 4122 variant");
    }
    Ok(ParsedId {
        object_type: prefix,
        uuid_version: b[14] - b'0',
    })
}

/// Type names: lowercase ASCII letters, digits and hyphens, beginning with a letter,
/// no trailing or doubled hyphen.
pub fn is_type_name(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_lowercase()
        && b[b.len() - 1] != b'-'
        && !t.contains("--")
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

/// Property names: `[a-z][a-z0-9_]{2,249}`, plus `id`, the one shorter name the
/// specification defines.
pub fn is_property_name(name: &str) -> bool {
    name == "id" || is_long_property_name(name)
}

/// A property name of 3 to 250 characters: `[a-z][a-z0-9_]{2,249}`.
pub fn is_long_property_name(name: &str) -> bool {
    let b = name.as_bytes();
    (3..=250).contains(&b.len())
        && b[0].is_ascii_lowercase()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

/// A timestamp reduced to something totally ordered: seconds since 0000-03-01 and
/// the fraction scaled to 18 digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Instant {
    seconds: i64,
    fraction: u64,
}

/// A parsed STIX timestamp and the number of fractional digits it was written with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timestamp {
    pub instant: Instant,
    pub fraction_digits: usize,
}

fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0u32, |acc, c| acc * 10 + u32::from(c - b'0')))
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => {
            29
        }
        _ => 28,
    }
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction]Z` and checks the calendar values.
pub fn parse_timestamp(s: &str) -> Result<Timestamp, &'static str> {
    const SHAPE: &str = "must be an RFC 3339 timestamp in UTC, e.g. 2024-05-01T12:00:00.000Z";
    let b = s.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return Err(SHAPE);
    }
    let (Some(year), Some(month), Some(day), Some(hour), Some(minute), Some(second)) = (
        digits(&b[0..4]),
        digits(&b[5..7]),
        digits(&b[8..10]),
        digits(&b[11..13]),
        digits(&b[14..16]),
        digits(&b[17..19]),
    ) else {
        return Err(SHAPE);
    };
    let rest = &b[19..];
    let fraction_digits;
    let mut fraction = 0u64;
    match rest {
        [b'Z'] => fraction_digits = 0,
        [b'.', frac @ .., b'Z'] => {
            if frac.is_empty() || !frac.iter().all(u8::is_ascii_digit) {
                return Err(SHAPE);
            }
            fraction_digits = frac.len();
            for i in 0..18 {
                fraction = fraction * 10 + frac.get(i).map_or(0, |c| u64::from(c - b'0'));
            }
        }
        _ => {
            return Err(
                if rest.last() == Some(&b'Z') || rest.first() == Some(&b'.') {
                    SHAPE
                } else {
                    "must be in UTC and end with 'Z'"
                },
            );
        }
    }
    if !(1..=12).contains(&month) {
        return Err("has a month outside 01-12");
    }
    if day == 0 || day > days_in_month(year, month) {
        return Err("has a day that does not exist in that month");
    }
    if hour > 23 || minute > 59 || second > 59 {
        return Err("has a time of day outside 00:00:00-23:59:59");
    }
    // Days since 0000-03-01 (civil calendar arithmetic).
    let (y, m) = if month <= 2 {
        (year as i64 - 1, month + 9)
    } else {
        (year as i64, month - 3)
    };
    let era_days = 365 * y + y.div_euclid(4) - y.div_euclid(100) + y.div_euclid(400);
    let days = era_days + i64::from((153 * m + 2) / 5) + i64::from(day) - 1;
    let seconds = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
    Ok(Timestamp {
        instant: Instant { seconds, fraction },
        fraction_digits,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_and_report_versions() {
        let p = parse_id("indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f").unwrap();
        assert_eq!(p.object_type, "indicator");
        assert_eq!(p.uuid_version, 4);
        assert!(parse_id("indicator-8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f").is_err());
        assert!(parse_id("indicator--8e2e2d2b17d44cbf938f98ee46b3cd3f").is_err());
        assert!(parse_id("Indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f").is_err());
        assert!(parse_id("indicator--8e2e2d2b-17d4-4cbf-c38f-98ee46b3cd3f").is_err());
        assert!(parse_id("indicator--").is_err());
    }

    #[test]
    fn type_names() {
        assert!(is_type_name("x-acme-vessel"));
        assert!(!is_type_name("x--a"));
        assert!(!is_type_name("-ab"));
        assert!(!is_type_name("X-ab"));
        assert!(!is_type_name("1-acme"));
        assert!(is_type_name("x509-certificate"));
    }

    #[test]
    fn timestamps_parse_and_order() {
        let a = parse_timestamp("2024-02-29T23:59:59.999Z").unwrap();
        let b = parse_timestamp("2024-03-01T00:00:00Z").unwrap();
        assert!(a.instant < b.instant);
        assert_eq!(a.fraction_digits, 3);
        assert_eq!(b.fraction_digits, 0);
        let c = parse_timestamp("2024-03-01T00:00:00.0000001Z").unwrap();
        assert!(b.instant < c.instant);
        assert!(parse_timestamp("2023-02-29T00:00:00Z").is_err());
        assert!(parse_timestamp("2024-13-01T00:00:00Z").is_err());
        assert!(parse_timestamp("2024-01-01T24:00:00Z").is_err());
        assert!(parse_timestamp("2024-01-01T00:00:00+00:00").is_err());
        assert!(parse_timestamp("2024-01-01 00:00:00Z").is_err());
        assert!(parse_timestamp("2024-01-01T00:00:00.Z").is_err());
        assert!(parse_timestamp("é").is_err());
        assert_eq!(
            parse_timestamp("2024-01-01T00:00:00").unwrap_err(),
            "must be an RFC 3339 timestamp in UTC, e.g. 2024-05-01T12:00:00.000Z"
        );
    }
}
