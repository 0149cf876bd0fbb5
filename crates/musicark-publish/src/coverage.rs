//! `musicark report coverage`: how much of the catalogue — and of what
//! people listen to — the archive holds, where the bytes go, and the long
//! tail; as plain data (`--json`) and as a self-contained HTML page with
//! SVG charts (`--html`), readable offline and printable.
//!
//! A recording is *preserved* when the archive holds a copy of it (the
//! `preserved` table), *published* when that copy is in an active pack.
//! Listens are the most any popularity source reports for a recording.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;

use musicark_store::units::size;
use musicark_store::{Db, Home};
use serde::Serialize;

use crate::PublishError;

#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct TierBytes {
    pub tier: String,
    pub files: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct BandCoverage {
    pub band: String,
    /// For people: `top 1 %`, `1–10 %`, `not linked`.
    pub label: String,
    /// The band's share of recordings (by listens rank), from the policy.
    pub top: f64,
    pub recordings: u64,
    pub preserved: u64,
    pub listens: i64,
    pub listens_preserved: i64,
    pub bytes: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct GroupCoverage {
    pub key: String,
    pub recordings: u64,
    pub preserved: u64,
}

/// A point of the long-tail curve: the top `rank` recordings by listens
/// hold `listens_share` of all listens, of which the archive preserves
/// `preserved_share` (both shares of all listens).
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct TailPoint {
    pub rank: u64,
    pub listens_share: f64,
    pub preserved_share: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct Coverage {
    pub archive: String,
    pub generated_at: String,
    pub recordings: u64,
    pub recordings_preserved: u64,
    pub recordings_published: u64,
    pub share_recordings_preserved: f64,
    pub share_recordings_published: f64,
    pub listens: i64,
    pub listens_preserved: i64,
    pub listens_published: i64,
    pub share_listens_preserved: f64,
    pub share_listens_published: f64,
    /// Preserved files, those not linked to a recording included.
    pub files_preserved: u64,
    pub bytes_preserved: u64,
    pub torrents_active: u64,
    pub bytes_published: u64,
    pub by_tier: Vec<TierBytes>,
    pub by_band: Vec<BandCoverage>,
    pub long_tail: Vec<TailPoint>,
    /// By the decade of first release, where known.
    pub by_decade: Vec<GroupCoverage>,
    /// By the country of the first credited artist, where known (most
    /// recordings first; the rest summed as `other`).
    pub by_country: Vec<GroupCoverage>,
    /// What the archive may publish: `musicark rights report`.
    pub rights: crate::rights::RightsReport,
}

fn share(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { 0.0 }
}

/// Ranks for the curve: 1, 2, 5, 10, 20, 50… up to `n`, and `n`.
fn tail_ranks(n: u64) -> Vec<u64> {
    let mut out = Vec::new();
    let mut decade = 1u64;
    'outer: loop {
        for m in [1, 2, 5] {
            let r = decade.saturating_mul(m);
            if r >= n {
                break 'outer;
            }
            out.push(r);
        }
        decade = decade.saturating_mul(10);
    }
    if n > 0 {
        out.push(n);
    }
    out
}

/// Compute the report.
pub fn coverage(home: &Home, db: &Db) -> Result<Coverage, PublishError> {
    let generated_at = musicark_store::clock::now_seconds();
    let preserved: HashSet<i64> = db
        .conn
        .prepare("SELECT DISTINCT recording_id FROM preserved WHERE recording_id IS NOT NULL")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let published: HashSet<i64> = db
        .conn
        .prepare(
            "SELECT DISTINCT f.recording_id FROM pack_files f JOIN packs p ON p.pack_id = f.pack_id \
             WHERE p.obsolete = 0 AND p.kind = 'audio' AND f.recording_id IS NOT NULL",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let listens_of = crate::listens_by_recording(db)?;
    // Every recording: (listens, id, decade, country).
    let mut all: Vec<(i64, i64)> = Vec::new();
    let mut decades: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let mut countries: HashMap<String, (u64, u64)> = HashMap::new();
    {
        let mut stmt = db.conn.prepare(
            "SELECT r.recording_id, substr(coalesce(r.first_release_date, \
                    (SELECT min(rl.date) FROM tracks t JOIN releases rl ON rl.release_id = t.release_id \
                      WHERE t.recording_id = r.recording_id)), 1, 3), \
                    (SELECT a.country FROM recording_artists ra JOIN artists a ON a.artist_id = ra.artist_id \
                      WHERE ra.recording_id = r.recording_id ORDER BY ra.position LIMIT 1) \
             FROM recordings r",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let id: i64 = r.get(0)?;
            let decade: Option<String> = r.get(1)?;
            let country: Option<String> = r.get(2)?;
            let kept = u64::from(preserved.contains(&id));
            all.push((listens_of.get(&id).copied().unwrap_or(0), id));
            if let Some(d) =
                decade.filter(|d| d.len() == 3 && d.bytes().all(|b| b.is_ascii_digit()))
            {
                let e = decades.entry(format!("{d}0s")).or_default();
                e.0 += 1;
                e.1 += kept;
            }
            if let Some(c) = country.filter(|c| !c.is_empty()) {
                let e = countries.entry(c).or_default();
                e.0 += 1;
                e.1 += kept;
            }
        }
    }
    all.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let n = all.len() as u64;
    let total_listens: i64 = all.iter().map(|a| a.0).sum();
    let listens_preserved: i64 = all
        .iter()
        .filter(|a| preserved.contains(&a.1))
        .map(|a| a.0)
        .sum();
    let listens_published: i64 = all
        .iter()
        .filter(|a| published.contains(&a.1))
        .map(|a| a.0)
        .sum();
    // The long tail.
    let mut long_tail = Vec::new();
    {
        let ranks = tail_ranks(n);
        let (mut cum, mut cum_kept) = (0i64, 0i64);
        let mut next = ranks.iter().peekable();
        for (i, (l, id)) in all.iter().enumerate() {
            cum += l;
            if preserved.contains(id) {
                cum_kept += l;
            }
            if next.peek().is_some_and(|&&r| r == i as u64 + 1) {
                next.next();
                long_tail.push(TailPoint {
                    rank: i as u64 + 1,
                    listens_share: share(cum as f64, total_listens as f64),
                    preserved_share: share(cum_kept as f64, total_listens as f64),
                });
            }
        }
    }
    // Bands, as the preserve policy cuts them.
    let bands = &home.config.preserve.bands;
    let mut by_band: Vec<BandCoverage> = bands
        .iter()
        .enumerate()
        .map(|(i, b)| BandCoverage {
            band: musicark_preserve::band_name(bands, Some(i)),
            label: match i {
                0 => format!("top {}", short_pct(b.top)),
                _ => format!(
                    "{}–{}",
                    short_pct(bands[i - 1].top).trim_end_matches(" %"),
                    short_pct(b.top)
                ),
            },
            top: b.top,
            recordings: 0,
            preserved: 0,
            listens: 0,
            listens_preserved: 0,
            bytes: 0,
        })
        .collect();
    let popularity = musicark_preserve::Popularity::load(db)?;
    let mut band_of: HashMap<i64, usize> = HashMap::new();
    for (l, id) in &all {
        if let (Some(b), _) = popularity.band(bands, *l) {
            let e = &mut by_band[b];
            e.recordings += 1;
            e.listens += l;
            if preserved.contains(id) {
                e.preserved += 1;
                e.listens_preserved += l;
            }
            band_of.insert(*id, b);
        }
    }
    // Bytes by tier and band.
    let mut tiers: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let (mut files_preserved, mut bytes_preserved) = (0u64, 0u64);
    let mut unlinked = BandCoverage {
        band: "unlinked".into(),
        label: "not linked".into(),
        top: 0.0,
        recordings: 0,
        preserved: 0,
        listens: 0,
        listens_preserved: 0,
        bytes: 0,
    };
    {
        let mut stmt = db
            .conn
            .prepare("SELECT tier, kbps, bytes, recording_id FROM preserved")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let tier: String = r.get(0)?;
            let kbps: Option<i64> = r.get(1)?;
            let bytes = r.get::<_, i64>(2)? as u64;
            let rec: Option<i64> = r.get(3)?;
            let label = match kbps {
                Some(k) if tier == "opus" => format!("opus {k} kbit/s"),
                _ => tier,
            };
            let e = tiers.entry(label).or_default();
            e.0 += 1;
            e.1 += bytes;
            files_preserved += 1;
            bytes_preserved += bytes;
            match rec.and_then(|id| band_of.get(&id)) {
                Some(&b) => by_band[b].bytes += bytes,
                None => {
                    unlinked.preserved += 1;
                    unlinked.bytes += bytes;
                }
            }
        }
    }
    if unlinked.preserved > 0 {
        by_band.push(unlinked);
    }
    let (torrents_active, bytes_published): (i64, i64) = db.conn.query_row(
        "SELECT count(*), coalesce(sum(data_size), 0) FROM packs WHERE obsolete = 0",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let mut by_country: Vec<GroupCoverage> = countries
        .into_iter()
        .map(|(key, (recordings, preserved))| GroupCoverage {
            key,
            recordings,
            preserved,
        })
        .collect();
    by_country.sort_by(|a, b| b.recordings.cmp(&a.recordings).then(a.key.cmp(&b.key)));
    if by_country.len() > 15 {
        let rest = by_country.split_off(15);
        by_country.push(GroupCoverage {
            key: "other".into(),
            recordings: rest.iter().map(|g| g.recordings).sum(),
            preserved: rest.iter().map(|g| g.preserved).sum(),
        });
    }
    Ok(Coverage {
        archive: home.config.archive.name.clone(),
        generated_at,
        recordings: n,
        recordings_preserved: all.iter().filter(|a| preserved.contains(&a.1)).count() as u64,
        recordings_published: all.iter().filter(|a| published.contains(&a.1)).count() as u64,
        share_recordings_preserved: share(
            all.iter().filter(|a| preserved.contains(&a.1)).count() as f64,
            n as f64,
        ),
        share_recordings_published: share(
            all.iter().filter(|a| published.contains(&a.1)).count() as f64,
            n as f64,
        ),
        listens: total_listens,
        listens_preserved,
        listens_published,
        share_listens_preserved: share(listens_preserved as f64, total_listens as f64),
        share_listens_published: share(listens_published as f64, total_listens as f64),
        files_preserved,
        bytes_preserved,
        torrents_active: torrents_active as u64,
        bytes_published: bytes_published as u64,
        by_tier: tiers
            .into_iter()
            .map(|(tier, (files, bytes))| TierBytes { tier, files, bytes })
            .collect(),
        by_band,
        long_tail,
        by_decade: decades
            .into_iter()
            .map(|(key, (recordings, preserved))| GroupCoverage {
                key,
                recordings,
                preserved,
            })
            .collect(),
        by_country,
        rights: crate::rights::report(home, db)?,
    })
}

// ---------------------------------------------------------------- HTML

/// Escape text for HTML and SVG.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `1 %`, `0.1 %`, `12.5 %`: a policy's band edge.
fn short_pct(x: f64) -> String {
    let v = (x * 100.0 * 1e4).round() / 1e4;
    format!("{v} %")
}

fn pct(x: f64) -> String {
    if x > 0.0 && x < 0.001 {
        "<0.1 %".into()
    } else {
        format!("{:.1} %", x * 100.0)
    }
}

const GREEN: &str = "#2e7d32";
const GREY: &str = "#b0bec5";

/// The long-tail curve: cumulative share of listens against rank (log
/// scale), the preserved part filled.
pub fn svg_long_tail(points: &[TailPoint]) -> String {
    let (w, h, left, bottom, top, right) = (720.0, 340.0, 56.0, 40.0, 16.0, 16.0);
    let pw = w - left - right;
    let ph = h - top - bottom;
    let n = points.last().map_or(1, |p| p.rank).max(2) as f64;
    let x = |rank: u64| left + pw * (rank.max(1) as f64).ln() / n.ln();
    let y = |s: f64| top + ph * (1.0 - s.clamp(0.0, 1.0));
    let mut s = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" role="img" aria-label="Long-tail curve"><rect width="{w}" height="{h}" fill="#fff"/>"##
    );
    for k in 0..=4 {
        let v = k as f64 / 4.0;
        let _ = write!(
            s,
            r##"<line x1="{left}" x2="{}" y1="{y0:.1}" y2="{y0:.1}" stroke="#eceff1"/><text x="{}" y="{:.1}" font-size="11" text-anchor="end" fill="#455a64">{:.0} %</text>"##,
            w - right,
            left - 6.0,
            y(v) + 4.0,
            v * 100.0,
            y0 = y(v)
        );
    }
    let mut decade = 1u64;
    while (decade as f64) <= n {
        let label = match decade {
            d if d >= 1_000_000 => format!("{}M", d / 1_000_000),
            d if d >= 1_000 => format!("{}k", d / 1_000),
            d => d.to_string(),
        };
        let _ = write!(
            s,
            r##"<line x1="{x0:.1}" x2="{x0:.1}" y1="{top}" y2="{}" stroke="#eceff1"/><text x="{x0:.1}" y="{}" font-size="11" text-anchor="middle" fill="#455a64">{label}</text>"##,
            top + ph,
            h - bottom + 16.0,
            x0 = x(decade)
        );
        decade = decade.saturating_mul(10);
    }
    if !points.is_empty() {
        let mut area = format!("M{:.1},{:.1}", x(1), y(0.0));
        for p in points {
            let _ = write!(area, " L{:.1},{:.1}", x(p.rank), y(p.preserved_share));
        }
        let _ = write!(
            area,
            " L{:.1},{:.1} Z",
            x(points[points.len() - 1].rank),
            y(0.0)
        );
        let _ = write!(
            s,
            r#"<path d="{area}" fill="{GREEN}" fill-opacity="0.35" stroke="{GREEN}" stroke-width="1.5"/>"#
        );
        let line: Vec<String> = points
            .iter()
            .map(|p| format!("{:.1},{:.1}", x(p.rank), y(p.listens_share)))
            .collect();
        let _ = write!(
            s,
            r##"<polyline points="{}" fill="none" stroke="#263238" stroke-width="2"/>"##,
            line.join(" ")
        );
    }
    let _ = write!(
        s,
        r##"<text x="{}" y="{}" font-size="12" text-anchor="middle" fill="#263238">recordings by rank (most listened first, log scale)</text><text x="14" y="{}" font-size="12" fill="#263238" transform="rotate(-90 14 {})" text-anchor="middle">share of all listens</text></svg>"##,
        left + pw / 2.0,
        h - 4.0,
        top + ph / 2.0,
        top + ph / 2.0
    );
    s
}

/// Horizontal bars: for each row, a total and a preserved part.
pub fn svg_bars(rows: &[(String, f64, f64, String)], label: &str) -> String {
    let row_h = 26.0;
    let (w, left, right) = (720.0, 150.0, 150.0);
    let h = row_h * rows.len().max(1) as f64 + 10.0;
    let max = rows.iter().map(|r| r.1).fold(0.0, f64::max).max(1e-12);
    let pw = w - left - right;
    let mut s = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" role="img" aria-label="{}"><rect width="{w}" height="{h}" fill="#fff"/>"##,
        esc(label)
    );
    for (i, (name, total, kept, note)) in rows.iter().enumerate() {
        let y0 = 5.0 + i as f64 * row_h;
        let _ = write!(
            s,
            r##"<text x="{}" y="{:.1}" font-size="12" text-anchor="end" fill="#263238">{}</text><rect x="{left}" y="{:.1}" width="{:.1}" height="16" fill="{GREY}"/><rect x="{left}" y="{:.1}" width="{:.1}" height="16" fill="{GREEN}"/><text x="{:.1}" y="{:.1}" font-size="11" fill="#455a64">{}</text>"##,
            left - 8.0,
            y0 + 13.0,
            esc(name),
            y0 + 2.0,
            pw * total / max,
            y0 + 2.0,
            pw * kept / max,
            left + pw * total / max + 6.0,
            y0 + 13.0,
            esc(note)
        );
    }
    s.push_str("</svg>");
    s
}

