//! The coverage report's charts and its standalone page, built with maud
//! like every other page: musicark-publish computes the figures
//! ([`Coverage`]), this module draws them. The dashboard, the coverage
//! page, `report coverage --html`, `pack --report` and the demo all show
//! the same drawings.

use maud::{DOCTYPE, Markup, PreEscaped, html};

use musicark_follow::view::{FederatedCoverage, FederatedTailPoint};
use musicark_publish::coverage::{Coverage, TailPoint, share};
use musicark_store::units::size;
use musicark_swarm::health::{Health, Summary};

const GREEN: &str = "#2e7d32";
const GREY: &str = "#b0bec5";
/// Held by followed publishers only.
const BLUE: &str = "#1565c0";

/// A share as a percentage, `<0.1 %` for the smallest.
pub fn pct(x: f64) -> String {
    if x > 0.0 && x < 0.001 {
        "<0.1 %".into()
    } else {
        format!("{:.1} %", x * 100.0)
    }
}

/// A coordinate, to a tenth.
fn c(v: f64) -> String {
    format!("{v:.1}")
}

/// The long-tail curve: cumulative share of listens against rank (log
/// scale), the preserved part filled.
pub fn long_tail(points: &[TailPoint]) -> Markup {
    let line: Vec<(u64, f64)> = points.iter().map(|p| (p.rank, p.listens_share)).collect();
    let kept: Vec<f64> = points.iter().map(|p| p.preserved_share).collect();
    tail_chart(&line, &[(GREEN, kept)])
}

/// The federated long tail: what the archive holds (green) and what only
/// followed publishers hold (blue), stacked under the curve.
pub fn federated_long_tail(points: &[FederatedTailPoint]) -> Markup {
    let line: Vec<(u64, f64)> = points.iter().map(|p| (p.rank, p.listens_share)).collect();
    tail_chart(
        &line,
        &[
            (GREEN, points.iter().map(|p| p.ours_share).collect()),
            (BLUE, points.iter().map(|p| p.elsewhere_share).collect()),
        ],
    )
}

/// The curve of `line` (rank, share) on a log rank axis, with `layers`
/// (colour, share at each point) stacked from the bottom as filled areas.
fn tail_chart(line: &[(u64, f64)], layers: &[(&str, Vec<f64>)]) -> Markup {
    let (w, h, left, bottom, top, right) = (720.0, 340.0, 56.0, 40.0, 16.0, 16.0);
    let pw = w - left - right;
    let ph = h - top - bottom;
    let n = line.last().map_or(1, |p| p.0).max(2) as f64;
    let x = |rank: u64| left + pw * (rank.max(1) as f64).ln() / n.ln();
    let y = |s: f64| top + ph * (1.0 - s.clamp(0.0, 1.0));
    let mut decades = Vec::new();
    let mut decade = 1u64;
    while (decade as f64) <= n {
        let label = match decade {
            d if d >= 1_000_000 => format!("{}M", d / 1_000_000),
            d if d >= 1_000 => format!("{}k", d / 1_000),
            d => d.to_string(),
        };
        decades.push((x(decade), label));
        decade = decade.saturating_mul(10);
    }
    let mut below = vec![0.0; line.len()];
    let mut areas = Vec::new();
    if !line.is_empty() {
        for (colour, shares) in layers {
            let above: Vec<f64> = below.iter().zip(shares).map(|(b, s)| b + s).collect();
            let mut d = format!("M{:.1},{:.1}", x(1), y(below[0]));
            for ((rank, _), s) in line.iter().zip(&above) {
                d.push_str(&format!(" L{:.1},{:.1}", x(*rank), y(*s)));
            }
            for ((rank, _), s) in line.iter().zip(&below).rev() {
                d.push_str(&format!(" L{:.1},{:.1}", x(*rank), y(*s)));
            }
            d.push_str(" Z");
            areas.push((*colour, d));
            below = above;
        }
    }
    let curve: Vec<String> = line
        .iter()
        .map(|(rank, s)| format!("{:.1},{:.1}", x(*rank), y(*s)))
        .collect();
    html! {
        svg xmlns="http://www.w3.org/2000/svg" viewBox={"0 0 " (w) " " (h)} role="img" aria-label="Long-tail curve" {
            rect width=(w) height=(h) fill="#fff" {}
            @for k in 0..=4 {
                @let v = k as f64 / 4.0;
                line x1=(left) x2=(w - right) y1=(c(y(v))) y2=(c(y(v))) stroke="#eceff1" {}
                text x=(left - 6.0) y=(c(y(v) + 4.0)) font-size="11" text-anchor="end" fill="#455a64" { (format!("{:.0} %", v * 100.0)) }
            }
            @for (x0, label) in &decades {
                line x1=(c(*x0)) x2=(c(*x0)) y1=(top) y2=(top + ph) stroke="#eceff1" {}
                text x=(c(*x0)) y=(h - bottom + 16.0) font-size="11" text-anchor="middle" fill="#455a64" { (label) }
            }
            @for (colour, d) in &areas {
                path d=(d) fill=(colour) fill-opacity="0.35" stroke=(colour) stroke-width="1.5" {}
            }
            @if !curve.is_empty() {
                polyline points=(curve.join(" ")) fill="none" stroke="#263238" stroke-width="2" {}
            }
            text x=(left + pw / 2.0) y=(h - 4.0) font-size="12" text-anchor="middle" fill="#263238" {
                "recordings by rank (most listened first, log scale)"
            }
            text x="14" y=(top + ph / 2.0) font-size="12" fill="#263238" transform={"rotate(-90 14 " (top + ph / 2.0) ")"} text-anchor="middle" {
                "share of all listens"
            }
        }
    }
}

