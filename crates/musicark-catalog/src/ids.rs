//! Identifier hygiene: ISRC, UPC/EAN (GTIN) and MBID, normalised and
//! validated. Pure functions; an invalid value gets a reason, never a guess.

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("ISRC must be 12 characters after removing hyphens and spaces, got {0}")]
    IsrcLength(usize),
    #[error("ISRC country code must be two letters")]
    IsrcCountry,
    #[error("ISRC registrant code must be three letters or digits")]
    IsrcRegistrant,
    #[error("ISRC year and designation must be seven digits")]
    IsrcDigits,
    #[error("barcode must be 8, 12, 13 or 14 digits, got {0} characters")]
    BarcodeLength(usize),
    #[error("barcode must contain only digits")]
    BarcodeDigits,
    #[error("barcode check digit is {found}, expected {expected}")]
    BarcodeCheck { found: u8, expected: u8 },
    #[error("MBID must be a UUID (8-4-4-4-12 hex digits)")]
    Mbid,
}

/// Normalise an ISRC: upper case, hyphens and spaces removed, then
/// validated (CC XXX YY NNNNN).
pub fn isrc(raw: &str) -> Result<String, IdError> {
    let s: String = raw
        .chars()
        .filter(|c| !matches!(c, '-' | ' ' | '\u{a0}'))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if s.len() != 12 || !s.is_ascii() {
        return Err(IdError::IsrcLength(s.chars().count()));
    }
    let b = s.as_bytes();
    if !b[..2].iter().all(u8::is_ascii_uppercase) {
        return Err(IdError::IsrcCountry);
    }
    if !b[2..5]
        .iter()
        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    {
        return Err(IdError::IsrcRegistrant);
    }
    if !b[5..].iter().all(u8::is_ascii_digit) {
        return Err(IdError::IsrcDigits);
    }
    Ok(s)
}

/// Validate a UPC-A (12), EAN-13, EAN-8 or GTIN-14 barcode by its check
/// digit; spaces and hyphens are removed. Returned as digits.
pub fn barcode(raw: &str) -> Result<String, IdError> {
    let s: String = raw.chars().filter(|c| !matches!(c, '-' | ' ')).collect();
    if !matches!(s.len(), 8 | 12 | 13 | 14) {
        return Err(IdError::BarcodeLength(s.chars().count()));
    }
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(IdError::BarcodeDigits);
    }
    let digits: Vec<u8> = s.bytes().map(|b| b - b'0').collect();
    let (body, check) = digits.split_at(digits.len() - 1);
    // GS1: from the right, weights 3, 1, 3, 1…
    let sum: u32 = body
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| d as u32 * if i % 2 == 0 { 3 } else { 1 })
        .sum();
    let expected = ((10 - sum % 10) % 10) as u8;
    if check[0] != expected {
        return Err(IdError::BarcodeCheck {
            found: check[0],
            expected,
        });
    }
    Ok(s)
}

/// Normalise an MBID: a UUID in lower-case hyphenated form.
pub fn mbid(raw: &str) -> Result<String, IdError> {
    let s = raw.trim().to_ascii_lowercase();
    let b = s.as_bytes();
    let ok = b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        });
    if ok { Ok(s) } else { Err(IdError::Mbid) }
}

/// What kind of identifier a lookup string looks like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Mbid(String),
    Isrc(String),
    Barcode(String),
    Internal(i64),
}

/// Classify a user's lookup string: MBID, ISRC, barcode or internal id
/// (`123`, `rec:123`).
pub fn classify(raw: &str) -> Option<Lookup> {
    let t = raw.trim();
    if let Ok(m) = mbid(t) {
        return Some(Lookup::Mbid(m));
    }
    if let Some(n) = t
        .strip_prefix("rec:")
        .or_else(|| t.strip_prefix("recording:"))
    {
        return n.parse().ok().map(Lookup::Internal);
    }
    if let Ok(i) = isrc(t) {
        return Some(Lookup::Isrc(i));
    }
    if let Ok(b) = barcode(t) {
        return Some(Lookup::Barcode(b));
    }
    t.parse().ok().map(Lookup::Internal)
}

/// A canonical MBID (lower-case hyphenated UUID) as a number: a compact
/// cache key.
pub(crate) fn mbid_key(mbid: &str) -> Option<u128> {
    let mut v: u128 = 0;
    let mut digits = 0;
    for b in mbid.bytes() {
        if b == b'-' {
            continue;
        }
        v = (v << 4) | (b as char).to_digit(16)? as u128;
        digits += 1;
    }
    (digits == 32).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isrcs_are_normalised_and_validated() {
        assert_eq!(isrc("gb-ahs-14-00099"), Ok("GBAHS1400099".into()));
        assert_eq!(isrc("USRC17607839"), Ok("USRC17607839".into()));
        assert_eq!(isrc("US-RC1-76-07839"), Ok("USRC17607839".into()));
        assert_eq!(isrc("USRC1760783"), Err(IdError::IsrcLength(11)));
        assert_eq!(isrc("1SRC17607839"), Err(IdError::IsrcCountry));
        assert_eq!(isrc("US_C17607839"), Err(IdError::IsrcRegistrant));
        assert_eq!(isrc("USRC1760783X"), Err(IdError::IsrcDigits));
        assert!(isrc("ÜSRC17607839").is_err());
    }

    #[test]
    fn barcodes_need_their_check_digit() {
        assert_eq!(barcode("5099902895529"), Ok("5099902895529".into())); // EAN-13
        assert_eq!(barcode("602537518357"), Ok("602537518357".into())); // UPC-A
        assert_eq!(barcode("96385074"), Ok("96385074".into())); // EAN-8
        assert_eq!(
            barcode("5099902895528"),
            Err(IdError::BarcodeCheck {
                found: 8,
                expected: 9
            })
        );
        assert_eq!(barcode("12345"), Err(IdError::BarcodeLength(5)));
        assert_eq!(barcode("50999028955a9"), Err(IdError::BarcodeDigits));
    }

    #[test]
    fn mbids_and_lookups() {
        assert_eq!(
            mbid("CB2CC207-8125-445C-9EF9-6EA44EEE959A"),
            Ok("cb2cc207-8125-445c-9ef9-6ea44eee959a".into())
        );
        assert_eq!(
            mbid("cb2cc207-8125-445c-9ef9-6ea44eee959"),
            Err(IdError::Mbid)
        );
        assert_eq!(
            mbid("cb2cc207x8125-445c-9ef9-6ea44eee959a"),
            Err(IdError::Mbid)
        );
        assert_eq!(
            classify("GBAHS1400099"),
            Some(Lookup::Isrc("GBAHS1400099".into()))
        );
        assert_eq!(
            classify("5099902895529"),
            Some(Lookup::Barcode("5099902895529".into()))
        );
        assert_eq!(classify("rec:42"), Some(Lookup::Internal(42)));
        assert_eq!(classify("42"), Some(Lookup::Internal(42)));
        assert_eq!(classify("hello"), None);
    }
}
