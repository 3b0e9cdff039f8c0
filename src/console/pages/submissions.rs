//! Submissions: the status resources of a member's pushes (everyone's for
//! the operator) with what was stored and what was refused, and why.

use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};
use serde::Deserialize;

use super::{given, query, query_string};
use crate::console::layout::{self, Nav, clip, number, when};
use crate::console::{Console, ConsoleError, Viewer, blocking};
use crate::model::{CollectionId, Timestamp};
use crate::store::StatusCursor;

const PAGE: usize = 50;
/// Refusals listed on a submission's page.
const FAILURES_SHOWN: usize = 500;
/// Stored objects listed on a submission's page.
const SUCCESSES_SHOWN: usize = 100;

#[derive(Deserialize, Default)]
struct Params {
    member: Option<String>,
    before: Option<String>,
}

pub async fn list(
    viewer: Viewer,
    req: HttpRequest,
    console: web::Data<Console>,
) -> Result<HttpResponse, ConsoleError> {
    let params: Params = query(req.query_string())?;
    let markup = blocking(move || render_list(&viewer, &console, &params)).await?;
    Ok(crate::console::html(markup))
}

/// `before` is `<request timestamp in microseconds>.<status id>`.
fn parse_cursor(text: &str) -> Result<StatusCursor, ConsoleError> {
    let bad = || ConsoleError::BadRequest("before: not a page position".into());
    let (at, id) = text.split_once('.').ok_or_else(bad)?;
    Ok(StatusCursor {
        requested: Timestamp::from_micros(at.parse().map_err(|_| bad())?),
        id: id.to_string(),
    })
}

fn collection_title(viewer: &Viewer, id: CollectionId) -> String {
    viewer
        .caller
        .snapshot
        .collection(id)
        .map(|c| c.title.clone())
        // Every live collection is in the snapshot: this one was deleted
        // (its statuses stay, as TAXII's status endpoint keeps them).
        .unwrap_or_else(|| format!("{id} (deleted)"))
}

fn render_list(
    viewer: &Viewer,
    console: &Console,
    params: &Params,
) -> Result<Markup, ConsoleError> {
    let reads = viewer.reads();
    let operator = viewer.operator();
    let scope = viewer.scope(operator.as_ref(), &reads);
    let member = given(&params.member);
    let before = given(&params.before)
        .map(|b| parse_cursor(&b))
        .transpose()?;
    let page = console
        .exchange
        .submissions(scope, member.as_deref(), before.as_ref(), PAGE)?;
    let url = |before: Option<String>| {
        let q = query_string(&[("member", member.clone()), ("before", before)]);
        if q.is_empty() {
            "/console/submissions/".to_string()
        } else {
            format!("/console/submissions/?{q}")
        }
    };
    let op = operator.is_some();
    let content = html! {
        h1 { @if op { "Submissions" } @else { "My submissions" } }
        p.lead {
            "Each push answers with a status resource; they are kept for the configured retention (24 hours by default)."
        }
        @if op {
            form.filters method="get" action="/console/submissions/" {
                label { "Member" input type="text" name="member" value=(member.clone().unwrap_or_default()); }
                button type="submit" { "Filter" }
                @if member.is_some() { a.button.secondary href="/console/submissions/" { "Clear" } }
            }
        }
        @if page.items.is_empty() {
            p { "No submissions." }
        } @else {
            div.scroll {
                table #submissions {
                    thead { tr {
                        th { "Requested" }
                        @if op { th { "Member" } }
                        th { "Collection" } th.num { "Objects" } th.num { "Stored" } th.num { "Refused" } th.num { "Pending" } th { "Completed" }
                    } }
                    tbody {
                        @for s in &page.items {
                            tr {
                                td.mono {
                                    a href={ "/console/submissions/" (layout::segment(&s.api_root)) "/" (layout::segment(&s.id)) "/" } { (when(s.request_timestamp)) }
                                }
                                @if op { td { (s.member.clone().unwrap_or_default()) } }
                                td { (collection_title(viewer, s.collection)) }
                                td.num { (number(s.total)) }
                                td.num.good { (number(s.successes)) }
                                td.num class=[(s.failures > 0).then_some("bad")] { (number(s.failures)) }
                                td.num { (number(s.pendings)) }
                                td.mono { @if let Some(c) = s.completed { (when(c)) } @else { "pending" } }
                            }
                        }
                    }
                }
            }
        }
        div.pager {
            @if before.is_some() { a href=(url(None)) { "« Newest" } }
            @if let Some(next) = &page.resume {
                a.button href=(url(Some(format!("{}.{}", next.requested.micros(), next.id)))) { "Older »" }
            }
        }
    };
    Ok(layout::page(
        viewer,
        Nav::Submissions,
        if op { "Submissions" } else { "My submissions" },
        content,
    ))
}