/// Torrents by health class: one stacked bar in the anchor's colours,
/// with the legend [`Health`] gives (its thresholds live there only).
pub fn health(h: &Summary) -> Markup {
    let (w, left, right) = (720.0, 16.0, 16.0);
    let total = (h.green + h.amber + h.red).max(1) as f64;
    let pw = w - left - right;
    let parts = [
        (h.green, Health::Green),
        (h.amber, Health::Amber),
        (h.red, Health::Red),
    ];
    let mut x = left;
    let mut segments = Vec::new();
    for (n, class) in parts {
        let width = pw * n as f64 / total;
        segments.push((x, width, n, class));
        x += width;
    }
    let mut lx = left;
    let mut legends = Vec::new();
    for (n, class) in parts {
        let label = format!("{} ({n})", class.legend());
        legends.push((lx, class, label.clone()));
        lx += 16.0 + 6.3 * label.chars().count() as f64 + 20.0;
    }
    html! {
        svg xmlns="http://www.w3.org/2000/svg" viewBox={"0 0 " (w) " 78"} role="img" aria-label="Torrents by health" {
            rect width=(w) height="78" fill="#fff" {}
            @for (x, width, n, class) in &segments {
                @if *n > 0 {
                    rect x=(c(*x)) y="10" width=(c(*width)) height="28" fill=(class.colour()) {}
                    text x=(c(x + width / 2.0)) y="29" font-size="13" fill="#fff" text-anchor="middle" { (n) }
                }
            }
            @if h.green + h.amber + h.red == 0 {
                rect x=(left) y="10" width=(pw) height="28" fill="#eceff1" {}
            }
            @for (lx, class, label) in &legends {
                rect x=(c(*lx)) y="52" width="12" height="12" fill=(class.colour()) {}
                text x=(c(lx + 16.0)) y="62" font-size="12" fill="#263238" { (label) }
            }
        }
    }
}

/// One bar of [`bars`]: a label, a total, the preserved part, a note.
pub struct Bar {
    pub label: String,
    pub total: f64,
    pub kept: f64,
    pub note: String,
}

