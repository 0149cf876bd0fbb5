//! Structural checks of containers, beside decoding.
//!
//! Demuxers stop quietly at a cut-off last packet, skip pages whose CRC is
//! wrong and resynchronise over garbage: good for playback, wrong for an
//! archive. These walks read the container's own framing to the last byte.
//! They read headers only (Ogg pages are CRC-checked, so those are read
//! whole, a page at a time: at most 64 KiB in memory).

use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::Path;

use crate::{Container, Damage, DamageKind};

/// Check `path` (of `size` bytes) as `container`; `None` when sound.
pub(crate) fn check(path: &Path, container: Container, size: u64) -> Option<Damage> {
    let file = File::open(path).ok()?;
    let mut reader = BufReader::with_capacity(64 * 1024, file);
    match container {
        Container::Ogg | Container::OggOpus => check_ogg(&mut reader, size),
        Container::Mpeg => check_mpeg(&mut reader, size),
        _ => None,
    }
}

fn damage(kind: DamageKind, message: String) -> Option<Damage> {
    Some(Damage {
        kind,
        message,
        position_seconds: None,
        decode_errors: 0,
    })
}

/// Read as much of `buf` as the stream has; returns how much was read.
fn read_up_to<R: Read>(r: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

// ---------------------------------------------------------------- Ogg

const fn ogg_crc_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut r = (i as u32) << 24;
        let mut j = 0;
        while j < 8 {
            r = if r & 0x8000_0000 != 0 {
                (r << 1) ^ 0x04C1_1DB7
            } else {
                r << 1
            };
            j += 1;
        }
        table[i] = r;
        i += 1;
    }
    table
}

static OGG_CRC: [u32; 256] = ogg_crc_table();

fn ogg_crc(mut crc: u32, data: &[u8]) -> u32 {
    for &b in data {
        crc = (crc << 8) ^ OGG_CRC[((crc >> 24) as u8 ^ b) as usize];
    }
    crc
}

/// Walk every Ogg page: capture pattern, CRC, page sequence per stream, and
/// an end-of-stream page for every stream that began.
fn check_ogg<R: Read>(r: &mut R, size: u64) -> Option<Damage> {
    let mut pos: u64 = 0;
    let mut header = [0u8; 27];
    let mut segs = [0u8; 255];
    let mut body = vec![0u8; 255 * 255];
    // (serial, next expected sequence number, ended)
    let mut streams: Vec<(u32, u32, bool)> = Vec::new();
    let mut page_no: u64 = 0;
    while pos < size {
        let n = read_up_to(r, &mut header).ok()?;
        if n < header.len() {
            return damage(
                DamageKind::Truncated,
                format!("file ends inside an Ogg page header at byte {pos}"),
            );
        }
        if &header[..4] != b"OggS" {
            return damage(
                DamageKind::Corrupt,
                format!("lost Ogg page sync at byte {pos} (after {page_no} good pages)"),
            );
        }
        let nsegs = header[26] as usize;
        if read_up_to(r, &mut segs[..nsegs]).ok()? < nsegs {
            return damage(
                DamageKind::Truncated,
                format!("file ends inside the Ogg page at byte {pos}"),
            );
        }
        let body_len: usize = segs[..nsegs].iter().map(|&s| s as usize).sum();
        let got = read_up_to(r, &mut body[..body_len]).ok()?;
        if got < body_len {
            return damage(
                DamageKind::Truncated,
                format!(
                    "the last Ogg page (at byte {pos}) is cut: {got} of its {body_len} bytes are present"
                ),
            );
        }
        let stored_crc = u32::from_le_bytes([header[22], header[23], header[24], header[25]]);
        let mut zeroed = header;
        zeroed[22..26].fill(0);
        let crc = ogg_crc(
            ogg_crc(ogg_crc(0, &zeroed), &segs[..nsegs]),
            &body[..body_len],
        );
        if crc != stored_crc {
            return damage(
                DamageKind::Corrupt,
                format!("Ogg page {page_no} at byte {pos} fails its CRC check"),
            );
        }
        let flags = header[5];
        let serial = u32::from_le_bytes([header[14], header[15], header[16], header[17]]);
        let seq = u32::from_le_bytes([header[18], header[19], header[20], header[21]]);
        match streams.iter_mut().find(|s| s.0 == serial) {
            Some(s) => {
                if s.2 {
                    return damage(
                        DamageKind::Corrupt,
                        format!(
                            "Ogg page at byte {pos} continues stream {serial:#x} after its end"
                        ),
                    );
                }
                if seq != s.1 {
                    return damage(
                        DamageKind::Corrupt,
                        format!(
                            "Ogg pages missing before byte {pos}: expected page {} of stream {serial:#x}, found {seq}",
                            s.1
                        ),
                    );
                }
                s.1 = seq.wrapping_add(1);
                s.2 = flags & 0x04 != 0;
            }
            None => {
                if streams.len() >= 64 {
                    return damage(
                        DamageKind::Corrupt,
                        "more than 64 Ogg logical streams".into(),
                    );
                }
                streams.push((serial, seq.wrapping_add(1), flags & 0x04 != 0));
            }
        }
        pos += (27 + nsegs + body_len) as u64;
        page_no += 1;
    }
    if let Some(open) = streams.iter().find(|s| !s.2) {
        return damage(
            DamageKind::Truncated,
            format!(
                "Ogg stream {:#x} has no end-of-stream page: the file stops after {page_no} complete pages",
                open.0
            ),
        );
    }
    None
}

