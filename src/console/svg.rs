//! Charts and the relationship graph, drawn on the server as inline SVG:
//! no script, nothing fetched, every label escaped like any other text.
//! Colours come from the stylesheet by class, so the CSP needs no inline style.

use std::collections::{BTreeMap, HashMap};
use std::f64::consts::PI;

use maud::{Markup, html};

use super::layout::{clip, number, object_url};
use crate::exchange::console::Graph;
use crate::store::{ActivityBucket, Granularity};

/// A colour class per sector, the same in every chart of a page.
pub struct Palette(BTreeMap<String, usize>);

/// Colour classes in the stylesheet (`.s0` ... `.s7`).
const COLOURS: usize = 8;

impl Palette {
    pub fn new<'a>(sectors: impl IntoIterator<Item = &'a str>) -> Palette {
        let mut names: Vec<&str> = sectors.into_iter().collect();
        names.sort_unstable();
        names.dedup();
        Palette(
            names
                .into_iter()
                .enumerate()
                .map(|(i, s)| (s.to_string(), i % COLOURS))
                .collect(),
        )
    }

    fn class(&self, sector: &str) -> String {
        format!("s{}", self.0.get(sector).copied().unwrap_or(0))
    }

    fn order(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
}

pub fn sector_name(sector: &str) -> &str {
    if sector.is_empty() { "(none)" } else { sector }
}

/// Stacked bars per period and sector of activity buckets.
pub struct BarChart<'a> {
    pub title: &'a str,
    pub granularity: Granularity,
    /// The first period drawn and how many.
    pub first: i64,
    pub periods: usize,
    pub buckets: &'a [ActivityBucket],
    pub palette: &'a Palette,
}

const W: f64 = 720.0;
const H: f64 = 200.0;
const LEFT: f64 = 48.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 22.0;

/// The smallest 1, 2 or 5 times a power of ten at or above `n`.
fn nice_ceiling(n: u64) -> u64 {
    let mut step = 1u64;
    loop {
        for m in [1, 2, 5] {
            if step.saturating_mul(m) >= n {
                return step.saturating_mul(m);
            }
        }
        step = step.saturating_mul(10);
    }
}

fn period_label(granularity: Granularity, period: i64) -> String {
    let t = crate::model::Timestamp::from_micros(period.saturating_mul(granularity.micros()));
    let dt = t.to_datetime();
    match granularity {
        Granularity::Hour => dt.format("%H:00").to_string(),
        Granularity::Day => dt.format("%m-%d").to_string(),
    }
}

fn period_title(granularity: Granularity, period: i64) -> String {
    let t = crate::model::Timestamp::from_micros(period.saturating_mul(granularity.micros()));
    let dt = t.to_datetime();
    match granularity {
        Granularity::Hour => dt.format("%Y-%m-%d %H:00Z").to_string(),
        Granularity::Day => dt.format("%Y-%m-%d").to_string(),
    }
}

