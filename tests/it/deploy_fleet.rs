//! The sharded deployment files in `deploy/kubernetes/` and
//! `deploy/systemd/`: the manifests pass the Kubernetes API schemas
//! offline (PyPI `kubernetes-validate`, which ships them, installed by
//! `.ci/run` in `tests/k8s/.venv`), the shard count matches the replicas,
//! and the config and script the ConfigMap carries load.

use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The block under `key: |` in a YAML file, unindented.
fn literal_block(yaml: &str, key: &str) -> String {
    let mut lines = yaml.lines().skip_while(|l| l.trim() != format!("{key}: |"));
    let head = lines.next().unwrap_or_else(|| panic!("no {key}: | block"));
    let indent = head.len() - head.trim_start().len() + 2;
    lines
        .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() >= indent)
        .map(|l| l.get(indent..).unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_kubernetes_manifests_pass_the_api_schemas_offline() {
    let tool = repo().join("tests/k8s/.venv/bin/kubernetes-validate");
    if !tool.exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but {} is missing: .ci/run installs it",
            tool.display()
        );
        eprintln!("skipped: no kubernetes-validate (.ci/run installs it)");
        return;
    }
    let dir = repo().join("deploy/kubernetes");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 4, "{files:?}");
    let out = std::process::Command::new(&tool)
        .args(["--strict", "--kubernetes-version", "1.37.0"])
        .args(&files)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(out.status.success(), "{text}");
    for kind in [
        "statefulset/xmacro",
        "poddisruptionbudget/xmacro",
        "secret/xmacro",
        "configmap/xmacro-config",
    ] {
        assert!(
            text.contains(&format!("passed for resource {kind}")),
            "{kind}: {text}"
        );
    }
}

#[test]
fn the_statefulset_runs_as_many_shards_as_replicas_and_reads_readiness() {
    let s = read("deploy/kubernetes/statefulset.yaml");
    let replicas: u32 = s
        .lines()
        .find_map(|l| l.trim().strip_prefix("replicas: "))
        .unwrap()
        .parse()
        .unwrap();
    let lines: Vec<&str> = s.lines().map(str::trim).collect();
    let at = lines.iter().position(|l| *l == "- --shard").unwrap();
    assert_eq!(lines[at + 1], format!("- auto/{replicas}"));
    assert!(
        s.contains("fieldPath: metadata.name"),
        "HOSTNAME is the pod name"
    );
    assert!(s.contains("readinessProbe:") && s.contains("- --ready"));
    // The pod's name gives the shard, as the parser reads it.
    let shard =
        xmacro::fleet::shard::Shard::parse(&format!("auto/{replicas}"), "xmacro-2").unwrap();
    assert_eq!((shard.index, shard.count), (2, replicas));
}

#[test]
fn the_configmap_config_loads_with_a_postgres_store_and_its_script_compiles() {
    let cm = read("deploy/kubernetes/configmap.yaml");
    let toml = literal_block(&cm, "xmacro.toml");
    let cfg = xmacro::config::Config::parse(Path::new("/etc/xmacro/xmacro.toml"), &toml, &|v| {
        ["XMACRO_DB_PASSWORD", "XMACRO_CODEC_PASSWORD"]
            .contains(&v)
            .then(|| "secret".to_string())
    })
    .unwrap();
    let pg = cfg.postgres.expect("a postgres store");
    assert!(pg.target.url.starts_with("postgres://xmacro@"));
    assert_eq!(pg.target.password.as_deref(), Some("secret"));
    let dir = std::env::temp_dir().join(format!("xmacro-cm-scripts-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("volume-limit.rhai"),
        literal_block(&cm, "volume-limit.rhai"),
    )
    .unwrap();
    let (count, problems) = xmacro::check::check_dir(&dir, None).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!((count, problems), (1, vec![]));
}

#[test]
fn the_systemd_template_runs_its_instance_as_the_shard() {
    let unit = read("deploy/systemd/xmacro@.service");
    let exec = unit.lines().find(|l| l.starts_with("ExecStart=")).unwrap();
    assert!(exec.contains("--shard %i/${XMACRO_SHARDS}"), "{exec}");
    assert!(unit.contains("Environment=XMACRO_SHARDS="));
    assert!(unit.contains("Restart=on-failure"));
}
