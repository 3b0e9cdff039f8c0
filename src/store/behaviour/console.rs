//! The console's read models, the same on both backends: browsing and its
//! budgets, counts, edges, rollups, refusals, submissions and audit pages,
//! and what deleting objects or a collection leaves behind.

use std::sync::Arc;

use super::{Fixture, alias_collection, api_root, postgres_fixture, sqlite_fixture};
use crate::model::{CollectionId, Tier, Timestamp};
use crate::store::*;

fn store(f: &dyn Fixture) -> (Arc<dyn Store>, CollectionId) {
    let store = f.open();
    api_root(&*store);
    let c = alias_collection(&*store, "green");
    (store, c)
}

fn uuid(n: usize) -> String {
    format!("00000000-0000-4000-8000-{n:012}")
}

/// A STIX-shaped object body with the fields the read models look at.
fn object(ty: &str, n: usize, modified: &str, extra: serde_json::Value) -> NewObject {
    let id = format!("{ty}--{}", uuid(n));
    let mut body = serde_json::json!({
        "type": ty, "id": id, "spec_version": "2.1",
        "created": "2026-01-01T00:00:00.000Z", "modified": modified,
        "name": format!("{ty} {n}"),
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    NewObject {
        id,
        object_type: ty.into(),
        spec_version: "2.1".into(),
        version: Some((Timestamp::parse(modified).unwrap(), modified.into())),
        body: body.to_string(),
    }
}

fn ingest(
    store: &Arc<dyn Store>,
    collection: CollectionId,
    member: &str,
    objects: Vec<NewObject>,
    refused: Vec<StatusDetail>,
) -> StatusRecord {
    store
        .ingest(IngestBatch {
            status_id: uuid::Uuid::new_v4().to_string(),
            api_root: "crc".into(),
            collection,
            member: Some(member.into()),
            fingerprint: None,
            request_timestamp: Timestamp::now(),
            accepted: objects,
            refused,
        })
        .unwrap()
}

fn refusal(message: &str) -> StatusDetail {
    StatusDetail {
        id: "indicator--x".into(),
        version: "v".into(),
        message: Some(message.into()),
    }
}

const V1: &str = "2026-01-01T00:00:00.000Z";
const V2: &str = "2026-02-01T00:00:00.000Z";

fn browse_all(
    store: &Arc<dyn Store>,
    c: CollectionId,
    filter: &BrowseFilter,
    limit: usize,
    budget: usize,
) -> Vec<String> {
    let mut out = Vec::new();
    let mut before = None;
    for _ in 0..1000 {
        let page = store
            .browse_objects(c, filter, before, limit, budget)
            .unwrap();
        assert!(page.items.len() <= limit);
        out.extend(page.items.into_iter().map(|o| o.id));
        match page.resume {
            Some(next) => before = Some(next),
            None => return out,
        }
    }
    panic!("paging did not end");
}

fn browsing_is_newest_first_latest_versions_only_with_every_filter(f: &dyn Fixture) {
    let (store, c) = store(f);
    let creator = "identity--00000000-0000-4000-8000-00000000000a";
    let mut objects = Vec::new();
    for n in 0..30 {
        let ty = if n % 3 == 0 { "campaign" } else { "indicator" };
        let extra = if n % 2 == 0 {
            serde_json::json!({"created_by_ref": creator, "labels": ["phishing", "port"]})
        } else {
            serde_json::json!({"labels": ["port"]})
        };
        objects.push(object(ty, n, V1, extra));
    }
    ingest(&store, c, "m", objects, vec![]);
    // A second version of object 4 makes it the newest; its first version
    // must no longer be listed.
    ingest(
        &store,
        c,
        "m",
        vec![object(
            "indicator",
            4,
            V2,
            serde_json::json!({"labels": ["port"]}),
        )],
        vec![],
    );

    let all = browse_all(&store, c, &BrowseFilter::default(), 7, 10_000);
    assert_eq!(all.len(), 30, "one row per object, not per version");
    assert_eq!(all[0], format!("indicator--{}", uuid(4)), "newest first");
    assert_eq!(all[1], format!("indicator--{}", uuid(29)));

    let campaigns = browse_all(
        &store,
        c,
        &BrowseFilter {
            object_type: Some("campaign".into()),
            ..Default::default()
        },
        4,
        10_000,
    );
    assert_eq!(campaigns.len(), 10);
    assert!(campaigns.iter().all(|id| id.starts_with("campaign--")));

    // Object 4's latest version dropped the creator: only the even others.
    let by_creator = browse_all(
        &store,
        c,
        &BrowseFilter {
            creator: Some(creator.into()),
            ..Default::default()
        },
        5,
        10_000,
    );
    assert_eq!(by_creator.len(), 14);

    let labelled = BrowseFilter {
        label: Some("phishing".into()),
        object_type: Some("indicator".into()),
        ..Default::default()
    };
    let phishing_indicators = browse_all(&store, c, &labelled, 3, 10_000);
    // even n, not a multiple of 3, not 4 (relabelled): 2 8 10 14 16 20 22 26 28
    assert_eq!(phishing_indicators.len(), 9, "{phishing_indicators:?}");

    // Time: only what was added in the second envelope.
    let first_page = store
        .browse_objects(c, &BrowseFilter::default(), None, 1, 100)
        .unwrap();
    let newest = first_page.items[0].date_added;
    let recent = browse_all(
        &store,
        c,
        &BrowseFilter {
            added_from: Some(newest),
            ..Default::default()
        },
        10,
        10_000,
    );
    assert_eq!(recent, vec![format!("indicator--{}", uuid(4))]);
    let older = browse_all(
        &store,
        c,
        &BrowseFilter {
            added_until: Some(newest),
            ..Default::default()
        },
        10,
        10_000,
    );
    assert_eq!(older.len(), 29);

    let summary = &first_page.items[0];
    assert_eq!(summary.name.as_deref(), Some("indicator 4"));
    assert_eq!(summary.labels, vec!["port".to_string()]);
    assert_eq!(summary.version, V2);
}

fn each_filter_walks_its_own_index(f: &dyn Fixture) {
    let (store, c) = store(f);
    let mut objects = vec![object("campaign", 99, V1, serde_json::json!({}))];
    objects.extend((0..50).map(|n| object("indicator", n, V1, serde_json::json!({}))));
    ingest(&store, c, "m", objects, vec![]);
    // The oldest object is the one campaign: walking by date with a budget
    // of 20 would not reach it, the type index finds it at once.
    let campaigns = BrowseFilter {
        object_type: Some("campaign".into()),
        ..Default::default()
    };
    let page = store.browse_objects(c, &campaigns, None, 10, 20).unwrap();
    assert_eq!(page.items.len(), 1);
    assert!(page.resume.is_none() && !page.budget_spent);
    // A creator nobody has: its index has no rows to walk.
    let nobody = BrowseFilter {
        creator: Some("identity--nobody".into()),
        ..Default::default()
    };
    let page = store.browse_objects(c, &nobody, None, 10, 20).unwrap();
    assert!(page.items.is_empty() && page.resume.is_none() && !page.budget_spent);
    // Unfiltered: a full page and a position to continue from.
    let page = store
        .browse_objects(c, &BrowseFilter::default(), None, 10, 20)
        .unwrap();
    assert_eq!(page.items.len(), 10);
    assert_eq!(page.resume, Some(Cursor(page.items[9].date_added.micros())));
}

fn budget_bounds_a_residual_scan_and_paging_still_finds_everything(f: &dyn Fixture) {
    let (store, c) = store(f);
    let creator = "identity--00000000-0000-4000-8000-00000000000b";
    // One labelled object by the creator, buried under 60 labelled ones that are not.
    let mut objects = vec![object(
        "indicator",
        0,
        V1,
        serde_json::json!({"labels": ["x"], "created_by_ref": creator}),
    )];
    objects
        .extend((1..61).map(|n| object("indicator", n, V1, serde_json::json!({"labels": ["x"]}))));
    ingest(&store, c, "m", objects, vec![]);
    let filter = BrowseFilter {
        label: Some("x".into()),
        creator: Some(creator.into()),
        ..Default::default()
    };
    let first = store.browse_objects(c, &filter, None, 10, 25).unwrap();
    assert!(first.items.is_empty());
    assert!(first.budget_spent && first.resume.is_some());
    let found = browse_all(&store, c, &filter, 10, 25);
    assert_eq!(found, vec![format!("indicator--{}", uuid(0))]);
}

fn counts_follow_versions_and_deletions(f: &dyn Fixture) {
    let (store, c) = store(f);
    let other = alias_collection(&*store, "amber");
    ingest(
        &store,
        c,
        "m",
        vec![
            object("indicator", 1, V1, serde_json::json!({})),
            object("indicator", 2, V1, serde_json::json!({})),
            object("campaign", 3, V1, serde_json::json!({})),
        ],
        vec![],
    );
    ingest(
        &store,
        c,
        "m",
        vec![object("indicator", 1, V2, serde_json::json!({}))],
        vec![],
    );
    ingest(
        &store,
        other,
        "m",
        vec![object("indicator", 1, V1, serde_json::json!({}))],
        vec![],
    );
    let counts = store.type_counts(&[c]).unwrap();
    let get = |ty: &str| {
        counts
            .iter()
            .find(|t| t.object_type == ty)
            .map(|t| (t.objects, t.versions))
    };
    assert_eq!(get("indicator"), Some((2, 3)));
    assert_eq!(get("campaign"), Some((1, 1)));
    store
        .delete_object(
            c,
            &format!("indicator--{}", uuid(1)),
            &ObjectFilter {
                versions: VersionFilter::Select {
                    first: false,
                    last: true,
                    exact: vec![],
                },
                ..Default::default()
            },
        )
        .unwrap();
    let counts = store.type_counts(&[c]).unwrap();
    let indicator = counts
        .iter()
        .find(|t| t.object_type == "indicator")
        .unwrap();
    assert_eq!((indicator.objects, indicator.versions), (2, 2));
    let both = store.type_counts(&[c, other]).unwrap();
    assert_eq!(both.iter().filter(|t| t.collection == other).count(), 1);
}

fn edges_come_from_latest_relationships_and_sightings_in_the_given_collections(f: &dyn Fixture) {
    let (store, c) = store(f);
    let hidden = alias_collection(&*store, "red");
    let indicator = format!("indicator--{}", uuid(1));
    let campaign = format!("campaign--{}", uuid(2));
    let identity = format!("identity--{}", uuid(3));
    ingest(
        &store,
        c,
        "m",
        vec![
            object("indicator", 1, V1, serde_json::json!({})),
            object("campaign", 2, V1, serde_json::json!({})),
            object(
                "relationship",
                10,
                V1,
                serde_json::json!({"relationship_type": "indicates", "source_ref": indicator, "target_ref": campaign}),
            ),
            object(
                "sighting",
                11,
                V1,
                serde_json::json!({"sighting_of_ref": indicator, "where_sighted_refs": [identity]}),
            ),
        ],
        vec![],
    );
    ingest(
        &store,
        hidden,
        "m",
        vec![object(
            "relationship",
            12,
            V1,
            serde_json::json!({"relationship_type": "attributed-to", "source_ref": campaign, "target_ref": identity}),
        )],
        vec![],
    );
    let edges = store.edges(&[c], &indicator, 10).unwrap();
    assert_eq!(edges.len(), 2, "{edges:?}");
    assert!(
        edges
            .iter()
            .any(|e| e.edge_type == "indicates" && e.target == campaign)
    );
    assert!(
        edges
            .iter()
            .any(|e| e.edge_type == "sighting-of" && e.source == format!("sighting--{}", uuid(11)))
    );
    // The relationship in the other collection is only seen with it.
    assert_eq!(store.edges(&[c], &campaign, 10).unwrap().len(), 1);
    assert_eq!(store.edges(&[c, hidden], &campaign, 10).unwrap().len(), 2);
    // A new version that retargets the relationship replaces the old edge.
    let other = format!("campaign--{}", uuid(5));
    ingest(
        &store,
        c,
        "m",
        vec![
            object(
                "relationship",
                10,
                V2,
                serde_json::json!({"relationship_type": "indicates", "source_ref": indicator, "target_ref": other}),
            ),
            object(
                "relationship",
                13,
                V1,
                serde_json::json!({"relationship_type": "indicates", "source_ref": indicator, "target_ref": format!("campaign--{}", uuid(6))}),
            ),
        ],
        vec![],
    );
    let edges = store.edges(&[c], &indicator, 10).unwrap();
    assert_eq!(edges.len(), 3, "{edges:?}");
    assert!(edges.iter().any(|e| e.target == other));
    assert!(!edges.iter().any(|e| e.target == campaign));
    // The limit holds each way: one out, one in.
    let limited = store.edges(&[c], &indicator, 1).unwrap();
    assert_eq!(limited.len(), 2);
    assert_eq!(limited.iter().filter(|e| e.source == indicator).count(), 1);

    let found = store
        .locate_objects(&[c], &[campaign.clone(), identity.clone()])
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id, campaign);
    assert_eq!(found[0].object_type, "campaign");
}

fn pushes_polls_and_refusals_roll_up_by_period_sector_and_reason(f: &dyn Fixture) {
    let (store, c) = store(f);
    store
        .create_member(NewMember {
            name: "evergreen".into(),
            sector: "shipping-line".into(),
            contact: None,
            identity_ref: None,
            clearance: Tier::Red,
            is_operator: false,
        })
        .unwrap();
    let before = Timestamp::now().plus_micros(-1);
    ingest(
        &store,
        c,
        "evergreen",
        vec![
            object("indicator", 1, V1, serde_json::json!({})),
            object("indicator", 2, V1, serde_json::json!({})),
        ],
        vec![
            refusal(
                "object is marked TLP:RED but collection is TLP:GREEN: a marking may not be shared into a laxer tier",
            ),
            refusal(
                "object is marked TLP:AMBER but collection is TLP:GREEN: a marking may not be shared into a laxer tier",
            ),
            refusal("indicator.pattern: 'x' is not a pattern; indicator.name: must be a string"),
            refusal(
                "created_by_ref identity--1 is the identity of member 'other'; a member may publish only under its own identity",
            ),
        ],
    );
    store
        .append_audit(AuditEvent {
            member: Some("evergreen".into()),
            collection: Some(c.to_string()),
            objects: Some(7),
            ..AuditEvent::now("poll-objects", "ok")
        })
        .unwrap();
    // Refused reads are not polls.
    store
        .append_audit(AuditEvent {
            member: Some("evergreen".into()),
            collection: Some(c.to_string()),
            objects: Some(100),
            ..AuditEvent::now("poll-objects", "refused")
        })
        .unwrap();
    for granularity in [Granularity::Hour, Granularity::Day] {
        let q = |action| ActivityQuery {
            granularity,
            since: before,
            action,
            collections: None,
            member: None,
        };
        let pushes = store.activity(&q(Activity::Push)).unwrap();
        assert_eq!(pushes.len(), 1, "{pushes:?}");
        assert_eq!(pushes[0].sector, "shipping-line");
        assert_eq!((pushes[0].objects, pushes[0].refused), (2, 4));
        assert_eq!(pushes[0].period, granularity.period_of(before));
        let polls = store.activity(&q(Activity::Poll)).unwrap();
        assert_eq!(polls.len(), 1);
        assert_eq!((polls[0].objects, polls[0].requests), (7, 1));
        let elsewhere = store
            .activity(&ActivityQuery {
                collections: Some(vec![CollectionId::new_random()]),
                ..q(Activity::Push)
            })
            .unwrap();
        assert!(elsewhere.is_empty());
        let someone_else = store
            .activity(&ActivityQuery {
                member: Some("someone-else".into()),
                ..q(Activity::Poll)
            })
            .unwrap();
        assert!(someone_else.is_empty());
    }
    let reasons = store
        .refusals(&RefusalQuery {
            since: before,
            collections: None,
            member: Some("evergreen".into()),
            limit: 10,
        })
        .unwrap();
    let reasons: Vec<(&str, u64)> = reasons
        .iter()
        .map(|r| (r.reason.as_str(), r.objects))
        .collect();
    assert_eq!(
        reasons,
        vec![
            ("marking stricter than the collection's tier", 2),
            ("invalid indicator.pattern", 1),
            ("published under another member's identity", 1),
        ]
    );
    let limited = store
        .refusals(&RefusalQuery {
            since: before,
            collections: Some(vec![c]),
            member: None,
            limit: 1,
        })
        .unwrap();
    assert_eq!(limited.len(), 1);
}

fn a_background_ingest_rolls_up_when_it_completes(f: &dyn Fixture) {
    let (store, c) = store(f);
    let batch = IngestBatch {
        status_id: "s-1".into(),
        api_root: "crc".into(),
        collection: c,
        member: Some("m".into()),
        fingerprint: None,
        request_timestamp: Timestamp::now(),
        accepted: vec![object("indicator", 1, V1, serde_json::json!({}))],
        refused: vec![],
    };
    let since = Timestamp::now().plus_micros(-1);
    store.begin_pending(&batch).unwrap();
    let q = ActivityQuery {
        granularity: Granularity::Day,
        since,
        action: Activity::Push,
        collections: None,
        member: None,
    };
    assert!(
        store.activity(&q).unwrap().is_empty(),
        "pending is not done"
    );
    store.ingest(batch).unwrap();
    let pushes = store.activity(&q).unwrap();
    assert_eq!(pushes.len(), 1);
    assert_eq!(pushes[0].objects, 1);
}

fn submissions_page_newest_first_per_member(f: &dyn Fixture) {
    let (store, c) = store(f);
    for n in 0..5 {
        ingest(
            &store,
            c,
            if n % 2 == 0 { "a" } else { "b" },
            vec![object("indicator", n, V1, serde_json::json!({}))],
            vec![refusal("indicator.name: must be a string")],
        );
    }
    let mine = store.statuses_page(Some("a"), None, 2).unwrap();
    assert_eq!(mine.items.len(), 2);
    assert!(mine.items.iter().all(|s| s.member.as_deref() == Some("a")));
    assert!(mine.items[0].request_timestamp >= mine.items[1].request_timestamp);
    assert_eq!((mine.items[0].successes, mine.items[0].failures), (1, 1));
    let rest = store
        .statuses_page(Some("a"), mine.resume.as_ref(), 2)
        .unwrap();
    assert_eq!(rest.items.len(), 1);
    assert!(rest.resume.is_none());
    let everyone = store.statuses_page(None, None, 10).unwrap();
    assert_eq!(everyone.items.len(), 5);
}

fn audit_pages_filter_and_resume(f: &dyn Fixture) {
    let (store, _c) = store(f);
    let t0 = Timestamp::now();
    for n in 0..40i64 {
        store
            .append_audit(AuditEvent {
                at: t0.plus_micros(n),
                member: Some(if n % 2 == 0 { "a" } else { "b" }.into()),
                outcome: if n % 5 == 0 { "refused" } else { "ok" }.into(),
                ..AuditEvent::now(if n % 4 == 0 { "push" } else { "poll-objects" }, "ok")
            })
            .unwrap();
    }
    let all = |filter: &AuditFilter, limit, budget| {
        let mut out = Vec::new();
        let mut before = None;
        loop {
            let page = store.audit_page(filter, before, limit, budget).unwrap();
            out.extend(page.items.iter().map(|r| r.event.at.micros() - t0.micros()));
            match page.resume {
                Some(c) => before = Some(c),
                None => return out,
            }
        }
    };
    let everything = all(&AuditFilter::default(), 7, 1000);
    assert_eq!(everything.len(), 40);
    assert_eq!(everything[0], 39, "newest first");
    let a_refused = all(
        &AuditFilter {
            member: Some("a".into()),
            outcome: Some("refused".into()),
            ..Default::default()
        },
        2,
        5,
    );
    assert_eq!(a_refused, vec![30, 20, 10, 0]);
    let pushes = all(
        &AuditFilter {
            action: Some("push".into()),
            since: Some(t0.plus_micros(10)),
            until: Some(t0.plus_micros(30)),
            ..Default::default()
        },
        3,
        1000,
    );
    assert_eq!(pushes, vec![28, 24, 20, 16, 12]);
}

fn deleting_objects_removes_their_labels_and_edges(f: &dyn Fixture) {
    let (store, c) = store(f);
    let indicator = format!("indicator--{}", uuid(1));
    let campaign = format!("campaign--{}", uuid(2));
    let relationship = format!("relationship--{}", uuid(3));
    let sighting = format!("sighting--{}", uuid(4));
    ingest(
        &store,
        c,
        "m",
        vec![
            object(
                "indicator",
                1,
                V1,
                serde_json::json!({"labels": ["port", "ais"]}),
            ),
            object(
                "relationship",
                3,
                V1,
                serde_json::json!({"relationship_type": "indicates", "source_ref": indicator, "target_ref": campaign}),
            ),
            object(
                "sighting",
                4,
                V1,
                serde_json::json!({"sighting_of_ref": indicator}),
            ),
        ],
        vec![],
    );
    assert_eq!(store.edges(&[c], &indicator, 10).unwrap().len(), 2);
    let all = ObjectFilter {
        versions: VersionFilter::All,
        ..Default::default()
    };
    store.delete_object(c, &relationship, &all).unwrap();
    store.delete_object(c, &sighting, &all).unwrap();
    assert!(store.edges(&[c], &indicator, 10).unwrap().is_empty());
    let labelled = |label: &str| {
        store
            .browse_objects(
                c,
                &BrowseFilter {
                    label: Some(label.into()),
                    ..Default::default()
                },
                None,
                10,
                100,
            )
            .unwrap()
            .items
            .len()
    };
    assert_eq!(labelled("ais"), 1);
    store.delete_object(c, &indicator, &all).unwrap();
    assert_eq!(labelled("ais"), 0);
    let left = f.rows("object_labels", None) + f.rows("object_edges", None);
    assert_eq!(left, 0, "no side rows outlive their object");
}

fn a_deleted_collection_leaves_the_read_models_at_once_and_its_side_rows_go_with_its_objects(
    f: &dyn Fixture,
) {
    let (store, kept) = store(f);
    let gone = alias_collection(&*store, "doomed");
    let indicator = format!("indicator--{}", uuid(1));
    let campaign = format!("campaign--{}", uuid(2));
    let objects = |offset: usize| {
        vec![
            object(
                "indicator",
                1 + offset,
                V1,
                serde_json::json!({"labels": ["port"]}),
            ),
            object(
                "relationship",
                3 + offset,
                V1,
                serde_json::json!({"relationship_type": "indicates", "source_ref": indicator, "target_ref": campaign}),
            ),
            object(
                "sighting",
                4 + offset,
                V1,
                serde_json::json!({"sighting_of_ref": indicator}),
            ),
        ]
    };
    ingest(
        &store,
        kept,
        "m",
        objects(0),
        vec![refusal("not valid JSON")],
    );
    ingest(
        &store,
        gone,
        "m",
        objects(100),
        vec![refusal("not valid JSON")],
    );
    let since = Timestamp::now().plus_micros(-3_600_000_000);
    let pushed = |store: &Arc<dyn Store>| -> u64 {
        store
            .activity(&ActivityQuery {
                granularity: Granularity::Hour,
                since,
                action: Activity::Push,
                collections: None,
                member: None,
            })
            .unwrap()
            .iter()
            .map(|b| b.objects)
            .sum()
    };
    let refused = |store: &Arc<dyn Store>| -> u64 {
        store
            .refusals(&RefusalQuery {
                since,
                collections: None,
                member: Some("m".into()),
                limit: 10,
            })
            .unwrap()
            .iter()
            .map(|r| r.objects)
            .sum()
    };
    assert_eq!(pushed(&store), 6);
    assert_eq!(refused(&store), 2);
    assert_eq!(store.type_counts(&[kept, gone]).unwrap().len(), 6);

    store.delete_collection(gone).unwrap();
    // Marked deleted, objects not yet removed: gone from every read model.
    assert_eq!(pushed(&store), 3);
    assert_eq!(refused(&store), 1);
    let counts = store.type_counts(&[kept, gone]).unwrap();
    assert!(counts.iter().all(|t| t.collection == kept), "{counts:?}");
    assert_eq!(counts.len(), 3);

    store.purge_deleted_collections().unwrap();
    let left = |table: &str| f.rows(table, Some(gone));
    for table in [
        "object_type_counts",
        "object_labels",
        "object_edges",
        "activity_hourly",
        "activity_daily",
        "refusals_daily",
    ] {
        assert_eq!(
            left(table),
            0,
            "{table} still holds rows of the deleted collection"
        );
    }
    assert_eq!(store.edges(&[kept], &indicator, 10).unwrap().len(), 2);
    assert_eq!(pushed(&store), 3);
}

/// A batch too large for one transaction is stored part by part
/// (`ingest_in_parts`); every part feeds the read models.
fn a_batch_stored_in_parts_feeds_every_read_model(f: &dyn Fixture) {
    let (store, c) = store(f);
    // More than SQLite stores in one transaction and PostgreSQL in one statement.
    let n = 2_500;
    let hub = format!("campaign--{}", uuid(0));
    let objects: Vec<NewObject> = (1..=n)
        .map(|i| {
            if i % 2 == 0 {
                object("indicator", i, V1, serde_json::json!({"labels": ["port"]}))
            } else {
                object(
                    "relationship",
                    i,
                    V1,
                    serde_json::json!({"relationship_type": "indicates", "source_ref": format!("indicator--{}", uuid(i + 1)), "target_ref": hub}),
                )
            }
        })
        .collect();
    let status = ingest(&store, c, "m", objects, vec![]);
    assert_eq!(status.details.successes.len(), n);
    let counts = store.type_counts(&[c]).unwrap();
    assert_eq!(counts.iter().map(|t| t.objects).sum::<u64>(), n as u64);
    let labelled = browse_all(
        &store,
        c,
        &BrowseFilter {
            label: Some("port".into()),
            ..Default::default()
        },
        500,
        5_000,
    );
    assert_eq!(labelled.len(), n / 2);
    assert_eq!(f.rows("object_edges", None) as usize, n - n / 2);
    assert_eq!(store.edges(&[c], &hub, n).unwrap().len(), n - n / 2);
}

/// A member may send U+0000 (escaped) in any string, which PostgreSQL's
/// text cannot hold: the write, its refusals and the pages still work.
fn a_nul_in_member_content_fails_neither_the_write_nor_the_pages(f: &dyn Fixture) {
    let (store, c) = store(f);
    let mut hostile = object(
        "indicator",
        1,
        V1,
        serde_json::json!({"labels": ["ok", "a\u{0}b"], "description": "\u{0}"}),
    );
    hostile.body = hostile.body.replace("indicator 1", "x\\u0000y");
    let status = ingest(
        &store,
        c,
        "m",
        vec![hostile],
        vec![refusal("`id` \u{0} is not an identifier")],
    );
    assert_eq!(status.details.successes.len(), 1);
    let page = store
        .browse_objects(
            c,
            &BrowseFilter {
                label: Some("ok".into()),
                ..Default::default()
            },
            None,
            10,
            100,
        )
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert!(page.items[0].labels.contains(&"ok".to_string()));
    assert_eq!(page.items[0].name.as_deref(), Some("x\u{0}y"));
    let refused: u64 = store
        .refusals(&RefusalQuery {
            since: Timestamp::now().plus_micros(-3_600_000_000),
            collections: Some(vec![c]),
            member: None,
            limit: 10,
        })
        .unwrap()
        .iter()
        .map(|r| r.objects)
        .sum();
    assert_eq!(refused, 1);
    assert_eq!(store.type_counts(&[c]).unwrap()[0].objects, 1);
}

/// What the upgrade tests of both backends find after a schema-2 database
/// with a partial push (3 stored, 2 refused) in its second hour and a poll
/// of 9 objects by member `m` (sector rail) gains the read models.
pub(crate) fn assert_upgraded_activity(store: &dyn Store) {
    let pushes = store
        .activity(&ActivityQuery {
            granularity: Granularity::Hour,
            since: Timestamp::from_micros(0),
            action: Activity::Push,
            collections: None,
            member: None,
        })
        .unwrap();
    assert_eq!(pushes.len(), 1);
    assert_eq!(
        (
            pushes[0].period,
            pushes[0].sector.as_str(),
            pushes[0].objects,
            pushes[0].refused
        ),
        (2, "rail", 3, 2)
    );
    let polls = store
        .activity(&ActivityQuery {
            granularity: Granularity::Day,
            since: Timestamp::from_micros(0),
            action: Activity::Poll,
            collections: None,
            member: Some("m".into()),
        })
        .unwrap();
    assert_eq!(polls[0].objects, 9);
}

behaviours!(
    a_nul_in_member_content_fails_neither_the_write_nor_the_pages,
    browsing_is_newest_first_latest_versions_only_with_every_filter,
    each_filter_walks_its_own_index,
    budget_bounds_a_residual_scan_and_paging_still_finds_everything,
    counts_follow_versions_and_deletions,
    edges_come_from_latest_relationships_and_sightings_in_the_given_collections,
    pushes_polls_and_refusals_roll_up_by_period_sector_and_reason,
    a_background_ingest_rolls_up_when_it_completes,
    submissions_page_newest_first_per_member,
    audit_pages_filter_and_resume,
    deleting_objects_removes_their_labels_and_edges,
    a_deleted_collection_leaves_the_read_models_at_once_and_its_side_rows_go_with_its_objects,
    a_batch_stored_in_parts_feeds_every_read_model,
);