pub fn bar_chart(chart: &BarChart<'_>) -> Markup {
    let mut by_period: BTreeMap<i64, BTreeMap<&str, u64>> = BTreeMap::new();
    for b in chart.buckets {
        if b.period >= chart.first && b.period < chart.first + chart.periods as i64 {
            *by_period
                .entry(b.period)
                .or_default()
                .entry(b.sector.as_str())
                .or_default() += b.objects;
        }
    }
    let max = by_period
        .values()
        .map(|s| s.values().sum::<u64>())
        .max()
        .unwrap_or(0);
    let top = nice_ceiling(max.max(1));
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let slot = plot_w / chart.periods.max(1) as f64;
    let bar_w = (slot * 0.75).max(1.0);
    let y = |v: u64| TOP + plot_h - plot_h * v as f64 / top as f64;
    let label_every = match chart.granularity {
        Granularity::Hour => 6,
        Granularity::Day => 5,
    };
    let sectors: Vec<&str> = chart
        .palette
        .order()
        .filter(|s| by_period.values().any(|p| p.contains_key(s)))
        .collect();
    html! {
        svg.chart viewBox={ "0 0 " (W) " " (H) } role="img" aria-label=(chart.title) {
            title { (chart.title) }
            @for tick in [0, top / 2, top] {
                line.axis x1=(LEFT) x2=(W - RIGHT) y1=(fmt(y(tick))) y2=(fmt(y(tick))) {}
                text.tick x=(LEFT - 4.0) y=(fmt(y(tick) + 3.0)) text-anchor="end" { (number(tick)) }
            }
            @for i in 0..chart.periods {
                @let period = chart.first + i as i64;
                @let x = LEFT + slot * i as f64 + (slot - bar_w) / 2.0;
                @for (class, y1, height, v, sector) in segments(by_period.get(&period), chart.palette, &y) {
                    rect class=(class) x=(fmt(x)) y=(fmt(y1)) width=(fmt(bar_w)) height=(fmt(height)) {
                        title { (period_title(chart.granularity, period)) " · " (sector_name(sector)) ": " (number(v)) }
                    }
                }
                @if i % label_every == 0 || i + 1 == chart.periods {
                    text.tick x=(fmt(LEFT + slot * i as f64 + slot / 2.0)) y=(fmt(H - 6.0)) text-anchor="middle" {
                        (period_label(chart.granularity, period))
                    }
                }
            }
            @if max == 0 {
                text.empty x=(fmt(LEFT + plot_w / 2.0)) y=(fmt(TOP + plot_h / 2.0)) text-anchor="middle" { "No activity" }
            }
        }
        @if !sectors.is_empty() {
            ul.legend {
                @for sector in &sectors {
                    li { span class={ "swatch " (chart.palette.class(sector)) } {} (sector_name(sector)) }
                }
            }
            details {
                summary { "As a table" }
                div.scroll {
                    table {
                        thead { tr { th { "Period" } @for s in &sectors { th.num { (sector_name(s)) } } } }
                        tbody {
                            @for (period, stack) in by_period.iter().rev() {
                                tr {
                                    td { (period_title(chart.granularity, *period)) }
                                    @for s in &sectors { td.num { (number(stack.get(s).copied().unwrap_or(0))) } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// One bar's segments, bottom up in palette order: (class, top, height, value, sector).
fn segments<'a>(
    stack: Option<&BTreeMap<&'a str, u64>>,
    palette: &'a Palette,
    y: &impl Fn(u64) -> f64,
) -> Vec<(String, f64, f64, u64, &'a str)> {
    let Some(stack) = stack else {
        return Vec::new();
    };
    let mut base = 0u64;
    palette
        .order()
        .filter_map(|sector| {
            let v = *stack.get(sector)?;
            let (y0, y1) = (y(base), y(base + v));
            base += v;
            Some((palette.class(sector), y1, (y0 - y1).max(0.5), v, sector))
        })
        .collect()
}

fn fmt(v: f64) -> String {
    format!("{v:.1}")
}

/// Types with a colour of their own in the stylesheet.
const STYLED_TYPES: &[&str] = &[
    "indicator",
    "campaign",
    "malware",
    "threat-actor",
    "intrusion-set",
    "attack-pattern",
    "identity",
    "location",
    "sighting",
    "observed-data",
    "vulnerability",
    "infrastructure",
    "tool",
    "report",
    "grouping",
    "note",
    "course-of-action",
    "incident",
];

const GW: f64 = 900.0;
const GH: f64 = 640.0;
const RING: [f64; 3] = [0.0, 150.0, 262.0];
const RADIUS: [f64; 3] = [26.0, 17.0, 13.0];

fn ring(hop: u8) -> usize {
    (hop as usize).min(2)
}

/// The neighbourhood drawn radially: the object in the middle, objects one
/// step away on the inner ring, two steps on the outer ring near the
/// neighbour that leads to them. The layout depends only on the graph, so
/// the same data always draws the same picture. Each drawn object that the
/// viewer may read is a link to its page.
pub fn graph(g: &Graph) -> Markup {
    html! {
        (drawing(g))
        ul.legend {
            @for t in legend(g) {
                li {
                    svg.dot viewBox="0 0 10 10" aria-hidden="true" { g class=(type_class(Some(&t))) { circle cx="5" cy="5" r="5" {} } }
                    (t)
                }
            }
        }
    }
}

/// The types drawn, in order, for the legend.
fn legend(g: &Graph) -> Vec<String> {
    let mut types: Vec<String> = g
        .nodes
        .iter()
        .filter_map(|n| n.summary.as_ref().map(|s| s.object_type.clone()))
        .collect();
    types.sort();
    types.dedup();
    types
}

fn type_class(object_type: Option<&str>) -> String {
    match object_type {
        Some(t) if STYLED_TYPES.contains(&t) => format!("t-{t}"),
        Some(_) => "t-other".into(),
        None => "unknown".into(),
    }
}

fn drawing(g: &Graph) -> Markup {
    let centre = (GW / 2.0, GH / 2.0);
    let key = |i: usize| {
        let n = &g.nodes[i];
        (
            n.summary
                .as_ref()
                .map(|s| s.object_type.clone())
                .unwrap_or_default(),
            n.id.clone(),
        )
    };
    let mut inner: Vec<usize> = (0..g.nodes.len())
        .filter(|&i| g.nodes[i].hop == 1)
        .collect();
    inner.sort_by_key(|&i| key(i));
    let index_of: HashMap<&str, usize> = g
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.id.as_str(), i))
        .collect();
    let inner_rank: HashMap<usize, usize> =
        inner.iter().enumerate().map(|(r, &i)| (i, r)).collect();
    let parent_rank = |i: usize| {
        let id = g.nodes[i].id.as_str();
        g.edges
            .iter()
            .filter_map(|e| {
                let other = if e.source == id {
                    &e.target
                } else if e.target == id {
                    &e.source
                } else {
                    return None;
                };
                index_of
                    .get(other.as_str())
                    .and_then(|j| inner_rank.get(j))
                    .copied()
            })
            .min()
            .unwrap_or(usize::MAX)
    };
    let mut outer: Vec<usize> = (0..g.nodes.len())
        .filter(|&i| g.nodes[i].hop >= 2)
        .collect();
    outer.sort_by_key(|&i| (parent_rank(i), key(i)));
    let mut pos: Vec<(f64, f64)> = vec![centre; g.nodes.len()];
    let at = |angle: f64, r: f64| (centre.0 + r * angle.cos(), centre.1 + r * angle.sin());
    let inner_angle = |rank: usize| -PI / 2.0 + 2.0 * PI * rank as f64 / inner.len().max(1) as f64;
    // A crowded ring alternates two radii so neighbouring labels do not meet.
    let crowded = |n: usize| n > 12;
    for (rank, &i) in inner.iter().enumerate() {
        let r = if crowded(inner.len()) && rank % 2 == 1 {
            RING[1] + 34.0
        } else {
            RING[1]
        };
        pos[i] = at(inner_angle(rank), r);
    }
    // Each neighbour owns an equal slice of the outer ring around its own
    // angle; the objects it leads to share that slice.
    let slice = 2.0 * PI / inner.len().max(1) as f64;
    let mut k = 0;
    while k < outer.len() {
        let parent = parent_rank(outer[k]);
        let group: Vec<usize> = outer[k..]
            .iter()
            .copied()
            .take_while(|&i| parent_rank(i) == parent)
            .collect();
        let base = if parent == usize::MAX {
            -PI / 2.0
        } else {
            inner_angle(parent)
        };
        let width = if parent == usize::MAX {
            2.0 * PI
        } else {
            slice * 0.9
        };
        for (j, &i) in group.iter().enumerate() {
            let offset = width * ((j as f64 + 0.5) / group.len() as f64 - 0.5);
            let r = if crowded(outer.len()) && j % 2 == 1 {
                RING[2] + 20.0
            } else {
                RING[2]
            };
            pos[i] = at(base + offset, r);
        }
        k += group.len();
    }
    // Only as tall as the rings in use.
    let extent = pos
        .iter()
        .map(|(_, y)| (y - centre.1).abs())
        .fold(0.0f64, f64::max)
        + 60.0;
    let top = (centre.1 - extent.max(100.0)).max(0.0);
    let label_edges = g.edges.len() <= 24;
    let label_len = |hop: u8| {
        let n = if hop == 1 { inner.len() } else { outer.len() };
        match (hop, n) {
            (0, _) => 28,
            (_, 0..=12) => 22,
            (_, 13..=16) => 14,
            // Too many to label: the tooltip, the legend and the table say what they are.
            _ => 0,
        }
    };
    html! {
        svg.graph viewBox={ "0 " (fmt(top)) " " (GW) " " (fmt(GH - 2.0 * top)) } role="img" aria-label="Relationship graph" {
            title { "Relationships and sightings around this object" }
            defs {
                marker #arrow viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse" {
                    path.arrow d="M 0 0 L 10 5 L 0 10 z" {}
                }
            }
            @for e in &g.edges {
                @if let (Some(&s), Some(&t)) = (index_of.get(e.source.as_str()), index_of.get(e.target.as_str())) {
                    @let ((x1, y1), (x2, y2)) = (pos[s], pos[t]);
                    @let len = ((x2 - x1).powi(2) + (y2 - y1).powi(2)).sqrt().max(1.0);
                    @let (rs, rt) = (RADIUS[ring(g.nodes[s].hop)], RADIUS[ring(g.nodes[t].hop)] + 2.0);
                    @let (ux, uy) = ((x2 - x1) / len, (y2 - y1) / len);
                    line.edge x1=(fmt(x1 + ux * rs)) y1=(fmt(y1 + uy * rs)) x2=(fmt(x2 - ux * rt)) y2=(fmt(y2 - uy * rt)) marker-end="url(#arrow)" {
                        title { (e.edge_type) }
                    }
                    @if label_edges {
                        a href=(object_url(e.collection, &e.via)) {
                            text.edge-label x=(fmt((x1 + x2) / 2.0)) y=(fmt((y1 + y2) / 2.0 - 3.0)) { (clip(&e.edge_type, 24)) }
                        }
                    }
                }
            }
            @for (i, node) in g.nodes.iter().enumerate() {
                @let (x, y) = pos[i];
                @let r = RADIUS[ring(node.hop)];
                @let object_type = node.summary.as_ref().map(|s| s.object_type.as_str());
                @let class = format!("node {}{}", type_class(object_type), if node.hop == 0 { " centre" } else { "" });
                @let label = node.summary.as_ref().and_then(|s| s.name.clone()).unwrap_or_else(|| node.id.split("--").next().unwrap_or("").to_string());
                @let shape = html! {
                    title {
                        (object_type.unwrap_or("not in a collection you can read")) ": "
                        (node.summary.as_ref().and_then(|s| s.name.as_deref()).unwrap_or(&node.id))
                    }
                    circle cx=(fmt(x)) cy=(fmt(y)) r=(r) {}
                    @if label_len(node.hop) > 0 {
                        text.node-label x=(fmt(x)) y=(fmt(y + r + 12.0)) { (clip(&label, label_len(node.hop))) }
                    }
                    @if let (Some(t), 22..) = (object_type, label_len(node.hop)) {
                        text.node-type x=(fmt(x)) y=(fmt(y + r + 23.0)) { (t) }
                    }
                };
                @match &node.summary {
                    Some(s) if node.hop > 0 => {
                        a class=(class) href=(object_url(s.collection, &s.id)) data-id=(node.id) { (shape) }
                    }
                    _ => { g class=(class) data-id=(node.id) { (shape) } }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::console::GraphNode;
    use crate::model::{CollectionId, Timestamp};
    use crate::store::{Edge, ObjectSummary};

    #[test]
    fn ceilings_are_round() {
        assert_eq!(nice_ceiling(1), 1);
        assert_eq!(nice_ceiling(3), 5);
        assert_eq!(nice_ceiling(7), 10);
        assert_eq!(nice_ceiling(1234), 2000);
        assert_eq!(nice_ceiling(u64::MAX), u64::MAX);
    }

    fn summary(c: CollectionId, id: &str, name: &str) -> ObjectSummary {
        ObjectSummary {
            collection: c,
            id: id.into(),
            object_type: id.split("--").next().unwrap().into(),
            date_added: Timestamp::from_micros(0),
            version: "v".into(),
            spec_version: "2.1".into(),
            name: Some(name.into()),
            created_by: None,
            labels: vec![],
        }
    }

    #[test]
    fn the_graph_links_readable_neighbours_and_escapes_names() {
        let c = CollectionId::new_random();
        let g = Graph {
            nodes: vec![
                GraphNode {
                    id: "indicator--1".into(),
                    hop: 0,
                    summary: Some(summary(c, "indicator--1", "<script>alert(1)</script>")),
                },
                GraphNode {
                    id: "campaign--2".into(),
                    hop: 1,
                    summary: Some(summary(c, "campaign--2", "Harbour \"Phish\"")),
                },
                GraphNode {
                    id: "identity--3".into(),
                    hop: 2,
                    summary: None,
                },
            ],
            edges: vec![
                Edge {
                    source: "indicator--1".into(),
                    target: "campaign--2".into(),
                    edge_type: "indicates".into(),
                    via: "relationship--9".into(),
                    collection: c,
                },
                Edge {
                    source: "campaign--2".into(),
                    target: "identity--3".into(),
                    edge_type: "targets".into(),
                    via: "relationship--8".into(),
                    collection: c,
                },
            ],
            truncated: false,
        };
        let svg = graph(&g).into_string();
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(svg.contains("&lt;script&gt;"));
        assert!(svg.contains(&format!(
            "href=\"/console/collections/{c}/objects/campaign--2/\""
        )));
        assert!(svg.contains(&format!(
            "href=\"/console/collections/{c}/objects/relationship--9/\""
        )));
        assert!(
            !svg.contains("objects/identity--3/"),
            "unreadable objects are not links"
        );
        assert!(svg.contains("Harbour &quot;Phish&quot;"));
        assert_eq!(svg, graph(&g).into_string(), "the layout is deterministic");
    }

    #[test]
    fn bars_stack_by_sector_and_escape_sector_names() {
        let buckets = vec![
            ActivityBucket {
                period: 10,
                sector: "rail".into(),
                objects: 5,
                refused: 0,
                requests: 1,
            },
            ActivityBucket {
                period: 10,
                sector: "<b>ship</b>".into(),
                objects: 3,
                refused: 0,
                requests: 1,
            },
        ];
        let palette = Palette::new(buckets.iter().map(|b| b.sector.as_str()));
        let svg = bar_chart(&BarChart {
            title: "Pushed",
            granularity: Granularity::Hour,
            first: 0,
            periods: 24,
            buckets: &buckets,
            palette: &palette,
        })
        .into_string();
        assert_eq!(svg.matches("<rect").count(), 2);
        assert!(svg.contains("&lt;b&gt;ship&lt;/b&gt;"));
        assert!(!svg.contains("<b>"));
    }
}
