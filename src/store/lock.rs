//! One host per state directory. Two hosts writing one store each keep
//! their own view in memory and overwrite each other's acknowledged writes,
//! so the first holds an exclusive lock on `<state>/xmacro.lock` for as long
//! as it runs and writes who it is into the file; a second one is refused
//! with that description. The lock is the kernel's (`flock`), so it goes
//! away with the process, even after `kill -9`.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use super::StoreError;

/// The lock file's name inside the state directory.
pub const LOCK_FILE: &str = "xmacro.lock";

/// Held while a host uses a state directory; dropping it unlocks.
#[derive(Debug)]
pub struct StateLock {
    _file: File,
    path: PathBuf,
}

impl StateLock {
    /// Takes the lock on `dir` (created if missing), or says who holds it.
    pub fn acquire(dir: &Path) -> Result<StateLock, StoreError> {
        let path = dir.join(LOCK_FILE);
        let fail = |why: String| StoreError::new(format!("state directory {}", dir.display()), why);
        std::fs::create_dir_all(dir).map_err(|e| fail(format!("cannot create it: {e}")))?;
        // Not truncated on open: the holder's description must survive a
        // second host's attempt.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| fail(format!("cannot open {}: {e}", path.display())))?;
        match try_lock_briefly(&file) {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                let holder = if holder.is_empty() {
                    "another xmacro that is just starting".to_string()
                } else {
                    format!("another xmacro ({holder})")
                };
                return Err(fail(format!(
                    "in use by {holder}; two hosts on one state directory would lose each other's writes: stop the other one, or give this one its own state directory (--state or `state` in the config)"
                )));
            }
            Err(TryLockError::Error(e)) => {
                return Err(fail(format!("cannot lock {}: {e}", path.display())));
            }
        }
        let me = format!(
            "pid {} on host {} since {}\n",
            std::process::id(),
            hostname(),
            chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ")
        );
        file.set_len(0)
            .and_then(|_| file.rewind())
            .and_then(|_| file.write_all(me.as_bytes()))
            .map_err(|e| fail(format!("cannot write {}: {e}", path.display())))?;
        Ok(StateLock { _file: file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// How long a lock held elsewhere is waited for before it counts as taken.
/// A process forked by this one (the tests, a hook) shares the lock file's
/// open description until it runs `exec`, which closes it; for that moment
/// a lock its owner has just dropped still looks held.
const GRACE: std::time::Duration = std::time::Duration::from_secs(1);

fn try_lock_briefly(file: &File) -> Result<(), TryLockError> {
    let until = std::time::Instant::now() + GRACE;
    loop {
        match file.try_lock() {
            Err(TryLockError::WouldBlock) if std::time::Instant::now() < until => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_naming_the_holder_until_the_first_is_dropped() {
        let dir = super::super::tests::temp("lock");
        let first = StateLock::acquire(&dir).unwrap();
        let e = StateLock::acquire(&dir).unwrap_err().to_string();
        assert!(
            e.contains(&format!("pid {}", std::process::id())) && e.contains("in use"),
            "{e}"
        );
        assert!(e.contains(&dir.display().to_string()), "{e}");
        drop(first);
        let again = StateLock::acquire(&dir).unwrap();
        assert!(again.path().ends_with(LOCK_FILE));
    }
}
