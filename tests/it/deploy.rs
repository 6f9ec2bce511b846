//! The service files in deploy/: the systemd unit passes
//! `systemd-analyze verify` (and its offline security review scores it
//! well), the container file passes hadolint and a structural check of
//! what docs/deploy.md promises (multi-stage, non-root, state volume,
//! health check on readiness), and every command line in them is one
//! `xmacro` accepts.

use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Parser;
use xmacro::cli::Cli;

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// A tool, or `None` with a note outside CI (CI installs it, so there a
/// missing tool fails).
fn tool(name: &str, env: &str) -> Option<PathBuf> {
    let candidate = std::env::var_os(env)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(name));
    if Command::new(&candidate).arg("--version").output().is_ok() {
        return Some(candidate);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{name} is missing in CI: .ci/run installs it"
    );
    eprintln!("note: {name} not installed; that check is skipped outside CI");
    None
}

/// Parses a command line the way a shell would for these simple files.
fn accepted(words: &[String]) {
    let mut argv = vec!["xmacro".to_string()];
    argv.extend(words.iter().cloned());
    if let Err(e) = Cli::try_parse_from(&argv) {
        panic!("xmacro does not accept {argv:?}: {e}");
    }
}

fn unit() -> String {
    std::fs::read_to_string(repo("deploy/xmacro.service")).unwrap()
}

fn directive<'a>(text: &'a str, key: &str) -> Vec<&'a str> {
    text.lines()
        .filter_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .collect()
}

#[test]
fn the_systemd_unit_is_hardened_and_runs_a_valid_command() {
    let text = unit();
    for want in [
        "DynamicUser=yes",
        "StateDirectory=xmacro",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "Restart=on-failure",
        "ExecReload=/bin/kill -HUP $MAINPID",
    ] {
        assert!(text.lines().any(|l| l == want), "the unit lacks {want}");
    }
    let exec = directive(&text, "ExecStart");
    assert_eq!(exec.len(), 1);
    let words: Vec<String> = exec[0].split_whitespace().map(String::from).collect();
    assert_eq!(words[0], "/usr/local/bin/xmacro");
    accepted(&words[1..]);
    let http = words.iter().position(|w| w == "--http").unwrap();
    assert!(
        words[http + 1].starts_with("127.0.0.1:"),
        "no token in the unit, so loopback"
    );
}

#[test]
fn systemd_analyze_verifies_the_unit_without_a_warning() {
    let Some(analyze) = tool("systemd-analyze", "SYSTEMD_ANALYZE") else {
        return;
    };
    // verify wants the binary to exist: point the copy at the one built.
    let dir = crate::common::rig::TempDir::new("unit");
    let file = dir.0.join("xmacro.service");
    std::fs::write(
        &file,
        unit().replace("/usr/local/bin/xmacro", env!("CARGO_BIN_EXE_xmacro")),
    )
    .unwrap();
    let out = Command::new(&analyze)
        .args(["verify", "--man=no"])
        .arg(&file)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{said}");
    // It exits 0 on unknown keys and bad values too; it must say nothing.
    assert!(said.trim().is_empty(), "systemd-analyze verify:\n{said}");

    let out = Command::new(&analyze)
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(&file)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let Some(level) = said.lines().find_map(|l| {
        l.split("Overall exposure level for xmacro.service: ")
            .nth(1)
    }) else {
        eprintln!("note: this systemd-analyze has no offline security review:\n{said}");
        return;
    };
    let score: f64 = level.split_whitespace().next().unwrap().parse().unwrap();
    assert!(
        score <= 2.0,
        "exposure {score} (0 is best, 10 worst):\n{said}"
    );
}

/// The container file's instructions, continuation lines joined, comments
/// (but not hadolint pragmas) dropped.
fn instructions() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo("deploy/Containerfile")).unwrap();
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('#') || (t.is_empty() && cur.is_empty()) {
            continue;
        }
        if let Some(body) = t.strip_suffix('\\') {
            cur.push_str(body);
            cur.push(' ');
            continue;
        }
        cur.push_str(t);
        let (k, v) = cur.split_once(' ').unwrap_or((&cur, ""));
        out.push((k.to_uppercase(), v.trim().to_string()));
        cur.clear();
    }
    assert!(cur.is_empty(), "a continuation runs off the end");
    out
}

fn exec_form(v: &str) -> Vec<String> {
    serde_json::from_str(v).unwrap_or_else(|e| panic!("not an exec-form array: {v}: {e}"))
}

#[test]
fn the_container_file_is_multi_stage_non_root_with_a_state_volume_and_a_readiness_check() {
    let ins = instructions();
    const KNOWN: [&str; 12] = [
        "FROM",
        "RUN",
        "COPY",
        "WORKDIR",
        "USER",
        "VOLUME",
        "EXPOSE",
        "HEALTHCHECK",
        "ENTRYPOINT",
        "CMD",
        "ENV",
        "ARG",
    ];
    for (k, v) in &ins {
        assert!(
            KNOWN.contains(&k.as_str()),
            "unexpected instruction {k} {v}"
        );
    }
    let froms: Vec<usize> = (0..ins.len()).filter(|i| ins[*i].0 == "FROM").collect();
    assert!(froms.len() >= 2, "multi-stage");
    assert!(
        ins[froms[0]].1.ends_with(" AS build"),
        "{:?}",
        ins[froms[0]]
    );
    let last = &ins[*froms.last().unwrap()..];
    let get = |k: &str| -> Vec<&String> {
        last.iter()
            .filter(|(x, _)| x == k)
            .map(|(_, v)| v)
            .collect()
    };
    assert!(
        get("COPY").iter().any(|v| v.starts_with("--from=build ")),
        "the binary comes from the build stage"
    );
    let user = get("USER");
    assert_eq!(user.len(), 1);
    let uid = user[0].split(':').next().unwrap();
    assert!(uid != "root" && uid != "0", "runs as {uid}");
    let volume = exec_form(get("VOLUME")[0]);
    assert_eq!(volume, ["/var/lib/xmacro"]);
    let health = get("HEALTHCHECK")[0];
    let cmd = exec_form(health.split_once("CMD ").unwrap().1);
    assert_eq!(cmd[0], "/usr/local/bin/xmacro");
    assert!(
        cmd.iter().any(|w| w == "--ready"),
        "checks /readyz: {cmd:?}"
    );
    accepted(&cmd[1..]);
    assert_eq!(exec_form(get("ENTRYPOINT")[0]), ["/usr/local/bin/xmacro"]);
    let run = exec_form(get("CMD")[0]);
    accepted(&run);
    let at = |flag: &str| run[run.iter().position(|w| w == flag).unwrap() + 1].clone();
    assert_eq!(at("--state"), "/var/lib/xmacro", "state on the volume");
    assert!(
        !at("--http").starts_with("127.") && run.iter().any(|w| w == "--http-token-file"),
        "reachable from outside the container, so with a token: {run:?}"
    );
    for (k, v) in &ins {
        if k == "RUN" && v.contains("apt-get install") {
            assert!(
                v.contains("--no-install-recommends") && v.contains("rm -rf /var/lib/apt/lists"),
                "{v}"
            );
        }
    }
}

#[test]
fn hadolint_passes_the_container_file() {
    let Some(hadolint) = tool("hadolint", "HADOLINT") else {
        return;
    };
    let out = Command::new(&hadolint)
        .arg("--no-color")
        .arg(repo("deploy/Containerfile"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "hadolint:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
