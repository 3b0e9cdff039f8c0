//! The audit log (operator): filter by member, action, outcome and time,
//! page newest first, export as CSV.

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};
use serde::Deserialize;

use super::{given, query, query_string, time_field};
use crate::auth::policy::OperatorAccess;
use crate::console::layout::{self, Nav, clip, number, when};
use crate::console::{Console, ConsoleError, Viewer, blocking, csv};
use crate::exchange::console::AUDIT_BUDGET;
use crate::model::Timestamp;
use crate::store::{AuditCursor, AuditFilter, AuditRecord};

const PAGE: usize = 100;
/// Rows read per step of a CSV export.
const EXPORT_CHUNK: usize = 1000;

/// Actions the server records, offered as suggestions in the filter.
const ACTIONS: &[&str] = &[
    "push",
    "poll-objects",
    "poll-manifest",
    "poll-object",
    "poll-versions",
    "delete",
    "read",
    "write to",
    "delete from",
    "authenticate",
    "console-view",
    "console-login",
    "collection-create",
    "member-add",
    "member-update",
    "member-remove",
    "certificate-add",
    "certificate-revoke",
    "grant-set",
    "grant-remove",
    "token-issue",
    "token-revoke",
];

#[derive(Deserialize, Default)]
struct Params {
    member: Option<String>,
    action: Option<String>,
    outcome: Option<String>,
    since: Option<String>,
    until: Option<String>,
    before: Option<String>,
}

impl Params {
    fn filter(&self) -> Result<AuditFilter, ConsoleError> {
        Ok(AuditFilter {
            member: given(&self.member),
            action: given(&self.action),
            outcome: given(&self.outcome),
            since: time_field("since", &self.since)?,
            until: time_field("until", &self.until)?,
        })
    }

    /// `before` is `<at in microseconds>.<event id>`.
    fn before(&self) -> Result<Option<AuditCursor>, ConsoleError> {
        let bad = || ConsoleError::BadRequest("before: not a page position".into());
        given(&self.before)
            .map(|text| {
                let (at, id) = text.split_once('.').ok_or_else(bad)?;
                Ok(AuditCursor {
                    at: Timestamp::from_micros(at.parse().map_err(|_| bad())?),
                    id: id.parse().map_err(|_| bad())?,
                })
            })
            .transpose()
    }

    fn pairs(&self) -> Vec<(&'static str, Option<String>)> {
        vec![
            ("member", given(&self.member)),
            ("action", given(&self.action)),
            ("outcome", given(&self.outcome)),
            ("since", given(&self.since)),
            ("until", given(&self.until)),
        ]
    }
}

pub async fn page(
    viewer: Viewer,
    req: HttpRequest,
    console: web::Data<Console>,
) -> Result<HttpResponse, ConsoleError> {
    let operator = viewer.require_operator()?;
    let params: Params = query(req.query_string())?;
    let filter = params.filter()?;
    let before = params.before()?;
    let page = blocking({
        let console = console.clone();
        let filter = filter.clone();
        move || {
            Ok(console
                .exchange
                .audit_page(&operator, &filter, before, PAGE)?)
        }
    })
    .await?;
    let pairs = params.pairs();
    let url = |path: &str, extra: Option<(&'static str, String)>| {
        let mut pairs = pairs.clone();
        if let Some((k, v)) = extra {
            pairs.push((k, Some(v)));
        }
        let q = query_string(&pairs);
        if q.is_empty() {
            path.to_string()
        } else {
            format!("{path}?{q}")
        }
    };
    let content: Markup = html! {
        h1 { "Audit log" }
        form.filters method="get" action="/console/audit/" {
            label { "Member" input type="text" name="member" value=(filter.member.clone().unwrap_or_default()); }
            label { "Action"
                input type="text" name="action" list="actions" value=(filter.action.clone().unwrap_or_default());
                datalist #actions { @for a in ACTIONS { option value=(a) {} } }
            }
            label { "Outcome"
                select name="outcome" {
                    option value="" { "any" }
                    @for o in ["ok", "partial", "refused", "not-found"] {
                        option value=(o) selected[filter.outcome.as_deref() == Some(o)] { (o) }
                    }
                }
            }
            label { "From (UTC)" input type="datetime-local" name="since" value=(layout::time_input(filter.since)); }
            label { "Before (UTC)" input type="datetime-local" name="until" value=(layout::time_input(filter.until)); }
            button type="submit" { "Filter" }
            a.button.secondary href=(url("/console/audit.csv", None)) { "Export CSV" }
        }
        @if page.items.is_empty() {
            p { "No events match here." }
        } @else {
            div.scroll {
                table #audit {
                    thead { tr {
                        th { "At" } th { "Member" } th { "Action" } th { "Collection" } th.num { "Objects" } th { "Outcome" } th { "Detail" }
                    } }
                    tbody {
                        @for r in &page.items {
                            @let e = &r.event;
                            tr {
                                td.mono { (when(e.at)) }
                                td { (e.member.clone().unwrap_or_default()) }
                                td { (e.action) }
                                td.mono.wrap { (e.collection.clone().unwrap_or_default()) }
                                td.num { @if let Some(n) = e.objects { (number(n)) } }
                                td class=[(e.outcome != "ok").then_some("warn")] { (e.outcome) }
                                td.wrap { (clip(e.detail.as_deref().unwrap_or(""), 300)) }
                            }
                        }
                    }
                }
            }
        }
        @if page.budget_spent {
            p.note { "This page looked at " (number(AUDIT_BUDGET as u64)) " events and stopped there to stay fast; older ones may match too." }
        }
        div.pager {
            @if before.is_some() { a href=(url("/console/audit/", None)) { "« Newest" } }
            @if let Some(next) = page.resume {
                a.button href=(url("/console/audit/", Some(("before", format!("{}.{}", next.at.micros(), next.id))))) { "Older »" }
            }
        }
    };
    Ok(crate::console::html(layout::page(
        &viewer,
        Nav::Audit,
        "Audit",
        content,
    )))
}

