//! Recognise a container from its first bytes, and audio from a file name.
//!
//! Sniffing is independent of file names: a FLAC file named `.mp3` is still
//! FLAC. The extension only decides whether an unrecognisable file counts as
//! damaged audio or as some other kind of file.

use std::io::Read;
use std::path::Path;

/// How many leading bytes [`Container::sniff`] looks at.
pub const HEAD_LEN: usize = 128;

/// File name extensions that promise audio.
const AUDIO_EXTENSIONS: &[&str] = &[
    "aac", "ac3", "aif", "aifc", "aiff", "alac", "ape", "caf", "dts", "flac", "m4a", "m4b", "mka",
    "mp1", "mp2", "mp3", "mp4", "mpc", "oga", "ogg", "opus", "spx", "tta", "wav", "wave", "webm",
    "wma", "wv",
];

/// Whether the file name's extension promises audio.
pub fn is_audio_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .map(|e| AUDIO_EXTENSIONS.iter().any(|a| a.eq_ignore_ascii_case(e)))
        .unwrap_or(false)
}

pub(crate) fn read_head(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(HEAD_LEN);
    std::fs::File::open(path)?
        .take(HEAD_LEN as u64)
        .read_to_end(&mut buf)?;
    Ok(buf)
}

/// A container, recognised from its magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    Flac,
    /// Ogg whose first stream is Opus.
    OggOpus,
    /// Any other Ogg stream (Vorbis, FLAC in Ogg, Speex…).
    Ogg,
    Wav,
    Aiff,
    /// MPEG audio, with or without a leading ID3v2 tag.
    Mpeg,
    Mp4,
    Matroska,
    Caf,
    Adts,
    Asf,
    Ape,
    WavPack,
    Musepack,
    Unknown,
}

impl Container {
    pub fn sniff(head: &[u8]) -> Container {
        let at = |off: usize, magic: &[u8]| head.get(off..off + magic.len()) == Some(magic);
        if at(0, b"fLaC") {
            Container::Flac
        } else if at(0, b"OggS") {
            // The first page of an Ogg Opus stream carries exactly the
            // 19+ byte OpusHead packet right after the segment table.
            let segments = head.get(26).copied().unwrap_or(0) as usize;
            if at(27 + segments, b"OpusHead") {
                Container::OggOpus
            } else {
                Container::Ogg
            }
        } else if at(0, b"RIFF") && at(8, b"WAVE") || at(0, b"RF64") || at(0, b"BW64") {
            Container::Wav
        } else if at(0, b"FORM") && (at(8, b"AIFF") || at(8, b"AIFC")) {
            Container::Aiff
        } else if at(4, b"ftyp") {
            Container::Mp4
        } else if at(0, &[0x1A, 0x45, 0xDF, 0xA3]) {
            Container::Matroska
        } else if at(0, b"caff") {
            Container::Caf
        } else if at(0, &[0x30, 0x26, 0xB2, 0x75, 0x8E, 0x66, 0xCF, 0x11]) {
            Container::Asf
        } else if at(0, b"MAC ") {
            Container::Ape
        } else if at(0, b"wvpk") {
            Container::WavPack
        } else if at(0, b"MPCK") || at(0, b"MP+") {
            Container::Musepack
        } else if at(0, b"ID3") {
            Container::Mpeg
        } else if head.len() >= 2 && head[0] == 0xFF && head[1] & 0xF6 == 0xF0 {
            // ADTS: 12 sync bits and layer 00.
            Container::Adts
        } else if head.len() >= 2 && head[0] == 0xFF && head[1] & 0xE0 == 0xE0 {
            Container::Mpeg
        } else {
            Container::Unknown
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Container::Flac => "flac",
            Container::OggOpus | Container::Ogg => "ogg",
            Container::Wav => "wav",
            Container::Aiff => "aiff",
            Container::Mpeg => "mpeg",
            Container::Mp4 => "mp4",
            Container::Matroska => "matroska",
            Container::Caf => "caf",
            Container::Adts => "adts",
            Container::Asf => "asf",
            Container::Ape => "ape",
            Container::WavPack => "wavpack",
            Container::Musepack => "musepack",
            Container::Unknown => "unknown",
        }
    }

    /// Containers we recognise but cannot decode yet.
    pub(crate) fn unsupported_reason(self) -> Option<String> {
        let what = match self {
            Container::Asf => "Windows Media (ASF/WMA)",
            Container::Ape => "Monkey's Audio (APE)",
            Container::WavPack => "WavPack",
            Container::Musepack => "Musepack",
            _ => return None,
        };
        Some(format!(
            "{what} is recognised but has no decoder in musicark yet"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(head: &[u8], expected: Container) {
        assert_eq!(
            Container::sniff(head),
            expected,
            "head {:?}",
            &head[..head.len().min(12)]
        );
    }

    #[test]
    fn sniffs_magic_bytes() {
        check(b"fLaC\0\0\0\x22", Container::Flac);
        check(b"RIFF\x24\0\0\0WAVEfmt ", Container::Wav);
        check(b"FORM\0\0\0\0AIFF", Container::Aiff);
        check(b"ID3\x04\0\0\0\0\0\0", Container::Mpeg);
        check(&[0xFF, 0xFB, 0x90, 0x64], Container::Mpeg);
        check(&[0xFF, 0xF1, 0x50, 0x80], Container::Adts);
        check(b"\0\0\0\x20ftypM4A ", Container::Mp4);
        check(b"wvpk", Container::WavPack);
        check(b"hello world", Container::Unknown);
        check(b"", Container::Unknown);
        let mut ogg = b"OggS\0\x02".to_vec();
        ogg.resize(26, 0);
        ogg.push(1); // one segment
        ogg.push(19);
        ogg.extend_from_slice(b"OpusHead");
        check(&ogg, Container::OggOpus);
        ogg[28..36].copy_from_slice(b"\x01vorbis\0");
        check(&ogg, Container::Ogg);
    }

    #[test]
    fn audio_extensions_ignore_case() {
        assert!(is_audio_extension(Path::new("a/b/Track.FLAC")));
        assert!(is_audio_extension(Path::new("x.opus")));
        assert!(!is_audio_extension(Path::new("cover.jpg")));
        assert!(!is_audio_extension(Path::new("README")));
    }
}