/// Horizontal bars: for each row, a total and a preserved part.
pub fn bars(rows: &[Bar], label: &str) -> Markup {
    let row_h = 26.0;
    let (w, left, right) = (720.0, 150.0, 150.0);
    let h = row_h * rows.len().max(1) as f64 + 10.0;
    let max = rows.iter().map(|r| r.total).fold(0.0, f64::max).max(1e-12);
    let pw = w - left - right;
    html! {
        svg xmlns="http://www.w3.org/2000/svg" viewBox={"0 0 " (w) " " (h)} role="img" aria-label=(label) {
            rect width=(w) height=(h) fill="#fff" {}
            @for (i, b) in rows.iter().enumerate() {
                @let y0 = 5.0 + i as f64 * row_h;
                text x=(left - 8.0) y=(c(y0 + 13.0)) font-size="12" text-anchor="end" fill="#263238" { (b.label) }
                rect x=(left) y=(c(y0 + 2.0)) width=(c(pw * b.total / max)) height="16" fill=(GREY) {}
                rect x=(left) y=(c(y0 + 2.0)) width=(c(pw * b.kept / max)) height="16" fill=(GREEN) {}
                text x=(c(left + pw * b.total / max + 6.0)) y=(c(y0 + 13.0)) font-size="11" fill="#455a64" { (b.note) }
            }
        }
    }
}

/// One bar per popularity band with listens: all listens, those
/// preserved, and the share.
pub fn band_bars(c: &Coverage) -> Vec<Bar> {
    c.by_band
        .iter()
        .filter(|b| b.listens > 0)
        .map(|b| Bar {
            label: b.label.clone(),
            total: b.listens as f64,
            kept: b.listens_preserved as f64,
            note: format!(
                "{} of listens",
                pct(share(b.listens_preserved as f64, b.listens as f64))
            ),
        })
        .collect()
}

/// One bar per tier: its bytes and files.
pub fn tier_bars(c: &Coverage) -> Vec<Bar> {
    c.by_tier
        .iter()
        .map(|t| Bar {
            label: t.tier.clone(),
            total: t.bytes as f64,
            kept: t.bytes as f64,
            note: format!("{} · {} files", size(t.bytes), t.files),
        })
        .collect()
}

