//! Records of the read models behind the web console: counts, activity
//! rollups, refusals by reason, newest-first object summaries, relationship
//! edges, submissions and audit pages. Every query that returns them is
//! bounded by a limit or a scan budget, whatever the size of the data.

use serde::Serialize;

use crate::model::{CollectionId, Timestamp};

/// Objects (latest versions) and versions of one type in one collection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TypeCount {
    pub collection: CollectionId,
    pub object_type: String,
    pub objects: u64,
    pub versions: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    Hour,
    Day,
}

impl Granularity {
    pub fn micros(self) -> i64 {
        match self {
            Granularity::Hour => 3_600_000_000,
            Granularity::Day => 86_400_000_000,
        }
    }

    /// The index of the period holding `t` (hours or days since the epoch).
    pub fn period_of(self, t: Timestamp) -> i64 {
        t.micros().div_euclid(self.micros())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activity {
    /// Objects stored (and refused) by pushes.
    Push,
    /// Objects served by polls.
    Poll,
}

impl Activity {
    pub fn as_str(self) -> &'static str {
        match self {
            Activity::Push => "push",
            Activity::Poll => "poll",
        }
    }
}

/// Which activity to sum: from the period holding `since` on.
#[derive(Debug, Clone)]
pub struct ActivityQuery {
    pub granularity: Granularity,
    pub since: Timestamp,
    pub action: Activity,
    /// Only in these collections; `None` for all.
    pub collections: Option<Vec<CollectionId>>,
    /// Only by this member; `None` for everyone.
    pub member: Option<String>,
}

/// One period's activity of one sector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActivityBucket {
    /// The period's index (hours or days since the Unix epoch).
    pub period: i64,
    pub sector: String,
    pub objects: u64,
    pub refused: u64,
    pub requests: u64,
}

#[derive(Debug, Clone)]
pub struct RefusalQuery {
    pub since: Timestamp,
    pub collections: Option<Vec<CollectionId>>,
    pub member: Option<String>,
    pub limit: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefusalCount {
    pub reason: String,
    pub objects: u64,
}

/// The collection browser's filters; all optional, combined with AND.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BrowseFilter {
    pub object_type: Option<String>,
    /// `created_by_ref`
    pub creator: Option<String>,
    pub label: Option<String>,
    /// Added at or after.
    pub added_from: Option<Timestamp>,
    /// Added before.
    pub added_until: Option<Timestamp>,
}

/// One object version as a list shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectSummary {
    pub collection: CollectionId,
    pub id: String,
    pub object_type: String,
    pub date_added: Timestamp,
    pub version: String,
    pub spec_version: String,
    pub name: Option<String>,
    pub created_by: Option<String>,
    pub labels: Vec<String>,
}

/// A page read under a scan budget: `resume` is where the next page starts
/// (exclusive), `None` at the end. `budget_spent` says the scan stopped at
/// its budget, so a short page does not mean nothing more matches.
#[derive(Debug, Clone)]
pub struct ScanPage<T, K> {
    pub items: Vec<T>,
    pub resume: Option<K>,
    pub budget_spent: bool,
}

/// An edge of the relationship graph: a relationship (source to target) or
/// a sighting (the sighting to what was sighted, observed or where).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Edge {
    pub source: String,
    pub target: String,
    pub edge_type: String,
    /// The relationship or sighting that states the edge.
    pub via: String,
    pub collection: CollectionId,
}

/// A status resource as the submissions list shows it (no per-object details).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusSummary {
    pub id: String,
    pub api_root: String,
    pub collection: CollectionId,
    pub member: Option<String>,
    pub request_timestamp: Timestamp,
    pub completed: Option<Timestamp>,
    pub total: u64,
    pub successes: u64,
    pub failures: u64,
    pub pendings: u64,
}

/// A keyset position in the submissions list, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusCursor {
    pub requested: Timestamp,
    pub id: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub member: Option<String>,
    pub action: Option<String>,
    pub outcome: Option<String>,
    /// At or after.
    pub since: Option<Timestamp>,
    /// Before.
    pub until: Option<Timestamp>,
}

/// A keyset position in the audit log, newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditCursor {
    pub at: Timestamp,
    pub id: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct AuditRecord {
    pub id: i64,
    #[serde(flatten)]
    pub event: super::AuditEvent,
}

/// The index a browse page walks: the most selective one the filter allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BrowseIndex {
    Label,
    Creator,
    Type,
    Date,
}

/// What a browse page reads, newest first: through `index`, keys below
/// `upper` down to `lower` (inclusive), at most `budget` of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BrowseScan {
    pub index: BrowseIndex,
    pub upper: i64,
    pub lower: i64,
    pub budget: usize,
}

/// The scan for a browse page of `limit` objects: the filter's index, the
/// cursor or `added_until` (whichever is older) as the upper bound,
/// `added_from` as the lower, and a budget of at least one more row than
/// the page.
pub(crate) fn browse_scan(
    filter: &BrowseFilter,
    before: Option<super::Cursor>,
    limit: usize,
    budget: usize,
) -> BrowseScan {
    let index = if filter.label.is_some() {
        BrowseIndex::Label
    } else if filter.creator.is_some() {
        BrowseIndex::Creator
    } else if filter.object_type.is_some() {
        BrowseIndex::Type
    } else {
        BrowseIndex::Date
    };
    BrowseScan {
        index,
        upper: before
            .map(|c| c.0)
            .unwrap_or(i64::MAX)
            .min(filter.added_until.map_or(i64::MAX, |t| t.micros())),
        lower: filter.added_from.map_or(i64::MIN, |t| t.micros()),
        budget: budget.max(limit + 1),
    }
}

