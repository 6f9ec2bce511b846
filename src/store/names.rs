//! Which codec names the config accepts. The store keys its data by the
//! exact names (never a file name made from them), so this is not what keeps
//! stores apart; it keeps names that look like paths or hide control
//! characters out of the config, where they could only be mistakes.

/// Why a name cannot name a codec.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecNameError {
    #[error("a codec name cannot be empty")]
    Empty,
    #[error("{0:?} is not a codec name (it names a directory)")]
    Directory(String),
    #[error(
        "{name:?} contains {c:?}: a codec name is one word without path separators or control characters"
    )]
    Forbidden { name: String, c: char },
}

/// Why `name` cannot name a codec, if it cannot.
pub fn check_codec_name(name: &str) -> Result<(), CodecNameError> {
    if name.is_empty() {
        return Err(CodecNameError::Empty);
    }
    if name == "." || name == ".." {
        return Err(CodecNameError::Directory(name.into()));
    }
    if let Some(c) = name
        .chars()
        .find(|c| matches!(c, '/' | '\\') || c.is_control() || c.is_whitespace())
    {
        return Err(CodecNameError::Forbidden {
            name: name.into(),
            c,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_like_and_control_names_are_refused_and_ordinary_ones_pass() {
        for bad in [
            "",
            ".",
            "..",
            "room/1",
            "a\\b",
            "x\ny",
            "tab\there",
            "a b",
            "nul\0",
        ] {
            assert!(check_codec_name(bad).is_err(), "{bad:?} accepted");
        }
        for good in [
            "boardroom",
            "huddle-1",
            "room_1",
            "会议室",
            "10.0.0.5:443",
            "a.b",
            "...",
        ] {
            assert!(check_codec_name(good).is_ok(), "{good:?} refused");
        }
    }
}
