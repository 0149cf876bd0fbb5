//! The MusicBrainz JSON shapes (web service v2 = one line of a JSON dump),
//! as far as the catalogue reads them. Every field may be missing or null.

use serde::{Deserialize, Deserializer};

/// `null` and missing both become the default (empty lists, mostly).
fn null_default<'de, D: Deserializer<'de>, T: Default + Deserialize<'de>>(
    d: D,
) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[derive(Debug, Clone, Deserialize)]
pub struct ArtistRef {
    pub id: Option<String>,
    pub name: Option<String>,
    #[serde(rename = "sort-name")]
    pub sort_name: Option<String>,
    pub country: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Credit {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub joinphrase: String,
    pub artist: Option<ArtistRef>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Recording {
    pub id: Option<String>,
    pub title: Option<String>,
    pub length: Option<i64>,
    #[serde(default, deserialize_with = "null_default")]
    pub video: bool,
    #[serde(default, deserialize_with = "null_default")]
    pub isrcs: Vec<Option<String>>,
    #[serde(rename = "artist-credit", default, deserialize_with = "null_default")]
    pub artist_credit: Vec<Credit>,
    #[serde(rename = "first-release-date")]
    pub first_release_date: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Artist {
    pub id: Option<String>,
    pub name: Option<String>,
    #[serde(rename = "sort-name")]
    pub sort_name: Option<String>,
    pub country: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Label {
    pub name: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LabelInfo {
    pub label: Option<Label>,
    #[serde(rename = "catalog-number")]
    pub catalog_number: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ReleaseGroup {
    pub id: Option<String>,
    pub title: Option<String>,
    #[serde(rename = "primary-type")]
    pub primary_type: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Track {
    pub position: Option<i64>,
    pub title: Option<String>,
    pub length: Option<i64>,
    pub recording: Option<Recording>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Medium {
    pub position: Option<i64>,
    pub pregap: Option<Track>,
    #[serde(default, deserialize_with = "null_default")]
    pub tracks: Vec<Track>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Release {
    pub id: Option<String>,
    pub title: Option<String>,
    pub date: Option<String>,
    pub country: Option<String>,
    pub barcode: Option<String>,
    pub status: Option<String>,
    #[serde(rename = "artist-credit", default, deserialize_with = "null_default")]
    pub artist_credit: Vec<Credit>,
    #[serde(rename = "label-info", default, deserialize_with = "null_default")]
    pub label_info: Vec<LabelInfo>,
    #[serde(rename = "release-group")]
    pub release_group: Option<ReleaseGroup>,
    #[serde(default, deserialize_with = "null_default")]
    pub media: Vec<Medium>,
}

/// The credit as printed: names joined by their join phrases.
pub fn credit_string(credits: &[Credit]) -> String {
    let mut s = String::new();
    for c in credits {
        let name = c
            .name
            .as_deref()
            .or(c.artist.as_ref().and_then(|a| a.name.as_deref()))
            .unwrap_or("");
        s.push_str(name);
        s.push_str(&c.joinphrase);
    }
    s
}
