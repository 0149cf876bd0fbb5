//! Sizes as people write them.

/// Parse a storage size the way disks are sold and counted: "300TB",
/// "1.5TB" (decimal: 10^12), "2TiB" (binary: 2^40), "500GB", "750G"
/// (a bare letter is decimal), or bytes.
pub fn parse_budget(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: f64 = number.parse().map_err(|_| format!("not a size: {s}"))?;
    let unit = unit.trim().to_ascii_lowercase();
    let mult: f64 = match unit.as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "t" | "tb" => 1e12,
        "p" | "pb" => 1e15,
        "kib" => 1024f64,
        "mib" => 1024f64.powi(2),
        "gib" => 1024f64.powi(3),
        "tib" => 1024f64.powi(4),
        "pib" => 1024f64.powi(5),
        other => return Err(format!("unknown size unit {other:?} in {s}")),
    };
    let bytes = n * mult;
    if !bytes.is_finite() || bytes < 1.0 || bytes > u64::MAX as f64 {
        return Err(format!("not a usable size: {s}"));
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn budgets_parse_with_units() {
        assert_eq!(super::parse_budget("300TB"), Ok(300_000_000_000_000));
        assert_eq!(super::parse_budget("2TiB"), Ok(2 << 40));
        assert!(super::parse_budget("0").is_err());
        assert!(super::parse_budget("1e400").is_err());
    }
}
