//! Paths inside a pack: readable, stable, portable and collision-free.
//! Pure: names in, paths out.
//!
//! `Artist/Year - Release/NN Title [id].ext` for a recording placed on a
//! release, `Artist/Title [id].ext` without one, and
//! `_unlinked/Artist/Album/Name [id].ext` for files the catalogue does not
//! know (names from their tags or file name). `[id]` is the first ten hex
//! digits of the copy's BLAKE3: stable across runs and archives, and it
//! keeps two copies of one recording apart.
//!
//! Every component is made safe on every filesystem a donor may use:
//! no `/ \ : * ? " < > |` or control characters, no leading or trailing
//! dots and spaces, no Windows device names, at most [`MAX_COMPONENT`]
//! bytes (cut on a character boundary, the `[id].ext` tail kept).

use std::collections::HashSet;

/// Longest component in bytes (ext4, NTFS and APFS allow 255; clients add
/// suffixes such as `.part` or `.!qB`, so leave room).
pub const MAX_COMPONENT: usize = 180;

/// What a file's path is made from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PathParts {
    pub artist: Option<String>,
    pub year: Option<String>,
    pub release: Option<String>,
    /// Disc and track number on the release.
    pub disc: Option<u32>,
    pub discs: Option<u32>,
    pub track: Option<u32>,
    pub title: Option<String>,
    /// The copy's BLAKE3 (hex).
    pub id: String,
    /// File extension without the dot (`opus`, `ogg`, `mp3`).
    pub ext: String,
    /// Not linked to a catalogue recording.
    pub unlinked: bool,
}

