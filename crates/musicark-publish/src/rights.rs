//! Rights as data: licences of files and recordings, the publication
//! policy, takedowns and embargoes with an append-only audit log, and the
//! rights report.
//!
//! A file's licence comes from, in order: its own `LICENSE` tag when that
//! maps to one SPDX id or RightsStatements.org URI without doubt; the
//! operator's default given at ingest (`ingest --rights ID`); the
//! catalogue's licence of the recording it is linked to; else its tag is
//! kept verbatim (unmapped) or, with only a `COPYRIGHT` notice, it is In
//! Copyright; else unknown.

use std::collections::{BTreeMap, HashMap};

use musicark_store::{params, sql::OptionalExtension};
use serde::Serialize;

use musicark_store::{Db, Home};

use crate::PublishError;

/// What a rights status allows, for the publication policy.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Class {
    /// Redistribution and adaptation allowed (CC0, CC BY, CC BY-SA, GPL,
    /// MIT, public-domain marks…).
    Open,
    /// Non-commercial redistribution only (CC BY-NC, BY-NC-SA).
    Noncommercial,
    /// Verbatim redistribution only (CC BY-ND, BY-NC-ND).
    NoDerivatives,
    /// In copyright, no licence known to allow redistribution.
    InCopyright,
    /// A licence text that names no single known licence.
    Unmapped,
    /// Nothing known.
    Unknown,
}

impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Open => "open",
            Class::Noncommercial => "noncommercial",
            Class::NoDerivatives => "no-derivatives",
            Class::InCopyright => "in-copyright",
            Class::Unmapped => "unmapped",
            Class::Unknown => "unknown",
        }
    }
}

const RS: &str = "http://rightsstatements.org/vocab/";

/// SPDX ids (and RightsStatements.org URIs) musicark knows, with their class.
const KNOWN: &[(&str, Class)] = &[
    ("CC0-1.0", Class::Open),
    ("CC-PDDC", Class::Open),
    ("CC-BY-1.0", Class::Open),
    ("CC-BY-2.0", Class::Open),
    ("CC-BY-2.5", Class::Open),
    ("CC-BY-3.0", Class::Open),
    ("CC-BY-4.0", Class::Open),
    ("CC-BY-SA-1.0", Class::Open),
    ("CC-BY-SA-2.0", Class::Open),
    ("CC-BY-SA-2.5", Class::Open),
    ("CC-BY-SA-3.0", Class::Open),
    ("CC-BY-SA-4.0", Class::Open),
    ("CC-BY-NC-1.0", Class::Noncommercial),
    ("CC-BY-NC-2.0", Class::Noncommercial),
    ("CC-BY-NC-2.5", Class::Noncommercial),
    ("CC-BY-NC-3.0", Class::Noncommercial),
    ("CC-BY-NC-4.0", Class::Noncommercial),
    ("CC-BY-NC-SA-1.0", Class::Noncommercial),
    ("CC-BY-NC-SA-2.0", Class::Noncommercial),
    ("CC-BY-NC-SA-2.5", Class::Noncommercial),
    ("CC-BY-NC-SA-3.0", Class::Noncommercial),
    ("CC-BY-NC-SA-4.0", Class::Noncommercial),
    ("CC-BY-ND-1.0", Class::NoDerivatives),
    ("CC-BY-ND-2.0", Class::NoDerivatives),
    ("CC-BY-ND-2.5", Class::NoDerivatives),
    ("CC-BY-ND-3.0", Class::NoDerivatives),
    ("CC-BY-ND-4.0", Class::NoDerivatives),
    ("CC-BY-NC-ND-1.0", Class::NoDerivatives),
    ("CC-BY-NC-ND-2.0", Class::NoDerivatives),
    ("CC-BY-NC-ND-2.5", Class::NoDerivatives),
    ("CC-BY-NC-ND-3.0", Class::NoDerivatives),
    ("CC-BY-NC-ND-4.0", Class::NoDerivatives),
    ("GPL-2.0-only", Class::Open),
    ("GPL-2.0-or-later", Class::Open),
    ("GPL-3.0-only", Class::Open),
    ("GPL-3.0-or-later", Class::Open),
    ("LGPL-2.1-or-later", Class::Open),
    ("LGPL-3.0-or-later", Class::Open),
    ("MIT", Class::Open),
    ("Apache-2.0", Class::Open),
    ("FAL-1.3", Class::Open),
    ("Artistic-2.0", Class::Open),
    ("OFL-1.1", Class::Open),
    (
        "http://rightsstatements.org/vocab/InC/1.0/",
        Class::InCopyright,
    ),
    (
        "http://rightsstatements.org/vocab/InC-EDU/1.0/",
        Class::InCopyright,
    ),
    (
        "http://rightsstatements.org/vocab/InC-NC/1.0/",
        Class::InCopyright,
    ),
    (
        "http://rightsstatements.org/vocab/InC-RUU/1.0/",
        Class::InCopyright,
    ),
    (
        "http://rightsstatements.org/vocab/NoC-CR/1.0/",
        Class::InCopyright,
    ),
    (
        "http://rightsstatements.org/vocab/NoC-NC/1.0/",
        Class::Noncommercial,
    ),
    (
        "http://rightsstatements.org/vocab/NoC-OKLR/1.0/",
        Class::InCopyright,
    ),
    ("http://rightsstatements.org/vocab/NoC-US/1.0/", Class::Open),
    ("http://rightsstatements.org/vocab/CNE/1.0/", Class::Unknown),
    ("http://rightsstatements.org/vocab/UND/1.0/", Class::Unknown),
    ("http://rightsstatements.org/vocab/NKC/1.0/", Class::Open),
];

