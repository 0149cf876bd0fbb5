//! Planning a torrent: canonical file order, pad files, the piece size and
//! the pieces to hash. Pure: file sizes in, plan out.

use crate::BLOCK;

/// Which metadata to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// BEP 3. Pieces run across file boundaries unless aligned.
    V1,
    /// BEP 52 only.
    V2,
    /// v1 and v2 together (BEP 52 with BEP 47 pad files in the v1 part).
    Hybrid,
}

/// One input file: its path inside the torrent (components) and length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputFile {
    pub path: Vec<String>,
    pub length: u64,
    /// The caller's index for this file (where to read it from).
    pub source: usize,
}

/// A run of bytes of one file, or (`file: None`) of a pad file's zeros.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub file: Option<usize>,
    pub offset: u64,
    pub len: u64,
}

/// One piece to hash: its bytes, then `pad` zero bytes (for the v1 hash of
/// an aligned piece).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    pub segments: Vec<Segment>,
    pub pad: u64,
    /// For aligned layouts: the file this piece belongs to and its index
    /// within that file.
    pub file: Option<(usize, u64)>,
}

/// An entry of the v1 file list: a real file or a pad file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V1File {
    pub path: Vec<String>,
    pub length: u64,
    pub pad: bool,
}

#[derive(Debug, Clone)]
pub struct Layout {
    pub mode: Mode,
    pub name: String,
    pub piece_length: u64,
    /// A single file at the top (v1 `length` mode) rather than a directory.
    pub single_file: bool,
    /// Files in canonical order.
    pub files: Vec<InputFile>,
    /// Pad files in the v1 part (hybrid always; v1 when `--align`).
    pub aligned: bool,
    pub pieces: Vec<Piece>,
}

/// Most pieces a torrent may have (libtorrent refuses more than this).
pub const MAX_PIECES: u64 = 1 << 22;

/// Pieces the automatic size aims for.
const TARGET_PIECES: u64 = 1500;

/// The automatic piece length: the power of two that gives about 1 500
/// pieces, between 16 KiB and 16 MiB; for aligned layouts (v2, hybrid, v1
/// with `--align`) halved while padding would exceed 5 % of the data, since
/// every file then starts on a piece boundary.
pub fn auto_piece_length(files: &[InputFile], aligned: bool) -> u64 {
    let total: u64 = files.iter().map(|f| f.length).sum();
    let mut pl = (total / TARGET_PIECES)
        .next_power_of_two()
        .clamp(BLOCK, 16 << 20);
    if aligned {
        while pl > BLOCK && padding(files, pl) > total / 20 {
            pl /= 2;
        }
    }
    pl
}

/// Bytes of padding an aligned layout with pieces of `pl` would add.
pub fn padding(files: &[InputFile], pl: u64) -> u64 {
    files.iter().map(|f| (pl - f.length % pl) % pl).sum()
}

fn v1_order(a: &InputFile, b: &InputFile) -> std::cmp::Ordering {
    // mktorrent: the full path, '/'-joined, byte by byte.
    a.path.join("/").as_bytes().cmp(b.path.join("/").as_bytes())
}

fn v2_order(a: &InputFile, b: &InputFile) -> std::cmp::Ordering {
    // BEP 52's file tree: component by component.
    a.path
        .iter()
        .map(|c| c.as_bytes())
        .cmp(b.path.iter().map(|c| c.as_bytes()))
}

impl Layout {
    /// Plan a torrent named `name` over `files` (paths relative to the
    /// torrent's root; for `single_file`, exactly one file).
    pub fn plan(
        name: String,
        mut files: Vec<InputFile>,
        single_file: bool,
        mode: Mode,
        piece_length: Option<u64>,
        align_v1: bool,
    ) -> Layout {
        let aligned = mode != Mode::V1 || align_v1;
        match mode {
            Mode::V1 => files.sort_by(v1_order),
            Mode::V2 | Mode::Hybrid => files.sort_by(v2_order),
        }
        let pl = piece_length.unwrap_or_else(|| auto_piece_length(&files, aligned));
        let pieces = if aligned {
            let n = files.len();
            // libtorrent pads every file of a multi-file hybrid, the last one
            // too; a v1 `--align` torrent needs no tail pad.
            let pad_after: Vec<bool> = (0..n)
                .map(|i| mode != Mode::V2 && !single_file && (mode != Mode::V1 || i + 1 < n))
                .collect();
            Layout::aligned_pieces(&files, pl, &pad_after)
        } else {
            let entries: Vec<(Option<usize>, u64)> = files
                .iter()
                .enumerate()
                .map(|(i, f)| (Some(i), f.length))
                .collect();
            Layout::stream_pieces(&entries, pl)
        };
        Layout {
            mode,
            name,
            piece_length: pl,
            single_file,
            files,
            aligned,
            pieces,
        }
    }

    /// Pieces for an aligned torrent read from a file: each file starts a
    /// piece; `pad_after[i]` says whether zeros fill its last piece.
    pub fn aligned_pieces(
        files: &[InputFile],
        piece_length: u64,
        pad_after: &[bool],
    ) -> Vec<Piece> {
        let mut pieces = Vec::new();
        for (i, f) in files.iter().enumerate() {
            let count = f.length.div_ceil(piece_length);
            for k in 0..count {
                let offset = k * piece_length;
                let len = piece_length.min(f.length - offset);
                let pad = if k + 1 == count && pad_after.get(i).copied().unwrap_or(false) {
                    piece_length - len
                } else {
                    0
                };
                pieces.push(Piece {
                    segments: vec![Segment {
                        file: Some(i),
                        offset,
                        len,
                    }],
                    pad,
                    file: Some((i, k)),
                });
            }
        }
        pieces
    }

