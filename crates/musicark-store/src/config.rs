//! `musicark.toml`: the archive's settings.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{Result, StoreError};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub archive: ArchiveConfig,
    #[serde(default)]
    pub ingest: IngestConfig,
    #[serde(default)]
    pub preserve: PreserveConfig,
    #[serde(default)]
    pub publish: PublishConfig,
    #[serde(default, skip_serializing_if = "ServeConfig::is_default")]
    pub serve: ServeConfig,
    /// Where the S3-compatible object store of `[archive] blobs` answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Config>,
}

/// `[s3]`: the object store behind `blobs = "s3://…"`. Credentials are
/// never written here: they come from `AWS_ACCESS_KEY_ID` and
/// `AWS_SECRET_ACCESS_KEY`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    /// `http://HOST:PORT` of a self-hosted store (Garage, Ceph RGW…);
    /// absent: `AWS_ENDPOINT_URL`, else AWS itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The store's region name (Garage's default is `garage`); absent:
    /// `AWS_REGION`, else `us-east-1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

/// `musicark serve`: the web UI and JSON API.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    /// The secret that actions (scrape now, embargo, takedown) must carry
    /// as `Authorization: Bearer TOKEN`. Unset: the server is read-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl ServeConfig {
    fn is_default(&self) -> bool {
        self == &ServeConfig::default()
    }
}

/// How `pack` and `list export` publish.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishConfig {
    /// Where the list's torrents will be served from (`url` of each list
    /// entry is this plus `torrents/NAME.torrent`); empty: relative URLs.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub base_url: String,
    /// Trackers written into new packs (one tier each).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trackers: Vec<String>,
    /// BEP 19 web seeds written into new packs: base URLs (ending in
    /// `/`) under which a pack's files are served as `BASE/NAME/PATH` —
    /// `musicark serve`'s `/packs/`, or a bucket laid out the same way —
    /// so that a pack downloads with no peer at all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub webseeds: Vec<String>,
    /// The publication policy: which files `pack` may publish, by rights
    /// class (`open`, `noncommercial`, `no-derivatives`, `in-copyright`,
    /// `unmapped`, `unknown`) or licence id (`CC-BY-NC-4.0`…). Default:
    /// only what is known to allow redistribution.
    #[serde(default = "default_allow")]
    pub allow: Vec<String>,
    /// How the list shows a torrent holding a recording put under embargo
    /// after it was published: `flag` (listed with `embargo: true`, no
    /// magnet, no .torrent) or `omit` (not listed).
    #[serde(default)]
    pub embargoed: EmbargoListing,
}

fn default_allow() -> Vec<String> {
    vec!["open".to_string()]
}

impl Default for PublishConfig {
    fn default() -> Self {
        PublishConfig {
            base_url: String::new(),
            trackers: Vec::new(),
            webseeds: Vec::new(),
            allow: default_allow(),
            embargoed: EmbargoListing::default(),
        }
    }
}

/// See [`PublishConfig::embargoed`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmbargoListing {
    #[default]
    Flag,
    Omit,
}

/// The tier policy of `musicark preserve`: what to keep of each file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreserveConfig {
    /// An original lossy file at or under this bitrate (kbit/s) is kept as
    /// it is (re-encoding it would only lose).
    #[serde(default = "keep_lossy")]
    pub keep_lossy_up_to_kbps: u32,
    /// Popularity bands, most popular first: the share of the catalogue's
    /// recordings by listens (`top`, cumulative, up to 1.0) and the Opus
    /// bitrate (kbit/s) for files of those recordings.
    #[serde(default = "default_bands")]
    pub bands: Vec<Band>,
    /// Opus bitrate for files not linked to a catalogue recording.
    #[serde(default = "unmatched_kbps")]
    pub unmatched_kbps: u32,
    /// The lossless tier: genuine lossless originals (no lossy encoder's
    /// cut in their spectrum) of recordings in this top share of the
    /// catalogue by listens are kept as they are. 0 (the default): none.
    #[serde(default)]
    pub keep_lossless_top: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Band {
    pub top: f64,
    pub kbps: u32,
}

fn keep_lossy() -> u32 {
    160
}

fn unmatched_kbps() -> u32 {
    96
}

fn default_bands() -> Vec<Band> {
    vec![
        Band {
            top: 0.01,
            kbps: 128,
        },
        Band { top: 0.1, kbps: 96 },
        Band { top: 1.0, kbps: 64 },
    ]
}

impl Default for PreserveConfig {
    fn default() -> Self {
        PreserveConfig {
            keep_lossy_up_to_kbps: keep_lossy(),
            bands: default_bands(),
            unmatched_kbps: unmatched_kbps(),
            keep_lossless_top: 0.0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveConfig {
    /// A human name for the archive, shown in reports and lists.
    pub name: String,
    /// The version of this file's layout.
    pub format: u32,
    /// The PostgreSQL database holding the catalogue and all archive
    /// state (`postgres://USER@HOST/DB`, given to `musicark init
    /// --database`). Absent: `catalog.sqlite` in the archive, embedded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// Where blobs live: `s3://bucket/prefix` for S3-compatible object
    /// storage (given to `musicark init --blobs`). Absent: `blobs/` in
    /// the archive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blobs: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestConfig {
    /// Worker threads for ingest; absent means one per core.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jobs: Option<usize>,
    /// Copy files into the blob store (true) or only record them where they
    /// are (false, like `--reference`).
    #[serde(default = "yes")]
    pub copy: bool,
}

fn yes() -> bool {
    true
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            jobs: None,
            copy: true,
        }
    }
}

impl Config {
    pub fn new_default(root: &Path) -> Config {
        let name = root
            .canonicalize()
            .ok()
            .as_deref()
            .and_then(|p| p.file_name())
            .and_then(|n| n.to_str())
            .unwrap_or("musicark archive")
            .to_string();
        Config {
            archive: ArchiveConfig {
                name,
                format: 1,
                database: None,
                blobs: None,
            },
            ingest: IngestConfig::default(),
            preserve: PreserveConfig::default(),
            publish: PublishConfig::default(),
            serve: ServeConfig::default(),
            s3: None,
        }
    }

    pub fn to_toml(&self) -> Result<String> {
        let body = toml::to_string_pretty(self).map_err(|e| StoreError::Config {
            path: "musicark.toml".into(),
            message: e.to_string(),
        })?;
        Ok(format!("# musicark archive settings\n{body}"))
    }

    pub fn from_toml(text: &str, path: &Path) -> Result<Config> {
        toml::from_str(text).map_err(|e| StoreError::Config {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_round_trips_and_rejects_unknown_keys() {
        let c = Config::new_default(Path::new("/nonexistent/my-archive"));
        let text = c.to_toml().expect("serialises");
        assert_eq!(Config::from_toml(&text, Path::new("x")).expect("parses"), c);
        let bad = format!("{text}\n[nonsense]\nx = 1\n");
        assert!(Config::from_toml(&bad, Path::new("x")).is_err());
    }
}
