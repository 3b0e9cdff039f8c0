//! What the web console shows, decided by the same capability tokens TAXII
//! uses: a `ReadAccess` per collection the viewer may read, and an
//! `OperatorAccess` for the views of the whole exchange. Every read is one
//! of the store's bounded queries.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use super::{Exchange, ExchangeError};
use crate::auth::policy::{self, OperatorAccess, ReadAccess, Rights};
use crate::model::{CollectionId, Timestamp};
use crate::store::{
    Activity, ActivityBucket, ActivityQuery, AuditCursor, AuditFilter, AuditRecord,
    CertificateRecord, Collection, Cursor, Edge, Granularity, Member, ObjectFilter, ObjectSummary,
    RefusalCount, RefusalQuery, ScanPage, StatusCursor, StatusSummary, TypeCount,
};

/// Candidate rows a browser page may examine before it answers with what it
/// found so far (and a position to continue from).
pub const BROWSE_BUDGET: usize = 10_000;
/// The same for an audit page.
pub const AUDIT_BUDGET: usize = 20_000;
/// Edges read per object and direction when drawing a neighbourhood.
pub const EDGES_PER_NODE: usize = 24;
/// Objects drawn in one neighbourhood, the centre included.
pub const MAX_NODES: usize = 48;

/// Whose view of the exchange a page shows.
#[derive(Clone, Copy)]
pub enum Scope<'a> {
    /// The operator: every collection, every member.
    Operator(&'a OperatorAccess),
    /// A member: the collections it may read, and its own requests.
    Member {
        member: &'a Member,
        reads: &'a [ReadAccess],
    },
}

/// A collection with its object counts.
#[derive(Debug, Clone)]
pub struct CollectionOverview {
    pub collection: Collection,
    /// Objects, counted once each (their latest version).
    pub objects: u64,
    pub versions: u64,
    pub types: Vec<TypeCount>,
}

/// An object in a neighbourhood; `summary` is `None` when it is not in any
/// collection the viewer may read (only its id, named by a visible edge, is known).
#[derive(Debug, Clone)]
pub struct GraphNode {
    pub id: String,
    pub hop: u8,
    pub summary: Option<ObjectSummary>,
}

#[derive(Debug, Clone)]
pub struct Graph {
    pub nodes: Vec<GraphNode>,
    pub edges: Vec<Edge>,
    /// Some edges or objects were left out to keep the picture bounded.
    pub truncated: bool,
}

/// Members, certificates and the grant matrix, for the operator.
#[derive(Debug, Clone)]
pub struct MembersOverview {
    pub members: Vec<Member>,
    pub certificates: Vec<CertificateRecord>,
    pub collections: Vec<Collection>,
    /// `rights[m][c]`: what member `m` may do in collection `c`, as the
    /// policy decides it for TAXII.
    pub rights: Vec<Vec<Rights>>,
}

fn collection_ids(reads: &[ReadAccess]) -> Vec<CollectionId> {
    reads.iter().map(|r| r.collection().id).collect()
}

impl Exchange {
    /// The readable collections with their counts, in the order given.
    pub fn collection_overview(
        &self,
        reads: &[ReadAccess],
    ) -> Result<Vec<CollectionOverview>, ExchangeError> {
        let counts = self.store.type_counts(&collection_ids(reads))?;
        Ok(reads
            .iter()
            .map(|r| {
                let types: Vec<TypeCount> = counts
                    .iter()
                    .filter(|t| t.collection == r.collection().id)
                    .cloned()
                    .collect();
                CollectionOverview {
                    collection: r.collection().clone(),
                    objects: types.iter().map(|t| t.objects).sum(),
                    versions: types.iter().map(|t| t.versions).sum(),
                    types,
                }
            })
            .collect())
    }