const CSV_COLUMNS: [&str; 9] = [
    "id",
    "at",
    "member",
    "fingerprint",
    "action",
    "collection",
    "objects",
    "outcome",
    "detail",
];

fn csv_row(r: &AuditRecord) -> String {
    let e = &r.event;
    let id = r.id.to_string();
    let at = e.at.to_string();
    let objects = e.objects.map(|n| n.to_string()).unwrap_or_default();
    csv::row([
        id.as_str(),
        at.as_str(),
        e.member.as_deref().unwrap_or(""),
        e.fingerprint.as_deref().unwrap_or(""),
        e.action.as_str(),
        e.collection.as_deref().unwrap_or(""),
        objects.as_str(),
        e.outcome.as_str(),
        e.detail.as_deref().unwrap_or(""),
    ])
}

struct Export {
    console: web::Data<Console>,
    operator: OperatorAccess,
    filter: AuditFilter,
    next: Option<AuditCursor>,
    started: bool,
    done: bool,
}

/// Every matching event, newest first, streamed in bounded chunks: memory
/// stays flat however long the log, and a closed connection stops the reads.
pub async fn csv(
    viewer: Viewer,
    req: HttpRequest,
    console: web::Data<Console>,
) -> Result<HttpResponse, ConsoleError> {
    let operator = viewer.require_operator()?;
    let params: Params = query(req.query_string())?;
    let export = Export {
        console: console.clone(),
        operator,
        filter: params.filter()?,
        next: params.before()?,
        started: false,
        done: false,
    };
    let body = futures_util::stream::unfold(export, |mut ex| async move {
        if ex.done {
            return None;
        }
        let mut out = String::new();
        if !ex.started {
            ex.started = true;
            out.push_str(&csv::row(CSV_COLUMNS));
        }
        let (console, operator, filter, next) = (
            ex.console.clone(),
            ex.operator.clone(),
            ex.filter.clone(),
            ex.next,
        );
        let page = web::block(move || {
            console
                .exchange
                .audit_page(&operator, &filter, next, EXPORT_CHUNK)
        })
        .await;
        match page {
            Ok(Ok(page)) => {
                for r in &page.items {
                    out.push_str(&csv_row(r));
                }
                ex.next = page.resume;
                ex.done = page.resume.is_none();
                Some((Ok::<_, std::io::Error>(Bytes::from(out)), ex))
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, "console: audit export stopped");
                ex.done = true;
                Some((Err(std::io::Error::other("the audit export stopped")), ex))
            }
            Err(e) => {
                tracing::error!(error = %e, "console: audit export stopped");
                ex.done = true;
                Some((Err(std::io::Error::other("the audit export stopped")), ex))
            }
        }
    });
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/csv; charset=utf-8"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"breakwater-audit.csv\"",
        ))
        .streaming(body))
}
