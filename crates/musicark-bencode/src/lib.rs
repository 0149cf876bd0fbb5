//! Bencode (BEP 3) for musicark: a zero-copy decoder with hard limits and a
//! canonical encoder.
//!
//! The decoder borrows from its input and remembers the exact byte span of
//! every value, because a torrent's info-hash is the hash of the info
//! dictionary *as written*, not as re-encoded. It never panics and never
//! allocates without bound: nesting depth and the number of values are
//! limited ([`Limits`]), and a string's declared length is checked against
//! the bytes that are actually there before anything is allocated.
//!
//! Strictness follows libtorrent: integers without leading zeros, `-0` or
//! overflow; dictionary keys must be strings. Key order and uniqueness are
//! not enforced here (old torrents have unsorted keys, and their info-hash
//! is still well defined since it hashes the raw bytes); lookups take the
//! first entry, as libtorrent does, and callers that need sorted, unique
//! keys check [`Value::keys_sorted`].
//!
//! The encoder writes dictionaries with keys in sorted order, so what it
//! writes is canonical.

use std::fmt;

/// Decoder limits; hostile input fails with [`Error`] instead of exhausting
/// memory or the stack.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Deepest nesting of lists and dictionaries.
    pub max_depth: usize,
    /// Most values (of any kind) in one document.
    pub max_items: usize,
}

impl Default for Limits {
    fn default() -> Self {
        // libtorrent's defaults: depth 100, 2 000 000 tokens.
        Limits {
            max_depth: 100,
            max_items: 2_000_000,
        }
    }
}

/// A decoding error, with the byte offset where it was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid bencoding at byte {offset}: {kind}")]
pub struct Error {
    pub offset: usize,
    pub kind: ErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    #[error("unexpected end of input")]
    Eof,
    #[error("unexpected byte {0:#04x}")]
    Unexpected(u8),
    #[error("malformed integer")]
    BadInteger,
    #[error("integer overflows 64 bits")]
    Overflow,
    #[error("string length exceeds the input")]
    StringTooLong,
    #[error("dictionary key is not a string")]
    KeyNotString,
    #[error("nesting deeper than {0}")]
    TooDeep(usize),
    #[error("more than {0} values")]
    TooManyItems(usize),
    #[error("trailing bytes after the value")]
    Trailing,
}

/// A decoded value, borrowing from the input.
#[derive(Clone, PartialEq, Eq)]
pub enum Value<'a> {
    Int(i64),
    Bytes(&'a [u8]),
    List(Vec<Value<'a>>),
    Dict(Dict<'a>),
}

/// A dictionary: entries in input order, and its raw bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Dict<'a> {
    pub entries: Vec<(&'a [u8], Value<'a>)>,
    /// The dictionary exactly as it appears in the input.
    pub raw: &'a [u8],
}

impl<'a> Dict<'a> {
    pub fn get(&self, key: &str) -> Option<&Value<'a>> {
        self.entries
            .iter()
            .find(|(k, _)| *k == key.as_bytes())
            .map(|(_, v)| v)
    }
}

impl fmt::Debug for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(i) => write!(f, "{i}"),
            Value::Bytes(b) => match std::str::from_utf8(b) {
                Ok(s) if b.len() <= 80 => write!(f, "{s:?}"),
                _ => write!(f, "<{} bytes>", b.len()),
            },
            Value::List(l) => f.debug_list().entries(l).finish(),
            Value::Dict(d) => f
                .debug_map()
                .entries(
                    d.entries
                        .iter()
                        .map(|(k, v)| (String::from_utf8_lossy(k), v)),
                )
                .finish(),
        }
    }
}

impl fmt::Debug for Dict<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(
                self.entries
                    .iter()
                    .map(|(k, v)| (String::from_utf8_lossy(k), v)),
            )
            .finish()
    }
}

impl<'a> Value<'a> {
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }
    pub fn as_bytes(&self) -> Option<&'a [u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&'a str> {
        self.as_bytes().and_then(|b| std::str::from_utf8(b).ok())
    }
    pub fn as_list(&self) -> Option<&[Value<'a>]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }
    pub fn as_dict(&self) -> Option<&Dict<'a>> {
        match self {
            Value::Dict(d) => Some(d),
            _ => None,
        }
    }
    /// Whether a dictionary's keys are in strictly increasing byte order.
    pub fn keys_sorted(&self) -> bool {
        match self {
            Value::Dict(d) => d.entries.windows(2).all(|w| w[0].0 < w[1].0),
            _ => true,
        }
    }
}

/// Decode one complete document (no trailing bytes).
pub fn decode(input: &[u8]) -> Result<Value<'_>, Error> {
    decode_with(input, Limits::default())
}

pub fn decode_with(input: &[u8], limits: Limits) -> Result<Value<'_>, Error> {
    let mut d = Decoder {
        input,
        pos: 0,
        items: 0,
        limits,
    };
    let v = d.value(0)?;
    if d.pos != input.len() {
        return Err(d.err(ErrorKind::Trailing));
    }
    Ok(v)
}