    /// Pushes and polls per period and sector since `since`. The operator
    /// sees everyone's; a member sees what was pushed into the collections
    /// it may read, and only its own polls.
    pub fn activity(
        &self,
        scope: Scope<'_>,
        action: Activity,
        granularity: Granularity,
        since: Timestamp,
    ) -> Result<Vec<ActivityBucket>, ExchangeError> {
        let (collections, member) = match scope {
            Scope::Operator(_) => (None, None),
            Scope::Member { member, reads } => {
                if reads.is_empty() {
                    return Ok(Vec::new());
                }
                let own = (action == Activity::Poll).then(|| member.name.clone());
                (Some(collection_ids(reads)), own)
            }
        };
        Ok(self.store.activity(&ActivityQuery {
            granularity,
            since,
            action,
            collections,
            member,
        })?)
    }

    /// Refused objects by reason since `since`: everyone's for the operator,
    /// a member's own otherwise.
    pub fn refusals(
        &self,
        scope: Scope<'_>,
        since: Timestamp,
        limit: usize,
    ) -> Result<Vec<RefusalCount>, ExchangeError> {
        let member = match scope {
            Scope::Operator(_) => None,
            Scope::Member { member, .. } => Some(member.name.clone()),
        };
        Ok(self.store.refusals(&RefusalQuery {
            since,
            collections: None,
            member,
            limit,
        })?)
    }

    /// One page of a collection, newest first.
    pub fn browse(
        &self,
        access: &ReadAccess,
        filter: &crate::store::BrowseFilter,
        before: Option<Cursor>,
        limit: usize,
    ) -> Result<ScanPage<ObjectSummary, Cursor>, ExchangeError> {
        Ok(self.store.browse_objects(
            access.collection().id,
            filter,
            before,
            limit,
            BROWSE_BUDGET,
        )?)
    }

    /// The types present in a collection, for the browser's filter.
    pub fn types_in(&self, access: &ReadAccess) -> Result<Vec<TypeCount>, ExchangeError> {
        Ok(self.store.type_counts(&[access.collection().id])?)
    }

    /// The latest version of an object in a readable collection, summarised.
    pub fn summary(
        &self,
        access: &ReadAccess,
        object_id: &str,
    ) -> Result<ObjectSummary, ExchangeError> {
        self.store
            .locate_objects(&[access.collection().id], &[object_id.to_string()])?
            .into_iter()
            .next()
            .ok_or_else(|| ExchangeError::NotFound(format!("object {object_id}")))
    }