const RESERVED: &[&str] = &[
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

/// One path component, safe everywhere; `fallback` when nothing is left.
pub fn sanitize(raw: &str, fallback: &str) -> String {
    let mut s: String = raw
        .chars()
        .map(|c| match c {
            '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|' => '_',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect();
    // Collapse runs of white space.
    s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    let s = s.trim_matches(|c: char| c == '.' || c == ' ');
    let mut s = if s.is_empty() {
        fallback.to_string()
    } else {
        s.to_string()
    };
    let stem = s.split('.').next().unwrap_or("").to_ascii_uppercase();
    if RESERVED.contains(&stem.as_str()) {
        s.insert(0, '_');
    }
    cut(&s, MAX_COMPONENT).to_string()
}

/// The longest prefix of `s` of at most `max` bytes, on a char boundary.
fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].trim_end_matches([' ', '.'])
}

/// A file name `head [id].ext`, `head` cut so the whole fits.
fn file_name(head: &str, id: &str, ext: &str) -> String {
    let tail = format!(" [{}].{}", &id[..id.len().min(10)], sanitize(ext, "bin"));
    let head = sanitize(head, "Untitled");
    let head = cut(&head, MAX_COMPONENT.saturating_sub(tail.len()));
    format!("{head}{tail}")
}

/// The path of one file, as components below the torrent's name.
pub fn path_for(p: &PathParts) -> Vec<String> {
    let artist = sanitize(p.artist.as_deref().unwrap_or(""), "Unknown Artist");
    let title = p.title.as_deref().unwrap_or("");
    let mut out = Vec::with_capacity(4);
    if p.unlinked {
        out.push("_unlinked".to_string());
    }
    out.push(artist);
    match &p.release {
        Some(release) => {
            let dir = match &p.year {
                Some(y) => format!("{y} - {release}"),
                None => release.clone(),
            };
            out.push(sanitize(&dir, "Unknown Release"));
            let head = match (p.track, p.disc) {
                (Some(t), Some(d)) if p.discs.unwrap_or(1) > 1 => format!("{d}-{t:02} {title}"),
                (Some(t), _) => format!("{t:02} {title}"),
                _ => title.to_string(),
            };
            out.push(file_name(&head, &p.id, &p.ext));
        }
        None => out.push(file_name(title, &p.id, &p.ext)),
    }
    out
}

/// Makes paths unique within one torrent, also where the filesystem folds
/// case (Windows, macOS): a later path that would collide gets ` (2)`,
/// ` (3)`… before its extension. Directories may be shared; a file never
/// takes a directory's name or the reverse.
#[derive(Default)]
pub struct Unique {
    files: HashSet<String>,
    dirs: HashSet<String>,
}

impl Unique {
    pub fn new(reserved_files: &[&str]) -> Unique {
        let mut u = Unique::default();
        for f in reserved_files {
            u.files.insert(f.to_lowercase());
        }
        u
    }

    pub fn claim(&mut self, mut path: Vec<String>) -> Vec<String> {
        // Directories: a component that names a file already gets a suffix.
        for i in 0..path.len().saturating_sub(1) {
            let prefix = path[..=i].join("/").to_lowercase();
            if self.files.contains(&prefix) {
                let base = path[i].clone();
                let mut n = 2;
                while self
                    .files
                    .contains(&format!("{}/{base} ({n})", path[..i].join("/")).to_lowercase())
                {
                    n += 1;
                }
                path[i] = format!("{base} ({n})");
            }
        }
        let last = path.len() - 1;
        let (stem, ext) = match path[last].rfind('.') {
            Some(dot) if dot > 0 => (path[last][..dot].to_string(), path[last][dot..].to_string()),
            _ => (path[last].clone(), String::new()),
        };
        let mut n = 1;
        loop {
            let key = path.join("/").to_lowercase();
            if !self.files.contains(&key) && !self.dirs.contains(&key) {
                self.files.insert(key);
                break;
            }
            n += 1;
            path[last] = format!("{stem} ({n}){ext}");
        }
        for i in 0..last {
            self.dirs.insert(path[..=i].join("/").to_lowercase());
        }
        path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts() -> PathParts {
        PathParts {
            artist: Some("Kevin MacLeod".into()),
            year: Some("2009".into()),
            release: Some("Calming".into()),
            disc: Some(1),
            discs: Some(1),
            track: Some(3),
            title: Some("Gymnopédie No. 1".into()),
            id: "0123456789abcdef".into(),
            ext: "opus".into(),
            unlinked: false,
        }
    }

    #[test]
    fn readable_paths() {
        assert_eq!(
            path_for(&parts()),
            [
                "Kevin MacLeod",
                "2009 - Calming",
                "03 Gymnopédie No. 1 [0123456789].opus"
            ]
        );
        let mut multi = parts();
        multi.discs = Some(2);
        multi.disc = Some(2);
        assert_eq!(
            path_for(&multi)[2],
            "2-03 Gymnopédie No. 1 [0123456789].opus"
        );
        let loose = PathParts {
            release: None,
            year: None,
            ..parts()
        };
        assert_eq!(
            path_for(&loose),
            ["Kevin MacLeod", "Gymnopédie No. 1 [0123456789].opus"]
        );
        let unlinked = PathParts {
            artist: None,
            release: Some("".into()),
            year: None,
            track: None,
            title: Some("track01".into()),
            unlinked: true,
            ..parts()
        };
        assert_eq!(
            path_for(&unlinked),
            [
                "_unlinked",
                "Unknown Artist",
                "Unknown Release",
                "track01 [0123456789].opus"
            ]
        );
    }

    #[test]
    fn hostile_names_are_made_safe() {
        // (input, expected component)
        let cases = [
            ("AC/DC", "AC_DC"),
            ("..", "x"),
            ("  . ", "x"),
            ("a\u{0}b\nc", "a b c"),
            ("what?*<>|\":\\", "what________"),
            ("CON", "_CON"),
            ("con.txt", "_con.txt"),
            ("Trailing dot.", "Trailing dot"),
            ("", "x"),
        ];
        for (input, want) in cases {
            assert_eq!(sanitize(input, "x"), want, "{input:?}");
        }
        let long = "é".repeat(400);
        let s = sanitize(&long, "x");
        assert!(s.len() <= MAX_COMPONENT && s.chars().all(|c| c == 'é'));
        let name = file_name(&long, "0123456789abcdef", "opus");
        assert!(name.len() <= MAX_COMPONENT, "{}", name.len());
        assert!(name.ends_with(" [0123456789].opus"));
    }

    #[test]
    fn collisions_get_numbered_case_insensitively() {
        let mut u = Unique::new(&["manifest.jsonl"]);
        let p = |s: &str| s.split('/').map(String::from).collect::<Vec<_>>();
        assert_eq!(u.claim(p("A/b.opus")), p("A/b.opus"));
        assert_eq!(u.claim(p("a/B.opus")), p("a/B (2).opus"));
        assert_eq!(u.claim(p("a/b.opus")), p("a/b (3).opus"));
        // A file never takes a directory's name, nor a directory a file's.
        assert_eq!(u.claim(p("A")), p("A (2)"));
        assert_eq!(
            u.claim(p("manifest.jsonl/x.opus")),
            p("manifest.jsonl (2)/x.opus")
        );
        assert_eq!(u.claim(p("Manifest.jsonl")), p("Manifest (2).jsonl"));
    }
}
