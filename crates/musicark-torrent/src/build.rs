//! Assembling a .torrent from a layout and its hashes. Pure.

use musicark_bencode::Out;

use crate::hashing::Hashes;
use crate::layout::{Layout, Mode};
use crate::merkle::H256;

/// Everything outside the hashes that goes into a torrent.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Tiers of tracker URLs (BEP 12); the first URL is also `announce`.
    pub trackers: Vec<Vec<String>>,
    pub web_seeds: Vec<String>,
    pub comment: Option<String>,
    pub created_by: Option<String>,
    /// Seconds since the epoch; absent by default, for reproducibility.
    pub creation_date: Option<i64>,
    pub private: bool,
    pub source: Option<String>,
}

fn path_list(path: &[String]) -> Out {
    Out::List(path.iter().map(|c| Out::str(c)).collect())
}

/// The bencoded torrent.
pub fn build_torrent(layout: &Layout, hashes: &Hashes, options: &BuildOptions) -> Vec<u8> {
    let mut info: Vec<(Vec<u8>, Out)> = Vec::new();
    info.push((b"name".to_vec(), Out::str(&layout.name)));
    info.push((
        b"piece length".to_vec(),
        Out::Int(layout.piece_length as i64),
    ));
    let v1 = layout.mode != Mode::V2;
    let v2 = layout.mode != Mode::V1;
    if v1 {
        let pieces: Vec<u8> = hashes.v1.iter().flatten().copied().collect();
        info.push((b"pieces".to_vec(), Out::Bytes(pieces)));
        if layout.single_file {
            info.push((b"length".to_vec(), Out::Int(layout.total_length() as i64)));
        } else {
            let files = layout
                .v1_files()
                .into_iter()
                .map(|f| {
                    let mut d = vec![
                        (b"length".to_vec(), Out::Int(f.length as i64)),
                        (b"path".to_vec(), path_list(&f.path)),
                    ];
                    if f.pad {
                        d.push((b"attr".to_vec(), Out::str("p")));
                    }
                    Out::Dict(d)
                })
                .collect();
            info.push((b"files".to_vec(), Out::List(files)));
        }
    }
    let mut layers: Vec<(Vec<u8>, Out)> = Vec::new();
    if v2 {
        info.push((b"meta version".to_vec(), Out::Int(2)));
        let mut tree = Tree::default();
        for (i, f) in layout.files.iter().enumerate() {
            let mut leaf = vec![(b"length".to_vec(), Out::Int(f.length as i64))];
            if let Some(root) = hashes.roots.get(i).copied().flatten() {
                leaf.push((b"pieces root".to_vec(), Out::Bytes(root.to_vec())));
                if let Some(layer) = hashes.layers.get(i).and_then(|l| l.as_ref()) {
                    let bytes: Vec<u8> = layer.iter().flatten().copied().collect();
                    layers.push((root.to_vec(), Out::Bytes(bytes)));
                }
            }
            let path: Vec<String> = if layout.single_file {
                vec![layout.name.clone()]
            } else {
                f.path.clone()
            };
            tree.insert(&path, Out::Dict(leaf));
        }
        info.push((b"file tree".to_vec(), tree.into_out()));
    }
    if options.private {
        info.push((b"private".to_vec(), Out::Int(1)));
    }
    if let Some(s) = &options.source {
        info.push((b"source".to_vec(), Out::str(s)));
    }

    let mut top: Vec<(Vec<u8>, Out)> = vec![(b"info".to_vec(), Out::Dict(info))];
    let all: Vec<&String> = options.trackers.iter().flatten().collect();
    if let Some(first) = all.first() {
        top.push((b"announce".to_vec(), Out::str(first)));
    }
    if all.len() > 1 {
        let tiers = options
            .trackers
            .iter()
            .filter(|t| !t.is_empty())
            .map(|t| Out::List(t.iter().map(|u| Out::str(u)).collect()))
            .collect();
        top.push((b"announce-list".to_vec(), Out::List(tiers)));
    }
    match options.web_seeds.len() {
        0 => {}
        1 => top.push((b"url-list".to_vec(), Out::str(&options.web_seeds[0]))),
        _ => top.push((
            b"url-list".to_vec(),
            Out::List(options.web_seeds.iter().map(|u| Out::str(u)).collect()),
        )),
    }
    if let Some(c) = &options.comment {
        top.push((b"comment".to_vec(), Out::str(c)));
    }
    if let Some(c) = &options.created_by {
        top.push((b"created by".to_vec(), Out::str(c)));
    }
    if let Some(d) = options.creation_date {
        top.push((b"creation date".to_vec(), Out::Int(d)));
    }
    if !layers.is_empty() {
        top.push((b"piece layers".to_vec(), Out::Dict(layers)));
    }
    Out::Dict(top).encode()
}

/// The v2 file tree, built from paths.
#[derive(Default)]
struct Tree {
    children: Vec<(String, Node)>,
}

enum Node {
    Dir(Tree),
    File(Out),
}

impl Tree {
    fn insert(&mut self, path: &[String], leaf: Out) {
        let Some((first, rest)) = path.split_first() else {
            return;
        };
        if rest.is_empty() {
            self.children.push((first.clone(), Node::File(leaf)));
            return;
        }
        let pos = self
            .children
            .iter()
            .position(|(n, node)| n == first && matches!(node, Node::Dir(_)));
        let idx = match pos {
            Some(i) => i,
            None => {
                self.children
                    .push((first.clone(), Node::Dir(Tree::default())));
                self.children.len() - 1
            }
        };
        if let Node::Dir(t) = &mut self.children[idx].1 {
            t.insert(rest, leaf);
        }
    }

    fn into_out(self) -> Out {
        Out::Dict(
            self.children
                .into_iter()
                .map(|(name, node)| {
                    let v = match node {
                        Node::Dir(t) => t.into_out(),
                        Node::File(leaf) => Out::Dict(vec![(Vec::new(), leaf)]),
                    };
                    (name.into_bytes(), v)
                })
                .collect(),
        )
    }
}

/// A v2 file's root and piece layer from its piece hashes.
pub fn file_root(
    piece_hashes: &[H256],
    single_piece_root: Option<H256>,
    blocks_per_piece: u64,
) -> (H256, Option<Vec<H256>>) {
    match single_piece_root {
        Some(r) if piece_hashes.len() <= 1 => (r, None),
        _ => (
            crate::merkle::root_from_piece_layer(piece_hashes, blocks_per_piece),
            Some(piece_hashes.to_vec()),
        ),
    }
}
