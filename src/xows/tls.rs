//! Certificate helpers shared by the client and the simulator.

use sha2::{Digest, Sha256};

/// The SHA-256 fingerprint of a DER certificate as `sha256:AB:CD:...`, the
/// form users paste into a `fingerprint =` pin.
pub fn fingerprint(der: &[u8]) -> String {
    let hex: Vec<String> = Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    format!("sha256:{}", hex.join(":"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn fingerprint_format() {
        let f = super::fingerprint(b"abc");
        assert!(f.starts_with("sha256:BA:78:16:BF"), "{f}");
        assert_eq!(f.len(), "sha256:".len() + 32 * 3 - 1);
    }
}
