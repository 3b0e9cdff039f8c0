//! An object's page: what it says, its versions, its JSON as posted, and the
//! graph of its relationships and sightings one or two steps out.

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;

use super::{given, query};
use crate::auth::policy;
use crate::console::layout::{self, Nav, clip, when};
use crate::console::{Console, ConsoleError, Viewer, blocking, json, svg};
use crate::model::Timestamp;
use crate::store::{ObjectFilter, VersionFilter};

/// Versions listed on the page (oldest first); more are reachable through TAXII.
const VERSIONS_SHOWN: usize = 200;

#[derive(Deserialize, Default)]
struct Params {
    version: Option<String>,
    hops: Option<String>,
}

pub async fn page(
    viewer: Viewer,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    console: web::Data<Console>,
) -> Result<HttpResponse, ConsoleError> {
    let params: Params = query(req.query_string())?;
    let (collection, object) = path.into_inner();
    let markup = blocking(move || render(&viewer, &console, &collection, &object, &params)).await?;
    Ok(crate::console::html(markup))
}

fn text<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

fn render(
    viewer: &Viewer,
    console: &Console,
    collection: &str,
    object_id: &str,
    params: &Params,
) -> Result<Markup, ConsoleError> {
    let access = viewer.read(console, collection)?;
    let ex = &console.exchange;
    let hops: u8 = match given(&params.hops).as_deref() {
        None | Some("1") => 1,
        Some("2") => 2,
        Some(_) => return Err(ConsoleError::BadRequest("hops: 1 or 2".into())),
    };
    let mut filter = ObjectFilter::default();
    let version = given(&params.version);
    if let Some(v) = &version {
        let t = Timestamp::parse(v)
            .map_err(|_| ConsoleError::BadRequest(format!("version: '{v}' is not a timestamp")))?;
        filter.versions = VersionFilter::Select {
            first: false,
            last: false,
            exact: vec![t],
        };
    }
    let shown = ex.get_object(&access, object_id, &filter, None, 1)?;
    let shown = shown
        .items
        .into_iter()
        .next()
        .ok_or_else(|| ConsoleError::NotFound(format!("that version of {object_id}")))?;
    let versions = ex.versions(
        &access,
        object_id,
        &ObjectFilter::default(),
        None,
        VERSIONS_SHOWN,
    )?;
    let reads = viewer.reads();
    let graph = ex.neighbourhood(&access, &reads, object_id, hops)?;
    viewer.audit_view(console, &access, 1, &format!("object {object_id}"));
    let value: Value = serde_json::from_str(&shown.body).unwrap_or(Value::Null);
    let object_type = text(&value, "type").unwrap_or("object");
    let name = text(&value, "name");
    let collection = access.collection();
    let browse = layout::collection_url(collection.id);
    let located: HashMap<&str, String> = graph
        .nodes
        .iter()
        .filter_map(|n| {
            let s = n.summary.as_ref()?;
            Some((n.id.as_str(), layout::object_url(s.collection, &s.id)))
        })
        .collect();
    let node_name: HashMap<&str, String> = graph
        .nodes
        .iter()
        .map(|n| {
            let label = match &n.summary {
                Some(s) => format!("{} {}", s.object_type, s.name.as_deref().unwrap_or(&s.id)),
                None => n.id.clone(),
            };
            (n.id.as_str(), label)
        })
        .collect();
    let end = |id: &str| {
        let label = clip(node_name.get(id).map(String::as_str).unwrap_or(id), 70);
        html! {
            @if let Some(url) = located.get(id) { a href=(url) { (label) } } @else { span.note { (label) } }
        }
    };
    let this_url = layout::object_url(collection.id, object_id);
    let strings = |key: &str| -> Vec<String> {
        value
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect()
    };
    let markings = strings("object_marking_refs");
    let labels = strings("labels");
    let references: Vec<&Value> = value
        .get("external_references")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .take(100)
        .collect();
    let content = html! {
        p.note { a href=(browse) { "← " (collection.title) } " " (layout::tier_badge(collection.tier)) }
        h1 { (layout::type_badge(object_type)) " " (clip(name.unwrap_or(object_id), 160)) }
        @if version.is_some() && versions.items.last().map(|v| v.version.as_str()) != Some(shown.version.as_str()) {
            p.warn { "You are looking at an older version. " a href=(this_url) { "Show the latest." } }
        }
        section.card {
            dl.facts {
                dt { "id" } dd.mono { (object_id) }
                @if let Some(d) = text(&value, "description") { dt { "description" } dd { (clip(d, 2000)) } }
                @if let Some(c) = text(&value, "created_by_ref") {
                    dt { "created by" }
                    dd { a.mono href={ (browse) "?" (super::query_string(&[("creator", Some(c.to_string()))])) } { (c) } }
                }
                @if !labels.is_empty() {
                    dt { "labels" }
                    dd { @for l in &labels { a.badge.label href={ (browse) "?" (super::query_string(&[("label", Some(l.clone()))])) } { (clip(l, 60)) } " " } }
                }
                @if !markings.is_empty() {
                    dt { "markings" }
                    dd { @for m in &markings {
                        @if let Some(t) = policy::tlp_tier(m) { (layout::tier_badge(t)) " " } @else { code { (m) } " " }
                    } }
                }
                @for key in ["created", "modified", "valid_from", "valid_until", "first_seen", "last_seen", "pattern"] {
                    @if let Some(v) = text(&value, key) { dt { (key) } dd.mono { (clip(v, 2000)) } }
                }
                dt { "version" } dd.mono { (shown.version) }
                dt { "added" } dd.mono { (when(shown.date_added)) }
                dt { "spec version" } dd.mono { (shown.spec_version) }
            }
        }
        section.card {
            h2 { "Relationships and sightings" }
            p.note {
                @if hops == 1 { "One step out · " a href={ (this_url) "?hops=2" } { "two steps" } }
                @else { a href=(this_url) { "one step" } " · two steps out" }
                ". Click an object to open it."
            }
            @if graph.edges.is_empty() {
                p { "No relationship or sighting you may read mentions this object." }
            } @else {
                (svg::graph(&graph))
                @if graph.truncated {
                    p.note { "Only part of a large neighbourhood is drawn." }
                }
                details {
                    summary { "As a table (" (graph.edges.len()) " edges)" }
                    table #edges {
                        thead { tr { th { "From" } th { "Relation" } th { "To" } } }
                        tbody {
                            @for e in &graph.edges {
                                tr {
                                    td { (end(&e.source)) }
                                    td { a href=(layout::object_url(e.collection, &e.via)) { (e.edge_type) } }
                                    td { (end(&e.target)) }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if !references.is_empty() {
            section.card {
                h2 { "External references" }
                table #references {
                    thead { tr { th { "Source" } th { "External id" } th { "URL" } th { "Description" } } }
                    tbody {
                        @for r in &references {
                            tr {
                                td { (text(r, "source_name").unwrap_or("")) }
                                td.mono { (text(r, "external_id").unwrap_or("")) }
                                td.wrap { @if let Some(url) = text(r, "url") { (layout::external_link(url)) } }
                                td { (clip(text(r, "description").unwrap_or(""), 300)) }
                            }
                        }
                    }
                }
            }
        }
        section.card {
            h2 { "Versions" }
            ol #versions {
                @for v in &versions.items {
                    li.mono {
                        @if v.version == shown.version { strong { (v.version) } } @else {
                            a href={ (this_url) "?" (super::query_string(&[("version", Some(v.version.clone()))])) } { (v.version) }
                        }
                        " · added " (when(v.date_added))
                    }
                }
            }
            @if versions.more { p.note { "Only the first " (VERSIONS_SHOWN) " versions are listed." } }
        }
        section.card {
            h2 { "JSON" }
            (json::render(&shown.body))
        }
    };
    Ok(layout::page(
        viewer,
        Nav::Overview,
        &clip(name.unwrap_or(object_id), 60),
        content,
    ))
}
