//! Reading a file a user names (a config, a password or token file, a CA,
//! a stored value) without trusting it: bounded in size, and refused by
//! its type before a byte is read, so a FIFO never makes the process wait
//! for a writer and `/dev/zero` is never read until memory runs out.
//!
//! It sits at the bottom of the house (it imports nothing of xmacro): the
//! config, the client's TLS settings, the store and the status server all
//! read their files through it.

use std::io::Read;
use std::path::{Path, PathBuf};

/// Largest password (or status-server token) file read.
pub const MAX_PASSWORD_BYTES: u64 = 4096;
/// Largest CA file read.
pub const MAX_CA_BYTES: u64 = 1 << 20;

/// Why a bounded read gave no bytes; each says the file it is about.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file cannot be opened or read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Not a regular file: what it is (`a directory`, `a FIFO`, ...).
    #[error("{} is not a regular file (it is {kind})", path.display())]
    NotRegular { path: PathBuf, kind: &'static str },
    /// Larger than the bound.
    #[error("{} is larger than {limit} bytes", path.display())]
    TooLarge { path: PathBuf, limit: u64 },
}

/// Reads at most `limit` bytes of a regular file; anything larger, or not a
/// regular file (a directory, a device, a pipe), is refused with the reason.
///
/// The file is opened without blocking and its type checked on the open
/// descriptor before a byte is read: opening a FIFO for reading otherwise
/// waits for a writer (for ever, with signals unanswered at start-up, or
/// blocking a runtime worker on a config reload), and a device such as
/// `/dev/zero` never ends.
pub fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let io = |source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = open_regular(path).map_err(|e| match e {
        Unusual::Io(e) => io(e),
        Unusual::Kind(kind) => ReadError::NotRegular {
            path: path.to_path_buf(),
            kind,
        },
    })?;
    let too_large = || ReadError::TooLarge {
        path: path.to_path_buf(),
        limit,
    };
    // Refused before a byte is read; `take` still bounds a growing file.
    if file.metadata().map_err(io)?.len() > limit {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(bytes)
}

/// Why [`open_regular`] gave no file.
#[derive(Debug)]
pub enum Unusual {
    Io(std::io::Error),
    /// Not a regular file: what it is (`a directory`, `a FIFO`, ...).
    Kind(&'static str),
}

/// Opens `path` (following links) for reading only if it is a regular file,
/// never waiting on the way: a FIFO or a device is refused by its type, on
/// the descriptor itself (no gap between a check and the open).
pub fn open_regular(path: &Path) -> Result<std::fs::File, Unusual> {
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(Unusual::Io)?;
    let t = file.metadata().map_err(Unusual::Io)?.file_type();
    if t.is_file() {
        // Regular files ignore O_NONBLOCK; it is cleared all the same so
        // the descriptor reads as any other.
        // SAFETY: fcntl on a descriptor this function owns.
        unsafe {
            use std::os::fd::AsRawFd;
            let fd = file.as_raw_fd();
            let flags = libc::fcntl(fd, libc::F_GETFL);
            if flags >= 0 {
                libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK);
            }
        }
        return Ok(file);
    }
    Err(Unusual::Kind(if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a file"
    }))
}

/// Helpers for tests that hand the host unusual files.
#[cfg(test)]
pub(crate) mod testing {
    use std::path::{Path, PathBuf};
    use std::time::Duration;

    /// Makes a FIFO (named pipe) at `dir/name`; nothing ever writes to it.
    pub fn fifo(dir: &Path, name: &str) -> PathBuf {
        std::fs::create_dir_all(dir).unwrap();
        let p = dir.join(name);
        let _ = std::fs::remove_file(&p);
        let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
        // SAFETY: a valid C string; mkfifo only reads it.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
        p
    }

    /// Runs `f` on a thread of its own and gives its result, or `None` if
    /// it has not finished within `secs` seconds (it is left blocked: the
    /// test fails instead of hanging).
    pub fn within<T: Send + 'static>(
        secs: u64,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(f());
        });
        rx.recv_timeout(Duration::from_secs(secs)).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fifo_is_refused_at_once_without_waiting_for_a_writer() {
        let dir = std::env::temp_dir().join(format!("xmacro-bounds-fifo-{}", std::process::id()));
        let fifo = testing::fifo(&dir, "password");
        let e = testing::within(5, move || read_bounded(&fifo, 4096))
            .expect("read_bounded waited for a writer on a FIFO")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("password") && e.contains("not a regular file"),
            "{e}"
        );
        // Through a symbolic link too.
        let link = dir.join("link");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(dir.join("password"), &link).unwrap();
        let e = testing::within(5, move || read_bounded(&link, 4096))
            .expect("read_bounded waited on a link to a FIFO")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a regular file"), "{e}");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn bounded_reads_refuse_devices_directories_and_big_files() {
        let e = read_bounded(Path::new("/dev/zero"), 4096)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("/dev/zero") && e.contains("not a regular file"),
            "{e}"
        );
        let e = read_bounded(Path::new("/etc"), 4096)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a regular file"), "{e}");
        let dir = std::env::temp_dir().join(format!("xmacro-bounds-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let big = dir.join("big");
        std::fs::write(&big, vec![b'x'; 5000]).unwrap();
        assert!(
            read_bounded(&big, 4096)
                .unwrap_err()
                .to_string()
                .contains("larger than 4096")
        );
        assert_eq!(read_bounded(&big, 5000).unwrap().len(), 5000);
        let _ = std::fs::remove_dir_all(dir);
    }
}