/// The standalone report's style (the page carries no external resource).
const STYLE: &str = r#"
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:800px;padding:24px;color:#263238;background:#fafafa}
h1{font-size:1.6em;margin:0 0 4px} h2{font-size:1.15em;margin:32px 0 8px} .sub{color:#607d8b;margin:0 0 20px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(170px,1fr));gap:12px}
.card{background:#fff;border:1px solid #e0e0e0;border-radius:8px;padding:12px 14px} .card b{display:block;font-size:1.7em;color:#2e7d32}
.card span{color:#607d8b;font-size:.9em} svg{width:100%;height:auto;border:1px solid #e0e0e0;border-radius:8px;background:#fff}
table{border-collapse:collapse;width:100%;background:#fff;font-size:.92em} th,td{border-bottom:1px solid #eceff1;padding:6px 8px;text-align:right} th:first-child,td:first-child{text-align:left}
.legend span{display:inline-block;margin-right:16px;font-size:.9em} .sw{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:-1px}
"#;

/// What the green and grey of the bars mean.
pub fn legend() -> Markup {
    html! {
        p.legend {
            span { i.sw style={"background:" (GREEN)} {} "preserved" }
            span { i.sw style={"background:" (GREY)} {} "not preserved" }
        }
    }
}

/// The whole coverage report as one HTML page with no external resources
/// (`report coverage --html`, `pack --report`, the demo).
pub fn coverage_page(c: &Coverage) -> String {
    let title = format!("Coverage — {}", c.archive);
    let bands = band_bars(c);
    let tiers = tier_bars(c);
    let groups: Vec<(&str, Vec<Bar>)> = [
        ("Coverage by decade of first release", &c.by_decade),
        ("Coverage by artist's country", &c.by_country),
    ]
    .into_iter()
    .filter(|(_, g)| !g.is_empty())
    .map(|(title, groups)| {
        let rows = groups
            .iter()
            .map(|g| Bar {
                label: g.key.clone(),
                total: g.recordings as f64,
                kept: g.preserved as f64,
                note: format!(
                    "{} / {} ({})",
                    g.preserved,
                    g.recordings,
                    pct(share(g.preserved as f64, g.recordings as f64))
                ),
            })
            .collect();
        (title, rows)
    })
    .collect();
    let r = &c.rights;
    let body = html! {
        p.sub { "Generated " (c.generated_at) " · " (c.recordings) " recordings in the catalogue · " (c.listens) " listens" }
        div.cards {
            div.card { b { (pct(c.share_listens_preserved)) } span { "of listens preserved (" (pct(c.share_listens_published)) " published)" } }
            div.card { b { (pct(c.share_recordings_preserved)) } span { "of recordings preserved (" (c.recordings_preserved) " of " (c.recordings) ")" } }
            div.card { b { (size(c.bytes_preserved)) } span { "preserved in " (c.files_preserved) " files" } }
            div.card { b { (size(c.bytes_published)) } span { "in " (c.torrents_active) " active torrents" } }
        }
        h2 { "The long tail" }
        p { "How listens spread over recordings: the line is the share of all listens held by the top recordings; the green area is the part the archive preserves." }
        (long_tail(&c.long_tail))
        @if !bands.is_empty() {
            h2 { "Listens preserved by popularity band" }
            (legend())
            (bars(&bands, "Listens by band"))
        }
        table {
            tr { th { "band" } th { "recordings" } th { "preserved" } th { "listens preserved" } th { "bytes" } }
            @for b in &c.by_band {
                tr {
                    td { (b.label) } td { (b.recordings) } td { (b.preserved) }
                    td { (pct(share(b.listens_preserved as f64, b.listens as f64))) } td { (size(b.bytes)) }
                }
            }
        }
        @if !tiers.is_empty() {
            h2 { "Bytes by tier" }
            (bars(&tiers, "Bytes by tier"))
        }
        @for (title, rows) in &groups {
            h2 { (title) }
            (legend())
            (bars(rows, title))
        }
        h2 { "Rights" }
        p {
            "Publication policy: " code { "[publish] allow = " (format!("{:?}", r.policy_allows)) } ". "
            "Publishable: " (r.files_publishable) " files (" (size(r.bytes_publishable)) "); "
            "withheld by rights: " (r.files_withheld) " files (" (size(r.bytes_withheld)) "); "
            (r.takedowns.len()) " takedowns and " (r.embargoes.len()) " embargoes in force; "
            (r.log_entries) " entries in the rights log."
        }
        table {
            tr { th { "Licence of preserved copies" } th { "Class" } th { "Files" } th { "Bytes" } th { "Published" } }
            @for row in &r.by_license {
                tr {
                    td { (row.key) } td { (row.class.map_or("", |c| c.as_str())) } td { (row.files) }
                    td { (size(row.bytes)) } td { (if row.publishable { "yes" } else { "no" }) }
                }
            }
        }
        p.sub style="margin-top:32px" {
            "musicark coverage report. Recordings are preserved when the archive holds a copy; published when that copy is in an active torrent of the list."
        }
    };
    standalone(&title, body)
}

/// What the green, blue and grey of the federated charts mean.
pub fn federated_legend() -> Markup {
    html! {
        p.legend {
            span { i.sw style={"background:" (GREEN)} {} "held by this archive" }
            span { i.sw style={"background:" (BLUE)} {} "held elsewhere only" }
            span { i.sw style={"background:" (GREY)} {} "held by nobody" }
        }
    }
}

/// The federated figures: cards, the long tail, the parts as bars, and
/// each publisher's share (the report page and the Federation page).
pub fn federated_body(fc: &FederatedCoverage) -> Markup {
    let parts = [
        ("held by this archive", &fc.ours, GREEN),
        ("held elsewhere only", &fc.only_elsewhere, BLUE),
        ("held by nobody", &fc.nobody, GREY),
    ];
    let bar = |what: &str, get: &dyn Fn(&musicark_follow::view::Part) -> f64| {
        let (w, hgt) = (720.0, 34.0);
        let mut x0 = 0.0;
        let rects: Vec<(f64, f64, &str, &str, f64)> = parts
            .iter()
            .map(|(label, p, colour)| {
                let width = w * get(p);
                let r = (x0, width, *label, *colour, get(p));
                x0 += width;
                r
            })
            .collect();
        html! {
            svg xmlns="http://www.w3.org/2000/svg" viewBox={"0 0 " (w) " " (hgt)} role="img" aria-label=(what) {
                @for (x, width, label, colour, v) in &rects {
                    rect x=(c(*x)) y="4" width=(c(*width)) height="26" fill=(colour) { title { (label) ": " (pct(*v)) } }
                }
            }
        }
    };
    let c = fc;
    html! {
        div.cards {
            div.card { b { (pct(c.anyone.share_listens)) } span { "of listens held by anyone (" (pct(c.anyone.share_recordings)) " of recordings)" } }
            div.card { b { (pct(c.ours.share_listens)) } span { "of listens held by this archive" } }
            div.card { b style={"color:" (BLUE)} { (pct(c.only_elsewhere.share_listens)) } span { "of listens held only by others" } }
            div.card { b style="color:#78909c" { (pct(c.nobody.share_listens)) } span { "of listens held by nobody (" (c.nobody.recordings) " recordings wanted)" } }
            div.card { b { (c.torrents_union) } span { "torrents in the union (" (size(c.bytes_union)) ", " (c.torrents_shared) " listed by two or more)" } }
        }
        h2 { "Listens and recordings, by who holds them" }
        (federated_legend())
        p { "Listens" }
        (bar("Listens by who holds them", &|p| p.share_listens))
        p { "Recordings" }
        (bar("Recordings by who holds them", &|p| p.share_recordings))
        h2 { "The long tail, federated" }
        p { "The line is the share of all listens held by the top recordings; green is what this archive holds, blue what only followed publishers hold." }
        (federated_long_tail(&c.long_tail))
        h2 { "Publishers" }
        table {
            tr { th { "publisher" } th { "list" } th { "active torrents" } th { "bytes" } th { "recordings held" } th { "held by it alone" } th { "synced" } }
            @for p in &c.publishers {
                tr {
                    td { (p.name) }
                    td { (p.format.map_or("—", |f| f.as_str())) @if !p.recording_level { " (torrents only)" } }
                    td { (p.torrents_active) } td { (size(p.bytes_active)) }
                    td { (p.recordings) } td { (p.recordings_only_here) }
                    td { (p.synced_at.as_deref().unwrap_or("—")) }
                }
            }
        }
        @for n in &c.notes {
            p.sub { "Note: " (n) }
        }
    }
}

/// `report coverage --federated --html`: one page, no external resources.
pub fn federated_page(c: &FederatedCoverage) -> String {
    let title = format!("Federated coverage — {}", c.archive);
    let body = html! {
        p.sub { "Generated " (c.generated_at) " · " (c.recordings) " recordings in the catalogue · " (c.listens) " listens · " (c.publishers.len()) " lists (ours included)" }
        (federated_body(c))
    };
    standalone(&title, body)
}

/// A report as one HTML page with no external resources: its title as
/// heading, then `body`.
fn standalone(title: &str, body: Markup) -> String {
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                h1 { (title) }
                (body)
            }
        }
    };
    let mut out = page.into_string();
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_in_charts_is_escaped() {
        let svg = bars(
            &[Bar {
                label: "<b>".into(),
                total: 1.0,
                kept: 0.5,
                note: "&".into(),
            }],
            "x\"y",
        )
        .into_string();
        assert!(svg.contains("&lt;b&gt;") && !svg.contains("<b>"), "{svg}");
        assert!(svg.contains("&amp;") && svg.contains("x&quot;y"), "{svg}");
    }

    #[test]
    fn the_health_bar_shows_each_class_with_its_legend() {
        let h = Summary {
            torrents: 6,
            red: 3,
            amber: 2,
            green: 1,
            ..Default::default()
        };
        let svg = health(&h).into_string();
        for class in Health::ALL {
            assert!(svg.contains(class.colour()), "{svg}");
            assert!(svg.contains(&class.legend()), "{svg}");
        }
        assert!(svg.contains("amber: 4 to 10 (2)"), "{svg}");
    }

    #[test]
    fn the_long_tail_draws_its_curve_and_axes() {
        let points = [
            TailPoint {
                rank: 1,
                listens_share: 0.5,
                preserved_share: 0.5,
            },
            TailPoint {
                rank: 1000,
                listens_share: 1.0,
                preserved_share: 0.6,
            },
        ];
        let svg = long_tail(&points).into_string();
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("<polyline") && svg.contains("<path"), "{svg}");
        assert!(svg.contains(">1k</text>"), "decade labels: {svg}");
        assert!(!long_tail(&[]).into_string().contains("<polyline"));
    }
}