/// One bar per popularity band with listens: all listens, those
/// preserved, and the share (for [`svg_bars`]).
pub fn band_rows(c: &Coverage) -> Vec<(String, f64, f64, String)> {
    c.by_band
        .iter()
        .map(|b| {
            (
                b.label.clone(),
                b.listens as f64,
                b.listens_preserved as f64,
                format!(
                    "{} of listens",
                    pct(share(b.listens_preserved as f64, b.listens as f64))
                ),
            )
        })
        .filter(|r| r.1 > 0.0)
        .collect()
}

/// One bar per tier: its bytes and files (for [`svg_bars`]).
pub fn tier_rows(c: &Coverage) -> Vec<(String, f64, f64, String)> {
    c.by_tier
        .iter()
        .map(|t| {
            (
                t.tier.clone(),
                t.bytes as f64,
                t.bytes as f64,
                format!("{} · {} files", size(t.bytes), t.files),
            )
        })
        .collect()
}

/// The whole report as one HTML page, no external resources.
pub fn html(c: &Coverage) -> String {
    let mut h = String::new();
    let title = format!("Coverage — {}", c.archive);
    let _ = write!(
        h,
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>{}</title><style>
body{{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:800px;padding:24px;color:#263238;background:#fafafa}}
h1{{font-size:1.6em;margin:0 0 4px}} h2{{font-size:1.15em;margin:32px 0 8px}} .sub{{color:#607d8b;margin:0 0 20px}}
.cards{{display:grid;grid-template-columns:repeat(auto-fit,minmax(170px,1fr));gap:12px}}
.card{{background:#fff;border:1px solid #e0e0e0;border-radius:8px;padding:12px 14px}} .card b{{display:block;font-size:1.7em;color:{GREEN}}}
.card span{{color:#607d8b;font-size:.9em}} svg{{width:100%;height:auto;border:1px solid #e0e0e0;border-radius:8px;background:#fff}}
table{{border-collapse:collapse;width:100%;background:#fff;font-size:.92em}} th,td{{border-bottom:1px solid #eceff1;padding:6px 8px;text-align:right}} th:first-child,td:first-child{{text-align:left}}
.legend span{{display:inline-block;margin-right:16px;font-size:.9em}} .sw{{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:-1px}}
</style></head><body>"#,
        esc(&title)
    );
    let _ = write!(
        h,
        r#"<h1>{}</h1><p class="sub">Generated {} · {} recordings in the catalogue · {} listens</p>"#,
        esc(&title),
        esc(&c.generated_at),
        c.recordings,
        c.listens
    );
    let _ = write!(
        h,
        r#"<div class="cards"><div class="card"><b>{}</b><span>of listens preserved ({} published)</span></div><div class="card"><b>{}</b><span>of recordings preserved ({} of {})</span></div><div class="card"><b>{}</b><span>preserved in {} files</span></div><div class="card"><b>{}</b><span>in {} active torrents</span></div></div>"#,
        pct(c.share_listens_preserved),
        pct(c.share_listens_published),
        pct(c.share_recordings_preserved),
        c.recordings_preserved,
        c.recordings,
        size(c.bytes_preserved),
        c.files_preserved,
        size(c.bytes_published),
        c.torrents_active
    );
    let legend = format!(
        r#"<p class="legend"><span><i class="sw" style="background:{GREEN}"></i>preserved</span><span><i class="sw" style="background:{GREY}"></i>not preserved</span></p>"#
    );
    let _ = write!(
        h,
        r#"<h2>The long tail</h2><p>How listens spread over recordings: the line is the share of all listens held by the top recordings; the green area is the part the archive preserves.</p>{}"#,
        svg_long_tail(&c.long_tail)
    );
    let bands = band_rows(c);
    if !bands.is_empty() {
        let _ = write!(
            h,
            "<h2>Listens preserved by popularity band</h2>{legend}{}",
            svg_bars(&bands, "Listens by band")
        );
    }
    let _ = write!(
        h,
        "<table><tr><th>band</th><th>recordings</th><th>preserved</th><th>listens preserved</th><th>bytes</th></tr>"
    );
    for b in &c.by_band {
        let name = &b.label;
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(name),
            b.recordings,
            b.preserved,
            pct(share(b.listens_preserved as f64, b.listens as f64)),
            size(b.bytes)
        );
    }
    h.push_str("</table>");
    let tiers = tier_rows(c);
    if !tiers.is_empty() {
        let _ = write!(
            h,
            "<h2>Bytes by tier</h2>{}",
            svg_bars(&tiers, "Bytes by tier")
        );
    }
    for (title, groups) in [
        ("Coverage by decade of first release", &c.by_decade),
        ("Coverage by artist's country", &c.by_country),
    ] {
        if groups.is_empty() {
            continue;
        }
        let rows: Vec<(String, f64, f64, String)> = groups
            .iter()
            .map(|g| {
                (
                    g.key.clone(),
                    g.recordings as f64,
                    g.preserved as f64,
                    format!(
                        "{} / {} ({})",
                        g.preserved,
                        g.recordings,
                        pct(share(g.preserved as f64, g.recordings as f64))
                    ),
                )
            })
            .collect();
        let _ = write!(
            h,
            "<h2>{}</h2>{legend}{}",
            esc(title),
            svg_bars(&rows, title)
        );
    }
    let r = &c.rights;
    let _ = write!(
        h,
        r#"<h2>Rights</h2><p>Publication policy: <code>[publish] allow = {}</code>. Publishable: {} files ({}); withheld by rights: {} files ({}); {} takedowns and {} embargoes in force; {} entries in the rights log.</p><table><tr><th>Licence of preserved copies</th><th>Class</th><th>Files</th><th>Bytes</th><th>Published</th></tr>"#,
        esc(&format!("{:?}", r.policy_allows)),
        r.files_publishable,
        size(r.bytes_publishable),
        r.files_withheld,
        size(r.bytes_withheld),
        r.takedowns.len(),
        r.embargoes.len(),
        r.log_entries
    );
    for row in &r.by_license {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&row.key),
            row.class.map_or("", |c| c.as_str()),
            row.files,
            size(row.bytes),
            if row.publishable { "yes" } else { "no" }
        );
    }
    h.push_str("</table>");
    h.push_str(r#"<p class="sub" style="margin-top:32px">musicark coverage report. Recordings are preserved when the archive holds a copy; published when that copy is in an active torrent of the list.</p></body></html>"#);
    h.push('\n');
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    use musicark_store::Home;

    /// A small archive whose figures are computed by hand below.
    fn small_archive(dir: &std::path::Path) -> (Home, Db) {
        let home = Home::init(&dir.join("archive")).expect("init");
        let db = home.db().expect("db");
        db.conn
            .execute_batch(
                "INSERT INTO artists (artist_id, name, country) VALUES (1, 'A', 'GB'), (2, 'B', 'JP');
                 INSERT INTO recordings (recording_id, mbid, title, first_release_date) VALUES
                   (1, 'm1', 'one', '1995-01-01'), (2, 'm2', 'two', '1999'),
                   (3, 'm3', 'three', '2003-05'), (4, 'm4', 'four', NULL);
                 INSERT INTO recording_artists (recording_id, position, artist_id, credited_name) VALUES
                   (1, 0, 1, 'A'), (2, 0, 1, 'A'), (3, 0, 2, 'B');
                 INSERT INTO popularity (recording_key, source, listen_count) VALUES
                   ('m1', 'lb', 100), ('m2', 'lb', 50), ('m3', 'lb', 30), ('m4', 'lb', 20),
                   ('m3', 'other', 10);
                 INSERT INTO contents (content_id, sha256, size, verdict, analyzer_version, analyzed_at) VALUES
                   ('c1', 's', 5000, 'audio', 3, 'now'), ('c3', 's', 500, 'audio', 3, 'now'),
                   ('cx', 's', 200, 'audio', 3, 'now');
                 INSERT INTO preserved (source_id, tier, kbps, output_id, bytes, recording_id, made_at) VALUES
                   ('c1', 'opus', 96, 'o1', 1000, 1, 'now'), ('c3', 'original', NULL, 'c3', 500, 3, 'now'),
                   ('cx', 'original', NULL, 'cx', 200, NULL, 'now');
                 INSERT INTO packs (pack_id, name, kind, band, tier, btih, torrent_size, num_files, data_size,
                                    manifest_sha256, created_at) VALUES
                   (1, 'p1', 'audio', 'top1', 'opus-96', 'x', 1, 2, 1100, 'x', 'now'),
                   (2, 'p2', 'audio', 'top100', 'original', 'y', 1, 2, 600, 'y', 'now');
                 UPDATE packs SET obsolete = 1 WHERE pack_id = 2;
                 INSERT INTO pack_files (pack_id, file_index, path, byte_offset, size, output_id, source_id, recording_id)
                   VALUES (1, 0, 'a.opus', 0, 1000, 'o1', 'c1', 1), (2, 0, 'b.ogg', 0, 500, 'c3', 'c3', 3);",
            )
            .expect("rows");
        (home, db)
    }

    #[test]
    fn figures_match_a_hand_computed_case() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (home, db) = small_archive(tmp.path());
        let c = coverage(&home, &db).expect("coverage");
        // Listens: 100, 50, 30 (the most any source reports), 20 = 200.
        assert_eq!(c.recordings, 4);
        assert_eq!(c.listens, 200);
        // Preserved: recordings 1 and 3 (the unlinked copy counts as a file).
        assert_eq!(
            (c.recordings_preserved, c.share_recordings_preserved),
            (2, 0.5)
        );
        assert_eq!(
            (c.listens_preserved, c.share_listens_preserved),
            (130, 0.65)
        );
        // Published: only recording 1 (pack 2 is obsolete).
        assert_eq!(
            (c.recordings_published, c.share_recordings_published),
            (1, 0.25)
        );
        assert_eq!((c.listens_published, c.share_listens_published), (100, 0.5));
        assert_eq!((c.files_preserved, c.bytes_preserved), (3, 1700));
        assert_eq!((c.torrents_active, c.bytes_published), (1, 1100));
        let tiers: Vec<(&str, u64, u64)> = c
            .by_tier
            .iter()
            .map(|t| (t.tier.as_str(), t.files, t.bytes))
            .collect();
        assert_eq!(tiers, [("opus 96 kbit/s", 1, 1000), ("original", 2, 700)]);
        // The long tail at ranks 1, 2 and 4.
        let tail: Vec<(u64, f64, f64)> = c
            .long_tail
            .iter()
            .map(|p| (p.rank, p.listens_share, p.preserved_share))
            .collect();
        assert_eq!(tail, [(1, 0.5, 0.5), (2, 0.75, 0.5), (4, 1.0, 0.65)]);
        // Bands (default policy: top 1 %, 1–10 %, 10–100 %): recording 1
        // has nobody above it; the others are at 25, 50 and 75 %.
        let bands: Vec<(&str, u64, u64, i64, i64, u64)> = c
            .by_band
            .iter()
            .map(|b| {
                (
                    b.label.as_str(),
                    b.recordings,
                    b.preserved,
                    b.listens,
                    b.listens_preserved,
                    b.bytes,
                )
            })
            .collect();
        assert_eq!(
            bands,
            [
                ("top 1 %", 1, 1, 100, 100, 1000),
                ("1–10 %", 0, 0, 0, 0, 0),
                ("10–100 %", 3, 1, 100, 30, 500),
                ("not linked", 0, 1, 0, 0, 200),
            ]
        );
        let decades: Vec<(&str, u64, u64)> = c
            .by_decade
            .iter()
            .map(|g| (g.key.as_str(), g.recordings, g.preserved))
            .collect();
        assert_eq!(decades, [("1990s", 2, 1), ("2000s", 1, 1)]);
        let countries: Vec<(&str, u64, u64)> = c
            .by_country
            .iter()
            .map(|g| (g.key.as_str(), g.recordings, g.preserved))
            .collect();
        assert_eq!(countries, [("GB", 2, 1), ("JP", 1, 1)]);
        // And the page shows them.
        let page = html(&c);
        assert!(
            page.contains("65.0 %") && page.contains("50.0 %"),
            "headline figures"
        );
    }

    #[test]
    fn tail_ranks_are_log_spaced() {
        assert_eq!(tail_ranks(0), Vec::<u64>::new());
        assert_eq!(tail_ranks(1), vec![1]);
        assert_eq!(tail_ranks(4), vec![1, 2, 4]);
        assert_eq!(tail_ranks(120), vec![1, 2, 5, 10, 20, 50, 100, 120]);
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            esc(r#"<script>"x" & 'y'"#),
            "&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;"
        );
        let svg = svg_bars(&[("<b>".into(), 1.0, 0.5, "&".into())], "x");
        assert!(svg.contains("&lt;b&gt;") && !svg.contains("<b>"));
    }
}
