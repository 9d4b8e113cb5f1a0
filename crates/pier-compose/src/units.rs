//! Durations (Go's `time.ParseDuration` syntax) and byte sizes (Docker's
//! `RAMInBytes`: binary multiples, `b`/`k`/`m`/`g`/`t`/`p` with optional
//! `b` or `ib`).

/// A duration in nanoseconds: `1m30s`, `10s`, `500ms`, `1.5h`, `0`.
pub fn duration_ns(s: &str) -> Result<u128, String> {
    let bad = || format!("invalid duration {s:?} (expected e.g. 10s, 1m30s, 500ms)");
    let t = s.trim();
    if t == "0" {
        return Ok(0);
    }
    if t.is_empty() {
        return Err(bad());
    }
    let mut total: f64 = 0.0;
    let mut rest = t;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        if num_len == 0 {
            return Err(bad());
        }
        let n: f64 = rest[..num_len].parse().map_err(|_| bad())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult: f64 = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(bad()),
        };
        total += n * mult;
        rest = &rest[unit_len..];
    }
    if !total.is_finite() || total > 1e30 {
        return Err(bad());
    }
    Ok(total.round() as u128)
}

/// A duration rounded up to milliseconds.
pub fn duration_ms(s: &str) -> Result<u64, String> {
    Ok(duration_ns(s)?.div_ceil(1_000_000) as u64)
}

/// A duration rounded up to seconds.
pub fn duration_secs(s: &str) -> Result<u64, String> {
    Ok(duration_ns(s)?.div_ceil(1_000_000_000) as u64)
}

/// A size in bytes: `512m`, `1g`, `1.5GB`, `100k`, `1024`, `10b`.
pub fn bytes(s: &str) -> Result<i64, String> {
    let bad = || format!("invalid size {s:?} (expected e.g. 512m, 1g, 1.5GB or a number of bytes)");
    let t = s.trim();
    let num_len = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    if num_len == 0 {
        return Err(bad());
    }
    let n: f64 = t[..num_len].parse().map_err(|_| bad())?;
    let unit = t[num_len..].trim().to_ascii_lowercase();
    let unit = unit
        .strip_suffix("ib")
        .or_else(|| unit.strip_suffix('b'))
        .unwrap_or(&unit);
    let mult: f64 = match unit {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024.0f64.powi(4),
        "p" => 1024.0f64.powi(5),
        _ => return Err(bad()),
    };
    let v = n * mult;
    if !v.is_finite() || v >= i64::MAX as f64 {
        return Err(bad());
    }
    Ok(v as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration_ms("1m30s").unwrap(), 90_000);
        assert_eq!(duration_ms("10s").unwrap(), 10_000);
        assert_eq!(duration_ms("500ms").unwrap(), 500);
        assert_eq!(duration_ms("1h").unwrap(), 3_600_000);
        assert_eq!(duration_ms("1.5s").unwrap(), 1_500);
        assert_eq!(duration_ms("0").unwrap(), 0);
        assert_eq!(duration_ms("1us").unwrap(), 1);
        assert_eq!(duration_secs("1500ms").unwrap(), 2);
        assert_eq!(duration_secs("2m").unwrap(), 120);
        for bad in ["", "10", "s", "10x", "1m30", "-1s"] {
            assert!(duration_ns(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(bytes("512m").unwrap(), 512 << 20);
        assert_eq!(bytes("1g").unwrap(), 1 << 30);
        assert_eq!(bytes("1.5GB").unwrap(), 3 << 29);
        assert_eq!(bytes("100k").unwrap(), 102_400);
        assert_eq!(bytes("1024").unwrap(), 1024);
        assert_eq!(bytes("10b").unwrap(), 10);
        assert_eq!(bytes("2MiB").unwrap(), 2 << 20);
        for bad in ["", "m", "1x", "1.2.3m"] {
            assert!(bytes(bad).is_err(), "{bad}");
        }
    }
}
