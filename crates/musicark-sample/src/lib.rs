//! A sample music collection, made from nothing: short synthesised pieces
//! (bass, chords, melody, drums with full-band hi-hats), tagged like a real
//! library (artists, albums, track numbers, ISRC, MusicBrainz ids, licence,
//! cover art), in FLAC (pure-Rust `flacenc`), WAV (`hound`) and Ogg Opus
//! (pure-Rust `opus-pure`); plus what real collections also hold: a liner
//! notes file, a duplicate and a damaged copy.
//!
//! Deterministic: the same [`SampleSpec`] writes the same bytes.

mod synth;

use std::io::Write;
use std::path::{Path, PathBuf};

use lofty::config::WriteOptions;
use lofty::file::{AudioFile, TaggedFileExt};
use lofty::picture::{Picture, PictureType};
use lofty::tag::{ItemKey, Tag};

pub use synth::{Rng, render};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SampleError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: FLAC encoding failed: {message}", path.display())]
    Flac { path: PathBuf, message: String },
    #[error("{}: WAV writing failed: {source}", path.display())]
    Wav { path: PathBuf, source: hound::Error },
    #[error("{}: Opus encoding failed: {source}", path.display())]
    Opus {
        path: PathBuf,
        source: opus_pure::Error,
    },
    #[error("{}: tagging failed: {source}", path.display())]
    Tags {
        path: PathBuf,
        source: lofty::error::FileEncodingError,
    },
}

/// The audio formats the sample writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Flac,
    Wav,
    Opus,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::Flac => "flac",
            Format::Wav => "wav",
            Format::Opus => "opus",
        }
    }
}

/// One track of the sample.
#[derive(Debug, Clone)]
pub struct SampleTrack {
    pub artist: String,
    pub album: String,
    pub year: u32,
    pub track: u32,
    pub tracks: u32,
    pub title: String,
    pub format: Format,
    pub seconds: f64,
    pub isrc: String,
    pub recording_mbid: String,
    pub release_mbid: String,
    pub genre: String,
    /// The `LICENSE` tag, as people write them (a deed URL, a name).
    pub license: String,
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct SampleSpec {
    pub seed: u64,
    pub tracks: Vec<SampleTrack>,
    /// Also write a byte-identical copy of the first track elsewhere.
    pub duplicate: bool,
    /// Also write a truncated copy of one FLAC track.
    pub damaged: bool,
    /// Also write a non-audio file (liner notes).
    pub notes: bool,
}

/// What was written.
#[derive(Debug, Clone, Default)]
pub struct SampleReport {
    /// Clean, tagged audio files.
    pub audio: Vec<PathBuf>,
    pub duplicates: Vec<PathBuf>,
    pub damaged: Vec<PathBuf>,
    pub other: Vec<PathBuf>,
    pub audio_seconds: f64,
}

const LICENSE: &str = "https://creativecommons.org/licenses/by/4.0/";

/// Each album's licence tag, written three ways people write them:
/// CC BY 4.0 as its deed, CC BY-SA 4.0 by name, CC0 as its deed.
const ALBUM_LICENSES: [&str; 3] = [
    LICENSE,
    "CC BY-SA 4.0",
    "https://creativecommons.org/publicdomain/zero/1.0/",
];

/// A 1×1 PNG, for cover art.
const COVER_PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4,
    0x89, 0x00, 0x00, 0x00, 0x0A, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0D, 0x0A, 0x2D, 0xB4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE,
    0x42, 0x60, 0x82,
];

impl SampleSpec {
    /// The demo's collection: three artists, three albums, ten tracks,
    /// ~20 s each, in all three formats.
    pub fn demo() -> SampleSpec {
        SampleSpec::with_tracks(10, 20.0, 0x6d75_7369_6361_726b)
    }

