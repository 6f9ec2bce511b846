//! Hardening of the host as a process: file watching reacts to real
//! changes only, signals from the first line of `main`, log lines that
//! cannot be forged or flooded, no credential in any output, and an
//! unreachable codec that is said at the default level.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use serde_json::json;
use tokio::io::AsyncBufReadExt;

use crate::common::rig::{self, Reports, TempDir};
use crate::common::{Sim, within};
use xmacro::sim::SimOptions;

/// A long wait for slow, loaded machines (a liveness bound).
const LONG: Duration = Duration::from_secs(120);

/// Fails the test if `f` does not finish within [`LONG`].
async fn within_long<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(LONG, f)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// `xmacro` as a child process whose output (stdout and stderr) is kept.
pub(crate) struct Proc {
    child: tokio::process::Child,
    out: Arc<Mutex<Vec<String>>>,
    readers: Vec<tokio::task::JoinHandle<()>>,
}

impl Proc {
    /// `xmacro run SCRIPTS --codec URL` with an empty password, in `dir`.
    fn run_scripts(dir: &TempDir, url: &str, env: &[(&str, &str)]) -> Proc {
        let mut all = vec![("XMACRO_PASSWORD", "")];
        all.extend_from_slice(env);
        let scripts = dir.scripts();
        Proc::spawn(
            &["run", scripts.to_str().unwrap(), "--codec", url],
            &all,
            &dir.0,
        )
    }

    /// `xmacro run --config FILE` with the test password variable empty.
    fn run_config(dir: &TempDir, config: &std::path::Path) -> Proc {
        Proc::spawn(
            &["run", "--config", config.to_str().unwrap()],
            &[("XM_TEST_PW", "")],
            &dir.0,
        )
    }

    pub(crate) fn spawn(args: &[&str], env: &[(&str, &str)], cwd: &std::path::Path) -> Proc {
        Proc::start(Proc::command(args, env, cwd))
    }

    /// The command [`Proc::spawn`] runs, to adjust before [`Proc::start`].
    pub(crate) fn command(
        args: &[&str],
        env: &[(&str, &str)],
        cwd: &std::path::Path,
    ) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_xmacro"));
        cmd.args(args)
            .current_dir(cwd)
            .env_remove("RUST_LOG")
            .env_remove("XMACRO_PASSWORD")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Starts `cmd` (stdout and stderr piped), keeping its output.
    pub(crate) fn start(mut cmd: tokio::process::Command) -> Proc {
        let mut child = cmd.spawn().unwrap();
        let out = Arc::new(Mutex::new(Vec::new()));
        let mut readers = Vec::new();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        readers.push(Self::collect(stdout, out.clone()));
        readers.push(Self::collect(stderr, out.clone()));
        Proc {
            child,
            out,
            readers,
        }
    }

