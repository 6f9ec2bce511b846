//! The clients our users run today, installed and launched by the benchmarks
//! themselves so that one `cargo bench` run measures xmacro next to them:
//! Cisco's jsxapi 6 (Node) and pyxows (PyPI `xows` 1.0.5, Python).
//!
//! [`Peers::install`] puts both under `target/bench-peers/` (jsxapi from the
//! lock file the interop test pins, `tests/jsxapi/package-lock.json`, with
//! `npm ci`; pyxows into a venv of its own) and does nothing when they are
//! already there. A peer runs as a child process from a script source the
//! benchmark passes in; the protocol between them is lines: the benchmark
//! writes a line to the child's stdin (a command of the benchmark's own
//! choosing), the child answers with one JSON line on stdout.
//!
//! ```ignore
//! let peers = Peers::install();
//! let mut js = peers.node("rtt", JS_SOURCE, &[&url]);
//! js.send("2000");
//! let v: serde_json::Value = js.json(Duration::from_secs(60));
//! let cpu = js.cpu(); // the child's user + system CPU so far
//! ```
#![allow(dead_code)]

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Where the peers live: `target/bench-peers/`.
pub struct Peers {
    root: PathBuf,
}

/// The pinned jsxapi and pyxows versions.
pub const JSXAPI: &str = "6.0.0";
pub const PYXOWS: &str = "1.0.5";

fn run(cmd: &mut Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Peers {
    /// Installs jsxapi and pyxows under `target/bench-peers/` unless they
    /// are there already; panics naming the step that failed.
    pub fn install() -> Peers {
        let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let root = manifest.join("target/bench-peers");
        let node = root.join("node");
        if !node.join("node_modules/jsxapi/package.json").is_file() {
            std::fs::create_dir_all(&node).unwrap();
            for f in ["package.json", "package-lock.json"] {
                std::fs::copy(manifest.join("tests/jsxapi").join(f), node.join(f))
                    .unwrap_or_else(|e| panic!("copying tests/jsxapi/{f}: {e}"));
            }
            eprintln!("installing jsxapi {JSXAPI} into {}", node.display());
            run(
                Command::new("npm")
                    .args([
                        "ci",
                        "--no-audit",
                        "--no-fund",
                        "--loglevel=error",
                        "--prefix",
                    ])
                    .arg(&node),
                "npm ci (jsxapi)",
            );
        }
        let venv = root.join("venv");
        if !venv.join("bin/python").is_file()
            || !Command::new(venv.join("bin/python"))
                .args(["-c", "import xows"])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        {
            eprintln!("installing pyxows {PYXOWS} into {}", venv.display());
            run(
                Command::new("python3").args(["-m", "venv"]).arg(&venv),
                "python3 -m venv (is python3-venv installed?)",
            );
            run(
                Command::new(venv.join("bin/pip")).args([
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    &format!("xows=={PYXOWS}"),
                ]),
                "pip install xows",
            );
        }
        Peers { root }
    }

    /// Where the peers are installed.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Runs JavaScript `source` with Node, where `require('jsxapi')` finds
    /// jsxapi 6. `args` reach the script as `process.argv[2..]`.
    pub fn node(&self, name: &str, source: &str, args: &[&str]) -> Peer {
        self.node_with(name, source, args, &[])
    }

    /// As [`Peers::node`], with a wrapper before `node` (such as
    /// `["taskset", "-c", "0"]` to pin it to one CPU).
    pub fn node_with(&self, name: &str, source: &str, args: &[&str], wrap: &[&str]) -> Peer {
        let file = self.root.join("node").join(format!("{name}.js"));
        std::fs::write(&file, source).unwrap();
        Peer::spawn(wrap, "node", &file, args)
    }

    /// Runs Python `source` in the venv, where `import xows` finds pyxows.
    /// `args` reach the script as `sys.argv[1..]`.
    pub fn python(&self, name: &str, source: &str, args: &[&str]) -> Peer {
        self.python_with(name, source, args, &[])
    }

    /// As [`Peers::python`], with a wrapper (see [`Peers::node_with`]).
    pub fn python_with(&self, name: &str, source: &str, args: &[&str], wrap: &[&str]) -> Peer {
        let file = self.root.join(format!("{name}.py"));
        std::fs::write(&file, source).unwrap();
        let python = self.root.join("venv/bin/python");
        Peer::spawn(wrap, python.to_str().unwrap(), &file, args)
    }
}

/// A running peer: lines in, JSON lines out; killed on drop.
pub struct Peer {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
}

impl Peer {
    /// Spawns `wrap... program file args...` with piped stdin and stdout
    /// (stderr goes to the benchmark's).
    pub fn spawn(wrap: &[&str], program: &str, file: &Path, args: &[&str]) -> Peer {
        let mut child = wrapped(wrap, program)
            .arg(file)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("{program} {}: {e}", file.display()));
        Peer::attach(&mut child).with(child)
    }

    /// Wraps any child spawned with piped stdin and stdout.
    pub fn from_child(mut child: Child) -> Peer {
        Peer::attach(&mut child).with(child)
    }

    fn attach(child: &mut Child) -> Attached {
        let stdout = child.stdout.take().expect("stdout piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Attached {
            stdin: child.stdin.take().expect("stdin piped"),
            lines,
        }
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Writes one line to the child's stdin.
    pub fn send(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").expect("the peer reads its stdin");
        self.stdin.flush().unwrap();
    }

    /// The next line the child prints that parses as JSON, within `wait`;
    /// panics (naming the child) when it ends or stays silent.
    pub fn json(&mut self, wait: Duration) -> serde_json::Value {
        let deadline = std::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Ok(v) = serde_json::from_str(&line) {
                        return v;
                    }
                    eprintln!("peer {}: {line}", self.child.id());
                }
                Err(e) => panic!("peer {} gave no JSON line: {e:?}", self.child.id()),
            }
        }
    }

    /// The child's CPU time so far (user + system).
    pub fn cpu(&self) -> Duration {
        process_cpu(self.child.id())
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Attached {
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
}

impl Attached {
    fn with(self, child: Child) -> Peer {
        Peer {
            child,
            stdin: self.stdin,
            lines: self.lines,
        }
    }
}

/// `program` run through `wrap` (such as `taskset -c 0`), or alone.
pub fn wrapped(wrap: &[&str], program: impl AsRef<std::ffi::OsStr>) -> Command {
    match wrap.split_first() {
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg(program);
            c
        }
        None => Command::new(program),
    }
}