    /// The relationships and sightings around an object, `hops` (1 or 2)
    /// steps out, through the collections the viewer may read. The object
    /// itself must be in `center`'s collection. Bounded by
    /// [`EDGES_PER_NODE`] and [`MAX_NODES`].
    pub fn neighbourhood(
        &self,
        center: &ReadAccess,
        reads: &[ReadAccess],
        object_id: &str,
        hops: u8,
    ) -> Result<Graph, ExchangeError> {
        let centre = self.summary(center, object_id)?;
        let mut collections = vec![center.collection().id];
        collections.extend(
            collection_ids(reads)
                .into_iter()
                .filter(|c| *c != center.collection().id),
        );
        let mut hop_of: BTreeMap<String, u8> = BTreeMap::new();
        hop_of.insert(object_id.to_string(), 0);
        let mut order = vec![object_id.to_string()];
        let mut edges: Vec<Edge> = Vec::new();
        let mut seen_edges = HashSet::new();
        let mut truncated = false;
        let mut add_edge = |edge: Edge,
                            from_hop: u8,
                            hop_of: &mut BTreeMap<String, u8>,
                            order: &mut Vec<String>,
                            next: &mut BTreeSet<String>,
                            truncated: &mut bool| {
            let other = if hop_of.contains_key(&edge.source) {
                edge.target.clone()
            } else {
                edge.source.clone()
            };
            if !hop_of.contains_key(&other) {
                if order.len() >= MAX_NODES {
                    *truncated = true;
                    return;
                }
                hop_of.insert(other.clone(), from_hop + 1);
                order.push(other.clone());
                next.insert(other);
            }
            let key = (
                edge.source.clone(),
                edge.target.clone(),
                edge.edge_type.clone(),
                edge.via.clone(),
            );
            if seen_edges.insert(key) {
                edges.push(edge);
            }
        };
        // A relationship is itself an edge: its two ends are its neighbours.
        if centre.object_type == "relationship" {
            let page = self.store.list_objects(
                center.collection().id,
                &ObjectFilter {
                    ids: vec![object_id.to_string()],
                    ..Default::default()
                },
                None,
                1,
                true,
            )?;
            if let Some(body) = page.items.first()
                && let Ok(value) = serde_json::from_str::<serde_json::Value>(&body.body)
                && let (Some(source), Some(target)) = (
                    value.get("source_ref").and_then(|v| v.as_str()),
                    value.get("target_ref").and_then(|v| v.as_str()),
                )
            {
                let edge_type = value
                    .get("relationship_type")
                    .and_then(|v| v.as_str())
                    .unwrap_or("related-to");
                let mut ignored = BTreeSet::new();
                for end in [source, target] {
                    add_edge(
                        Edge {
                            source: object_id.to_string(),
                            target: end.to_string(),
                            edge_type: edge_type.to_string(),
                            via: object_id.to_string(),
                            collection: center.collection().id,
                        },
                        0,
                        &mut hop_of,
                        &mut order,
                        &mut ignored,
                        &mut truncated,
                    );
                }
            }
        }
        let mut frontier: BTreeSet<String> = BTreeSet::from([object_id.to_string()]);
        for hop in 0..hops.clamp(1, 2) {
            let mut next = BTreeSet::new();
            for node in &frontier {
                let found = self.store.edges(&collections, node, EDGES_PER_NODE)?;
                let outgoing = found.iter().filter(|e| e.source == *node).count();
                if outgoing >= EDGES_PER_NODE || found.len() - outgoing >= EDGES_PER_NODE {
                    truncated = true;
                }
                for edge in found {
                    add_edge(
                        edge,
                        hop,
                        &mut hop_of,
                        &mut order,
                        &mut next,
                        &mut truncated,
                    );
                }
            }
            frontier = next;
        }
        let mut located: BTreeMap<String, ObjectSummary> = BTreeMap::new();
        // The first collection listed wins: the centre's own, then the rest.
        for summary in self.store.locate_objects(&collections, &order)? {
            let rank = |c: CollectionId| collections.iter().position(|x| *x == c);
            match located.get(&summary.id) {
                Some(have) if rank(have.collection) <= rank(summary.collection) => {}
                _ => {
                    located.insert(summary.id.clone(), summary);
                }
            }
        }
        located.insert(object_id.to_string(), centre);
        let nodes = order
            .into_iter()
            .map(|id| GraphNode {
                hop: hop_of.get(&id).copied().unwrap_or(0),
                summary: located.remove(&id),
                id,
            })
            .collect();
        Ok(Graph {
            nodes,
            edges,
            truncated,
        })
    }

    /// Submissions (status resources), newest first: a member's own; the
    /// operator's choice of member, or everyone's.
    pub fn submissions(
        &self,
        scope: Scope<'_>,
        member: Option<&str>,
        before: Option<&StatusCursor>,
        limit: usize,
    ) -> Result<ScanPage<StatusSummary, StatusCursor>, ExchangeError> {
        let member = match scope {
            Scope::Operator(_) => member,
            Scope::Member { member, .. } => Some(member.name.as_str()),
        };
        Ok(self.store.statuses_page(member, before, limit)?)
    }

    /// Members, their certificates and what each may do in each collection.
    pub fn members_overview(
        &self,
        _operator: &OperatorAccess,
    ) -> Result<MembersOverview, ExchangeError> {
        let members = self.store.members()?;
        let collections = self.store.collections()?;
        let grants = self.store.grants()?;
        let rights = members
            .iter()
            .map(|m| {
                collections
                    .iter()
                    .map(|c| policy::rights(m, c, &grants))
                    .collect()
            })
            .collect();
        Ok(MembersOverview {
            certificates: self.store.certificates()?,
            members,
            collections,
            rights,
        })
    }

    /// One page of the audit log, newest first.
    pub fn audit_page(
        &self,
        _operator: &OperatorAccess,
        filter: &AuditFilter,
        before: Option<AuditCursor>,
        limit: usize,
    ) -> Result<ScanPage<AuditRecord, AuditCursor>, ExchangeError> {
        Ok(self.store.audit_page(filter, before, limit, AUDIT_BUDGET)?)
    }
}