    /// `n` tracks of `seconds` each, spread over three albums.
    pub fn with_tracks(n: u32, seconds: f64, seed: u64) -> SampleSpec {
        let albums = [
            ("Aurora Lane", "First Light", 2024, Format::Flac, "ambient"),
            (
                "The Quiet Engines",
                "Night Shift",
                2023,
                Format::Opus,
                "electronic",
            ),
            (
                "Field Notes Trio",
                "Live at the Depot",
                2019,
                Format::Wav,
                "jazz",
            ),
        ];
        let titles = [
            "Dawn Chorus",
            "Slow Tide",
            "Paper Boats",
            "Glasshouse",
            "Northbound",
            "Static Bloom",
            "Lanterns",
            "Undertow",
            "Copper Sky",
            "Last Tram",
            "Quiet Hours",
            "Small Weather",
        ];
        let mut rng = Rng::new(seed);
        let per_album = n.div_ceil(albums.len() as u32).max(1);
        let tracks = (0..n)
            .map(|i| {
                let (artist, album, year, format, genre) =
                    albums[(i / per_album) as usize % albums.len()];
                let track = i % per_album + 1;
                let album_index = (i / per_album) as usize;
                let title = if (i as usize) < titles.len() {
                    titles[i as usize].to_string()
                } else {
                    format!(
                        "{} {}",
                        titles[i as usize % titles.len()],
                        i / titles.len() as u32 + 1
                    )
                };
                SampleTrack {
                    artist: artist.into(),
                    album: album.into(),
                    year,
                    track,
                    tracks: per_album.min(n - album_index as u32 * per_album),
                    title,
                    format,
                    seconds,
                    isrc: format!("QZMAK{:02}{:05}", year % 100, 100 + i),
                    recording_mbid: rng.uuid(),
                    release_mbid: Rng::new(seed ^ (0xa1b0 + album_index as u64)).uuid(),
                    genre: genre.into(),
                    license: ALBUM_LICENSES[album_index % ALBUM_LICENSES.len()].into(),
                }
            })
            .collect();
        SampleSpec {
            seed,
            tracks,
            duplicate: true,
            damaged: true,
            notes: true,
        }
    }
}

/// Sanitise a name for use as one path component.
fn component(s: &str) -> String {
    s.chars()
        .map(|c| if c == '/' || c == '\0' { '_' } else { c })
        .collect()
}

/// Write the collection under `dir`.
pub fn generate(dir: &Path, spec: &SampleSpec) -> Result<SampleReport, SampleError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SampleError::Io {
            path: path.clone(),
            source,
        }
    };
    let mut report = SampleReport::default();
    for (i, t) in spec.tracks.iter().enumerate() {
        let album_dir =
            dir.join(component(&t.artist))
                .join(format!("{} - {}", t.year, component(&t.album)));
        std::fs::create_dir_all(&album_dir).map_err(io(&album_dir))?;
        let path = album_dir.join(format!(
            "{:02} {}.{}",
            t.track,
            component(&t.title),
            t.format.extension()
        ));
        let rate = match t.format {
            Format::Opus => 48_000,
            _ => 44_100,
        };
        let pcm = render(spec.seed.wrapping_add(i as u64 * 7919), rate, t.seconds);
        match t.format {
            Format::Flac => write_flac(&path, &pcm, rate)?,
            Format::Wav => write_wav(&path, &pcm, rate)?,
            Format::Opus => write_opus(&path, &pcm, rate, t)?,
        }
        if t.format != Format::Opus {
            tag_file(&path, t)?;
        }
        report.audio_seconds += t.seconds;
        report.audio.push(path);
    }
    if spec.duplicate
        && let Some(first) = report.audio.first().cloned()
    {
        let dup_dir = dir.join("Incoming").join("from a friend");
        std::fs::create_dir_all(&dup_dir).map_err(io(&dup_dir))?;
        let name = first
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_default();
        let dup = dup_dir.join(name);
        std::fs::copy(&first, &dup).map_err(io(&dup))?;
        report.duplicates.push(dup);
    }
    if spec.damaged
        && let Some(src) = report
            .audio
            .iter()
            .find(|p| p.extension().is_some_and(|e| e == "flac"))
            .cloned()
    {
        let bad_dir = dir.join("Incoming").join("old hard drive");
        std::fs::create_dir_all(&bad_dir).map_err(io(&bad_dir))?;
        let bad = bad_dir.join("07 Cut Short.flac");
        let bytes = std::fs::read(&src).map_err(io(&src))?;
        std::fs::write(&bad, &bytes[..bytes.len() * 3 / 5]).map_err(io(&bad))?;
        report.damaged.push(bad);
        let noise = bad_dir.join("08 Not Really Audio.mp3");
        let mut rng = Rng::new(spec.seed ^ 0xbad);
        let junk: Vec<u8> = (0..32 * 1024).map(|_| rng.next_u64() as u8).collect();
        std::fs::write(&noise, junk).map_err(io(&noise))?;
        report.damaged.push(noise);
    }
    if spec.notes {
        let notes = dir.join("liner-notes.txt");
        let mut f = std::fs::File::create(&notes).map_err(io(&notes))?;
        writeln!(
            f,
            "Sample collection generated by musicark: synthesised music, licensed {LICENSE}"
        )
        .map_err(io(&notes))?;
        report.other.push(notes);
    }
    Ok(report)
}

