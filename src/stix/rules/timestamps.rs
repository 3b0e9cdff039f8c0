//! Timestamps: RFC 3339 in UTC with real calendar values; `created`/`modified` with
//! millisecond precision; `modified` not before `created`; the ordered pairs of
//! sections 4-6 (first/last seen, valid_from/valid_until, ...).
//! Rules: `timestamp-format`, `modified-before-created`, `time-order`.

use super::Ctx;
use crate::stix::types::{Instant, Kind, parse_timestamp};
use crate::stix::violation::Violation;

/// Top-level properties of defined types that hold timestamps.
const TIMESTAMP_PROPERTIES: &[&str] = &[
    "created",
    "modified",
    "first_seen",
    "last_seen",
    "valid_from",
    "valid_until",
    "published",
    "first_observed",
    "last_observed",
    "start_time",
    "stop_time",
    "submitted",
    "analysis_started",
    "analysis_ended",
    "object_modified",
    "ctime",
    "mtime",
    "atime",
    "date",
    "start",
    "end",
    "created_time",
    "modified_time",
    "account_created",
    "account_expires",
    "credential_last_changed",
    "account_first_login",
    "account_last_login",
    "validity_not_before",
    "validity_not_after",
];

/// (type, earlier, later, strictly later?)
const ORDERS: &[(&str, &str, &str, bool)] = &[
    ("campaign", "first_seen", "last_seen", false),
    ("infrastructure", "first_seen", "last_seen", false),
    ("intrusion-set", "first_seen", "last_seen", false),
    ("malware", "first_seen", "last_seen", false),
    ("threat-actor", "first_seen", "last_seen", false),
    ("sighting", "first_seen", "last_seen", false),
    ("indicator", "valid_from", "valid_until", true),
    ("observed-data", "first_observed", "last_observed", false),
    ("relationship", "start_time", "stop_time", true),
    ("network-traffic", "start", "end", false),
];

fn instant(ctx: &Ctx<'_>, key: &str) -> Option<Instant> {
    ctx.str(key)
        .and_then(|s| parse_timestamp(s).ok())
        .map(|t| t.instant)
}

pub(crate) fn check(ctx: &Ctx<'_>, out: &mut Vec<Violation>) {
    let custom = ctx.kind.is_custom();
    for key in TIMESTAMP_PROPERTIES {
        // Custom types only share created/modified with the specification.
        if custom && !matches!(*key, "created" | "modified") {
            continue;
        }
        let Some(s) = ctx.str(key) else { continue };
        match parse_timestamp(s) {
            Err(why) => out.push(Violation::new(
                "timestamp-format",
                ctx.path(key).into_string(),
                why,
            )),
            Ok(ts) => {
                let needs_millis = matches!(*key, "created" | "modified")
                    && !ctx.kind.is_observable()
                    || (*key == "object_modified" && ctx.kind == Kind::LanguageContent);
                if needs_millis && ts.fraction_digits < 3 {
                    out.push(Violation::new(
                        "timestamp-format",
                        ctx.path(key).into_string(),
                        "must have at least millisecond precision (e.g. 2024-05-01T12:00:00.000Z)",
                    ));
                }
            }
        }
    }
    if let (Some(c), Some(m)) = (instant(ctx, "created"), instant(ctx, "modified"))
        && m < c
    {
        out.push(Violation::new(
            "modified-before-created",
            ctx.path("modified").into_string(),
            "must not be earlier than created",
        ));
    }
    for (t, first, second, strict) in ORDERS {
        if *t != ctx.t {
            continue;
        }
        if let (Some(a), Some(b)) = (instant(ctx, first), instant(ctx, second))
            && (b < a || (*strict && a == b))
        {
            let relation = if *strict {
                "later than"
            } else {
                "the same as or later than"
            };
            out.push(Violation::new(
                "time-order",
                ctx.path(second).into_string(),
                format!("must be {relation} {first}"),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::stix::rules::test_support::*;

    #[test]
    fn calendar_values_are_checked() {
        let mut o = indicator();
        o["valid_from"] = "2023-02-29T10:00:00Z".into();
        assert_eq!(rules(&o), vec!["timestamp-format"]);
        assert_eq!(
            messages(&o),
            vec!["indicator.valid_from: has a day that does not exist in that month"]
        );
        o["valid_from"] = "2024-03-04T08:15:00+01:00".into();
        assert_eq!(rules(&o), vec!["timestamp-format"]);
    }

    #[test]
    fn created_needs_milliseconds() {
        let mut o = indicator();
        o["created"] = "2024-03-04T08:15:00Z".into();
        assert_eq!(rules(&o), vec!["timestamp-format"]);
        o["created"] = "2024-03-04T08:15:00.123456Z".into();
        o["modified"] = "2024-03-04T08:15:00.123456Z".into();
        assert!(rules(&o).is_empty());
    }

    #[test]
    fn modified_not_before_created() {
        let mut o = indicator();
        o["modified"] = "2024-03-04T08:14:59.999Z".into();
        assert_eq!(rules(&o), vec!["modified-before-created"]);
        assert_eq!(
            messages(&o),
            vec!["indicator.modified: must not be earlier than created"]
        );
    }

    #[test]
    fn valid_until_after_valid_from() {
        let mut o = indicator();
        o["valid_until"] = "2024-03-04T08:15:00Z".into();
        assert_eq!(
            messages(&o),
            vec!["indicator.valid_until: must be later than valid_from"]
        );
        o["valid_until"] = "2024-03-04T08:15:00.001Z".into();
        assert!(rules(&o).is_empty());
    }

    #[test]
    fn last_seen_not_before_first_seen() {
        let o = serde_json::json!({
            "type": "campaign", "spec_version": "2.1",
            "id": "campaign--1f0e2d3c-4b5a-4968-8776-5a4b3c2d1e0f",
            "created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z",
            "name": "Harbour Lights", "first_seen": "2024-01-02T00:00:00Z", "last_seen": "2024-01-01T00:00:00Z"
        });
        assert_eq!(
            messages(&o),
            vec!["campaign.last_seen: must be the same as or later than first_seen"]
        );
    }
}
