//! The collection browser: latest versions, newest first, filtered by type,
//! creator, label and time, in keyset pages.

use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};
use serde::Deserialize;

use super::{given, query, query_string, time_field};
use crate::console::layout::{self, Nav, clip, number, when};
use crate::console::{Console, ConsoleError, Viewer, blocking};
use crate::exchange::console::BROWSE_BUDGET;
use crate::store::{BrowseFilter, Cursor};

/// Objects per page.
pub const PAGE: usize = 50;

#[derive(Deserialize, Default)]
struct Params {
    #[serde(rename = "type")]
    object_type: Option<String>,
    creator: Option<String>,
    label: Option<String>,
    from: Option<String>,
    until: Option<String>,
    before: Option<String>,
}

pub async fn page(
    viewer: Viewer,
    req: HttpRequest,
    path: web::Path<String>,
    console: web::Data<Console>,
) -> Result<HttpResponse, ConsoleError> {
    let params: Params = query(req.query_string())?;
    let id = path.into_inner();
    let markup = blocking(move || render(&viewer, &console, &id, &params)).await?;
    Ok(crate::console::html(markup))
}

fn render(
    viewer: &Viewer,
    console: &Console,
    id: &str,
    params: &Params,
) -> Result<Markup, ConsoleError> {
    let access = viewer.read(console, id)?;
    let filter = BrowseFilter {
        object_type: given(&params.object_type),
        creator: given(&params.creator),
        label: given(&params.label),
        added_from: time_field("from", &params.from)?,
        added_until: time_field("until", &params.until)?,
    };
    let before = given(&params.before)
        .map(|b| {
            b.parse::<i64>()
                .map(Cursor)
                .map_err(|_| ConsoleError::BadRequest("before: not a page position".into()))
        })
        .transpose()?;
    let ex = &console.exchange;
    let types = ex.types_in(&access)?;
    let page = ex.browse(&access, &filter, before, PAGE)?;
    viewer.audit_view(console, &access, page.items.len(), "browse");
    let collection = access.collection();
    let base = layout::collection_url(collection.id);
    let filters = |extra: &[(&str, Option<String>)]| {
        let mut pairs = vec![
            ("type", filter.object_type.clone()),
            ("creator", filter.creator.clone()),
            ("label", filter.label.clone()),
            ("from", given(&params.from)),
            ("until", given(&params.until)),
        ];
        for (k, v) in extra {
            pairs.retain(|(key, _)| key != k);
            pairs.push((k, v.clone()));
        }
        let q = query_string(&pairs);
        if q.is_empty() {
            base.clone()
        } else {
            format!("{base}?{q}")
        }
    };
    let total: u64 = types.iter().map(|t| t.objects).sum();
    let filtered = filter != BrowseFilter::default();
    let content = html! {
        h1 { (collection.title) " " (layout::tier_badge(collection.tier)) }
        p.lead {
            (number(total)) " objects"
            @if let Some(d) = &collection.description { " · " (d) }
        }
        form.filters method="get" action=(base) {
            label { "Type"
                select name="type" {
                    option value="" { "any" }
                    @for t in types.iter().filter(|t| t.objects > 0) {
                        option value=(t.object_type) selected[filter.object_type.as_deref() == Some(t.object_type.as_str())] {
                            (t.object_type) " (" (number(t.objects)) ")"
                        }
                    }
                }
            }
            label { "Creator (created_by_ref)"
                input type="text" name="creator" size="44" value=(filter.creator.clone().unwrap_or_default()) placeholder="identity--…";
            }
            label { "Label"
                input type="text" name="label" value=(filter.label.clone().unwrap_or_default());
            }
            label { "Added from (UTC)"
                input type="datetime-local" name="from" value=(layout::time_input(filter.added_from));
            }
            label { "Added before (UTC)"
                input type="datetime-local" name="until" value=(layout::time_input(filter.added_until));
            }
            button type="submit" { "Filter" }
            @if filtered { a.button.secondary href=(base) { "Clear" } }
        }
        @if page.items.is_empty() {
            p { @if filtered || before.is_some() { "No objects match here." } @else { "This collection is empty." } }
        } @else {
            div.scroll {
                table #objects {
                    thead { tr {
                        th { "Added" } th { "Type" } th { "Name" } th { "Creator" } th { "Labels" } th { "Version" }
                    } }
                    tbody {
                        @for o in &page.items {
                            tr {
                                td.mono { (when(o.date_added)) }
                                td { a href=(filters(&[("type", Some(o.object_type.clone())), ("before", None)])) { (layout::type_badge(&o.object_type)) } }
                                td {
                                    a href=(layout::object_url(collection.id, &o.id)) {
                                        (clip(o.name.as_deref().unwrap_or(&o.id), 90))
                                    }
                                }
                                td.wrap {
                                    @if let Some(c) = &o.created_by {
                                        a.mono href=(filters(&[("creator", Some(c.clone())), ("before", None)])) { (clip(c, 48)) }
                                    }
                                }
                                td {
                                    @for l in o.labels.iter().take(8) {
                                        a.badge.label href=(filters(&[("label", Some(l.clone())), ("before", None)])) { (clip(l, 40)) } " "
                                    }
                                }
                                td.mono { (o.version) }
                            }
                        }
                    }
                }
            }
        }
        @if page.budget_spent {
            p.note {
                "This page looked at " (number(BROWSE_BUDGET as u64)) " objects and stopped there to stay fast; "
                "older ones may match too."
            }
        }
        div.pager {
            @if before.is_some() { a href=(filters(&[])) { "« Newest" } }
            @if let Some(next) = page.resume {
                a.button href=(filters(&[("before", Some(next.0.to_string()))])) { "Older »" }
            }
        }
    };
    // The newest page shows new objects as they arrive; older pages stay put.
    if before.is_none() {
        let live = format!("/console/live?collection={}", collection.id);
        Ok(layout::live_page(
            viewer,
            Nav::Overview,
            &collection.title,
            &live,
            content,
        ))
    } else {
        Ok(layout::page(
            viewer,
            Nav::Overview,
            &collection.title,
            content,
        ))
    }
}