// ---------------------------------------------------------------- MPEG audio

/// The length in bytes of the MPEG audio frame whose header is `h`, or
/// `None` if `h` is no valid header (or a free-format one).
fn mpeg_frame_len(h: [u8; 4]) -> Option<u64> {
    if h[0] != 0xFF || h[1] & 0xE0 != 0xE0 {
        return None;
    }
    let version = (h[1] >> 3) & 0x3; // 0: 2.5, 1: reserved, 2: v2, 3: v1
    let layer = (h[1] >> 1) & 0x3; // 1: III, 2: II, 3: I
    let br_idx = (h[2] >> 4) as usize;
    let sr_idx = ((h[2] >> 2) & 0x3) as usize;
    let padding = ((h[2] >> 1) & 1) as u64;
    if version == 1 || layer == 0 || br_idx == 0 || br_idx == 15 || sr_idx == 3 {
        return None;
    }
    const BR_V1: [[u64; 15]; 3] = [
        [
            0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448,
        ], // I
        [
            0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384,
        ], // II
        [
            0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
        ], // III
    ];
    const BR_V2: [[u64; 15]; 2] = [
        [
            0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256,
        ], // I
        [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160], // II, III
    ];
    const SR: [[u64; 3]; 3] = [
        [11025, 12000, 8000],
        [22050, 24000, 16000],
        [44100, 48000, 32000],
    ];
    let v1 = version == 3;
    let layer_i = layer == 3;
    let kbps = if v1 {
        BR_V1[(3 - layer) as usize][br_idx]
    } else {
        BR_V2[if layer_i { 0 } else { 1 }][br_idx]
    };
    let rate = SR[match version {
        0 => 0,
        2 => 1,
        _ => 2,
    }][sr_idx];
    let bps = kbps * 1000;
    Some(if layer_i {
        (12 * bps / rate + padding) * 4
    } else if layer == 1 && !v1 {
        72 * bps / rate + padding
    } else {
        144 * bps / rate + padding
    })
}