/// The In Copyright statement (a `COPYRIGHT` notice and no licence).
pub const IN_COPYRIGHT: &str = "http://rightsstatements.org/vocab/InC/1.0/";

/// The class of a known id; `Unmapped` otherwise.
pub fn class_of(id: &str) -> Class {
    KNOWN
        .iter()
        .find(|(k, _)| *k == id)
        .map_or(Class::Unmapped, |(_, c)| *c)
}

/// The canonical id of what a person typed: an SPDX id in any case, a
/// RightsStatements.org URI (http or https, with or without the final
/// slash) or its short name (`InC`, `NoC-US`…), or a licence text that
/// maps without doubt. `None` when it names no single known licence.
pub fn canonical(text: &str) -> Option<String> {
    let t = text.trim();
    if let Some((k, _)) = KNOWN.iter().find(|(k, _)| k.eq_ignore_ascii_case(t)) {
        return Some((*k).to_string());
    }
    let rs_short = t.trim_end_matches('/');
    if let Some((k, _)) = KNOWN.iter().find(|(k, _)| {
        k.strip_prefix(RS)
            .and_then(|s| s.strip_suffix("/1.0/"))
            .is_some_and(|s| s.eq_ignore_ascii_case(rs_short))
    }) {
        return Some((*k).to_string());
    }
    map_license(t)
}