    /// Pieces of a v1 torrent read from a file: the stream of its file list
    /// (`None` = a pad file, read as zeros; `Some(i)` = real file `i`).
    pub fn stream_pieces(entries: &[(Option<usize>, u64)], piece_length: u64) -> Vec<Piece> {
        let mut pieces = Vec::new();
        let mut current = Piece {
            segments: Vec::new(),
            pad: 0,
            file: None,
        };
        let mut room = piece_length;
        for &(file, length) in entries {
            let mut offset = 0;
            while offset < length {
                let len = room.min(length - offset);
                current.segments.push(Segment { file, offset, len });
                offset += len;
                room -= len;
                if room == 0 {
                    pieces.push(std::mem::replace(
                        &mut current,
                        Piece {
                            segments: Vec::new(),
                            pad: 0,
                            file: None,
                        },
                    ));
                    room = piece_length;
                }
            }
        }
        if !current.segments.is_empty() {
            pieces.push(current);
        }
        pieces
    }

    /// The v1 file list, with pad files where the layout is aligned.
    pub fn v1_files(&self) -> Vec<V1File> {
        let mut out = Vec::with_capacity(self.files.len() * 2);
        let n = self.files.len();
        for (i, f) in self.files.iter().enumerate() {
            out.push(V1File {
                path: f.path.clone(),
                length: f.length,
                pad: false,
            });
            let pads = self.mode != Mode::V2
                && self.aligned
                && !self.single_file
                && (self.mode != Mode::V1 || i + 1 < n);
            let pad = (self.piece_length - f.length % self.piece_length) % self.piece_length;
            if pads && pad > 0 {
                out.push(V1File {
                    path: vec![".pad".into(), pad.to_string()],
                    length: pad,
                    pad: true,
                });
            }
        }
        out
    }

    pub fn total_length(&self) -> u64 {
        self.files.iter().map(|f| f.length).sum()
    }

    /// Bytes of zero padding hashed for the v1 part.
    pub fn padding_bytes(&self) -> u64 {
        self.pieces.iter().map(|p| p.pad).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(path: &str, length: u64) -> InputFile {
        InputFile {
            path: path.split('/').map(String::from).collect(),
            length,
            source: 0,
        }
    }

    #[test]
    fn orders_follow_mktorrent_for_v1_and_bep52_for_v2() {
        let files = vec![f("sub.txt", 1), f("sub/x", 1), f("Sub", 1), f("sub-a", 1)];
        let names = |l: &Layout| l.files.iter().map(|f| f.path.join("/")).collect::<Vec<_>>();
        let v1 = Layout::plan(
            "d".into(),
            files.clone(),
            false,
            Mode::V1,
            Some(BLOCK),
            false,
        );
        assert_eq!(names(&v1), ["Sub", "sub-a", "sub.txt", "sub/x"]);
        let v2 = Layout::plan("d".into(), files, false, Mode::Hybrid, Some(BLOCK), false);
        assert_eq!(names(&v2), ["Sub", "sub/x", "sub-a", "sub.txt"]);
    }

    #[test]
    fn hybrid_pads_every_file_of_a_directory_but_not_a_single_file() {
        let files = vec![f("a", 100_000), f("empty", 0), f("b", 16384)];
        let l = Layout::plan("d".into(), files, false, Mode::Hybrid, Some(16384), false);
        let v1: Vec<(String, u64)> = l
            .v1_files()
            .iter()
            .map(|f| (f.path.join("/"), f.length))
            .collect();
        assert_eq!(
            v1,
            [
                ("a".into(), 100_000),
                (".pad/14688".into(), 14688),
                ("b".into(), 16384),
                ("empty".into(), 0)
            ]
        );
        assert_eq!(l.pieces.len(), 7 + 1);
        let single = Layout::plan(
            "a".into(),
            vec![f("a", 100_000)],
            true,
            Mode::Hybrid,
            Some(16384),
            false,
        );
        assert_eq!(single.v1_files().len(), 1);
        assert_eq!(single.pieces.last().map(|p| p.pad), Some(0));
    }

    #[test]
    fn v1_pieces_run_across_files() {
        let l = Layout::plan(
            "d".into(),
            vec![f("a", 10), f("b", 30)],
            false,
            Mode::V1,
            Some(16),
            false,
        );
        assert_eq!(l.pieces.len(), 3);
        assert_eq!(
            l.pieces[0].segments,
            [
                Segment {
                    file: Some(0),
                    offset: 0,
                    len: 10
                },
                Segment {
                    file: Some(1),
                    offset: 0,
                    len: 6
                }
            ]
        );
        assert_eq!(
            l.pieces[2].segments,
            [Segment {
                file: Some(1),
                offset: 22,
                len: 8
            }]
        );
    }

    #[test]
    fn automatic_piece_length_limits_padding_for_aligned_layouts() {
        let many: Vec<InputFile> = (0..20_000).map(|i| f(&format!("f{i}"), 30_000)).collect();
        let pl = auto_piece_length(&many, true);
        assert!(
            padding(&many, pl) <= many.iter().map(|f| f.length).sum::<u64>() / 20 || pl == BLOCK
        );
        let big = vec![f("x", 2 << 30)];
        assert_eq!(auto_piece_length(&big, false), 2 << 20);
    }
}
