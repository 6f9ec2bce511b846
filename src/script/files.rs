//! Which files are scripts, libraries and tests: one answer for the host
//! (what to load and watch), `xmacro check` (what to compile) and `xmacro
//! test` (what to run), so the three never disagree about a file and none
//! of them imports another for it.
//!
//! In a scripts folder, a top-level `NAME.rhai` is a script; a `.rhai`
//! file in a subfolder is a library (imported as `"sub/name"`); a
//! `*.test.rhai` anywhere is a test, never run as a script. Editors' temporary
//! files (`.x.rhai.swp`, `#x.rhai#`, `x.rhai~`) are none of these.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Whether a directory entry is a script (not an editor's temporary file).
/// Tests (`*.test.rhai`, for `xmacro test`) are never run as scripts.
pub fn is_script_file(name: &str) -> bool {
    name.ends_with(".rhai")
        && !name.ends_with(".test.rhai")
        && !name.starts_with('.')
        && !name.starts_with('#')
        && name.len() > ".rhai".len()
}

/// Whether a directory entry is a test file for `xmacro test`.
pub fn is_test_file(name: &str) -> bool {
    name.ends_with(".test.rhai") && !name.starts_with('.')
}

/// A file given as a script that cannot be one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotAScript {
    #[error("{}: a script file ends in .rhai (and is not a *.test.rhai)", .0.display())]
    Name(PathBuf),
    #[error("{}: no such script file", .0.display())]
    Missing(PathBuf),
}

/// Splits a script file given on the command line into its directory
/// (the scripts root, for imports) and its name.
pub fn split_script_file(file: &Path) -> Result<(PathBuf, String), NotAScript> {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !is_script_file(&name) {
        return Err(NotAScript::Name(file.to_path_buf()));
    }
    if !file.is_file() {
        return Err(NotAScript::Missing(file.to_path_buf()));
    }
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok((dir, name.trim_end_matches(".rhai").to_string()))
}

/// The scripts in a directory, by name (file stem) to file name.
pub fn list_scripts(dir: &Path) -> std::io::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_script_file(&name) && entry.file_type().is_ok_and(|t| t.is_file()) {
            out.insert(name.trim_end_matches(".rhai").to_string(), name);
        }
    }
    Ok(out)
}

/// The libraries under `dir` (script files in its subfolders), sorted,
/// relative to it; folders that cannot be read are left out.
pub fn libraries(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(p);
            } else if d != dir
                && is_script_file(&e.file_name().to_string_lossy())
                && let Ok(rel) = p.strip_prefix(dir)
            {
                out.push(rel.to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}

/// The test files under `dir`, at any depth, sorted, relative to it
/// (hidden folders are skipped).
pub fn tests(dir: &Path) -> std::io::Result<Vec<String>> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> std::io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            if entry.file_type()?.is_dir() {
                walk(root, &path, out)?;
            } else if is_test_file(&name) {
                let rel = path.strip_prefix(root).unwrap_or(&path);
                out.push(rel.to_string_lossy().into_owned());
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out)?;
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn editor_temp_files_are_not_scripts() {
        assert!(is_script_file("volume-limit.rhai"));
        for name in [
            ".volume.rhai.swp",
            "volume.rhai~",
            "#volume.rhai#",
            ".#volume.rhai",
            ".rhai",
            "notes.txt",
            "volume.rhai.tmp",
            "volume.test.rhai",
        ] {
            assert!(!is_script_file(name), "{name}");
        }
    }

    #[test]
    fn scripts_libraries_and_tests_of_one_folder_are_told_apart() {
        let dir = std::env::temp_dir().join(format!("xmacro-files-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("lib/deep")).unwrap();
        std::fs::create_dir_all(dir.join(".hidden")).unwrap();
        for f in [
            "room.rhai",
            "room.test.rhai",
            ".room.rhai.swp",
            "lib/util.rhai",
            "lib/deep/more.rhai",
            "lib/util.test.rhai",
            ".hidden/x.test.rhai",
        ] {
            std::fs::write(dir.join(f), "").unwrap();
        }
        let scripts: Vec<_> = list_scripts(&dir).unwrap().into_keys().collect();
        assert_eq!(scripts, ["room"]);
        assert_eq!(libraries(&dir), ["lib/deep/more.rhai", "lib/util.rhai"]);
        assert_eq!(
            tests(&dir).unwrap(),
            ["lib/util.test.rhai", "room.test.rhai"]
        );
        assert_eq!(
            split_script_file(&dir.join("room.rhai")).unwrap(),
            (dir.clone(), "room".to_string())
        );
        assert_eq!(
            split_script_file(&dir.join("room.test.rhai")),
            Err(NotAScript::Name(dir.join("room.test.rhai")))
        );
        assert_eq!(
            split_script_file(&dir.join("gone.rhai")),
            Err(NotAScript::Missing(dir.join("gone.rhai")))
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
