//! Synthetic catalogue dumps at any scale, in the exact shapes of the
//! MusicBrainz JSON dump (`mbdump/artist`, `mbdump/recording`,
//! `mbdump/release`, one web-service v2 record per line) and of
//! ListenBrainz popularity (`recording_mbid,total_listen_count,
//! total_user_count`), with a Zipf-like long tail (most recordings have few
//! or no listens), titles drawn from a Zipf-like vocabulary of ~33 000
//! words, realistic field lengths, multiple artists and ISRCs, and a
//! controlled share of invalid identifiers.
//!
//! Deterministic for a seed. Streams to disk: memory does not grow with N.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use musicark_sample::Rng;

#[derive(Debug, Clone)]
pub struct CatalogSpec {
    pub recordings: u64,
    pub seed: u64,
    /// Share of ISRCs and barcodes that are malformed.
    pub invalid_share: f64,
}

#[derive(Debug, Clone, Default)]
pub struct CatalogStats {
    pub artists: u64,
    pub recordings: u64,
    pub releases: u64,
    pub isrcs: u64,
    pub invalid_isrcs: u64,
    pub invalid_barcodes: u64,
    pub popularity_rows: u64,
    pub total_listens: u64,
}

const WORDS: &[&str] = &[
    "love",
    "night",
    "heart",
    "blue",
    "river",
    "dance",
    "fire",
    "light",
    "dream",
    "rain",
    "summer",
    "city",
    "ghost",
    "gold",
    "Árvíztűrő",
    "café",
    "señorita",
    "Über",
    "mañana",
    "north",
    "wild",
    "echo",
    "shadow",
    "electric",
    "paper",
    "song",
    "stone",
    "silver",
    "midnight",
    "ocean",
    "Björk",
    "naïve",
    "garden",
    "moon",
    "forever",
    "young",
    "lost",
    "highway",
    "sweet",
    "broken",
    "morning",
    "window",
    "Ελπίδα",
    "東京",
    "Москва",
];
const FIRST: &[&str] = &[
    "Anna", "Léa", "John", "Mika", "Sofía", "Ravi", "Chen", "Olu", "Zoë", "Björn", "Amara", "Kai",
];
const LAST: &[&str] = &[
    "Smith", "Okafor", "Müller", "García", "Tanaka", "Novak", "Dubois", "Kowalski", "Silva",
    "Nguyen",
];
const COUNTRIES: &[&str] = &["GB", "US", "DE", "FR", "JP", "BR", "SE", "NG", "IN", "XW"];

fn uuid(rng: &mut Rng) -> String {
    rng.uuid()
}

const SYLLABLES: &[&str] = &[
    "ka", "lo", "mi", "ra", "ne", "to", "shi", "va", "ber", "dan", "el", "gor", "hal", "is", "jun",
    "kel", "lin", "mar", "nor", "ol", "pe", "qu", "ros", "sen", "tar", "ul", "vin", "wen", "xa",
    "yor", "zu", "ché",
];

/// A word from a Zipf-like vocabulary: the 45 common words above first,
/// then ~33 000 made-up ones, most of them rare — as in real titles, where
/// a few words are everywhere and most appear a handful of times.
fn word(rng: &mut Rng) -> String {
    // Log-uniform rank: P(rank) ~ 1/rank over 1..=V.
    let v = (WORDS.len() + SYLLABLES.len().pow(3)) as f64;
    let rank = (v.powf(rng.unit() as f64) as usize).saturating_sub(1);
    if rank < WORDS.len() {
        return WORDS[rank].to_string();
    }
    let mut r = rank - WORDS.len();
    let n = SYLLABLES.len();
    let mut w = String::new();
    for _ in 0..3 {
        w.push_str(SYLLABLES[r % n]);
        r /= n;
    }
    w
}

fn title(rng: &mut Rng) -> String {
    let n = 1 + rng.below(4) as usize;
    let mut t = String::new();
    for i in 0..n {
        if i > 0 {
            t.push(' ');
        }
        let w = word(rng);
        if i == 0 {
            let mut c = w.chars();
            if let Some(f) = c.next() {
                t.extend(f.to_uppercase());
                t.push_str(c.as_str());
            }
        } else {
            t.push_str(&w);
        }
    }
    t
}