/// Follow the chain of MPEG frames from the first to the end of the audio
/// (before any ID3v1 or APE tag at the end); the last frame must be whole,
/// and nothing but frames may sit between the first frame and the end.
fn check_mpeg<R: Read + Seek>(r: &mut BufReader<R>, size: u64) -> Option<Damage> {
    let mut pos: u64 = 0;
    let mut h = [0u8; 10];
    if read_up_to(r, &mut h).ok()? == 10 && &h[..3] == b"ID3" {
        let tag = ((h[6] as u64 & 0x7F) << 21)
            | ((h[7] as u64 & 0x7F) << 14)
            | ((h[8] as u64 & 0x7F) << 7)
            | (h[9] as u64 & 0x7F);
        pos = 10 + tag + if h[5] & 0x10 != 0 { 10 } else { 0 };
    }
    let end = audio_end(r, size)?;
    let mut frames: u64 = 0;
    while pos < end {
        let hdr = header_at(r, pos)?;
        match hdr.and_then(mpeg_frame_len) {
            Some(len) if pos + len <= end => {
                pos += len;
                frames += 1;
            }
            Some(len) => {
                return damage(
                    DamageKind::Truncated,
                    format!(
                        "the last MPEG frame (at byte {pos}) is cut: {} of its {len} bytes are present",
                        end - pos
                    ),
                );
            }
            // Free-format streams, or no frame where the audio should
            // start: leave the verdict to the decoder.
            None if frames == 0 => return None,
            None if end - pos < 4 => {
                return damage(
                    DamageKind::Truncated,
                    format!("the file ends inside an MPEG frame header at byte {pos}"),
                );
            }
            None => {
                if let Some(next) = resync(r, pos + 1, end) {
                    return damage(
                        DamageKind::Corrupt,
                        format!(
                            "{} bytes that are not MPEG audio inside the stream at byte {pos} (after {frames} good frames)",
                            next - pos
                        ),
                    );
                }
                let tail = end - pos;
                if tail < 128 && header_at(r, pos)?.is_some_and(|h| &h[..3] == b"TAG") {
                    return damage(
                        DamageKind::Truncated,
                        format!(
                            "the ID3v1 tag at the end is cut: {tail} of its 128 bytes are present"
                        ),
                    );
                }
                if tail >= 512 && all_zero(r, pos, end)? {
                    return damage(
                        DamageKind::Truncated,
                        format!(
                            "the audio stops at byte {pos} and the remaining {tail} bytes are zeros (an incomplete copy?)"
                        ),
                    );
                }
                // Other trailing data (an unknown tag): not audio damage.
                return None;
            }
        }
    }
    None
}

/// The 4 bytes at `pos`, or `None` past the end.
fn header_at<R: Read + Seek>(r: &mut BufReader<R>, pos: u64) -> Option<Option<[u8; 4]>> {
    r.seek(std::io::SeekFrom::Start(pos)).ok()?;
    let mut hdr = [0u8; 4];
    let got = read_up_to(r, &mut hdr).ok()?;
    Some((got == 4).then_some(hdr))
}

/// The first position at or after `from` where two valid frames follow each
/// other (or one valid frame ends exactly at `end`).
fn resync<R: Read + Seek>(r: &mut BufReader<R>, from: u64, end: u64) -> Option<u64> {
    let mut chunk = vec![0u8; 64 * 1024];
    let mut base = from;
    while base + 4 <= end {
        r.seek(std::io::SeekFrom::Start(base)).ok()?;
        let want = ((end - base) as usize).min(chunk.len());
        let got = read_up_to(r, &mut chunk[..want]).ok()?;
        if got < 4 {
            return None;
        }
        for i in 0..got - 3 {
            if chunk[i] != 0xFF {
                continue;
            }
            let h = [chunk[i], chunk[i + 1], chunk[i + 2], chunk[i + 3]];
            let Some(len) = mpeg_frame_len(h) else {
                continue;
            };
            let p = base + i as u64;
            let next = p + len;
            if next == end || next < end && header_at(r, next)?.and_then(mpeg_frame_len).is_some() {
                return Some(p);
            }
        }
        base += (got - 3) as u64;
    }
    None
}

fn all_zero<R: Read + Seek>(r: &mut BufReader<R>, from: u64, end: u64) -> Option<bool> {
    r.seek(std::io::SeekFrom::Start(from)).ok()?;
    let mut left = end - from;
    let mut chunk = vec![0u8; 64 * 1024];
    while left > 0 {
        let want = (left as usize).min(chunk.len());
        let got = read_up_to(r, &mut chunk[..want]).ok()?;
        if got == 0 {
            break;
        }
        if chunk[..got].iter().any(|&b| b != 0) {
            return Some(false);
        }
        left -= got as u64;
    }
    Some(true)
}