/// Map a free-text licence tag to one SPDX id or RightsStatements.org URI
/// when it is unambiguous: Creative Commons deeds and names with their
/// version, SPDX ids, GPL with a version and "or later". `GPL` alone, or a
/// CC licence without a version, is ambiguous: `None`.
pub fn map_license(text: &str) -> Option<String> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    if let Some((k, _)) = KNOWN.iter().find(|(k, _)| k.eq_ignore_ascii_case(t)) {
        return Some((*k).to_string());
    }
    let lower = t.to_ascii_lowercase();
    // RightsStatements.org URIs, https or not.
    if let Some(rest) = lower
        .strip_prefix("https://rightsstatements.org/vocab/")
        .or_else(|| lower.strip_prefix("http://rightsstatements.org/vocab/"))
    {
        let name = rest.trim_end_matches('/');
        let name = name.strip_suffix("/1.0").unwrap_or(name);
        return KNOWN
            .iter()
            .find(|(k, _)| {
                k.strip_prefix(RS)
                    .and_then(|s| s.strip_suffix("/1.0/"))
                    .is_some_and(|s| s.eq_ignore_ascii_case(name))
            })
            .map(|(k, _)| (*k).to_string());
    }
    // Creative Commons deeds: .../licenses/by-sa/4.0/, .../publicdomain/zero/1.0/
    if let Some(pos) = lower.find("creativecommons.org/") {
        let path: Vec<&str> = lower[pos + "creativecommons.org/".len()..]
            .split(['/', ' ', '?', '#'])
            .filter(|s| !s.is_empty())
            .collect();
        return match path.as_slice() {
            ["publicdomain", "zero", "1.0", ..] => Some("CC0-1.0".into()),
            ["licenses", kind, version, ..] => cc_id(kind, version),
            _ => None,
        };
    }
    // Names: "CC BY-SA 4.0", "Creative Commons Attribution-ShareAlike 4.0
    // International", "cc-by-nc 3.0".
    let words: String = lower
        .replace("creative commons", "cc")
        .replace("attribution", "by")
        .replace("noncommercial", "nc")
        .replace("non-commercial", "nc")
        .replace("sharealike", "sa")
        .replace("share-alike", "sa")
        .replace("noderivatives", "nd")
        .replace("noderivs", "nd")
        .replace("international", "")
        .replace("license", "")
        .replace("licence", "");
    let tokens: Vec<&str> = words
        .split(|c: char| c.is_whitespace() || c == '-' || c == '_' || c == ',')
        .filter(|s| !s.is_empty())
        .collect();
    if tokens.first() == Some(&"cc0") {
        return Some("CC0-1.0".into());
    }
    if tokens.first() == Some(&"cc") {
        let version = tokens
            .iter()
            .find(|t| t.contains('.') || t.parse::<u32>().is_ok());
        let kind: Vec<&str> = tokens[1..]
            .iter()
            .copied()
            .filter(|t| ["by", "nc", "sa", "nd"].contains(t))
            .collect();
        if tokens.get(1) == Some(&"zero") || tokens.get(1) == Some(&"0") {
            return Some("CC0-1.0".into());
        }
        return version.and_then(|v| cc_id(&kind.join("-"), v));
    }
    // GPL with its version: "GPLv2+", "GPL-2+", "GPL v3 or later", "GNU GPL 3".
    let compact: String = lower
        .replace("gnu general public license", "gpl")
        .replace("gnu gpl", "gpl")
        .replace("version", "")
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-' && *c != '_')
        .collect();
    let (lesser, rest) = if let Some(r) = compact.strip_prefix("lgpl") {
        (true, r)
    } else if let Some(r) = compact.strip_prefix("gpl") {
        (false, r)
    } else {
        return None;
    };
    let rest = rest.strip_prefix('v').unwrap_or(rest);
    let later = rest.ends_with('+') || rest.ends_with("orlater") || rest.ends_with("orany later");
    let digits: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let major = digits.split('.').next().unwrap_or("");
    match (lesser, major, later) {
        (false, "2", true) => Some("GPL-2.0-or-later".into()),
        (false, "3", true) => Some("GPL-3.0-or-later".into()),
        (false, "2", false) if rest.ends_with("only") => Some("GPL-2.0-only".into()),
        (false, "3", false) if rest.ends_with("only") => Some("GPL-3.0-only".into()),
        (true, "2", true) => Some("LGPL-2.1-or-later".into()),
        (true, "3", true) => Some("LGPL-3.0-or-later".into()),
        // "GPL", "GPLv2": which version, and whether later ones apply, is
        // not said.
        _ => None,
    }
}

fn cc_id(kind: &str, version: &str) -> Option<String> {
    let kind = kind.to_ascii_uppercase();
    let version = version.trim_end_matches('/');
    let id = format!("CC-{kind}-{version}");
    KNOWN
        .iter()
        .find(|(k, _)| *k == id)
        .map(|(k, _)| (*k).to_string())
}

/// The rights of one stored file.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct ContentRights {
    /// The SPDX id or RightsStatements.org URI, when known.
    pub license: Option<String>,
    /// The file's own licence tag, verbatim.
    pub license_tag: Option<String>,
    /// The file's copyright notice, verbatim.
    pub copyright: Option<String>,
    /// tag | operator | catalogue | none
    pub source: String,
    pub class: Class,
}

/// Decide a file's rights from its tags, the operator's default and the
/// catalogue's licence of its recording (see the module's order).
pub fn decide(
    license_tag: Option<&str>,
    copyright: Option<&str>,
    operator: Option<&str>,
    catalogue: Option<&str>,
) -> ContentRights {
    let tag = license_tag.map(str::trim).filter(|s| !s.is_empty());
    let copyright = copyright.map(str::trim).filter(|s| !s.is_empty());
    let make = |license: Option<String>, source: &str, class: Class| ContentRights {
        license,
        license_tag: tag.map(str::to_string),
        copyright: copyright.map(str::to_string),
        source: source.to_string(),
        class,
    };
    if let Some(id) = tag.and_then(map_license) {
        let class = class_of(&id);
        return make(Some(id), "tag", class);
    }
    if let Some(id) = operator.and_then(canonical) {
        let class = class_of(&id);
        return make(Some(id), "operator", class);
    }
    if let Some(id) = catalogue.and_then(canonical) {
        let class = class_of(&id);
        return make(Some(id), "catalogue", class);
    }
    if tag.is_some() {
        return make(None, "tag", Class::Unmapped);
    }
    if copyright.is_some() {
        return make(Some(IN_COPYRIGHT.into()), "tag", Class::InCopyright);
    }
    make(None, "none", Class::Unknown)
}