fn to_i16(x: f32) -> i32 {
    (x.clamp(-1.0, 1.0) * 32767.0).round() as i32
}

fn write_flac(path: &Path, pcm: &[f32], rate: u32) -> Result<(), SampleError> {
    use flacenc::component::BitRepr;
    use flacenc::error::Verify;
    let samples: Vec<i32> = pcm.iter().map(|&x| to_i16(x)).collect();
    let flac_err = |message: String| SampleError::Flac {
        path: path.to_path_buf(),
        message,
    };
    let config = flacenc::config::Encoder::default()
        .into_verified()
        .map_err(|e| flac_err(format!("{e:?}")))?;
    let source = flacenc::source::MemSource::from_samples(&samples, 2, 16, rate as usize);
    let stream = flacenc::encode_with_fixed_block_size(&config, source, config.block_size)
        .map_err(|e| flac_err(format!("{e:?}")))?;
    let mut sink = flacenc::bitsink::ByteSink::new();
    stream
        .write(&mut sink)
        .map_err(|e| flac_err(format!("{e:?}")))?;
    let mut bytes = sink.as_slice().to_vec();
    // flacenc records the short last block as the stream's minimum block
    // size; RFC 9639 excludes the last block, libFLAC writes min == max for
    // fixed-size streams, and strict readers (symphonia) rely on it. STREAMINFO
    // starts at byte 8: minimum block size (u16 BE), then maximum.
    if bytes.len() >= 12 && &bytes[..4] == b"fLaC" {
        let (min, max) = bytes.split_at_mut(10);
        min[8..10].copy_from_slice(&max[..2]);
    }
    std::fs::write(path, bytes).map_err(|source| SampleError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn write_wav(path: &Path, pcm: &[f32], rate: u32) -> Result<(), SampleError> {
    let wav = |source| SampleError::Wav {
        path: path.to_path_buf(),
        source,
    };
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).map_err(wav)?;
    for &x in pcm {
        w.write_sample(to_i16(x) as i16).map_err(wav)?;
    }
    w.finalize().map_err(wav)
}

fn write_opus(path: &Path, pcm: &[f32], rate: u32, t: &SampleTrack) -> Result<(), SampleError> {
    use opus_pure::{
        Application, MAX_PACKET_BYTES, OggOpusWriter, OpusEncoder, OpusHead, OpusTags,
    };
    let opus = |source| SampleError::Opus {
        path: path.to_path_buf(),
        source,
    };
    let channels = 2usize;
    let frame = (rate / 50) as usize;
    let mut encoder = OpusEncoder::new(rate as i32, channels, Application::Audio).map_err(opus)?;
    encoder.bitrate_bps = 128_000;
    let head = OpusHead::for_encoder(&encoder, rate);
    let mut tags = OpusTags::new();
    tags.vendor = "musicark sample (opus-pure)".into();
    let track = t.track.to_string();
    let tracks = t.tracks.to_string();
    let year = t.year.to_string();
    for (k, v) in [
        ("TITLE", t.title.as_str()),
        ("ARTIST", &t.artist),
        ("ALBUM", &t.album),
        ("ALBUMARTIST", &t.artist),
        ("TRACKNUMBER", &track),
        ("TRACKTOTAL", &tracks),
        ("DATE", &year),
        ("GENRE", &t.genre),
        ("ISRC", &t.isrc),
        ("MUSICBRAINZ_TRACKID", &t.recording_mbid),
        ("MUSICBRAINZ_ALBUMID", &t.release_mbid),
        ("LICENSE", &t.license),
        ("COPYRIGHT", "2024 musicark sample"),
    ] {
        tags.push(k, v).map_err(opus)?;
    }
    let ticks = 48_000 / rate as usize;
    let total = pcm.len() / channels;
    let frames = (total + (head.pre_skip as usize).div_ceil(ticks)).div_ceil(frame);
    let final_granule = u64::from(head.pre_skip) + (total * ticks) as u64;
    let file = std::fs::File::create(path).map_err(|source| SampleError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut writer =
        OggOpusWriter::with_tags(std::io::BufWriter::new(file), head, tags).map_err(opus)?;
    let mut packet = vec![0u8; MAX_PACKET_BYTES];
    let per_frame = frame * channels;
    let mut block = vec![0.0f32; per_frame];
    for i in 0..frames {
        let start = (i * per_frame).min(pcm.len());
        let end = (start + per_frame).min(pcm.len());
        block[..end - start].copy_from_slice(&pcm[start..end]);
        block[end - start..].fill(0.0);
        let n = encoder.encode(&block, frame, &mut packet).map_err(opus)?;
        if i + 1 == frames {
            let duration = final_granule - writer.granule() as u64;
            writer
                .write_packet_with_duration(&packet[..n], duration as u32)
                .map_err(opus)?;
        } else {
            writer.write_packet(&packet[..n]).map_err(opus)?;
        }
    }
    let mut inner = writer.finish().map_err(opus)?;
    inner.flush().map_err(|source| SampleError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn tag_file(path: &Path, t: &SampleTrack) -> Result<(), SampleError> {
    let tags_err = |source| SampleError::Tags {
        path: path.to_path_buf(),
        source,
    };
    let mut file = lofty::read_from_path(path).map_err(|e| SampleError::Tags {
        path: path.to_path_buf(),
        source: e.into(),
    })?;
    let tag_type = file.primary_tag_type();
    if tag_type == lofty::tag::TagType::Id3v2 {
        return tag_id3v2(path, t);
    }
    if file.primary_tag().is_none() {
        file.insert_tag(Tag::new(tag_type));
    }
    let Some(tag) = file.primary_tag_mut() else {
        return Ok(());
    };
    for (key, value) in [
        (ItemKey::TrackTitle, t.title.clone()),
        (ItemKey::TrackArtist, t.artist.clone()),
        (ItemKey::AlbumTitle, t.album.clone()),
        (ItemKey::AlbumArtist, t.artist.clone()),
        (ItemKey::TrackNumber, t.track.to_string()),
        (ItemKey::TrackTotal, t.tracks.to_string()),
        (ItemKey::RecordingDate, t.year.to_string()),
        (ItemKey::Genre, t.genre.clone()),
        (ItemKey::Isrc, t.isrc.clone()),
        (ItemKey::MusicBrainzRecordingId, t.recording_mbid.clone()),
        (ItemKey::MusicBrainzReleaseId, t.release_mbid.clone()),
        (ItemKey::License, t.license.clone()),
        (
            ItemKey::CopyrightMessage,
            format!("{} {}", t.year, t.artist),
        ),
    ] {
        tag.insert_text(key, value);
    }
    if tag.tag_type() == lofty::tag::TagType::Id3v2 {
        // ID3v2 has no licence text frame: the licence URL goes in WCOP,
        // as Picard writes it (every sample licence of a WAV album is a
        // deed URL).
        tag.insert_text(ItemKey::CopyrightUrl, t.license.clone());
    }
    if let Ok(mut picture) = Picture::from_reader(&mut &COVER_PNG[..]) {
        picture.set_pic_type(PictureType::CoverFront);
        tag.push_picture(picture);
    }
    file.save_to_path(path, WriteOptions::default())
        .map_err(tags_err)
}

/// The WAVs' ID3v2 tag, frame by frame in a fixed order: lofty's
/// conversion from its generic tag goes through hash maps and writes the
/// frames in a different order each run, so two samples (and two demos'
/// torrents) differed.
fn tag_id3v2(path: &Path, t: &SampleTrack) -> Result<(), SampleError> {
    use lofty::TextEncoding::UTF8;
    use lofty::id3::v2::{
        AttachedPictureFrame, ExtendedTextFrame, Frame, FrameId, Id3v2Tag, TextInformationFrame,
        UniqueFileIdentifierFrame, UrlLinkFrame,
    };
    use lofty::tag::TagExt;
    let mut tag = Id3v2Tag::new();
    let text = |id: &'static str, value: String| {
        Frame::Text(TextInformationFrame::new(
            FrameId::Valid(id.into()),
            UTF8,
            value,
        ))
    };
    for frame in [
        text("TIT2", t.title.clone()),
        text("TPE1", t.artist.clone()),
        text("TALB", t.album.clone()),
        text("TPE2", t.artist.clone()),
        text("TRCK", format!("{}/{}", t.track, t.tracks)),
        text("TDRC", t.year.to_string()),
        text("TCON", t.genre.clone()),
        text("TSRC", t.isrc.clone()),
        text("TCOP", format!("{} {}", t.year, t.artist)),
        Frame::UniqueFileIdentifier(UniqueFileIdentifierFrame::new(
            "http://musicbrainz.org",
            t.recording_mbid.as_bytes().to_vec(),
        )),
        Frame::UserText(ExtendedTextFrame::new(
            UTF8,
            "MusicBrainz Album Id",
            t.release_mbid.clone(),
        )),
        // ID3v2 has no licence text frame: the licence URL goes in WCOP,
        // as Picard writes it (every sample licence of a WAV album is a
        // deed URL).
        Frame::Url(UrlLinkFrame::new(
            FrameId::Valid("WCOP".into()),
            t.license.clone(),
        )),
    ] {
        tag.insert(frame);
    }
    if let Ok(mut picture) = Picture::from_reader(&mut &COVER_PNG[..]) {
        picture.set_pic_type(PictureType::CoverFront);
        tag.insert(Frame::Picture(AttachedPictureFrame::new(UTF8, picture)));
    }
    tag.save_to_path(path, WriteOptions::default())
        .map_err(|source| SampleError::Tags {
            path: path.to_path_buf(),
            source,
        })
}

/// A stable MBID for a name (the sample's artists have no real ones).
fn name_mbid(name: &str) -> String {
    let h = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    });
    Rng::new(h).uuid()
}

/// Open data describing the sample, in the shapes of the real dumps: a
/// MusicBrainz `recording` JSON Lines file (with one malformed line, as
/// real dumps of other sources have) and a ListenBrainz popularity CSV.
/// Returns the two paths.
pub fn write_open_data(dir: &Path, spec: &SampleSpec) -> Result<(PathBuf, PathBuf), SampleError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SampleError::Io {
            path: path.clone(),
            source,
        }
    };
    let mb = dir.join("mbdump");
    std::fs::create_dir_all(&mb).map_err(io(&mb))?;
    let recording = mb.join("recording");
    let mut lines = Vec::new();
    for t in &spec.tracks {
        let rec = serde_like_json(&[
            ("id", Json::S(&t.recording_mbid)),
            ("title", Json::S(&t.title)),
            ("length", Json::N((t.seconds * 1000.0).round() as i64)),
            ("video", Json::Raw("false")),
            ("first-release-date", Json::S(&format!("{}-01-01", t.year))),
            ("isrcs", Json::Raw(&format!("[\"{}\"]", t.isrc))),
            (
                "artist-credit",
                Json::Raw(&format!(
                    "[{{\"name\":{},\"joinphrase\":\"\",\"artist\":{{\"id\":\"{}\",\"name\":{},\"sort-name\":{}}}}}]",
                    quote(&t.artist),
                    name_mbid(&t.artist),
                    quote(&t.artist),
                    quote(&t.artist)
                )),
            ),
        ]);
        lines.push(rec);
    }
    lines.push("{\"id\": \"this line is broken".into());
    std::fs::write(&recording, lines.join("\n") + "\n").map_err(io(&recording))?;
    let listens = dir.join("listenbrainz.csv");
    let mut csv = String::from("recording_mbid,total_listen_count,total_user_count\n");
    for (i, t) in spec.tracks.iter().enumerate() {
        // A long tail: the first track is popular, most are barely heard.
        let n = 10_000 / (i as u64 + 1).pow(2);
        if n > 0 {
            csv.push_str(&format!("{},{n},{}\n", t.recording_mbid, (n / 10).max(1)));
        }
    }
    std::fs::write(&listens, csv).map_err(io(&listens))?;
    Ok((recording, listens))
}

