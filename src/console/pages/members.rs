//! Members and certificates (operator): sector, clearance, suspension, the
//! member × collection matrix of what the policy grants, and certificates
//! with the days left before they expire.

use actix_web::{HttpResponse, web};
use maud::{Markup, html};

use crate::console::layout::{self, Nav, clip, when};
use crate::console::{Console, ConsoleError, Viewer, blocking};
use crate::model::Timestamp;

/// Certificates expiring within this many days are highlighted.
pub const EXPIRY_WARNING_DAYS: i64 = 30;

pub async fn page(
    viewer: Viewer,
    console: web::Data<Console>,
) -> Result<HttpResponse, ConsoleError> {
    let operator = viewer.require_operator()?;
    let overview = blocking({
        let console = console.clone();
        move || Ok(console.exchange.members_overview(&operator)?)
    })
    .await?;
    let now = Timestamp::now();
    let days_left = |t: Timestamp| (t.micros() - now.micros()).div_euclid(86_400_000_000);
    let suspended: Vec<_> = overview.members.iter().filter(|m| m.suspended).collect();
    let mut certificates = overview.certificates.clone();
    certificates.sort_by_key(|c| (c.revoked_at.is_some(), c.not_after));
    let content: Markup = html! {
        h1 { "Members and certificates" }
        section.card {
            h2 { "Members" }
            div.scroll {
                table #members {
                    thead { tr { th { "Member" } th { "Sector" } th { "Clearance" } th { "Contact" } th { "Identity" } th { "State" } th { "Since" } } }
                    tbody {
                        @for m in &overview.members {
                            tr class=[m.suspended.then_some("suspended")] {
                                td { (m.name) }
                                td { (m.sector) }
                                td { (layout::tier_badge(m.clearance)) }
                                td { (m.contact.clone().unwrap_or_default()) }
                                td.mono.wrap { (m.identity_ref.clone().unwrap_or_default()) }
                                td.state {
                                    @if m.suspended { "suspended" } @else if m.is_operator { "operator" } @else { "active" }
                                }
                                td.mono { (when(m.created)) }
                            }
                        }
                    }
                }
            }
            @if !suspended.is_empty() {
                p.bad #suspended {
                    "Suspended: "
                    @for (i, m) in suspended.iter().enumerate() { @if i > 0 { ", " } (m.name) }
                }
            }
        }
        section.card {
            h2 { "Grants" }
            p.note { "What each member may do in each collection, as the server decides it for TAXII: "
                     "grants to the member or its sector, capped by its clearance." }
            div.scroll {
                table #grants {
                    thead { tr {
                        th { "Member" }
                        @for c in &overview.collections {
                            th { (clip(&c.title, 28)) br; (layout::tier_badge(c.tier)) }
                        }
                    } }
                    tbody {
                        @for (m, row) in overview.members.iter().zip(&overview.rights) {
                            tr class=[m.suspended.then_some("suspended")] {
                                td { (m.name) }
                                @for r in row {
                                    td {
                                        @match (r.read, r.write) {
                                            (true, true) => "read, write",
                                            (true, false) => "read",
                                            (false, true) => "write",
                                            (false, false) => "—",
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        section.card {
            h2 { "Certificates" }
            p.note { "Highlighted: expiring within " (EXPIRY_WARNING_DAYS) " days." }
            div.scroll {
                table #certificates {
                    thead { tr { th { "Member" } th { "Fingerprint (SHA-256)" } th { "Subject" } th { "Valid until" } th.num { "Days left" } th { "State" } } }
                    tbody {
                        @for c in &certificates {
                            @let days = days_left(c.not_after);
                            @let class = if c.revoked_at.is_some() { Some("revoked") }
                                else if days < 0 { Some("expired") }
                                else if days < EXPIRY_WARNING_DAYS { Some("expiring") }
                                else { None };
                            tr class=[class] {
                                td { (c.member) }
                                td.mono.wrap { (c.fingerprint) }
                                td { (c.subject.clone().unwrap_or_default()) }
                                td.mono { (when(c.not_after)) }
                                td.num.days { (days) }
                                td {
                                    @if let Some(at) = c.revoked_at { "revoked " (when(at)) }
                                    @else if days < 0 { "expired" }
                                    @else { "valid" }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(crate::console::html(layout::page(
        &viewer,
        Nav::Members,
        "Members",
        content,
    )))
}
