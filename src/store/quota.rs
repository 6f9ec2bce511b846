//! The `store_quota` setting: how many bytes one instance's store may hold
//! (keys plus encoded values), written like `512KB`, `10MB` or `1GB`.

/// The smallest quota accepted: below this a script could store almost
/// nothing, which is more likely a missing unit than an intent.
const MIN_QUOTA: u64 = 1024;

/// Reads a size such as `10MB` (units B, KB, MB, GB, powers of 1024).
pub fn parse_quota(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{text:?} is not a size (write e.g. \"10MB\")"))?;
    let scale: u64 = match unit.trim().to_ascii_uppercase().as_str() {
        "B" => 1,
        "KB" | "KIB" => 1 << 10,
        "MB" | "MIB" => 1 << 20,
        "GB" | "GIB" => 1 << 30,
        "" => return Err(format!("{text:?} has no unit (use B, KB, MB or GB)")),
        u => {
            return Err(format!(
                "{text:?}: unknown unit {u:?} (use B, KB, MB or GB)"
            ));
        }
    };
    let bytes = n
        .checked_mul(scale)
        .ok_or_else(|| format!("{text:?} is too large"))?;
    if bytes < MIN_QUOTA {
        return Err(format!("{text:?} is less than 1KB"));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_need_a_unit_and_a_sane_amount() {
        assert_eq!(parse_quota("10MB").unwrap(), 10 << 20);
        assert_eq!(parse_quota(" 512 kb ").unwrap(), 512 << 10);
        assert_eq!(parse_quota("2048B").unwrap(), 2048);
        assert!(parse_quota("10").unwrap_err().contains("no unit"));
        assert!(
            parse_quota("10 parsecs")
                .unwrap_err()
                .contains("unknown unit")
        );
        assert!(parse_quota("1B").unwrap_err().contains("less than"));
        assert!(
            parse_quota("99999999999999GB")
                .unwrap_err()
                .contains("too large")
        );
        assert!(parse_quota("-1MB").is_err());
    }
}