enum Json<'a> {
    S(&'a str),
    N(i64),
    Raw(&'a str),
}

fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn serde_like_json(fields: &[(&str, Json<'_>)]) -> String {
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| {
            let v = match v {
                Json::S(s) => quote(s),
                Json::N(n) => n.to_string(),
                Json::Raw(r) => r.to_string(),
            };
            format!("{}:{v}", quote(k))
        })
        .collect();
    format!("{{{}}}", body.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).expect("dir").flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    let bytes = std::fs::read(&p).expect("read");
                    out.push((p.strip_prefix(dir).expect("under").to_path_buf(), bytes));
                }
            }
        }
        out.sort();
        out
    }

    /// Regression: the ID3v2 frames inside the WAVs came out in a
    /// different order each run, so two demos published different
    /// torrents.
    #[test]
    fn two_runs_write_identical_bytes() {
        let a = tempfile::tempdir().expect("tempdir");
        let b = tempfile::tempdir().expect("tempdir");
        let spec = SampleSpec::with_tracks(9, 1.0, 42);
        generate(a.path(), &spec).expect("a");
        generate(b.path(), &spec).expect("b");
        let (fa, fb) = (files(a.path()), files(b.path()));
        assert_eq!(fa.len(), fb.len());
        for ((pa, ba), (pb, bb)) in fa.iter().zip(&fb) {
            assert_eq!(pa, pb);
            assert!(ba == bb, "{} differs between two runs", pa.display());
        }
    }
}