/// Where a page of the submissions list starts, newest first: the request
/// time and id to read below. Without a cursor, the largest possible
/// position: after every timestamp, and any id sorts below a string of
/// U+FFFF.
pub(crate) fn status_position(before: Option<&StatusCursor>) -> (i64, String) {
    match before {
        Some(c) => (c.requested.micros(), c.id.clone()),
        None => (i64::MAX, "\u{ffff}".to_string()),
    }
}

/// A page of the submissions list from up to `limit + 1` rows read: the
/// first `limit`, and where the next page starts when there were more.
pub(crate) fn status_page(
    mut items: Vec<StatusSummary>,
    limit: usize,
) -> ScanPage<StatusSummary, StatusCursor> {
    let more = items.len() > limit;
    items.truncate(limit);
    let resume = more.then(|| items.last()).flatten().map(|s| StatusCursor {
        requested: s.request_timestamp,
        id: s.id.clone(),
    });
    ScanPage {
        items,
        resume,
        budget_spent: false,
    }
}

/// The index an audit page is read through: by member, by action, or by
/// time alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuditIndex {
    Member,
    Action,
    Time,
}

/// What an audit page reads, newest first: through `index`, rows below
/// (`at`, `id`) down to `lower` (inclusive), at most `budget` of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AuditScan {
    pub index: AuditIndex,
    pub at: i64,
    pub id: i64,
    pub lower: i64,
    pub budget: usize,
}

/// The scan for an audit page of `limit` records: the filter's index, the
/// cursor or `until` (whichever is older) as the upper bound, `since` as
/// the lower, and a budget of at least one more row than the page.
pub(crate) fn audit_scan(
    filter: &AuditFilter,
    before: Option<AuditCursor>,
    limit: usize,
    budget: usize,
) -> AuditScan {
    let index = if filter.member.is_some() {
        AuditIndex::Member
    } else if filter.action.is_some() {
        AuditIndex::Action
    } else {
        AuditIndex::Time
    };
    let (at, id) = match before {
        Some(c) => (c.at.micros(), c.id),
        None => (i64::MAX, i64::MAX),
    };
    let (at, id) = match filter.until {
        Some(until) if until.micros() <= at => (until.micros(), i64::MIN),
        _ => (at, id),
    };
    AuditScan {
        index,
        at,
        id,
        lower: filter.since.map_or(i64::MIN, |t| t.micros()),
        budget: budget.max(limit + 1),
    }
}

/// What a stored object version adds to the read models: its labels, its
/// creator and, for a relationship or sighting, the edges it states. Both
/// backends index each version they store with this.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct IndexEntries {
    /// The string members of `labels`.
    pub labels: Vec<String>,
    /// `created_by_ref`, when it is a string.
    pub created_by: Option<String>,
    /// (source, target, edge type)
    pub edges: Vec<(String, String, String)>,
}

/// The parts of an object the read models index. Everything else in the
/// body is skipped unread; a field of an unexpected shape is ignored (the
/// object was validated before it got here, so that would be a bug, and
/// must not fail the write).
#[derive(serde::Deserialize)]
struct Indexed<'a> {
    #[serde(borrow)]
    labels: Option<&'a serde_json::value::RawValue>,
    #[serde(borrow)]
    created_by_ref: Option<&'a serde_json::value::RawValue>,
    #[serde(borrow)]
    relationship_type: Option<&'a serde_json::value::RawValue>,
    #[serde(borrow)]
    source_ref: Option<&'a serde_json::value::RawValue>,
    #[serde(borrow)]
    target_ref: Option<&'a serde_json::value::RawValue>,
    #[serde(borrow)]
    sighting_of_ref: Option<&'a serde_json::value::RawValue>,
    #[serde(borrow)]
    observed_data_refs: Option<&'a serde_json::value::RawValue>,
    #[serde(borrow)]
    where_sighted_refs: Option<&'a serde_json::value::RawValue>,
}

/// A JSON string's value; anything else reads as absent.
pub(crate) fn json_text(raw: Option<&serde_json::value::RawValue>) -> Option<String> {
    serde_json::from_str(raw?.get()).ok()
}

/// The strings of a JSON array; anything else reads as none.
pub(crate) fn json_texts(raw: Option<&serde_json::value::RawValue>) -> Vec<String> {
    raw.and_then(|r| serde_json::from_str::<Vec<serde_json::Value>>(r.get()).ok())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|v| match v {
            serde_json::Value::String(s) => Some(s),
            _ => None,
        })
        .collect()
}

/// The entries of the version `id` of type `object_type` with this body.
pub(crate) fn index_entries(id: &str, object_type: &str, body: &str) -> IndexEntries {
    let Ok(found) = serde_json::from_str::<Indexed<'_>>(body) else {
        return IndexEntries::default();
    };
    let mut edges = Vec::new();
    match object_type {
        "relationship" => {
            if let (Some(source), Some(target)) =
                (json_text(found.source_ref), json_text(found.target_ref))
            {
                let kind =
                    json_text(found.relationship_type).unwrap_or_else(|| "related-to".to_string());
                edges.push((source, target, kind));
            }
        }
        "sighting" => {
            if let Some(of) = json_text(found.sighting_of_ref) {
                edges.push((id.to_string(), of, "sighting-of".into()));
            }
            for r in json_texts(found.observed_data_refs) {
                edges.push((id.to_string(), r, "observed".into()));
            }
            for r in json_texts(found.where_sighted_refs) {
                edges.push((id.to_string(), r, "seen-at".into()));
            }
        }
        _ => {}
    }
    IndexEntries {
        labels: json_texts(found.labels),
        created_by: json_text(found.created_by_ref),
        edges,
    }
}