/// Decode the first value of `input`, returning it and the bytes consumed.
pub fn decode_prefix(input: &[u8], limits: Limits) -> Result<(Value<'_>, usize), Error> {
    let mut d = Decoder {
        input,
        pos: 0,
        items: 0,
        limits,
    };
    let v = d.value(0)?;
    Ok((v, d.pos))
}

struct Decoder<'a> {
    input: &'a [u8],
    pos: usize,
    items: usize,
    limits: Limits,
}

impl<'a> Decoder<'a> {
    fn err(&self, kind: ErrorKind) -> Error {
        Error {
            offset: self.pos,
            kind,
        }
    }

    fn peek(&self) -> Result<u8, Error> {
        self.input
            .get(self.pos)
            .copied()
            .ok_or_else(|| self.err(ErrorKind::Eof))
    }

    fn value(&mut self, depth: usize) -> Result<Value<'a>, Error> {
        self.items += 1;
        if self.items > self.limits.max_items {
            return Err(self.err(ErrorKind::TooManyItems(self.limits.max_items)));
        }
        match self.peek()? {
            b'i' => {
                self.pos += 1;
                let i = self.integer(b'e')?;
                Ok(Value::Int(i))
            }
            b'0'..=b'9' => self.bytes().map(Value::Bytes),
            b'l' => {
                if depth >= self.limits.max_depth {
                    return Err(self.err(ErrorKind::TooDeep(self.limits.max_depth)));
                }
                self.pos += 1;
                let mut list = Vec::new();
                while self.peek()? != b'e' {
                    list.push(self.value(depth + 1)?);
                }
                self.pos += 1;
                Ok(Value::List(list))
            }
            b'd' => {
                if depth >= self.limits.max_depth {
                    return Err(self.err(ErrorKind::TooDeep(self.limits.max_depth)));
                }
                let start = self.pos;
                self.pos += 1;
                let mut entries: Vec<(&'a [u8], Value<'a>)> = Vec::new();
                while self.peek()? != b'e' {
                    if !self.peek()?.is_ascii_digit() {
                        return Err(self.err(ErrorKind::KeyNotString));
                    }
                    let key = self.bytes()?;
                    let v = self.value(depth + 1)?;
                    entries.push((key, v));
                }
                self.pos += 1;
                Ok(Value::Dict(Dict {
                    entries,
                    raw: &self.input[start..self.pos],
                }))
            }
            other => Err(self.err(ErrorKind::Unexpected(other))),
        }
    }

    /// Digits up to `end` (the terminator is consumed).
    fn integer(&mut self, end: u8) -> Result<i64, Error> {
        let start = self.pos;
        let negative = self.peek()? == b'-';
        if negative {
            self.pos += 1;
        }
        let digits_at = self.pos;
        let mut v: i64 = 0;
        while self.peek()? != end {
            let c = self.peek()?;
            if !c.is_ascii_digit() {
                return Err(self.err(ErrorKind::BadInteger));
            }
            v = v
                .checked_mul(10)
                .and_then(|v| {
                    let d = (c - b'0') as i64;
                    if negative {
                        v.checked_sub(d)
                    } else {
                        v.checked_add(d)
                    }
                })
                .ok_or_else(|| self.err(ErrorKind::Overflow))?;
            self.pos += 1;
        }
        let digits = &self.input[digits_at..self.pos];
        let bad = digits.is_empty()
            || (digits.len() > 1 && digits[0] == b'0')
            || (negative && digits == b"0");
        if bad {
            return Err(Error {
                offset: start,
                kind: ErrorKind::BadInteger,
            });
        }
        self.pos += 1;
        Ok(v)
    }

    fn bytes(&mut self) -> Result<&'a [u8], Error> {
        let start = self.pos;
        let len = self.integer(b':')?;
        if len < 0 {
            return Err(Error {
                offset: start,
                kind: ErrorKind::BadInteger,
            });
        }
        let len = len as usize;
        if len > self.input.len() - self.pos {
            return Err(Error {
                offset: start,
                kind: ErrorKind::StringTooLong,
            });
        }
        let b = &self.input[self.pos..self.pos + len];
        self.pos += len;
        Ok(b)
    }
}

/// An owned value to encode. Dictionaries are sorted on output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Out {
    Int(i64),
    Bytes(Vec<u8>),
    List(Vec<Out>),
    Dict(Vec<(Vec<u8>, Out)>),
    /// Already-encoded bytes, inserted verbatim (an info dictionary kept
    /// exactly as read).
    Raw(Vec<u8>),
}

impl Out {
    pub fn str(s: &str) -> Out {
        Out::Bytes(s.as_bytes().to_vec())
    }