pub async fn one(
    viewer: Viewer,
    path: web::Path<(String, String)>,
    console: web::Data<Console>,
) -> Result<HttpResponse, ConsoleError> {
    let (root, id) = path.into_inner();
    let markup = blocking(move || render_one(&viewer, &console, &root, &id)).await?;
    Ok(crate::console::html(markup))
}

fn render_one(
    viewer: &Viewer,
    console: &Console,
    root: &str,
    id: &str,
) -> Result<Markup, ConsoleError> {
    // The same rule as the TAXII status endpoint: one's own, or the operator.
    let status = console
        .exchange
        .status(viewer.member(), root, id, Timestamp::now())?;
    let readable = viewer
        .reads()
        .into_iter()
        .find(|r| r.collection().id == status.collection);
    let details = &status.details;
    let content = html! {
        p.note { a href="/console/submissions/" { "← Submissions" } }
        h1 { "Submission " span.mono { (status.id) } }
        section.card {
            dl.facts {
                dt { "collection" } dd {
                    @if let Some(r) = &readable { a href=(layout::collection_url(r.collection().id)) { (r.collection().title) } }
                    @else { (collection_title(viewer, status.collection)) }
                }
                @if let Some(m) = &status.member { dt { "member" } dd { (m) } }
                dt { "requested" } dd.mono { (when(status.request_timestamp)) }
                dt { "completed" } dd.mono { @if let Some(c) = status.completed { (when(c)) } @else { "pending" } }
                dt { "objects" } dd { (number(status.total() as u64)) }
                dt { "stored" } dd.good { (number(details.successes.len() as u64)) }
                dt { "refused" } dd class=[(!details.failures.is_empty()).then_some("bad")] { (number(details.failures.len() as u64)) }
                dt { "pending" } dd { (number(details.pendings.len() as u64)) }
            }
        }
        @if !details.failures.is_empty() {
            section.card {
                h2 { "Refused" }
                div.scroll {
                    table #failures {
                        thead { tr { th { "Object" } th { "Version" } th { "Why" } } }
                        tbody {
                            @for f in details.failures.iter().take(FAILURES_SHOWN) {
                                tr { td.mono.wrap { (clip(&f.id, 120)) } td.mono { (clip(&f.version, 40)) } td { (clip(f.message.as_deref().unwrap_or(""), 1000)) } }
                            }
                        }
                    }
                }
                @if details.failures.len() > FAILURES_SHOWN {
                    p.note { "The first " (FAILURES_SHOWN) " are listed; the TAXII status resource has them all." }
                }
            }
        }
        @if !details.successes.is_empty() {
            section.card {
                h2 { "Stored" }
                ul {
                    @for s in details.successes.iter().take(SUCCESSES_SHOWN) {
                        li.mono {
                            @if let Some(r) = &readable { a href=(layout::object_url(r.collection().id, &s.id)) { (s.id) } } @else { (s.id) }
                            " · " (s.version)
                        }
                    }
                }
                @if details.successes.len() > SUCCESSES_SHOWN {
                    p.note { "The first " (SUCCESSES_SHOWN) " are listed." }
                }
            }
        }
    };
    Ok(layout::page(
        viewer,
        Nav::Submissions,
        "Submission",
        content,
    ))
}
