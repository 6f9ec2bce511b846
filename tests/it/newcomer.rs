//! A newcomer's first hour, second pass (issue 32), through the real
//! binary: the schema pulled from a codec, the built-in model's limits
//! said out loud, passwords as documented, `status` finding the host,
//! JavaScript habits met with hints, install steps (completions and man
//! pages, a closed pipe), and tests that cannot pass by accident.

use std::process::Stdio;

use crate::common::rig::TempDir;
use crate::first_hour::{LONG, output, xmacro};

/// Runs xmacro with its stdout read for one line, then closed: what
/// `xmacro ... | head -1` does. Gives the line and the exit code.
async fn first_line_then_close(args: &[&str]) -> (String, i32, String) {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
    let dir = TempDir::new("pipe");
    let mut cmd = xmacro(&dir.0);
    cmd.args(args).stdout(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    tokio::time::timeout(LONG, stdout.read_line(&mut line))
        .await
        .expect("a first line")
        .unwrap();
    drop(stdout);
    let mut stderr = String::new();
    let mut err = child.stderr.take().unwrap();
    let status = tokio::time::timeout(LONG, async {
        err.read_to_string(&mut stderr).await.unwrap();
        child.wait().await.unwrap()
    })
    .await
    .expect("xmacro ends once its reader has gone");
    (line, status.code().unwrap_or(-1), stderr)
}

#[tokio::test]
async fn output_into_a_pipe_closed_after_the_first_line_ends_quietly() {
    for args in [
        &["completions", "bash"][..],
        &["man"][..],
        &["completions", "zsh"][..],
    ] {
        let (line, code, stderr) = first_line_then_close(args).await;
        assert!(!line.is_empty(), "{args:?}");
        assert_eq!(code, 0, "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(stderr.is_empty(), "{args:?} said: {stderr}");
    }
}

/// A roff page's text with its hyphens plain (`xmacro\-run` → `xmacro-run`).
fn page_refs(roff: &str) -> Vec<String> {
    let text = roff.replace("\\-", "-");
    let mut refs: Vec<String> = text
        .match_indices("xmacro-")
        .filter_map(|(at, _)| {
            let rest = &text[at..];
            let end = rest.find("(1)")?;
            let name = &rest[..end];
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
                .then(|| name.to_string())
        })
        .collect();
    refs.sort();
    refs.dedup();
    refs
}

#[tokio::test]
async fn man_dir_writes_a_page_per_command_and_every_page_named_exists() {
    let tmp = TempDir::new("mandir");
    let dir = tmp.0.join("share/man/man1");
    let out = output(&tmp.0, &["man", "--dir", dir.to_str().unwrap()]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    for page in [
        "xmacro.1",
        "xmacro-run.1",
        "xmacro-check.1",
        "xmacro-sim-ctl.1",
    ] {
        assert!(dir.join(page).is_file(), "no {page}");
    }
    let mut named = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let page = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for r in page_refs(&page) {
            named += 1;
            assert!(
                dir.join(format!("{r}.1")).is_file(),
                "{r}(1) is named but not written"
            );
        }
    }
    assert!(named > 10, "the main page names the command pages");
    // Alone on stdout, the main page names no page it does not come with.
    let out = output(&tmp.0, &["man"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(page_refs(&out.stdout), Vec::<String>::new());
    assert!(out.stdout.contains("xmacro run"), "the commands are listed");
}