    pub fn dict<K: Into<Vec<u8>>>(entries: impl IntoIterator<Item = (K, Out)>) -> Out {
        Out::Dict(entries.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// Encode canonically.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    pub fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            Out::Int(i) => {
                out.push(b'i');
                out.extend_from_slice(i.to_string().as_bytes());
                out.push(b'e');
            }
            Out::Bytes(b) => {
                out.extend_from_slice(b.len().to_string().as_bytes());
                out.push(b':');
                out.extend_from_slice(b);
            }
            Out::List(l) => {
                out.push(b'l');
                for v in l {
                    v.encode_into(out);
                }
                out.push(b'e');
            }
            Out::Dict(d) => {
                let mut sorted: Vec<&(Vec<u8>, Out)> = d.iter().collect();
                sorted.sort_by(|a, b| a.0.cmp(&b.0));
                out.push(b'd');
                for (k, v) in sorted {
                    Out::Bytes(k.clone()).encode_into(out);
                    v.encode_into(out);
                }
                out.push(b'e');
            }
            Out::Raw(raw) => out.extend_from_slice(raw),
        }
    }
}

impl From<&Value<'_>> for Out {
    fn from(v: &Value<'_>) -> Out {
        match v {
            Value::Int(i) => Out::Int(*i),
            Value::Bytes(b) => Out::Bytes(b.to_vec()),
            Value::List(l) => Out::List(l.iter().map(Out::from).collect()),
            Value::Dict(d) => Out::Dict(
                d.entries
                    .iter()
                    .map(|(k, v)| (k.to_vec(), Out::from(v)))
                    .collect(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &[u8], expected: Result<&str, ErrorKind>) {
        match (decode(input), expected) {
            (Ok(v), Ok(e)) => assert_eq!(
                format!("{v:?}"),
                e,
                "input {:?}",
                String::from_utf8_lossy(input)
            ),
            (Err(got), Err(e)) => {
                assert_eq!(got.kind, e, "input {:?}", String::from_utf8_lossy(input))
            }
            (got, e) => panic!(
                "input {:?}: got {got:?}, expected {e:?}",
                String::from_utf8_lossy(input)
            ),
        }
    }

    #[test]
    fn decodes_and_rejects_like_libtorrent() {
        check(b"i42e", Ok("42"));
        check(b"i-7e", Ok("-7"));
        check(b"i0e", Ok("0"));
        check(b"i07e", Err(ErrorKind::BadInteger));
        check(b"i-0e", Err(ErrorKind::BadInteger));
        check(b"ie", Err(ErrorKind::BadInteger));
        check(b"i9223372036854775807e", Ok("9223372036854775807"));
        check(b"i-9223372036854775808e", Ok("-9223372036854775808"));
        check(b"i9223372036854775808e", Err(ErrorKind::Overflow));
        check(b"4:spam", Ok("\"spam\""));
        check(b"0:", Ok("\"\""));
        check(b"5:spam", Err(ErrorKind::StringTooLong));
        check(b"99999999999999999999:x", Err(ErrorKind::Overflow));
        check(b"l4:spami3ee", Ok("[\"spam\", 3]"));
        check(
            b"d3:bar4:spam3:fooi42ee",
            Ok("{\"bar\": \"spam\", \"foo\": 42}"),
        );
        check(b"d3:fooi1e3:bari2ee", Ok("{\"foo\": 1, \"bar\": 2}"));
        check(b"d3:fooi1e3:fooi2ee", Ok("{\"foo\": 1, \"foo\": 2}"));
        check(b"di1ei2ee", Err(ErrorKind::KeyNotString));
        check(b"l", Err(ErrorKind::Eof));
        check(b"i1ei2e", Err(ErrorKind::Trailing));
        check(b"x", Err(ErrorKind::Unexpected(b'x')));
        check(b"", Err(ErrorKind::Eof));
    }

    #[test]
    fn depth_and_item_limits_hold() {
        let deep = [vec![b'l'; 200], vec![b'e'; 200]].concat();
        assert_eq!(
            decode(&deep).map_err(|e| e.kind),
            Err(ErrorKind::TooDeep(100))
        );
        let many = [b"l".to_vec(), b"i1e".repeat(50), b"e".to_vec()].concat();
        let limits = Limits {
            max_depth: 10,
            max_items: 20,
        };
        assert_eq!(
            decode_with(&many, limits).map_err(|e| e.kind),
            Err(ErrorKind::TooManyItems(20))
        );
    }

    #[test]
    fn dicts_keep_their_raw_span_and_encoding_is_canonical() {
        let input = b"d4:infod1:bi2e1:ai1eee";
        let v = decode(input).expect("valid");
        let info = v
            .as_dict()
            .and_then(|d| d.get("info"))
            .and_then(Value::as_dict)
            .expect("info");
        assert_eq!(info.raw, b"d1:bi2e1:ai1ee");
        assert!(!Value::Dict(info.clone()).keys_sorted());
        assert_eq!(Out::from(&v).encode(), b"d4:infod1:ai1e1:bi2eee");
        let round = b"d3:bar4:spam3:fooli1ei-2eee";
        assert_eq!(Out::from(&decode(round).expect("valid")).encode(), round);
    }
}
