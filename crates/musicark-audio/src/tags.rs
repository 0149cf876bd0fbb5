//! Tag reading through lofty: the fields an archive needs, merged from every
//! tag a file carries (the format's primary tag first).

use std::path::Path;

use lofty::config::{ParseOptions, ParsingMode};
use lofty::file::TaggedFileExt;
use lofty::probe::Probe;
use lofty::tag::{ItemKey, Tag};
use serde::{Deserialize, Serialize};

/// The descriptive metadata of one file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tags {
    /// The kind of the primary tag: `VorbisComments`, `Id3v2`, `Mp4Ilst`…
    pub tag_type: String,
    pub title: Option<String>,
    pub artists: Vec<String>,
    pub album: Option<String>,
    pub album_artists: Vec<String>,
    pub track_number: Option<u32>,
    pub track_total: Option<u32>,
    pub disc_number: Option<u32>,
    pub disc_total: Option<u32>,
    pub date: Option<String>,
    pub isrcs: Vec<String>,
    pub musicbrainz_recording_id: Option<String>,
    pub musicbrainz_track_id: Option<String>,
    pub musicbrainz_release_id: Option<String>,
    pub musicbrainz_release_group_id: Option<String>,
    pub musicbrainz_artist_ids: Vec<String>,
    pub barcode: Option<String>,
    pub label: Option<String>,
    pub genres: Vec<String>,
    pub copyright: Option<String>,
    pub license: Option<String>,
    pub pictures: u32,
    pub has_cover_art: bool,
}

/// Read the tags of `path`; `Ok(None)` when the file has none.
pub(crate) fn read_tags(path: &Path) -> Result<Option<Tags>, lofty::error::FileParseError> {
    let options = ParseOptions::new()
        .read_properties(false)
        .read_cover_art(true)
        .parsing_mode(ParsingMode::BestAttempt);
    let file = Probe::open(path)?
        .options(options)
        .guess_file_type()?
        .read()?;
    if file.tags().is_empty() {
        return Ok(None);
    }
    let primary = file.primary_tag_type();
    let mut ordered: Vec<&Tag> = file
        .tags()
        .iter()
        .filter(|t| t.tag_type() == primary)
        .collect();
    ordered.extend(file.tags().iter().filter(|t| t.tag_type() != primary));
    let tag_type = format!("{:?}", ordered[0].tag_type());

    let one = |key: ItemKey| -> Option<String> {
        ordered
            .iter()
            .find_map(|t| t.get_string(key).map(clean))
            .filter(|s| !s.is_empty())
    };
    let many = |key: ItemKey| -> Vec<String> {
        for t in &ordered {
            let values: Vec<String> = t
                .get_strings(key)
                .map(clean)
                .filter(|s| !s.is_empty())
                .collect();
            if !values.is_empty() {
                return values;
            }
        }
        Vec::new()
    };
    let number = |key: ItemKey| -> Option<u32> { one(key).and_then(|s| parse_number(&s)) };

    let mut artists = many(ItemKey::TrackArtists);
    if artists.is_empty() {
        artists = many(ItemKey::TrackArtist);
    }
    let mut album_artists = many(ItemKey::AlbumArtists);
    if album_artists.is_empty() {
        album_artists = many(ItemKey::AlbumArtist);
    }
    let pictures: u32 = ordered.iter().map(|t| t.picture_count()).max().unwrap_or(0);
    let (track_number, track_total) =
        numbers(one(ItemKey::TrackNumber), number(ItemKey::TrackTotal));
    let (disc_number, disc_total) = numbers(one(ItemKey::DiscNumber), number(ItemKey::DiscTotal));
    Ok(Some(Tags {
        tag_type,
        title: one(ItemKey::TrackTitle),
        artists,
        album: one(ItemKey::AlbumTitle),
        album_artists,
        track_number,
        track_total,
        disc_number,
        disc_total,
        date: one(ItemKey::RecordingDate)
            .or_else(|| one(ItemKey::Year))
            .or_else(|| one(ItemKey::ReleaseDate)),
        isrcs: many(ItemKey::Isrc),
        musicbrainz_recording_id: one(ItemKey::MusicBrainzRecordingId),
        musicbrainz_track_id: one(ItemKey::MusicBrainzTrackId),
        musicbrainz_release_id: one(ItemKey::MusicBrainzReleaseId),
        musicbrainz_release_group_id: one(ItemKey::MusicBrainzReleaseGroupId),
        musicbrainz_artist_ids: many(ItemKey::MusicBrainzArtistId),
        barcode: one(ItemKey::Barcode),
        label: one(ItemKey::Label).or_else(|| one(ItemKey::Publisher)),
        genres: many(ItemKey::Genre),
        copyright: one(ItemKey::CopyrightMessage),
        // Vorbis LICENSE, MP4 ----:LICENSE; ID3v2 as Picard writes it:
        // TXXX:LICENSE, or the licence URL in WCOP.
        license: one(ItemKey::License)
            .or_else(|| ItemKey::from_key(lofty::tag::TagType::Id3v2, "LICENSE").and_then(&one))
            .or_else(|| {
                ordered.iter().find_map(|t| {
                    t.get_items(ItemKey::CopyrightUrl)
                        .find_map(|i| match i.value() {
                            lofty::tag::ItemValue::Locator(s) | lofty::tag::ItemValue::Text(s) => {
                                Some(clean(s)).filter(|s| !s.is_empty())
                            }
                            lofty::tag::ItemValue::Binary(_) => None,
                        })
                })
            }),
        pictures,
        has_cover_art: pictures > 0,
    }))
}

fn clean(s: &str) -> String {
    s.trim_matches(|c: char| c.is_whitespace() || c == '\0')
        .to_string()
}

fn parse_number(s: &str) -> Option<u32> {
    s.trim().parse().ok()
}

/// "3/12" style values carry the total in the number field.
fn numbers(value: Option<String>, total: Option<u32>) -> (Option<u32>, Option<u32>) {
    match value {
        Some(v) => match v.split_once('/') {
            Some((n, t)) => (parse_number(n), total.or_else(|| parse_number(t))),
            None => (parse_number(&v), total),
        },
        None => (None, total),
    }
}

/// The file's pictures as base64 FLAC picture blocks (the
/// `METADATA_BLOCK_PICTURE` comment of Ogg files); none when unreadable.
pub(crate) fn pictures_as_flac_blocks(path: &Path) -> Vec<String> {
    let options = ParseOptions::new()
        .read_properties(false)
        .read_cover_art(true)
        .parsing_mode(ParsingMode::BestAttempt);
    let read = || -> Result<lofty::file::TaggedFile, lofty::error::FileParseError> {
        Probe::open(path)?
            .options(options)
            .guess_file_type()?
            .read()
    };
    let Ok(file) = read() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for tag in file.tags() {
        for picture in tag.pictures() {
            if let Ok(info) = lofty::picture::PictureInformation::from_picture(picture) {
                let bytes = picture.as_flac_bytes(info, true);
                if let Ok(text) = String::from_utf8(bytes) {
                    out.push(text);
                }
            }
        }
        if !out.is_empty() {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slash_numbers_split_into_number_and_total() {
        assert_eq!(numbers(Some("3/12".into()), None), (Some(3), Some(12)));
        assert_eq!(numbers(Some("3".into()), Some(9)), (Some(3), Some(9)));
        assert_eq!(numbers(Some(" 07 ".into()), None), (Some(7), None));
        assert_eq!(numbers(Some("x".into()), None), (None, None));
        assert_eq!(numbers(None, None), (None, None));
    }
}
