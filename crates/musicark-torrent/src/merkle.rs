//! BEP 52 merkle trees over 16 KiB blocks, as pure functions.
//!
//! Leaves past the end of a file are 32 zero bytes; a subtree made only of
//! such leaves hashes like any other (see [`zero_subtree`]).

use sha2::{Digest, Sha256};

pub type H256 = [u8; 32];

pub fn hash_pair(a: &H256, b: &H256) -> H256 {
    let mut h = Sha256::new();
    h.update(a);
    h.update(b);
    h.finalize().into()
}

/// The hash of a subtree of `2^height` zero leaves.
pub fn zero_subtree(height: u32) -> H256 {
    let mut z = [0u8; 32];
    for _ in 0..height {
        z = hash_pair(&z, &z);
    }
    z
}

/// The root over `leaves`, padded on the right to `width` leaves (a power of
/// two ≥ `leaves.len()`) with `pad`-leaves, where `pad` is itself the root of
/// a zero subtree of some height.
pub fn root_padded(leaves: &[H256], width: usize, pad: H256) -> H256 {
    debug_assert!(width.is_power_of_two() && width >= leaves.len());
    if leaves.is_empty() {
        let mut z = pad;
        let mut w = width;
        while w > 1 {
            z = hash_pair(&z, &z);
            w /= 2;
        }
        return z;
    }
    let mut level: Vec<H256> = leaves.to_vec();
    let mut pad = pad;
    let mut w = width;
    while w > 1 {
        let mut next = Vec::with_capacity(level.len().div_ceil(2));
        for pair in level.chunks(2) {
            let right = pair.get(1).unwrap_or(&pad);
            next.push(hash_pair(&pair[0], right));
        }
        pad = hash_pair(&pad, &pad);
        level = next;
        w /= 2;
    }
    level[0]
}

/// The root of a file from its piece layer (`pieces` hashes, each the root
/// of `blocks_per_piece` leaves).
pub fn root_from_piece_layer(pieces: &[H256], blocks_per_piece: u64) -> H256 {
    let height = blocks_per_piece.trailing_zeros();
    root_padded(
        pieces,
        pieces.len().next_power_of_two().max(1),
        zero_subtree(height),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_with_zero_subtrees_equals_padding_with_zero_leaves() {
        let leaves: Vec<H256> = (0..5u8).map(|i| [i; 32]).collect();
        // A file of 5 blocks in pieces of 4 blocks: 2 pieces, and the root
        // over the next power of two of leaves (8).
        let pieces: Vec<H256> = leaves
            .chunks(4)
            .map(|c| root_padded(c, 4, [0; 32]))
            .collect();
        assert_eq!(
            root_from_piece_layer(&pieces, 4),
            root_padded(&leaves, 8, [0; 32])
        );
        // Padding the piece layer with zero-subtree hashes is padding the
        // leaves with zeros.
        assert_eq!(
            root_padded(&pieces, 4, zero_subtree(2)),
            root_padded(&leaves, 16, [0; 32])
        );
        assert_eq!(root_padded(&[], 4, [0; 32]), zero_subtree(2));
    }
}