/// The rights of every analysed content, by content id. The operator's
/// default is the latest `ingest --rights` whose root holds one of the
/// content's files.
pub fn content_rights(db: &Db) -> Result<HashMap<String, ContentRights>, PublishError> {
    rights_where(db, None)
}

/// The rights of one content (a web page's copy).
pub fn content_rights_of(db: &Db, content_id: &str) -> Result<ContentRights, PublishError> {
    Ok(rights_where(db, Some(content_id))?
        .remove(content_id)
        .unwrap_or_else(|| decide(None, None, None, None)))
}

/// Whether `path` is `root` or below it.
fn under(root: &str, path: &str) -> bool {
    path == root
        || path
            .strip_prefix(root)
            .is_some_and(|rest| rest.starts_with('/') || root.ends_with('/'))
}

fn rights_where(
    db: &Db,
    only: Option<&str>,
) -> Result<HashMap<String, ContentRights>, PublishError> {
    let mut runs: Vec<(Vec<String>, String)> = Vec::new();
    {
        let mut stmt = db.prepare_cached(
            "SELECT roots, rights FROM ingest_runs WHERE rights IS NOT NULL ORDER BY run_id DESC",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let roots: String = r.get(0)?;
            let roots: Vec<String> = serde_json::from_str(&roots).unwrap_or_default();
            runs.push((roots, r.get(1)?));
        }
    }
    // One statement for all contents, one for a single content: written
    // as `(?1 IS NULL OR content_id = ?1)`, SQLite scanned every content
    // for one (the recording page paid a scan of the archive per copy).
    const RIGHTS: &str = "SELECT c.content_id, json_extract(c.tags, '$.license'), json_extract(c.tags, '$.copyright'), \
                (SELECT coalesce(g.license, g.statement) FROM matches m JOIN rights g \
                  ON g.entity = 'recording' AND g.entity_id = m.recording_id \
                  WHERE m.content_id = c.content_id AND m.status = 'linked') \
         FROM contents c WHERE c.verdict = 'audio'";
    let mut stmt = match only {
        None => db.prepare_cached(RIGHTS)?,
        Some(_) => db.prepare_cached(&format!("{RIGHTS} AND c.content_id = ?1"))?,
    };
    // No parameter for all contents, the one content id otherwise.
    let mut rows = stmt.query(musicark_store::sql::params_from_iter(only))?;
    let mut paths = db.prepare_cached("SELECT display_path FROM files WHERE content_id = ?1")?;
    let mut out = HashMap::new();
    while let Some(r) = rows.next()? {
        let id: String = r.get(0)?;
        let tag: Option<String> = r.get(1)?;
        let copyright: Option<String> = r.get(2)?;
        let catalogue: Option<String> = r.get(3)?;
        let mut operator = None;
        if !runs.is_empty() {
            let files: Vec<String> = paths
                .query_map([&id], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            operator = runs
                .iter()
                .find(|(roots, _)| {
                    roots
                        .iter()
                        .any(|root| files.iter().any(|p| under(root, p)))
                })
                .map(|(_, rights)| rights.clone());
        }
        out.insert(
            id,
            decide(
                tag.as_deref(),
                copyright.as_deref(),
                operator.as_deref(),
                catalogue.as_deref(),
            ),
        );
    }
    Ok(out)
}

/// Of the files under an ingest run's roots, those whose own licence tag
/// decided their rights over the run's `--rights` default: licence →
/// files (the operator is told; the tag wins by design).
pub fn own_licences_of_run(
    db: &Db,
    run_id: i64,
) -> Result<std::collections::BTreeMap<String, u64>, PublishError> {
    let roots: Option<String> = db
        .query_row(
            "SELECT roots FROM ingest_runs WHERE run_id = ?1 AND rights IS NOT NULL",
            [run_id],
            |r| r.get(0),
        )
        .optional()?;
    let mut out = std::collections::BTreeMap::new();
    let Some(roots) = roots else {
        return Ok(out);
    };
    let roots: Vec<String> = serde_json::from_str(&roots).unwrap_or_default();
    let rights = content_rights(db)?;
    let mut stmt = db.prepare(
        "SELECT display_path, content_id FROM files WHERE status = 'ok' AND content_id IS NOT NULL",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let path: String = r.get(0)?;
        if !roots.iter().any(|root| under(root, &path)) {
            continue;
        }
        let id: String = r.get(1)?;
        if let Some(c) = rights.get(&id).filter(|c| c.source == "tag")
            && let Some(l) = &c.license
        {
            *out.entry(l.clone()).or_default() += 1;
        }
    }
    Ok(out)
}

/// Whether the publication policy (`[publish] allow`: classes or ids)
/// lets a file be packed and listed.
pub fn allowed(allow: &[String], r: &ContentRights) -> bool {
    allow.iter().any(|a| {
        a == r.class.as_str()
            || r.license
                .as_deref()
                .is_some_and(|l| l.eq_ignore_ascii_case(a))
    })
}

/// What a decision does to an entity's publication.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Never publish it again: the torrents holding it become obsolete.
    Takedown,
    /// Reverse a takedown.
    Reinstate,
    /// Withhold it until a day (or until lifted).
    Embargo,
    /// End an embargo.
    Lift,
}