fn isrc(rng: &mut Rng, invalid: bool) -> String {
    let cc = COUNTRIES[rng.below(COUNTRIES.len() as u64) as usize];
    let reg: String = (0..3)
        .map(|_| (b'A' + rng.below(26) as u8) as char)
        .collect();
    let s = format!("{cc}{reg}{:02}{:05}", rng.below(100), rng.below(100_000));
    if invalid {
        // Typical mistakes: a letter in the digits, or one digit short.
        if rng.below(2) == 0 {
            format!("{}X", &s[..11])
        } else {
            s[..11].to_string()
        }
    } else if rng.below(5) == 0 {
        // Valid but written with hyphens, as people do.
        format!("{}-{}-{}-{}", &s[..2], &s[2..5], &s[5..7], &s[7..])
    } else {
        s
    }
}

fn ean13(rng: &mut Rng, invalid: bool) -> String {
    let body: Vec<u8> = (0..12).map(|_| rng.below(10) as u8).collect();
    let sum: u32 = body
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| d as u32 * if i % 2 == 0 { 3 } else { 1 })
        .sum();
    let mut check = ((10 - sum % 10) % 10) as u8;
    if invalid {
        check = (check + 1) % 10;
    }
    body.iter()
        .chain(std::iter::once(&check))
        .map(|d| (b'0' + d) as char)
        .collect()
}

struct ArtistRow {
    id: String,
    name: String,
    sort: String,
}

fn artist(rng: &mut Rng) -> ArtistRow {
    let f = FIRST[rng.below(FIRST.len() as u64) as usize];
    let l = LAST[rng.below(LAST.len() as u64) as usize];
    let n = rng.below(1000);
    ArtistRow {
        id: uuid(rng),
        name: format!("{f} {l} {n}"),
        sort: format!("{l} {n}, {f}"),
    }
}

fn credit_json(artists: &[&ArtistRow]) -> String {
    let mut s = String::from("[");
    for (i, a) in artists.iter().enumerate() {
        let join = if i + 1 == artists.len() {
            ""
        } else if i + 2 == artists.len() {
            " & "
        } else {
            ", "
        };
        if i > 0 {
            s.push(',');
        }
        s.push_str(&format!(
            r#"{{"name":"{}","joinphrase":"{}","artist":{{"id":"{}","name":"{}","sort-name":"{}","disambiguation":""}}}}"#,
            a.name, join, a.id, a.name, a.sort
        ));
    }
    s.push(']');
    s
}