    fn collect(
        pipe: impl tokio::io::AsyncRead + Unpin + Send + 'static,
        out: Arc<Mutex<Vec<String>>>,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(pipe).lines();
            while let Ok(Some(l)) = lines.next_line().await {
                out.lock().unwrap().push(l);
            }
        })
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id().unwrap()
    }

    pub(crate) fn lines(&self) -> Vec<String> {
        self.out.lock().unwrap().clone()
    }

    pub(crate) fn count(&self, needle: &str) -> usize {
        self.out
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(needle))
            .count()
    }

    /// Waits until `n` lines contain `needle`.
    pub(crate) async fn wait_for(&self, needle: &str, n: usize, limit: Duration) {
        let start = tokio::time::Instant::now();
        while self.count(needle) < n {
            if start.elapsed() > limit {
                panic!(
                    "waited {limit:?} for {n} line(s) with {needle:?}; output:\n{}",
                    tail(&self.lines())
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub(crate) fn signal(&self, sig: &str) {
        std::process::Command::new("kill")
            .args([sig, &self.pid().to_string()])
            .status()
            .unwrap();
    }

    /// Waits for the exit; returns the code and the whole output.
    pub(crate) async fn finish(mut self, limit: Duration) -> (Option<i32>, String) {
        let status = tokio::time::timeout(limit, self.child.wait())
            .await
            .expect("the process exits")
            .unwrap();
        for r in self.readers.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(5), r).await;
        }
        (status.code(), self.lines().join("\n"))
    }
}

fn tail(lines: &[String]) -> String {
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// CPU time (user + system) of a process, in seconds.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 (utime, stime), counted from 1 with pid and comm.
    let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    let hz = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .unwrap_or(100.0);
    ticks as f64 / hz
}

fn write_config(dir: &TempDir, url: &str, codecs: usize) -> std::path::PathBuf {
    let mut text = String::from(
        "scripts = \"scripts\"\nstate = \"state\"\n\n[defaults]\npassword_env = \"XM_TEST_PW\"\nrequest_timeout = \"30s\"\n",
    );
    for i in 0..codecs {
        text.push_str(&format!(
            "\n[[codec]]\nname = \"room-{i}\"\nurl = \"{url}\"\n"
        ));
    }
    let file = dir.0.join("xmacro.toml");
    std::fs::write(&file, text).unwrap();
    file
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_host_with_1000_codecs_opens_no_file_and_uses_little_cpu() {
    use notify::Watcher;
    let sim = Sim::start(SimOptions::default()).await;
    let dir = TempDir::new("idle-fleet");
    dir.write("a.rhai", "xapi.Event.Sim.IdleA.on(|e| report(`a ${e}`));");
    dir.write("b.rhai", "xapi.Event.Sim.IdleB.on(|e| report(`b ${e}`));");
    dir.write("c.rhai", "set_interval(|| report(\"c\"), 3600000);");
    let config = write_config(&dir, &sim.url(), 1000);
    let p = Proc::run_config(&dir, &config);
    p.wait_for("started", 3000, LONG).await;
    // Once the start-up work is over (a quarter second under the bound),
    // count opens of every file the host knows (config, scripts, state)
    // and its CPU for five idle seconds.
    within_long("the start-up to end", async {
        loop {
            let (c0, t0) = (cpu_seconds(p.pid()), std::time::Instant::now());
            tokio::time::sleep(Duration::from_millis(250)).await;
            let cpu = (cpu_seconds(p.pid()) - c0) / t0.elapsed().as_secs_f64() * 100.0;
            if cpu < 20.0 {
                break;
            }
        }
    })
    .await;
    let opens = Arc::new(Mutex::new(Vec::new()));
    let seen = opens.clone();
    let mut w = notify::recommended_watcher(move |r: notify::Result<notify::Event>| {
        if let Ok(ev) = r
            && matches!(ev.kind, notify::EventKind::Access(_))
        {
            seen.lock()
                .unwrap()
                .push(format!("{:?} {:?}", ev.kind, ev.paths));
        }
    })
    .unwrap();
    std::fs::create_dir_all(dir.state()).unwrap();
    w.watch(&dir.0, notify::RecursiveMode::Recursive).unwrap();
    // Adding the watches opens the directories itself: those events come
    // before the marker's, so once one of the marker's is seen they are
    // over (the marker's own are not counted).
    let marker = dir.0.join("marker");
    std::fs::write(&marker, "m").unwrap();
    std::fs::read(&marker).unwrap();
    within_long("the watcher to see the marker", async {
        while !opens.lock().unwrap().iter().any(|o| o.contains("marker")) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    opens.lock().unwrap().clear();
    let cpu0 = cpu_seconds(p.pid());
    let t0 = std::time::Instant::now();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let cpu = (cpu_seconds(p.pid()) - cpu0) / t0.elapsed().as_secs_f64() * 100.0;
    drop(w);
    let opens: Vec<String> = opens
        .lock()
        .unwrap()
        .iter()
        .filter(|o| !o.contains("marker"))
        .cloned()
        .collect();
    println!(
        "idle host, 1000 codecs x 3 scripts: {cpu:.2} % of a core, {} file access event(s)",
        opens.len()
    );
    assert!(opens.is_empty(), "the idle host touched files: {opens:?}");
    // The promise is under 2 %; this liveness bound is ten times that.
    assert!(cpu < 20.0, "idle CPU {cpu:.2} % of a core");
    assert_eq!(p.count("config not reloaded"), 0);
    assert_eq!(p.count("reloaded"), 0, "{}", tail(&p.lines()));
}

#[tokio::test]
async fn one_save_is_one_reload_and_a_config_mistake_one_message() {
    let sim = rig::sim().await;
    let mut r = Reports::new(&sim).await;
    let dir = TempDir::new("one-save");
    dir.write("saved.rhai", "report(\"version 1\");");
    let config = write_config(&dir, &sim.url(), 1);
    let p = Proc::run_config(&dir, &config);
    r.expect("version 1").await;
    dir.write("saved.rhai", "report(\"version 2\");");
    r.expect("version 2").await;
    let good = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{good}\nbogus_key = 1\n")).unwrap();
    p.wait_for("config not reloaded", 1, LONG).await;
    // A marker save after the mistake: once it is seen, anything the
    // mistake would have repeated has had its chance.
    dir.write("saved.rhai", "report(\"version 3\");");
    r.expect("version 3").await;
    let reports = r.flush().await;
    assert!(reports.is_empty(), "reported again: {reports:?}");
    assert_eq!(r.seen, ["version 1", "version 2", "version 3"]);
    assert_eq!(p.count("config not reloaded"), 1, "{}", tail(&p.lines()));
    assert_eq!(p.count("reloaded; 1 instance"), 2, "{}", tail(&p.lines()));
}

#[tokio::test]
async fn a_print_loop_and_a_flood_of_unknown_feedback_are_rate_limited_and_counted() {
    let sim = rig::sim().await;
    let mut r = Reports::new(&sim).await;
    let dir = TempDir::new("flood");
    dir.write(
        "loud.rhai",
        r#"
for i in 0..5000 { print(`spam ${i}`); }
set_timeout(|| { print("after the flood"); report("printed"); }, 1500);
"#,
    );
    let p = Proc::run_scripts(&dir, &sim.url(), &[]);
    p.wait_for("after the flood", 1, LONG).await;
    r.expect("printed").await;
    let lines = p.lines();
    let printed = lines.iter().filter(|l| l.contains(" spam ")).count();
    let suppressed: usize = lines
        .iter()
        .filter_map(|l| l.split_once(" line(s) of this script's output were suppressed"))
        .map(|(head, _)| head.rsplit(' ').next().unwrap().parse::<usize>().unwrap())
        .sum();
    assert!(printed <= 500, "{printed} lines of the loop were logged");
    assert_eq!(printed + suppressed, 5000, "{}", tail(&lines));

    // A codec sending feedback for a subscription nobody has.
    let frame =
        r#"{"jsonrpc":"2.0","method":"xFeedback/Event","params":{"Id":424242,"Event":{"X":1}}}"#;
    let flood = std::time::Instant::now();
    for _ in 0..2000 {
        r.raw()
            .ok(
                "xSim/SendRaw",
                json!({"Kind": "text", "Text": frame, "All": true}),
            )
            .await;
    }
    p.wait_for("unknown subscription Id 424242", 1, LONG).await;
    // The summary of what was held comes with the first frame of a new
    // window: send one now and then until it does.
    let summary = "similar warning(s) about this codec were suppressed";
    within_long("the summary of suppressed warnings", async {
        while p.count(summary) == 0 {
            r.raw()
                .ok(
                    "xSim/SendRaw",
                    json!({"Kind": "text", "Text": frame, "All": true}),
                )
                .await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    let lines = p.lines();
    let warned = lines
        .iter()
        .filter(|l| l.contains("unknown subscription Id 424242"))
        .count();
    let held: usize = lines
        .iter()
        .filter_map(|l| l.split_once(" similar warning(s) about this codec were suppressed"))
        .map(|(head, _)| head.rsplit(' ').next().unwrap().parse::<usize>().unwrap())
        .sum();
    // At most a burst per second (a second of slack each side); the
    // simulator may drop some of the flood, so the total is a floor.
    let windows = flood.elapsed().as_secs() as usize + 2;
    assert!(
        warned <= windows * xmacro::log::ratelimit::DEFAULT_BURST as usize,
        "{warned} warnings logged in {windows} s"
    );
    assert!(held > 0 && warned + held >= 500, "{warned} + {held}");
}

#[tokio::test]
async fn script_output_and_file_names_cannot_forge_log_lines() {
    let sim = rig::sim().await;
    let mut r = Reports::new(&sim).await;
    let dir = TempDir::new("forge");
    let forged = "2026-01-01T00:00:00.000000Z ERROR xmacro::host: FORGED";
    dir.write(
        &format!("evil\n{forged}.rhai"),
        &format!(
            "print(\"x\\n{forged}\\r\\u001b[2J\"); warn(\"w\\n{forged}\"); report(\"forged\");"
        ),
    );
    let p = Proc::run_scripts(&dir, &sim.url(), &[]);
    r.expect("forged").await;
    p.wait_for("FORGED", 2, LONG).await;
    p.signal("-TERM");
    let (code, out) = p.finish(LONG).await;
    assert_eq!(code, Some(0), "{out}");
    for line in out.lines() {
        assert!(!line.starts_with(forged), "a forged line: {line:?}");
        assert!(
            !line.contains("\u{1b}[2J") && !line.contains('\r'),
            "{line:?}"
        );
    }
    assert!(out.contains("x\\n2026-01-01"), "{out}");
}

#[tokio::test]
async fn no_output_ever_shows_a_password_or_its_base64() {
    const SECRET: &str = "hunter2-Zq9";
    let sim = Sim::start(SimOptions {
        password: SECRET.into(),
        ..Default::default()
    })
    .await;
    let dir = TempDir::new("secrets");
    dir.write("hello.rhai", "report(\"hi\");");
    let url = sim.url();
    let in_url = url.replace("ws://", &format!("ws://admin:{SECRET}@"));
    let bad_port = format!("ws://admin:{SECRET}@127.0.0.1:99999/ws");
    let scripts = dir.scripts();
    let scripts = scripts.to_str().unwrap();
    let env = [("XMACRO_PASSWORD", SECRET), ("RUST_LOG", "trace")];
    let mut outputs = Vec::new();
    let mut run_one = async |args: &[&str], stop: Option<&str>| {
        let p = Proc::spawn(args, &env, &dir.0);
        if let Some(needle) = stop {
            p.wait_for(needle, 1, LONG).await;
            p.signal("-TERM");
        }
        let (_, out) = p.finish(LONG).await;
        outputs.push((args.join(" "), out));
    };
    for auth in ["basic", "subprotocol"] {
        run_one(
            &["get", "--auth", auth, &url, "Status", "Audio", "Volume"],
            None,
        )
        .await;
    }
    run_one(&["get", &in_url, "Status", "Audio", "Volume"], None).await;
    run_one(&["get", &bad_port, "Status", "Audio", "Volume"], None).await;
    let no_scheme = format!("admin:{SECRET}@127.0.0.1");
    run_one(&["get", &no_scheme, "Status", "Audio", "Volume"], None).await;
    run_one(&["run", scripts, "--codec", &no_scheme], None).await;
    run_one(
        &["command", "--auth", "subprotocol", &url, "Bogus", "Cmd"],
        None,
    )
    .await;
    for auth in ["basic", "subprotocol"] {
        let cfg = dir.0.join(format!("{auth}.toml"));
        std::fs::write(
            &cfg,
            format!(
                "scripts = \"scripts\"\n[[codec]]\nname = \"room\"\nurl = \"{url}\"\npassword_env = \"XMACRO_PASSWORD\"\nauth = \"{auth}\"\n"
            ),
        )
        .unwrap();
        run_one(&["run", "--config", cfg.to_str().unwrap()], Some("started")).await;
    }
    run_one(&["run", scripts, "--codec", &url], Some("started")).await;
    run_one(&["run", scripts, "--codec", &in_url], None).await;
    run_one(&["run", scripts, "--codec", &bad_port], None).await;
    let bad = dir.0.join("bad.toml");
    for body in [
        format!(
            "[[codec]]\nname = \"a\"\nurl = \"{in_url}\"\npassword_env = \"XMACRO_PASSWORD\"\n"
        ),
        format!(
            "[[codec]]\nname = \"a\"\nurl = \"{bad_port}\"\npassword_env = \"XMACRO_PASSWORD\"\n"
        ),
        format!("[[codec]]\nname = \"a\"\nurl = \"{url}\"\npassword = \"{SECRET}\"\n"),
        format!(
            "[[codec]]\nname = \"a\"\nurl = \"{url}\"\npassword_env = \"XMACRO_PASSWORD\"\nbogus = \"{SECRET}\"\n"
        ),
    ] {
        std::fs::write(&bad, body).unwrap();
        run_one(&["run", "--config", bad.to_str().unwrap()], None).await;
        run_one(
            &["get", "--config", bad.to_str().unwrap(), "a", "Status"],
            None,
        )
        .await;
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let b64url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let forms = [
        SECRET.to_string(),
        b64.encode(format!("admin:{SECRET}")),
        b64url.encode(format!("admin:{SECRET}")),
        b64.encode(SECRET),
        b64url.encode(SECRET),
    ];
    let mut total = 0;
    for (what, out) in &outputs {
        total += out.len();
        for f in &forms {
            assert!(
                !out.contains(f.as_str()),
                "`xmacro {what}` printed {f:?}:\n{out}"
            );
        }
    }
    // The runs did run (with frames traced), so the check means something.
    // (tungstenite's own frame traces are off: they printed payloads.)
    let all: String = outputs.iter().map(|(_, o)| o.as_str()).collect();
    assert!(all.contains("TRACE"), "no trace output at all");
    assert!(all.contains("started"));
    assert!(total > 10_000, "only {total} bytes of output");
}

#[tokio::test]
async fn an_unreachable_codec_is_warned_at_the_default_level_once_not_per_retry() {
    // A port that accepts and hangs up at once, counting the attempts.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let attempts = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = attempts.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(s);
        }
    });
    let dir = TempDir::new("unreachable");
    dir.write("x.rhai", "report(\"never\");");
    let url = format!("ws://{addr}/ws");
    let p = Proc::run_scripts(&dir, &url, &[]);
    p.wait_for("still retrying (attempt 1)", 1, LONG).await;
    within("four attempts", async {
        while attempts.load(std::sync::atomic::Ordering::SeqCst) < 4 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let lines = p.lines();
    let warned: Vec<&String> = lines.iter().filter(|l| l.contains("WARN")).collect();
    assert_eq!(warned.len(), 1, "{}", tail(&lines));
    assert!(warned[0].contains(&url), "{}", warned[0]);
}

#[tokio::test]
async fn a_codec_that_cannot_be_used_is_said_and_not_counted_as_loaded() {
    let sim = rig::sim().await;
    let dir = TempDir::new("unusable");
    dir.write("x.rhai", "report(\"never\");");
    let mut codec = rig::codec("unusable-room", &sim);
    codec.config.url = url::Url::parse(&sim.url().replace("ws://", "wss://")).unwrap();
    codec.config.tls = xmacro::xows::TlsMode::Ca(dir.0.join("no-such-ca.pem"));
    let host = rig::start(rig::options(&dir, vec![codec])).await;
    rig::wait_log(&["unusable-room", "not started: the codec cannot be used"]).await;
    host.shutdown().await;
}

/// Scripts big enough that compiling them all takes a while.
fn slow_scripts(dir: &TempDir, n: usize) {
    let mut body = String::new();
    for i in 0..400 {
        body.push_str(&format!(
            "fn f{i}(x) {{ let a = [x, {i}, \"{i}\"]; if a.len() > 2 {{ a[0] + {i} }} else {{ 0 }} }}\n"
        ));
    }
    for k in 0..n {
        dir.write(&format!("z{k:04}.rhai"), &body);
    }
}

#[tokio::test]
async fn sigterm_while_scripts_compile_still_runs_on_unload_and_exits_cleanly() {
    let sim = rig::sim().await;
    let mut r = Reports::new(&sim).await;
    let dir = TempDir::new("term-compiling");
    dir.write(
        "a-first.rhai",
        "fn on_unload() { report(\"unloaded\"); } report(\"first started\");",
    );
    slow_scripts(&dir, 300);
    let p = Proc::run_scripts(&dir, &sim.url(), &[("RUST_LOG", "info,xmacro::host=debug")]);
    r.expect("first started").await;
    let compiled_before = p.count("compiled;");
    p.signal("-TERM");
    r.expect("unloaded").await;
    let (code, out) = p.finish(LONG).await;
    assert_eq!(code, Some(0), "{out}");
    assert!(
        compiled_before < 301,
        "the start-up was over before the signal; make the scripts bigger"
    );
}

#[tokio::test]
async fn sighup_reloads_the_config_and_scripts_instead_of_killing() {
    let sim = rig::sim().await;
    let mut r = Reports::new(&sim).await;
    let dir = TempDir::new("hup");
    dir.write(
        "polite.rhai",
        "fn on_unload() { report(`bye ${args.n}`); } report(`hi ${args.n}`);",
    );
    let config = write_config(&dir, &sim.url(), 1);
    let base = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!("{base}\n[script.polite]\nargs = {{ n = 1 }}\n"),
    )
    .unwrap();
    let p = Proc::run_config(&dir, &config);
    r.expect("hi 1").await;
    p.signal("-HUP");
    p.wait_for("SIGHUP: reloading", 1, LONG).await;
    // Still running: a change is picked up, then SIGTERM stops it.
    std::fs::write(
        &config,
        format!("{base}\n[script.polite]\nargs = {{ n = 2 }}\n"),
    )
    .unwrap();
    p.signal("-HUP");
    r.expect("bye 1").await;
    r.expect("hi 2").await;
    p.signal("-TERM");
    r.expect("bye 2").await;
    let (code, out) = p.finish(LONG).await;
    assert_eq!(code, Some(0), "{out}");
}