/// What a decision applies to.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Entity {
    Recording,
    Release,
    Artist,
}

musicark_store::text_enum!(Action, "rights action", Takedown => "takedown", Reinstate => "reinstate", Embargo => "embargo", Lift => "lift");
musicark_store::text_enum!(Entity, "rights entity", Recording => "recording", Release => "release", Artist => "artist");

/// One entry of the audit log.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct LogEntry {
    pub entry_id: i64,
    pub at: String,
    pub action: Action,
    pub entity: Entity,
    pub entity_id: i64,
    /// What the id names, for people.
    pub name: Option<String>,
    pub until: Option<String>,
    pub reason: Option<String>,
    pub reference: Option<String>,
}

/// A takedown, embargo or their reversal: written to `rights` and to the
/// append-only log in one transaction.
pub struct Decision<'a> {
    pub action: Action,
    pub entity: Entity,
    pub entity_id: i64,
    pub until: Option<&'a str>,
    pub reason: Option<&'a str>,
    pub reference: Option<&'a str>,
}

/// Whether `s` is a day as `YYYY-MM-DD`.
fn is_day(s: &str) -> bool {
    s.len() == 10
        && s.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        })
}

/// Record a decision. `now` is the archive's clock (SOURCE_DATE_EPOCH
/// when set).
pub fn record(db: &mut Db, d: &Decision<'_>, now: &str) -> Result<LogEntry, PublishError> {
    if let Some(u) = d.until
        && !is_day(u)
    {
        return Err(PublishError::Invalid(format!(
            "until {u:?}: expected YYYY-MM-DD"
        )));
    }
    if d.until.is_some() && d.action != Action::Embargo {
        return Err(PublishError::Invalid(format!(
            "until applies to an embargo, not to {}",
            d.action
        )));
    }
    let (table, key) = match d.entity {
        Entity::Recording => ("recordings", "recording_id"),
        Entity::Artist => ("artists", "artist_id"),
        Entity::Release => ("releases", "release_id"),
    };
    let exists: bool = db.query_row(
        &format!("SELECT EXISTS (SELECT 1 FROM {table} WHERE {key} = ?1)"),
        [d.entity_id],
        |r| r.get(0),
    )?;
    if !exists {
        return Err(PublishError::NotFound(format!(
            "no {} {}",
            d.entity, d.entity_id
        )));
    }
    let (entity, entity_id) = (d.entity.as_str(), d.entity_id);
    let tx = db.transaction()?;
    tx.execute(
        "INSERT INTO rights (entity, entity_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
        params![entity, entity_id],
    )?;
    match d.action {
        Action::Takedown => tx.execute(
            "UPDATE rights SET takedown = 1 WHERE entity = ?1 AND entity_id = ?2",
            params![entity, entity_id],
        )?,
        Action::Reinstate => tx.execute(
            "UPDATE rights SET takedown = 0 WHERE entity = ?1 AND entity_id = ?2",
            params![entity, entity_id],
        )?,
        Action::Embargo => tx.execute(
            "UPDATE rights SET embargo = 1, embargo_until = ?3 WHERE entity = ?1 AND entity_id = ?2",
            params![entity, entity_id, d.until],
        )?,
        Action::Lift => tx.execute(
            "UPDATE rights SET embargo = 0, embargo_until = NULL WHERE entity = ?1 AND entity_id = ?2",
            params![entity, entity_id],
        )?,
    };
    let id: i64 = tx.query_row(
        "INSERT INTO rights_log (at, action, entity, entity_id, until, reason, reference) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING entry_id",
        params![
            now,
            d.action.as_str(),
            entity,
            entity_id,
            d.until,
            d.reason,
            d.reference
        ],
        |r| r.get(0),
    )?;
    tx.commit()?;
    entries(db, "WHERE l.entry_id = ?1", params![id])?
        .pop()
        .ok_or_else(|| PublishError::Invalid("log entry not written".into()))
}

