//! The `store_quota` setting: how many bytes one instance's store may hold
//! (keys plus encoded values), written like `512KB`, `10MB` or `1GB`.

/// The smallest quota accepted: below this a script could store almost
/// nothing, which is more likely a missing unit than an intent.
const MIN_QUOTA: u64 = 1024;

/// Why a size cannot be a quota.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuotaError {
    #[error("{0:?} is not a size (write e.g. \"10MB\")")]
    NotASize(String),
    #[error("{0:?} has no unit (use B, KB, MB or GB)")]
    NoUnit(String),
    #[error("{text:?}: unknown unit {unit:?} (use B, KB, MB or GB)")]
    UnknownUnit { text: String, unit: String },
    #[error("{0:?} is too large")]
    TooLarge(String),
    #[error("{0:?} is less than 1KB")]
    TooSmall(String),
}

/// Reads a size such as `10MB` (units B, KB, MB, GB, powers of 1024).
pub fn parse_quota(text: &str) -> Result<u64, QuotaError> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| QuotaError::NotASize(text.into()))?;
    let scale: u64 = match unit.trim().to_ascii_uppercase().as_str() {
        "B" => 1,
        "KB" | "KIB" => 1 << 10,
        "MB" | "MIB" => 1 << 20,
        "GB" | "GIB" => 1 << 30,
        "" => return Err(QuotaError::NoUnit(text.into())),
        u => {
            return Err(QuotaError::UnknownUnit {
                text: text.into(),
                unit: u.into(),
            });
        }
    };
    let bytes = n
        .checked_mul(scale)
        .ok_or_else(|| QuotaError::TooLarge(text.into()))?;
    if bytes < MIN_QUOTA {
        return Err(QuotaError::TooSmall(text.into()));
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
        let e = |text| parse_quota(text).unwrap_err().to_string();
        assert!(e("10").contains("no unit"));
        assert!(e("10 parsecs").contains("unknown unit"));
        assert!(e("1B").contains("less than"));
        assert!(e("99999999999999GB").contains("too large"));
        assert!(parse_quota("-1MB").is_err());
    }
}
