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