/// CPU time of process `pid` so far: the sum of its threads' run time in
/// nanoseconds (`/proc/PID/task/*/schedstat`), precise enough for a few
/// thousand operations; threads that ended are not in it, so compare two
/// readings over a stretch where no thread ends. Falls back to
/// [`process_cpu_ticks`] where schedstat is missing.
pub fn process_cpu(pid: u32) -> Duration {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return process_cpu_ticks(pid);
    };
    let mut ns = 0u64;
    let mut read = false;
    for t in tasks.flatten() {
        if let Ok(s) = std::fs::read_to_string(t.path().join("schedstat"))
            && let Some(v) = s
                .split_whitespace()
                .next()
                .and_then(|v| v.parse::<u64>().ok())
        {
            ns += v;
            read = true;
        }
    }
    if read {
        Duration::from_nanos(ns)
    } else {
        process_cpu_ticks(pid)
    }
}

/// Resident memory of process `pid` in KiB (`VmRSS` of `/proc/PID/status`;
/// zero when it cannot be read).
pub fn process_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// User + system CPU of process `pid` so far, from `/proc/PID/stat` in
/// clock ticks (zero when it cannot be read).
pub fn process_cpu_ticks(pid: u32) -> Duration {
    stat_cpu(Path::new(&format!("/proc/{pid}/stat")))
}

/// User + system CPU in a `/proc/.../stat` file (a process or one of its
/// threads), in clock ticks; zero when it is gone.
pub fn stat_cpu(stat: &Path) -> Duration {
    let stat = std::fs::read_to_string(stat).unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    // USER_HZ is 100 on every Linux this runs on.
    Duration::from_millis(ticks * 10)
}
