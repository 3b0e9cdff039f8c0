//! Overview: the collections the viewer may read with their counts,
//! activity over 24 hours and 30 days by sector, refused objects by reason.

use actix_web::{HttpResponse, web};
use maud::{Markup, html};

use crate::console::layout::{self, Nav, number};
use crate::console::svg::{self, BarChart, Palette};
use crate::console::{Console, ConsoleError, Viewer, blocking};
use crate::model::Timestamp;
use crate::store::{Activity, Granularity};

pub async fn page(
    viewer: Viewer,
    console: web::Data<Console>,
) -> Result<HttpResponse, ConsoleError> {
    let markup = blocking(move || render(&viewer, &console, Timestamp::now())).await?;
    Ok(crate::console::html(markup))
}

/// The first period of a window of `n` periods ending with the one holding `now`.
fn window(granularity: Granularity, now: Timestamp, n: i64) -> (i64, Timestamp) {
    let first = granularity.period_of(now) - (n - 1);
    (first, Timestamp::from_micros(first * granularity.micros()))
}

fn render(viewer: &Viewer, console: &Console, now: Timestamp) -> Result<Markup, ConsoleError> {
    let ex = &console.exchange;
    let reads = viewer.reads();
    let operator = viewer.operator();
    let scope = viewer.scope(operator.as_ref(), &reads);
    let mut collections = ex.collection_overview(&reads)?;
    for c in &mut collections {
        c.types.sort_by(|a, b| {
            b.objects
                .cmp(&a.objects)
                .then_with(|| a.object_type.cmp(&b.object_type))
        });
    }
    let (first_hour, since_hour) = window(Granularity::Hour, now, 24);
    let (first_day, since_day) = window(Granularity::Day, now, 30);
    let pushed_24 = ex.activity(scope, Activity::Push, Granularity::Hour, since_hour)?;
    let polled_24 = ex.activity(scope, Activity::Poll, Granularity::Hour, since_hour)?;
    let pushed_30 = ex.activity(scope, Activity::Push, Granularity::Day, since_day)?;
    let polled_30 = ex.activity(scope, Activity::Poll, Granularity::Day, since_day)?;
    let refusals = ex.refusals(scope, since_day, 15)?;
    let palette = Palette::new(
        [&pushed_24, &polled_24, &pushed_30, &polled_30]
            .into_iter()
            .flatten()
            .map(|b| b.sector.as_str()),
    );
    let own = operator.is_none();
    let charts = [
        (
            if own {
                "Objects pushed into your collections, last 24 hours"
            } else {
                "Objects pushed, last 24 hours"
            },
            Granularity::Hour,
            first_hour,
            24,
            &pushed_24,
        ),
        (
            if own {
                "Objects you polled, last 24 hours"
            } else {
                "Objects polled, last 24 hours"
            },
            Granularity::Hour,
            first_hour,
            24,
            &polled_24,
        ),
        (
            if own {
                "Objects pushed into your collections, last 30 days"
            } else {
                "Objects pushed, last 30 days"
            },
            Granularity::Day,
            first_day,
            30,
            &pushed_30,
        ),
        (
            if own {
                "Objects you polled, last 30 days"
            } else {
                "Objects polled, last 30 days"
            },
            Granularity::Day,
            first_day,
            30,
            &polled_30,
        ),
    ];
    let refused_total: u64 = pushed_30.iter().map(|b| b.refused).sum();
    let content = html! {
        h1 { "Overview" }
        p.lead {
            @if own {
                "What " (viewer.member().name) " may read, and the activity in it."
            } @else {
                "The whole exchange, as its operator sees it."
            }
        }
        section.card {
            h2 { "Collections" }
            @if collections.is_empty() {
                p { "No collection is shared with you yet. Ask the operator for a grant." }
            } @else {
                div.scroll {
                    table #collections {
                        thead { tr {
                            th { "Tier" } th { "Collection" } th.num { "Objects" } th.num { "Versions" } th { "Most common types" }
                        } }
                        tbody {
                            @for c in &collections {
                                tr {
                                    td { (layout::tier_badge(c.collection.tier)) }
                                    td {
                                        a href=(layout::collection_url(c.collection.id)) { (c.collection.title) }
                                        @if let Some(alias) = &c.collection.alias { " " span.note { "(" (alias) ")" } }
                                    }
                                    td.num { (number(c.objects)) }
                                    td.num { (number(c.versions)) }
                                    td {
                                        @for t in c.types.iter().filter(|t| t.objects > 0).take(5) {
                                            span.badge.type { (t.object_type) " " (number(t.objects)) } " "
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Activity by sector" }
        div.grid {
            @for (title, granularity, first, periods, buckets) in &charts {
                section.card.chart {
                    h3 { (title) }
                    (svg::bar_chart(&BarChart {
                        title,
                        granularity: *granularity,
                        first: *first,
                        periods: *periods,
                        buckets,
                        palette: &palette,
                    }))
                }
            }
        }
        section.card {
            h2 { @if own { "Your refused objects by reason, last 30 days" } @else { "Refused objects by reason, last 30 days" } }
            @if refusals.is_empty() {
                p.note { "Nothing was refused." }
            } @else {
                table #refusals {
                    thead { tr { th { "Reason" } th.num { "Objects" } } }
                    tbody {
                        @for r in &refusals {
                            tr { td { (r.reason) } td.num { (number(r.objects)) } }
                        }
                    }
                }
                @if !own {
                    p.note { (number(refused_total)) " objects refused in all over 30 days." }
                }
            }
        }
    };
    Ok(layout::live_page(
        viewer,
        Nav::Overview,
        "Overview",
        "/console/live",
        content,
    ))
}
