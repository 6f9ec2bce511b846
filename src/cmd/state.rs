//! Where a project's state lives, and how `xmacro status` finds the host
//! running it: the config's `state` folder, else (no config, no `--state`)
//! a folder of the user's data directory (`$XDG_DATA_HOME/xmacro`, else
//! `~/.local/share/xmacro`) named after the scripts folder, so `run` in
//! any folder leaves no `.xmacro/` behind and two projects never share one.
//!
//! A running host with a status server records its address there
//! ([`STATUS_RECORD`]: the URL and the host's process id); `xmacro status`
//! without `--http` reads it, and removes a record whose process is gone.

use std::path::{Path, PathBuf};

use crate::config::Config;

/// The file in a state folder that says where its host's status server is.
pub const STATUS_RECORD: &str = "status-address";

/// The user's data folder for xmacro (`None` without a home).
fn data_home() -> Option<PathBuf> {
    let xdg = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute());
    xdg.or_else(|| {
        std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(|h| PathBuf::from(h).join(".local/share"))
    })
    .map(|d| d.join("xmacro"))
}

/// The state folder of scripts run without a config and without
/// `--state`: in the user's data folder, one per scripts folder (its name
/// and a hash of its full path); the current folder's `.xmacro/state`
/// only when there is no home to put it in.
pub fn default_state_dir(scripts: &Path) -> PathBuf {
    let full = std::path::absolute(scripts).unwrap_or_else(|_| scripts.to_path_buf());
    let Some(home) = data_home() else {
        return PathBuf::from(crate::config::DEFAULT_STATE);
    };
    let name: String = full
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let hash = crate::config::text_hash(full.to_string_lossy().as_bytes());
    home.join("state")
        .join(format!("{name}-{:08x}", hash as u32))
}

/// The state folder of the project in the current folder (its config's,
/// read without resolving any codec, so no password is needed), or the
/// default one of `./scripts`.
pub fn project_state_dir(config: Option<&Path>) -> PathBuf {
    let read = crate::config::discover(config).and_then(|file| {
        let text = Config::read_text(&file).ok()?;
        Config::parse_keeping(&file, &text, &|k| std::env::var(k).ok(), &|_| false).ok()
    });
    match read {
        Some(cfg) => cfg.state,
        None => default_state_dir(Path::new(crate::config::DEFAULT_SCRIPTS)),
    }
}

/// A status record this process wrote; removed when dropped (the host
/// stopped).
pub struct StatusRecord(PathBuf);

impl StatusRecord {
    /// Records `url` (and this process) in `state_dir`; a failure is only
    /// logged (`status --http URL` still works).
    pub fn write(state_dir: &Path, url: &str) -> Option<StatusRecord> {
        let file = state_dir.join(STATUS_RECORD);
        let written = std::fs::create_dir_all(state_dir)
            .and_then(|()| std::fs::write(&file, format!("{url}\n{}\n", std::process::id())));
        match written {
            Ok(()) => Some(StatusRecord(file)),
            Err(e) => {
                tracing::warn!(
                    "cannot record the status address in {}: {e}; `xmacro status` will need --http {url}",
                    file.display()
                );
                None
            }
        }
    }
}

impl Drop for StatusRecord {
    fn drop(&mut self) {
        if read_record(&self.0).is_some_and(|(_, pid)| pid == std::process::id()) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

fn read_record(file: &Path) -> Option<(String, u32)> {
    let text = std::fs::read_to_string(file).ok()?;
    let mut lines = text.lines();
    let url = lines.next()?.trim().to_string();
    let pid = lines.next()?.trim().parse().ok()?;
    url.starts_with("http").then_some((url, pid))
}

/// Whether a process with this id is running (on this machine).
fn alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // Signal 0 sends nothing: it only asks whether the process exists.
    // SAFETY: kill with signal 0 has no effect on the target.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// The status URL a running host recorded in `state_dir`; a record whose
/// host is gone is removed (and said so on the log).
pub fn recorded_status_url(state_dir: &Path) -> Option<String> {
    let file = state_dir.join(STATUS_RECORD);
    let (url, pid) = read_record(&file)?;
    if alive(pid) {
        return Some(url);
    }
    tracing::warn!(
        "{} named a host (process {pid}) that is no longer running; removed",
        file.display()
    );
    let _ = std::fs::remove_file(&file);
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_names_the_url_while_its_host_runs_and_a_stale_one_is_removed() {
        let dir = std::env::temp_dir().join(format!("xmacro-record-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let record = StatusRecord::write(&dir, "http://127.0.0.1:4321/").unwrap();
        assert_eq!(
            recorded_status_url(&dir).as_deref(),
            Some("http://127.0.0.1:4321/")
        );
        drop(record);
        assert_eq!(
            recorded_status_url(&dir),
            None,
            "removed when the host stops"
        );
        // A host killed without its clean-up: a process id nobody has.
        std::fs::write(dir.join(STATUS_RECORD), "http://127.0.0.1:1/\n2147483646\n").unwrap();
        assert_eq!(recorded_status_url(&dir), None);
        assert!(
            !dir.join(STATUS_RECORD).exists(),
            "the stale record is gone"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn scripts_folders_without_a_config_keep_their_state_apart_in_the_data_folder() {
        let a = default_state_dir(Path::new("/srv/one/scripts"));
        let b = default_state_dir(Path::new("/srv/two/scripts"));
        assert_ne!(a, b);
        assert!(
            a.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("scripts-")
        );
        if data_home().is_some() {
            assert!(
                a.to_string_lossy().contains("xmacro/state/"),
                "{}",
                a.display()
            );
        }
    }
}