/// The whole audit log, oldest first.
pub fn log(db: &Db) -> Result<Vec<LogEntry>, PublishError> {
    entries(db, "", &[])
}

/// The log entries of one recording, artist or release, oldest first.
pub fn log_of(db: &Db, entity: Entity, entity_id: i64) -> Result<Vec<LogEntry>, PublishError> {
    entries(
        db,
        "WHERE l.entity = ?1 AND l.entity_id = ?2",
        params![entity.as_str(), entity_id],
    )
}

/// The rights recorded for one recording, release or artist.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Recorded {
    pub statement: Option<String>,
    pub license: Option<String>,
    pub embargo: bool,
    pub embargo_until: Option<String>,
    pub takedown: bool,
    pub source: Option<String>,
}

/// What `rights` holds for an entity (none: nothing recorded).
pub fn recorded(db: &Db, entity: Entity, id: i64) -> Result<Option<Recorded>, PublishError> {
    Ok(db
        .prepare_cached(
            "SELECT statement, license, embargo, embargo_until, takedown, source FROM rights \
             WHERE entity = ?1 AND entity_id = ?2",
        )?
        .query_row(params![entity.as_str(), id], |r| {
            Ok(Recorded {
                statement: r.get(0)?,
                license: r.get(1)?,
                embargo: r.get::<_, i64>(2)? != 0,
                embargo_until: r.get(3)?,
                takedown: r.get::<_, i64>(4)? != 0,
                source: r.get(5)?,
            })
        })
        .optional()?)
}

/// A decision applied: its log entry and the repack it caused.
#[derive(Debug, Clone, Serialize)]
pub struct Decided {
    pub log: LogEntry,
    pub pack: crate::pack::PackSummary,
}

/// The use case every front end calls for a takedown, an embargo or their
/// reversal: under the archive's write lock, record the decision in
/// `rights` and the audit log, then repack at once, so that torrents
/// holding what is now withheld become obsolete and replacements are built
/// (with the archive's trackers). The next `list export` publishes
/// without it — whether the decision came from `musicark takedown` or from
/// `POST /api/actions/rights`.
pub fn apply(home: &Home, d: &Decision<'_>) -> Result<Decided, PublishError> {
    let _lock = home.lock_for_writing()?;
    let mut db = home.db()?;
    let log = record(&mut db, d, &musicark_store::clock::now_seconds())?;
    let options = crate::pack::PackOptions::for_archive(home);
    let pack = crate::pack::pack(home, &mut db, &options, &|_, _| {})?;
    Ok(Decided { log, pack })
}