/// Write `dir/mbdump/{artist,recording,release}` and
/// `dir/listenbrainz.csv` for `spec`.
pub fn write_catalog(dir: &Path, spec: &CatalogSpec) -> std::io::Result<CatalogStats> {
    std::fs::create_dir_all(dir.join("mbdump"))?;
    let mut rng = Rng::new(spec.seed);
    let mut stats = CatalogStats::default();
    let n_artists = (spec.recordings / 8).max(1);
    // Artists are regenerated from their own seed, so none is kept in memory.
    let artist_at = |i: u64| {
        artist(&mut Rng::new(
            spec.seed ^ 0xa57 ^ (i.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
        ))
    };
    let mut out = BufWriter::with_capacity(1 << 20, File::create(dir.join("mbdump/artist"))?);
    for i in 0..n_artists {
        let a = artist_at(i);
        let country = COUNTRIES[(i % COUNTRIES.len() as u64) as usize];
        writeln!(
            out,
            r#"{{"id":"{}","name":"{}","sort-name":"{}","type":"Person","country":"{country}","disambiguation":"","aliases":[]}}"#,
            a.id, a.name, a.sort
        )?;
        stats.artists += 1;
    }
    out.flush()?;

    let rec_id =
        |i: u64| Rng::new(spec.seed ^ 0x7ec ^ i.wrapping_mul(0xD1B5_4A32_D192_ED03)).uuid();
    let mut out = BufWriter::with_capacity(1 << 20, File::create(dir.join("mbdump/recording"))?);
    let invalid = |rng: &mut Rng| (rng.unit() as f64) < spec.invalid_share;
    for i in 0..spec.recordings {
        let n_art = [1, 1, 1, 1, 2, 2, 3][rng.below(7) as usize];
        let arts: Vec<ArtistRow> = (0..n_art)
            .map(|_| artist_at(rng.below(n_artists)))
            .collect();
        let refs: Vec<&ArtistRow> = arts.iter().collect();
        let n_isrc = [0, 1, 1, 1, 1, 2, 3][rng.below(7) as usize];
        let isrcs: Vec<String> = (0..n_isrc)
            .map(|_| {
                let bad = invalid(&mut rng);
                stats.invalid_isrcs += bad as u64;
                format!("\"{}\"", isrc(&mut rng, bad))
            })
            .collect();
        stats.isrcs += n_isrc;
        let length = 60_000 + rng.below(360_000);
        let year = 1950 + rng.below(75);
        writeln!(
            out,
            r#"{{"id":"{}","title":"{}","length":{length},"video":false,"disambiguation":"","first-release-date":"{year}-{:02}-{:02}","isrcs":[{}],"artist-credit":{}}}"#,
            rec_id(i),
            title(&mut rng),
            1 + rng.below(12),
            1 + rng.below(28),
            isrcs.join(","),
            credit_json(&refs)
        )?;
        stats.recordings += 1;
    }
    out.flush()?;

    let mut out = BufWriter::with_capacity(1 << 20, File::create(dir.join("mbdump/release"))?);
    let n_releases = (spec.recordings / 10).max(1);
    for r in 0..n_releases {
        let a = artist_at(rng.below(n_artists));
        let n_tracks = 1 + rng.below(14);
        let mut tracks = Vec::with_capacity(n_tracks as usize);
        for t in 0..n_tracks {
            let ri = (r * 10 + t) % spec.recordings;
            tracks.push(format!(
                r#"{{"position":{},"number":"{}","title":"{}","length":{},"recording":{{"id":"{}","title":"{}","length":{}}}}}"#,
                t + 1,
                t + 1,
                title(&mut rng),
                120_000 + rng.below(200_000),
                rec_id(ri),
                title(&mut rng),
                120_000 + rng.below(200_000)
            ));
        }
        let bad = invalid(&mut rng);
        stats.invalid_barcodes += bad as u64;
        writeln!(
            out,
            r#"{{"id":"{}","title":"{}","status":"Official","date":"{}-{:02}-{:02}","country":"{}","barcode":"{}","artist-credit":{},"label-info":[{{"catalog-number":"CAT{}","label":{{"name":"{} Records"}}}}],"release-group":{{"id":"{}","title":"{}","primary-type":"Album"}},"media":[{{"position":1,"format":"CD","tracks":[{}]}}]}}"#,
            uuid(&mut rng),
            title(&mut rng),
            1950 + rng.below(75),
            1 + rng.below(12),
            1 + rng.below(28),
            COUNTRIES[rng.below(COUNTRIES.len() as u64) as usize],
            ean13(&mut rng, bad),
            credit_json(&[&a]),
            r,
            title(&mut rng),
            uuid(&mut rng),
            title(&mut rng),
            tracks.join(",")
        )?;
        stats.releases += 1;
    }
    out.flush()?;

    // Popularity: a Zipf tail over a random permutation of recordings; most
    // recordings have no listens at all and are absent, as in ListenBrainz.
    let mut out = BufWriter::with_capacity(1 << 20, File::create(dir.join("listenbrainz.csv"))?);
    writeln!(out, "recording_mbid,total_listen_count,total_user_count")?;
    let top = 2.0 * spec.recordings as f64;
    for rank in 1..=spec.recordings {
        let listens = (top / (rank as f64).powf(1.1)) as u64;
        if listens == 0 {
            break;
        }
        // Rank order is a pseudo-random walk over all recordings.
        let i = (rank.wrapping_mul(0x9E37_79B9) ^ spec.seed) % spec.recordings;
        let users = (listens / 20).max(1);
        writeln!(out, "{},{listens},{users}", rec_id(i))?;
        stats.popularity_rows += 1;
        stats.total_listens += listens;
    }
    out.flush()?;
    Ok(stats)
}
