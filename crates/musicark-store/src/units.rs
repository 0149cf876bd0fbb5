//! Sizes and durations as people write and read them.

/// A size as people read it: `1.5 MB`, `32.0 GB`, in decimal units, as
/// disks are sold and as [`parse_budget`] reads `300TB`. The one size
/// formatter: the CLI, the pages and the reports all print sizes with it.
pub fn size(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1000.0 && i + 1 < UNITS.len() {
        v /= 1000.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

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
    fn sizes_print_in_decimal_units_and_read_back() {
        assert_eq!(super::size(999), "999 B");
        assert_eq!(super::size(1536), "1.5 kB");
        assert_eq!(super::size(1_500_000), "1.5 MB");
        assert_eq!(super::size(32_000_000_000), "32.0 GB");
        assert_eq!(
            super::parse_budget(&super::size(300_000_000_000_000).replace(' ', "")),
            Ok(300_000_000_000_000)
        );
    }

    #[test]
    fn budgets_parse_with_units() {
        assert_eq!(super::parse_budget("300TB"), Ok(300_000_000_000_000));
        assert_eq!(super::parse_budget("2TiB"), Ok(2 << 40));
        assert!(super::parse_budget("0").is_err());
        assert!(super::parse_budget("1e400").is_err());
    }
}

/// Parse a duration as people write one: "90s", "30m", "1h", "2h30m",
/// "1d", or bare seconds.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let t = s.trim();
    if let Ok(secs) = t.parse::<u64>() {
        return Ok(std::time::Duration::from_secs(secs));
    }
    let mut total = 0u64;
    let mut number = String::new();
    for c in t.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let n: u64 = number
            .parse()
            .map_err(|_| format!("not a duration: {s} (say 90s, 30m, 1h, 2h30m, 1d)"))?;
        number.clear();
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(format!("unknown unit {c:?} in {s} (s, m, h or d)")),
        };
        total = total.saturating_add(n.saturating_mul(unit));
    }
    if !number.is_empty() || total == 0 {
        return Err(format!("not a duration: {s} (say 90s, 30m, 1h, 2h30m, 1d)"));
    }
    Ok(std::time::Duration::from_secs(total))
}

#[cfg(test)]
mod duration_tests {
    use super::parse_duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90").map(|d| d.as_secs()), Ok(90));
        assert_eq!(parse_duration("90s").map(|d| d.as_secs()), Ok(90));
        assert_eq!(parse_duration("1h").map(|d| d.as_secs()), Ok(3600));
        assert_eq!(parse_duration("2h30m").map(|d| d.as_secs()), Ok(9000));
        assert!(parse_duration("1x").is_err());
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("0s").is_err());
    }
}