fn entries(
    db: &Db,
    filter: &str,
    args: &[&dyn musicark_store::sql::Param],
) -> Result<Vec<LogEntry>, PublishError> {
    let mut stmt = db.prepare_cached(&format!(
        "SELECT l.entry_id, l.at, l.action, l.entity, l.entity_id, \
                CASE l.entity WHEN 'recording' THEN (SELECT coalesce(artist_credit || ' — ', '') || title FROM recordings WHERE recording_id = l.entity_id) \
                              WHEN 'artist' THEN (SELECT name FROM artists WHERE artist_id = l.entity_id) \
                              WHEN 'release' THEN (SELECT title FROM releases WHERE release_id = l.entity_id) END, \
                l.until, l.reason, l.reference \
         FROM rights_log l {filter} ORDER BY l.entry_id"
    ))?;
    let rows = stmt.query_map(args, |r| {
        Ok(LogEntry {
            entry_id: r.get(0)?,
            at: r.get(1)?,
            action: musicark_store::sql::parse_column(r, 2)?,
            entity: musicark_store::sql::parse_column(r, 3)?,
            entity_id: r.get(4)?,
            name: r.get(5)?,
            until: r.get(6)?,
            reason: r.get(7)?,
            reference: r.get(8)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A withheld entity now in force.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Withholding {
    pub entity: String,
    pub entity_id: i64,
    pub name: Option<String>,
    pub takedown: bool,
    pub embargo_until: Option<String>,
}

/// Counts and bytes of preserved files by rights.
#[derive(Debug, Clone, Default, PartialEq, Serialize, schemars::JsonSchema)]
pub struct RightsRow {
    /// A licence id, a class for files without one, or the verbatim tag.
    pub key: String,
    pub class: Option<Class>,
    pub files: u64,
    pub bytes: u64,
    /// Whether the policy lets these be published.
    pub publishable: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, schemars::JsonSchema)]
pub struct RightsReport {
    pub policy_allows: Vec<String>,
    /// Every ingested audio file (distinct contents) by its licence.
    pub ingested_by_license: Vec<RightsRow>,
    /// Preserved copies by their source's licence.
    pub by_license: Vec<RightsRow>,
    /// Preserved copies by class.
    pub by_class: Vec<RightsRow>,
    /// Licence tags of ingested files that name no single licence,
    /// verbatim, with counts.
    pub unmapped_tags: Vec<RightsRow>,
    pub files_publishable: u64,
    pub bytes_publishable: u64,
    pub files_withheld: u64,
    pub bytes_withheld: u64,
    pub takedowns: Vec<Withholding>,
    pub embargoes: Vec<Withholding>,
    pub log_entries: u64,
}

/// The rights report over the preserved copies.
pub fn report(home: &Home, db: &Db) -> Result<RightsReport, PublishError> {
    let allow = &home.config.publish.allow;
    let rights = content_rights(db)?;
    let now = musicark_store::clock::now_seconds();
    let withheld = crate::pack::withheld_recordings(db, &now)?;
    let mut by_license: BTreeMap<String, RightsRow> = BTreeMap::new();
    let mut by_class: BTreeMap<Class, RightsRow> = BTreeMap::new();
    let mut unmapped: BTreeMap<String, RightsRow> = BTreeMap::new();
    let mut rep = RightsReport {
        policy_allows: allow.clone(),
        ..Default::default()
    };
    let mut stmt =
        db.prepare("SELECT source_id, bytes, recording_id FROM preserved ORDER BY source_id")?;
    let mut rows = stmt.query([])?;
    let unknown = decide(None, None, None, None);
    while let Some(r) = rows.next()? {
        let source: String = r.get(0)?;
        let bytes = r.get::<_, i64>(1)?.max(0) as u64;
        let recording: Option<i64> = r.get(2)?;
        let cr = rights.get(&source).unwrap_or(&unknown);
        let ok = allowed(allow, cr);
        let held = recording.is_some_and(|id| withheld.contains_key(&id));
        let key = cr
            .license
            .clone()
            .unwrap_or_else(|| cr.class.as_str().to_string());
        let e = by_license.entry(key.clone()).or_insert_with(|| RightsRow {
            key,
            class: Some(cr.class),
            publishable: ok,
            ..Default::default()
        });
        e.files += 1;
        e.bytes += bytes;
        let e = by_class.entry(cr.class).or_insert_with(|| RightsRow {
            key: cr.class.as_str().to_string(),
            class: Some(cr.class),
            publishable: allow.iter().any(|a| a == cr.class.as_str()),
            ..Default::default()
        });
        e.files += 1;
        e.bytes += bytes;
        if ok && !held {
            rep.files_publishable += 1;
            rep.bytes_publishable += bytes;
        } else {
            rep.files_withheld += 1;
            rep.bytes_withheld += bytes;
        }
    }
    rep.by_license = by_license.into_values().collect();
    let mut ingested: BTreeMap<String, RightsRow> = BTreeMap::new();
    let mut sizes = db.prepare("SELECT content_id, size FROM contents WHERE verdict = 'audio'")?;
    let mut rows = sizes.query([])?;
    while let Some(r) = rows.next()? {
        let id: String = r.get(0)?;
        let size = r.get::<_, i64>(1)?.max(0) as u64;
        let cr = rights.get(&id).unwrap_or(&unknown);
        let key = cr
            .license
            .clone()
            .unwrap_or_else(|| cr.class.as_str().to_string());
        let e = ingested.entry(key.clone()).or_insert_with(|| RightsRow {
            key,
            class: Some(cr.class),
            publishable: allowed(allow, cr),
            ..Default::default()
        });
        e.files += 1;
        e.bytes += size;
        if cr.class == Class::Unmapped
            && let Some(t) = &cr.license_tag
        {
            let e = unmapped.entry(t.clone()).or_insert_with(|| RightsRow {
                key: t.clone(),
                class: Some(Class::Unmapped),
                publishable: false,
                ..Default::default()
            });
            e.files += 1;
            e.bytes += size;
        }
    }
    rep.ingested_by_license = ingested.into_values().collect();
    rep.unmapped_tags = unmapped.into_values().collect();
    rep.by_class = by_class.into_values().collect();
    let mut stmt = db.prepare(
        "SELECT g.entity, g.entity_id, \
                CASE g.entity WHEN 'recording' THEN (SELECT title FROM recordings WHERE recording_id = g.entity_id) \
                              WHEN 'artist' THEN (SELECT name FROM artists WHERE artist_id = g.entity_id) \
                              WHEN 'release' THEN (SELECT title FROM releases WHERE release_id = g.entity_id) END, \
                g.takedown, g.embargo, g.embargo_until \
         FROM rights g WHERE g.takedown = 1 OR (g.embargo = 1 AND (g.embargo_until IS NULL OR g.embargo_until > ?1)) \
         ORDER BY g.entity, g.entity_id",
    )?;
    let mut rows = stmt.query([&now])?;
    while let Some(r) = rows.next()? {
        let w = Withholding {
            entity: r.get(0)?,
            entity_id: r.get(1)?,
            name: r.get(2)?,
            takedown: r.get::<_, i64>(3)? != 0,
            embargo_until: r.get(5)?,
        };
        if w.takedown {
            rep.takedowns.push(w);
        } else {
            rep.embargoes.push(w);
        }
    }
    rep.log_entries = db
        .query_row("SELECT count(*) FROM rights_log", [], |r| {
            r.get::<_, i64>(0)
        })?
        .max(0) as u64;
    Ok(rep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn licence_texts_map_when_unambiguous() {
        for (text, want) in [
            (
                "https://creativecommons.org/licenses/by/4.0/",
                Some("CC-BY-4.0"),
            ),
            (
                "http://creativecommons.org/licenses/by-sa/3.0/deed.en",
                Some("CC-BY-SA-3.0"),
            ),
            ("CC BY-SA 4.0", Some("CC-BY-SA-4.0")),
            (
                "Creative Commons Attribution-NonCommercial-ShareAlike 4.0 International",
                Some("CC-BY-NC-SA-4.0"),
            ),
            ("cc-by-nd 2.5", Some("CC-BY-ND-2.5")),
            ("CC0", Some("CC0-1.0")),
            (
                "https://creativecommons.org/publicdomain/zero/1.0/",
                Some("CC0-1.0"),
            ),
            ("cc-by-sa-4.0", Some("CC-BY-SA-4.0")),
            ("GPL-2+", Some("GPL-2.0-or-later")),
            ("GPLv3+", Some("GPL-3.0-or-later")),
            ("GNU GPL version 2 or later", Some("GPL-2.0-or-later")),
            ("gpl-3.0-only", Some("GPL-3.0-only")),
            (
                "http://rightsstatements.org/vocab/InC/1.0/",
                Some(IN_COPYRIGHT),
            ),
            (
                "https://rightsstatements.org/vocab/NoC-US/1.0",
                Some("http://rightsstatements.org/vocab/NoC-US/1.0/"),
            ),
            // Ambiguous: no version, or not a licence at all.
            ("GPL", None),
            ("GPLv2", None),
            ("Creative Commons", None),
            ("CC BY-SA", None),
            ("All rights reserved", None),
            ("", None),
        ] {
            assert_eq!(map_license(text).as_deref(), want, "{text:?}");
        }
    }

    #[test]
    fn decisions_follow_the_order_of_sources() {
        let d = decide(Some("CC BY 4.0"), None, Some("CC0-1.0"), None);
        assert_eq!(
            (d.license.as_deref(), d.source.as_str()),
            (Some("CC-BY-4.0"), "tag")
        );
        let d = decide(
            Some("GPL"),
            Some("A (C) 2004"),
            Some("GPL-2.0-or-later"),
            None,
        );
        assert_eq!(
            (
                d.license.as_deref(),
                d.source.as_str(),
                d.license_tag.as_deref()
            ),
            (Some("GPL-2.0-or-later"), "operator", Some("GPL"))
        );
        let d = decide(Some("GPL"), None, None, None);
        assert_eq!((d.license, d.class), (None, Class::Unmapped));
        let d = decide(None, Some("Someone (C) 2009"), None, None);
        assert_eq!(d.class, Class::InCopyright);
        let d = decide(None, None, None, Some("CC-BY-NC-4.0"));
        assert_eq!(
            (d.class, d.source.as_str()),
            (Class::Noncommercial, "catalogue")
        );
        assert_eq!(decide(None, None, None, None).class, Class::Unknown);
    }

    #[test]
    fn canonical_accepts_ids_and_short_statements() {
        assert_eq!(canonical("cc-by-sa-4.0").as_deref(), Some("CC-BY-SA-4.0"));
        assert_eq!(canonical("InC").as_deref(), Some(IN_COPYRIGHT));
        assert_eq!(canonical("no-such-licence"), None);
    }
}