/// Where the audio ends: before an ID3v1 tag and an APEv2 tag, if present.
fn audio_end<R: Read + Seek>(r: &mut BufReader<R>, size: u64) -> Option<u64> {
    let mut end = size;
    if end >= 128 {
        r.seek(std::io::SeekFrom::Start(end - 128)).ok()?;
        let mut tag = [0u8; 3];
        r.read_exact(&mut tag).ok()?;
        if &tag == b"TAG" {
            end -= 128;
        }
    }
    if end >= 32 {
        r.seek(std::io::SeekFrom::Start(end - 32)).ok()?;
        let mut footer = [0u8; 32];
        r.read_exact(&mut footer).ok()?;
        if &footer[..8] == b"APETAGEX" {
            let tag_size =
                u32::from_le_bytes([footer[12], footer[13], footer[14], footer[15]]) as u64;
            let has_header = footer[23] & 0x80 != 0;
            let total = tag_size + if has_header { 32 } else { 0 };
            end = end.saturating_sub(total);
        }
    }
    Some(end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn mpeg_frame_lengths_match_the_standard() {
        // MPEG-1 Layer III, 128 kbit/s, 44.1 kHz, no padding: 417 bytes.
        assert_eq!(mpeg_frame_len([0xFF, 0xFB, 0x90, 0x00]), Some(417));
        // Same with padding: 418.
        assert_eq!(mpeg_frame_len([0xFF, 0xFB, 0x92, 0x00]), Some(418));
        // MPEG-2 Layer III, 64 kbit/s, 22.05 kHz: 72*64000/22050 = 208.
        assert_eq!(mpeg_frame_len([0xFF, 0xF3, 0x80, 0x00]), Some(208));
        // Free format and bad indexes are not lengths.
        assert_eq!(mpeg_frame_len([0xFF, 0xFB, 0x00, 0x00]), None);
        assert_eq!(mpeg_frame_len([0xFF, 0xFB, 0xF0, 0x00]), None);
        assert_eq!(mpeg_frame_len([0x00, 0xFB, 0x90, 0x00]), None);
    }

    fn ogg_page(serial: u32, seq: u32, flags: u8, body: &[u8]) -> Vec<u8> {
        let mut p = b"OggS".to_vec();
        p.push(0);
        p.push(flags);
        p.extend_from_slice(&0u64.to_le_bytes());
        p.extend_from_slice(&serial.to_le_bytes());
        p.extend_from_slice(&seq.to_le_bytes());
        p.extend_from_slice(&[0; 4]);
        p.push(1);
        p.push(body.len() as u8);
        p.extend_from_slice(body);
        let crc = ogg_crc(0, &p);
        p[22..26].copy_from_slice(&crc.to_le_bytes());
        p
    }

    fn check_bytes(bytes: &[u8]) -> Option<DamageKind> {
        check_ogg(&mut Cursor::new(bytes), bytes.len() as u64).map(|d| d.kind)
    }

    #[test]
    fn ogg_walk_finds_cuts_gaps_and_bad_crcs() {
        let mut good = ogg_page(7, 0, 0x02, b"first");
        good.extend(ogg_page(7, 1, 0, b"middle"));
        good.extend(ogg_page(7, 2, 0x04, b"last"));
        assert_eq!(check_bytes(&good), None);
        assert_eq!(
            check_bytes(&good[..good.len() - 2]),
            Some(DamageKind::Truncated)
        );
        let first_two = ogg_page(7, 0, 0x02, b"first").len() + ogg_page(7, 1, 0, b"middle").len();
        assert_eq!(check_bytes(&good[..first_two]), Some(DamageKind::Truncated));
        let mut flipped = good.clone();
        flipped[40] ^= 1;
        assert_eq!(check_bytes(&flipped), Some(DamageKind::Corrupt));
        let mut gap = ogg_page(7, 0, 0x02, b"first");
        gap.extend(ogg_page(7, 2, 0x04, b"last"));
        assert_eq!(check_bytes(&gap), Some(DamageKind::Corrupt));
    }
}
