//! The status server and the files the host reads, under a hostile user
//! (issue 33, third round): idle connections that would take the codecs'
//! descriptors, a web page reaching loopback through DNS rebinding, a
//! codec URL's query string, escape sequences from scripts on the
//! operator's terminal, and FIFOs or devices where a file is expected.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::rig::{self, Reports, TempDir};
use crate::common::{Raw, connect_when_up, within};
use crate::hardening::Proc;

/// A long wait for slow, loaded machines (a liveness bound).
const LONG: Duration = Duration::from_secs(120);
const TOKEN: &str = "ops3-token-5c1e0d9b7a6f4e3d";

/// Where the status page of a `Proc` running `xmacro run --http` is.
async fn status_addr(p: &Proc) -> SocketAddr {
    p.wait_for("status page on http://", 1, LONG).await;
    let line = p
        .lines()
        .into_iter()
        .find(|l| l.starts_with("status page on http://"))
        .unwrap();
    line.trim_start_matches("status page on http://")
        .trim_end_matches('/')
        .parse()
        .unwrap()
}

/// Sends one HTTP/1.1 GET as written here and gives the status code and
/// body (the server closes after answering).
async fn raw_get(
    addr: SocketAddr,
    host: Option<&str>,
    path: &str,
    token: Option<&str>,
) -> (u16, String) {
    let mut s = within("a connection", tokio::net::TcpStream::connect(addr))
        .await
        .unwrap();
    let mut req = format!("GET {path} HTTP/1.1\r\n");
    if let Some(h) = host {
        req.push_str(&format!("Host: {h}\r\n"));
    }
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    req.push_str("Connection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    within("an answer", s.read_to_end(&mut raw)).await.unwrap();
    let a = xmacro::ops::http::parse(&raw).unwrap();
    (a.status, a.body)
}

/// `xmacro run` on `dir`'s scripts and state against `codecs`, with
/// `extra` flags and `env` (an empty codec password): the command, to
/// adjust before [`Proc::start`].
pub(crate) fn run_command(
    dir: &TempDir,
    codecs: &[&str],
    extra: &[&str],
    env: &[(&str, &str)],
) -> tokio::process::Command {
    let (scripts, state) = (dir.scripts(), dir.state());
    let mut args = vec![
        "run",
        scripts.to_str().unwrap(),
        "--state",
        state.to_str().unwrap(),
    ];
    for c in codecs {
        args.extend(["--codec", c]);
    }
    args.extend(extra);
    let mut env = env.to_vec();
    env.push(("XMACRO_PASSWORD", ""));
    Proc::command(&args, &env, &dir.0)
}

/// Sets a resource limit of the child before it runs `xmacro`.
pub(crate) fn limit(
    cmd: &mut tokio::process::Command,
    resource: libc::__rlimit_resource_t,
    value: u64,
) {
    // SAFETY: setrlimit is async-signal-safe and touches only the child.
    unsafe {
        cmd.pre_exec(move || {
            let l = libc::rlimit {
                rlim_cur: value,
                rlim_max: value,
            };
            if libc::setrlimit(resource, &l) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_without_the_token_are_closed_and_leave_descriptors_for_codecs() {
    let sim = rig::sim().await;
    let mut r = Reports::new(&sim).await;
    let dir = TempDir::new("ops3-idle");
    dir.write(
        "ping.rhai",
        "xapi.Event.Sim.Ping.on(|e| report(`pong ${e.N}`)); report(\"up\");",
    );
    std::fs::write(dir.0.join("token"), TOKEN).unwrap();
    let url = sim.url();
    let mut cmd = run_command(
        &dir,
        &[&url],
        &["--http", "127.0.0.1:0", "--http-token-file", "token"],
        &[("RUST_LOG", "warn")],
    );
    // A host with 128 descriptors in all.
    limit(&mut cmd, libc::RLIMIT_NOFILE, 128);
    let p = Proc::start(cmd);
    let addr = status_addr(&p).await;
    r.expect("up").await;

    // 300 connections that never send a byte, as a client without the
    // token can open.
    let mut idle = Vec::new();
    for _ in 0..300 {
        idle.push(
            within("an idle connection", tokio::net::TcpStream::connect(addr))
                .await
                .unwrap(),
        );
    }
    // The codec restarts: the host must be able to open a new connection
    // to it while the idle ones are held.
    let mut ctl = Raw::connect(&url).await;
    ctl.ok("xSim/Reboot", json!({"Down": 1})).await;
    // The reboot cuts every session, this one too.
    while ctl.recv().await.is_some() {}
    drop(connect_when_up(&url).await);
    let mut r = Reports::new(&sim).await;
    let start = Instant::now();
    let mut n = 0;
    loop {
        n += 1;
        rig::emit(r.raw(), "Ping", json!({"N": n})).await;
        let got = tokio::time::timeout(Duration::from_secs(1), async {
            loop {
                r.next().await;
                if r.seen.last().is_some_and(|s| s.starts_with("pong")) {
                    return;
                }
            }
        })
        .await;
        if got.is_ok() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the codec was never reconnected while idle connections were held; host output:\n{}",
            p.lines().join("\n")
        );
    }

    // And every idle connection is closed by the server, soon.
    for (i, s) in idle.iter_mut().enumerate() {
        let mut b = [0u8; 64];
        let closed = tokio::time::timeout(Duration::from_secs(30), s.read(&mut b)).await;
        assert!(
            matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
            "idle connection {i} still open after 30 s: {closed:?}"
        );
    }
    drop(idle);
    // The operator gets in again.
    let (code, body) = raw_get(addr, Some(&addr.to_string()), "/api/status", Some(TOKEN)).await;
    assert_eq!(code, 200, "{body}");
    p.signal("-TERM");
    let (code, out) = p.finish(LONG).await;
    assert_eq!(code, Some(0), "{out}");
}

#[tokio::test]
async fn without_a_token_only_loopback_host_names_are_answered() {
    let dir = TempDir::new("ops3-host");
    std::fs::write(dir.0.join("token"), TOKEN).unwrap();
    let token_file = dir.0.join("token");
    let run = |token: bool| {
        let state = dir.0.join(if token { "state-t" } else { "state" });
        let mut args = vec!["run", "--sim", "--http", "127.0.0.1:0", "--state"];
        args.push(state.to_str().unwrap());
        if token {
            args.extend(["--http-token-file", token_file.to_str().unwrap()]);
        }
        let mut cmd = Proc::command(&args, &[("RUST_LOG", "warn")], &dir.0);
        // --sim runs the bundled scripts/.
        cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
        Proc::start(cmd)
    };
    let open = run(false);
    let addr = status_addr(&open).await;
    let port = addr.port();
    for host in [
        format!("localhost:{port}"),
        format!("LocalHost:{port}"),
        "localhost".to_string(),
        format!("127.0.0.1:{port}"),
        format!("[::1]:{port}"),
        format!("localhost.:{port}"),
    ] {
        let (code, body) = raw_get(addr, Some(&host), "/api/status", None).await;
        assert_eq!(code, 200, "Host: {host}: {body}");
    }
    // A name that resolves to 127.0.0.1 for a web page's origin (DNS
    // rebinding) is not loopback as far as the browser is concerned.
    for host in [
        format!("evil.example:{port}"),
        format!("127.0.0.1.nip.io:{port}"),
        format!("localhost.evil.example:{port}"),
        format!("10.0.0.5:{port}"),
    ] {
        for path in ["/api/status", "/", "/events", "/metrics", "/healthz"] {
            let (code, body) = raw_get(addr, Some(&host), path, None).await;
            assert_eq!(code, 403, "Host: {host:?} {path}: {body}");
            assert!(!body.contains("scripts"), "{body}");
        }
    }
    for host in [None, Some("")] {
        let (code, _) = raw_get(addr, host, "/api/status", None).await;
        assert_ne!(code, 200, "Host: {host:?}");
    }
    open.signal("-TERM");
    open.finish(LONG).await;

    // With a token, the token decides, whatever the name.
    let guarded = run(true);
    let addr = status_addr(&guarded).await;
    let (code, _) = raw_get(addr, Some("evil.example"), "/api/status", Some(TOKEN)).await;
    assert_eq!(code, 200);
    let (code, _) = raw_get(addr, Some("evil.example"), "/api/status", None).await;
    assert_eq!(code, 401);
    guarded.signal("-TERM");
    guarded.finish(LONG).await;
}

#[tokio::test]
async fn a_codec_url_query_string_is_shown_nowhere() {
    const SECRET: &str = "qs-secret-7781";
    let sim = rig::sim().await;
    let dir = TempDir::new("ops3-query");
    dir.write("hello.rhai", "report(\"hi\");");
    let good = format!("{}?x={SECRET}", sim.url());
    let bad = format!("ws://127.0.0.1:1/ws?y={SECRET}&legacy");
    let p = Proc::start(run_command(
        &dir,
        &[&good, &bad],
        &["--http", "127.0.0.1:0"],
        &[("RUST_LOG", "debug")],
    ));
    let addr = status_addr(&p).await;
    p.wait_for("connected to", 1, LONG).await;
    let h = addr.to_string();
    let deadline = Instant::now() + LONG;
    let status = loop {
        let (_, body) = raw_get(addr, Some(&h), "/api/status", None).await;
        let s: serde_json::Value = serde_json::from_str(&body).unwrap();
        let errs = s["codecs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["last_error"].is_string())
            .count();
        if errs >= 1 && s["ready"] == true {
            break body;
        }
        assert!(Instant::now() < deadline, "{body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.contains("x=***"), "{status}");
    let (_, page) = raw_get(addr, Some(&h), "/", None).await;
    let (_, metrics) = raw_get(addr, Some(&h), "/metrics", None).await;
    p.signal("-TERM");
    let (_, out) = p.finish(LONG).await;
    for (what, text) in [
        ("/api/status", &status),
        ("/", &page),
        ("/metrics", &metrics),
        ("the log", &out),
    ] {
        assert!(
            !text.contains(SECRET),
            "{what} shows the query string:\n{text}"
        );
    }
    assert!(out.contains("connected to ws://"), "{out}");
}

#[tokio::test]
async fn escape_sequences_from_scripts_reach_neither_the_status_table_nor_the_log() {
    let sim = rig::sim().await;
    let dir = TempDir::new("ops3-escape");
    // The file name and the error both carry a window title and a clear.
    dir.write(
        "evil\u{1b}]0;NAMED\u{7}\u{1b}[2J.rhai",
        r#"print("printed \x1b]0;PRINTED\x07"); throw "\x1b]0;PWNED\x07\x1b[2J gotcha";"#,
    );
    let url = sim.url();
    let p = Proc::start(run_command(
        &dir,
        &[&url],
        &["--http", "127.0.0.1:0"],
        &[("RUST_LOG", "info")],
    ));
    let addr = status_addr(&p).await;
    p.wait_for("gotcha", 1, LONG).await;
    let out = within(
        "xmacro status",
        tokio::process::Command::new(env!("CARGO_BIN_EXE_xmacro"))
            .args(["status", "--http", &format!("http://{addr}")])
            .env("NO_COLOR", "1")
            .output(),
    )
    .await
    .unwrap();
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(table.contains("PWNED"), "{table}");
    p.signal("-TERM");
    let (_, log) = p.finish(LONG).await;
    assert!(log.contains("NAMED") && log.contains("PWNED"), "{log}");
    for (what, text) in [("xmacro status", &table), ("the log", &log)] {
        for c in text.chars() {
            assert!(
                c == '\n' || c == '\t' || !c.is_control(),
                "{what} passes {c:?} to the terminal:\n{text:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_fifo_or_device_where_a_file_belongs_is_refused_at_once_and_a_running_host_keeps_answering()
 {
    let sim = rig::sim().await;
    let mut r = Reports::new(&sim).await;
    let dir = TempDir::new("ops3-fifo");
    dir.write("hi.rhai", "report(\"hi\");");
    let fifo = dir.0.join("secret.fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid C string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let config = dir.0.join("xmacro.toml");
    let write_config = |codec: &str| {
        std::fs::write(
            &config,
            format!(
                "scripts = \"scripts\"\nstate = \"state\"\n\n[[codec]]\nname = \"room\"\nurl = \"{}\"\n{codec}",
                sim.url()
            ),
        )
        .unwrap();
    };
    let scripts = dir.scripts();
    let scripts = scripts.to_str().unwrap();
    let fifo_s = fifo.to_str().unwrap();

    // At start: each is refused (exit 2, naming it) without waiting for a
    // writer or reading a device to its end.
    let token_flags = |file| {
        let mut args = vec!["run", scripts, "--codec", "ws://127.0.0.1:1/ws"];
        args.extend(["--http", "127.0.0.1:0", "--http-token-file", file]);
        args
    };
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (token_flags(fifo_s), "secret.fifo"),
        (token_flags("/dev/zero"), "/dev/zero"),
        (
            vec![
                "run",
                scripts,
                "--codec",
                "wss://127.0.0.1:1/ws",
                "--ca",
                fifo_s,
            ],
            "secret.fifo",
        ),
        (vec!["run", "--config", "xmacro.toml"], "password_file"),
    ];
    for (args, named) in cases {
        if args[1] == "--config" {
            write_config(
                "password_env = \"XM_PW\"\n\n[[codec]]\nname = \"other\"\nurl = \"ws://127.0.0.1:1/ws\"\npassword_file = \"secret.fifo\"\n",
            );
        }
        let p = Proc::spawn(&args, &[("XM_PW", ""), ("XMACRO_PASSWORD", "")], &dir.0);
        let (code, out) = tokio::time::timeout(Duration::from_secs(30), p.finish(LONG))
            .await
            .unwrap_or_else(|_| panic!("{args:?} hung"));
        assert_eq!(code, Some(2), "{args:?}: {out}");
        assert!(
            out.contains(named) && out.contains("not a regular file"),
            "{args:?}: {out}"
        );
        let _ = std::fs::remove_file(&config);
    }

    // Saved into a running host's config: refused with one message, and
    // the host keeps answering.
    write_config("password_env = \"XM_PW\"\n");
    let p = Proc::spawn(
        &["run", "--config", "xmacro.toml", "--http", "127.0.0.1:0"],
        &[("XM_PW", ""), ("RUST_LOG", "info")],
        &dir.0,
    );
    let addr = status_addr(&p).await;
    r.expect("hi").await;
    write_config("password_env = \"XM_PW\"\nca = \"secret.fifo\"\n");
    p.wait_for("not a regular file", 1, LONG).await;
    write_config("password_file = \"secret.fifo\"\n");
    p.wait_for("not a regular file", 2, LONG).await;
    // The config itself replaced by a FIFO.
    std::fs::remove_file(&config).unwrap();
    let c = std::ffi::CString::new(config.to_str().unwrap()).unwrap();
    // SAFETY: a valid C string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    p.wait_for("not a regular file", 3, LONG).await;
    let h = addr.to_string();
    for _ in 0..5 {
        let (code, body) = raw_get(addr, Some(&h), "/healthz", None).await;
        assert_eq!(code, 200, "{body}");
    }
    p.signal("-TERM");
    let (code, out) = p.finish(LONG).await;
    assert_eq!(code, Some(0), "{out}");
}
