//! Durable key-value state per (script, codec) instance: `store.get`,
//! `store.set`, `store.remove` in scripts. Every change is durable before
//! it is acknowledged, so it survives reloads, restarts and `kill -9`.
//!
//! The layers: [`Stores`] is a host's handle on its state directory (an
//! exclusive [`StateLock`] plus a [`Backend`]); [`Store`] is one instance's
//! view, kept in memory and changed only after the backend has made the
//! change durable. Values are checked on the way in with the loader's own
//! rules ([`value`]), each instance has a size quota, and a damaged entry
//! is left out with a warning instead of making the rest unreachable.

mod backend;
#[cfg(test)]
mod contract;
mod legacy;
mod lock;
mod names;
mod panels;
mod pg;
mod pg_link;
mod pg_sql;
mod pg_tls;
mod quota;
mod rollout;
mod sqlite;
mod sqlite_log;
mod value;
mod writer;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;
use tracing::warn;

pub use backend::{Backend, InstanceId, Row};
pub use lock::{LOCK_FILE, StateLock};
pub use names::check_codec_name;
pub use panels::{PANELS_SCRIPT, PanelRecords};
#[cfg(test)]
pub(crate) use pg::fresh_test_target;
pub use pg::{PgBackend, PgTarget, connect_session, test_url};
pub use pg_sql::{describe as describe_pg, lock_key};
pub use pg_tls::resolve_root as resolve_pg_root;
pub use quota::parse_quota;
pub use rollout::{RolloutRow, RolloutTable};
pub use sqlite::{DB_FILE, SqliteBackend};
pub use value::MAX_DEPTH;

/// The default size quota of one instance's store, in bytes (keys plus
/// encoded values): 10 MiB. Set with `store_quota` in the config.
pub const DEFAULT_QUOTA: u64 = 10 * 1024 * 1024;

/// Why the store could not be read or written, or refused a value.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {why}")]
pub struct StoreError {
    /// Which store or file.
    pub what: String,
    pub why: String,
    /// The change may have been made all the same (it reached a database
    /// server whose answer was lost); the store reads the key again.
    pub maybe_written: bool,
}

impl StoreError {
    /// An error after which nothing changed.
    pub fn new(what: impl Into<String>, why: impl Into<String>) -> StoreError {
        StoreError {
            what: what.into(),
            why: why.into(),
            maybe_written: false,
        }
    }
}

/// A host's stores: the locked state directory and every instance's view.
#[derive(Debug)]
pub struct Stores {
    backend: Arc<dyn Backend>,
    quota: u64,
    open: Mutex<HashMap<InstanceId, Arc<Store>>>,
    /// The rollout table of the same storage, when there is one.
    rollouts: Option<Arc<dyn RolloutTable>>,
    _lock: Option<StateLock>,
}

impl Stores {
    /// Locks `dir` (refused, naming the holder, if another host has it) and
    /// opens its database. The lock is held until this is dropped.
    pub fn open_dir(dir: &Path, quota: u64) -> Result<Stores, StoreError> {
        let lock = StateLock::acquire(dir)?;
        let backend = Arc::new(SqliteBackend::open(&dir.join(DB_FILE))?);
        legacy::import(dir, &*backend)?;
        let mut stores = Stores::with_backend(backend.clone(), quota);
        stores.rollouts = Some(backend);
        stores._lock = Some(lock);
        Ok(stores)
    }

    /// Stores on any backend (no directory lock).
    pub fn with_backend(backend: Arc<dyn Backend>, quota: u64) -> Stores {
        Stores {
            backend,
            quota,
            open: Mutex::default(),
            rollouts: None,
            _lock: None,
        }
    }

    /// The same stores, with rollout records kept in `table`.
    pub fn with_rollouts(mut self, table: Arc<dyn RolloutTable>) -> Stores {
        self.rollouts = Some(table);
        self
    }

    /// Where rollout records live beside these stores, if anywhere.
    pub fn rollouts(&self) -> Option<Arc<dyn RolloutTable>> {
        self.rollouts.clone()
    }

    /// The store of `script` on `codec`, loaded on first use and shared
    /// after (a reloaded script sees the same view).
    pub fn instance(&self, codec: &str, script: &str) -> Result<Arc<Store>, StoreError> {
        let id = InstanceId::new(codec, script);
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = open.get(&id) {
            return Ok(s.clone());
        }
        let s = Arc::new(Store::load(id.clone(), self.backend.clone(), self.quota)?);
        open.insert(id, s.clone());
        Ok(s)
    }

    /// Reads the stores of these (codec, script) pairs that are not open
    /// yet in bulk, [`BULK`] instances per read, so that the
    /// [`Stores::instance`] calls that follow find them loaded: a host
    /// starting 30,000 instances on a database makes 30 round trips, not
    /// 30,000. The caller names only codecs it serves (holds the lock
    /// of). A failed read is logged and leaves its instances to be read
    /// one by one (and to report their own error) as before.
    pub fn preload<'a>(&self, pairs: impl IntoIterator<Item = (&'a str, &'a str)>) {
        let wanted: Vec<InstanceId> = {
            let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
            let mut seen = std::collections::HashSet::new();
            pairs
                .into_iter()
                .map(|(codec, script)| InstanceId::new(codec, script))
                .filter(|id| !open.contains_key(id) && seen.insert(id.clone()))
                .collect()
        };
        for batch in wanted.chunks(BULK) {
            let rows = match self.backend.load_many(batch) {
                Ok(rows) => rows,
                Err(e) => {
                    warn!(
                        "reading {} stores at once failed ({e}); each is read on its own",
                        batch.len()
                    );
                    continue;
                }
            };
            let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
            for (id, rows) in batch.iter().zip(rows) {
                let store = Store::from_rows(id.clone(), self.backend.clone(), self.quota, rows);
                open.entry(id.clone()).or_insert_with(|| Arc::new(store));
            }
        }
    }
}

/// Instances whose stores [`Stores::preload`] reads in one go: small
/// enough that one read's answer comes well within the database's
/// statement and answer limits.
pub const BULK: usize = 1000;

impl Stores {
    /// The records of the panels this host saved on each codec.
    pub fn panels(&self) -> PanelRecords {
        PanelRecords::new(self.backend.clone())
    }

    /// Drops the views of every store on `codec` (another host took the
    /// codec and may write to them): the next [`Stores::instance`] reads
    /// them afresh.
    pub fn forget_codec(&self, codec: &str) {
        self.open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|id, _| id.codec != codec);
    }
}

/// The entries of one instance in a state directory, read without taking
/// the lock (a running host's data may be read this way). Entries that
/// cannot be read are left out.
pub fn read(dir: &Path, codec: &str, script: &str) -> Result<BTreeMap<String, Value>, StoreError> {
    let backend = SqliteBackend::open_read_only(&dir.join(DB_FILE))?;
    let store = Store::load(InstanceId::new(codec, script), Arc::new(backend), u64::MAX)?;
    Ok(store.view().values.clone())
}

/// One instance's store.
#[derive(Debug)]
pub struct Store {
    id: InstanceId,
    backend: Arc<dyn Backend>,
    quota: u64,
    view: Mutex<View>,
}

/// What is durable, as the script sees it.
#[derive(Debug, Default)]
struct View {
    values: BTreeMap<String, Value>,
    /// Bytes each stored entry takes (key plus encoded value), including
    /// entries that could not be read.
    sizes: HashMap<String, u64>,
    used: u64,
    /// Keys whose last change may or may not have been made (its answer
    /// was lost): read again from the backend once it is ready.
    unsure: std::collections::BTreeSet<String>,
}

fn entry_size(key: &str, encoded_len: usize) -> u64 {
    (key.len() + encoded_len) as u64
}

impl Store {
    /// One instance's store in the state directory `dir`, on its own, with
    /// the default quota (for tools and tests: a host opens [`Stores`],
    /// which also locks the directory).
    pub fn open(dir: &Path, codec: &str, script: &str) -> Result<Store, StoreError> {
        let backend = SqliteBackend::open(&dir.join(DB_FILE))?;
        Store::load(
            InstanceId::new(codec, script),
            Arc::new(backend),
            DEFAULT_QUOTA,
        )
    }

    /// Reads an instance's entries; a damaged one is logged and left out.
    pub fn load(
        id: InstanceId,
        backend: Arc<dyn Backend>,
        quota: u64,
    ) -> Result<Store, StoreError> {
        let rows = backend.load(&id)?;
        Ok(Store::from_rows(id, backend, quota, rows))
    }

    /// An instance's store from its entries as read; a damaged one is
    /// logged and left out.
    fn from_rows(id: InstanceId, backend: Arc<dyn Backend>, quota: u64, rows: Vec<Row>) -> Store {
        let mut view = View::default();
        for row in rows {
            let size = entry_size(&row.key, row.value.len());
            view.used += size;
            view.sizes.insert(row.key.clone(), size);
            match value::decode(&row.value) {
                Ok(v) => {
                    view.values.insert(row.key, v);
                }
                Err(e) => warn!(
                    "{id}: key {:?} cannot be read ({e}); it is left out until set again",
                    row.key
                ),
            }
        }
        Store {
            id,
            backend,
            quota,
            view: Mutex::new(view),
        }
    }

    /// The view, with keys whose change may or may not have been made read
    /// again first when the backend is ready for it.
    fn view(&self) -> MutexGuard<'_, View> {
        let mut view = self.view.lock().unwrap_or_else(|p| p.into_inner());
        if !view.unsure.is_empty() && self.backend.ready() {
            self.settle(&mut view);
        }
        view
    }

    /// Reads the unsure keys again: what the backend holds is what they are.
    fn settle(&self, view: &mut View) {
        let Ok(rows) = self.backend.load(&self.id) else {
            return;
        };
        for key in std::mem::take(&mut view.unsure) {
            view.used -= view.sizes.remove(&key).unwrap_or(0);
            view.values.remove(&key);
            if let Some(row) = rows.iter().find(|r| r.key == key) {
                let size = entry_size(&key, row.value.len());
                view.used += size;
                view.sizes.insert(key.clone(), size);
                match value::decode(&row.value) {
                    Ok(v) => {
                        view.values.insert(key, v);
                    }
                    Err(e) => warn!("{}: key {key:?} cannot be read ({e})", self.id),
                }
            }
        }
    }

    /// Notes a failed change of `key` that may have been made.
    fn unsure(view: &mut View, key: &str, e: StoreError) -> StoreError {
        if e.maybe_written {
            view.unsure.insert(key.to_string());
        }
        e
    }

    fn refuse(&self, why: String) -> StoreError {
        StoreError::new(self.id.to_string(), why)
    }

    /// The value under `key`.
    pub fn get(&self, key: &str) -> Option<Value> {
        self.view().values.get(key).cloned()
    }

    /// Every readable key, in order.
    pub fn keys(&self) -> Vec<String> {
        self.view().values.keys().cloned().collect()
    }

    /// Bytes this instance's entries take, counted against its quota.
    pub fn used(&self) -> u64 {
        self.view().used
    }

    /// Sets `key`: checked (it must read back, and fit the quota; a key
    /// holds no NUL character, on every backend), durable, then visible.
    /// On an error nothing changed.
    pub fn set(&self, key: &str, value: Value) -> Result<(), StoreError> {
        if key.contains('\0') {
            return Err(self.refuse(format!(
                "key {key:?} holds a NUL character, which no store backend keeps (PostgreSQL's text cannot); choose another key"
            )));
        }
        let text = value::encode(&value).map_err(|e| self.refuse(format!("key {key:?}: {e}")))?;
        let size = entry_size(key, text.len());
        let mut view = self.view();
        let after = view.used - view.sizes.get(key).copied().unwrap_or(0) + size;
        if after > self.quota {
            return Err(self.refuse(format!(
                "key {key:?}: {size} bytes would make the store {after} bytes, over its quota of {} bytes (store_quota)",
                self.quota
            )));
        }
        self.backend
            .put(&self.id, key, &text)
            .map_err(|e| Store::unsure(&mut view, key, e))?;
        view.used = after;
        view.sizes.insert(key.to_string(), size);
        view.values.insert(key.to_string(), value);
        Ok(())
    }

    /// Removes `key`, durably, and returns its value; on an error the key
    /// is still there.
    pub fn remove(&self, key: &str) -> Result<Option<Value>, StoreError> {
        let mut view = self.view();
        let Some(size) = view.sizes.get(key).copied() else {
            return Ok(None);
        };
        self.backend
            .delete(&self.id, key)
            .map_err(|e| Store::unsure(&mut view, key, e))?;
        view.used -= size;
        view.sizes.remove(key);
        Ok(view.values.remove(key))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    /// A fresh directory for one test.
    pub fn temp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("xmacro-store-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn open(dir: &Path) -> Stores {
        Stores::open_dir(dir, DEFAULT_QUOTA).unwrap()
    }

    #[test]
    fn what_was_set_survives_reopening() {
        let d = temp("reopen");
        let s = open(&d).instance("boardroom", "remember-volume").unwrap();
        assert_eq!(s.get("v"), None);
        s.set("v", json!(42)).unwrap();
        s.set("m", json!({"a":[1,2]})).unwrap();
        drop(s);
        let stores = open(&d);
        let s = stores.instance("boardroom", "remember-volume").unwrap();
        assert_eq!(s.get("v"), Some(json!(42)));
        assert_eq!(s.remove("m").unwrap(), Some(json!({"a":[1,2]})));
        assert_eq!(s.remove("m").unwrap(), None);
        drop((s, stores));
        let s = open(&d).instance("boardroom", "remember-volume").unwrap();
        assert_eq!(s.keys(), vec!["v".to_string()]);
        assert_eq!(
            read(&d, "boardroom", "remember-volume").unwrap()["v"],
            json!(42)
        );
    }

    #[test]
    fn files_from_an_earlier_version_are_imported_once_and_kept() {
        let d = temp("legacy");
        std::fs::create_dir_all(d.join("boardroom")).unwrap();
        let old = d.join("boardroom").join("remember-volume.json");
        std::fs::write(&old, r#"{"volume": 37, "deep": [[[1]]]}"#).unwrap();
        std::fs::write(d.join("boardroom").join("x.json.tmp"), "{").unwrap();
        let s = open(&d).instance("boardroom", "remember-volume").unwrap();
        assert_eq!(s.get("volume"), Some(json!(37)));
        assert_eq!(s.get("deep"), Some(json!([[[1]]])));
        assert!(!old.exists());
        assert!(d.join("boardroom/remember-volume.json.imported").exists());
        s.remove("volume").unwrap();
        drop(s);
        let s = open(&d).instance("boardroom", "remember-volume").unwrap();
        assert_eq!(s.get("volume"), None, "imported again");
    }

    #[test]
    fn unusual_files_named_like_old_stores_are_skipped_with_a_warning() {
        let d = temp("legacy-unusual");
        let room = d.join("boardroom");
        std::fs::create_dir_all(room.join("dir.json")).unwrap();
        crate::files::testing::fifo(&room, "pipe.json");
        std::os::unix::fs::symlink("/dev/zero", room.join("zero.json")).unwrap();
        std::fs::write(room.join("good.json"), r#"{"volume": 37}"#).unwrap();
        let big = room.join("big.json");
        std::fs::File::create(&big)
            .unwrap()
            .set_len(1 << 30)
            .unwrap();
        let opened = d.clone();
        let stores = crate::files::testing::within(10, move || {
            Stores::open_dir(&opened, DEFAULT_QUOTA).map_err(|e| e.to_string())
        })
        .expect("opening the state directory hung on an unusual file")
        .unwrap();
        let s = stores.instance("boardroom", "good").unwrap();
        assert_eq!(s.get("volume"), Some(json!(37)));
        assert!(room.join("good.json.imported").exists());
        // The unusual ones are where they were, not imported, not renamed.
        for name in ["dir.json", "pipe.json", "zero.json", "big.json"] {
            assert!(room.join(name).symlink_metadata().is_ok(), "{name}");
            let id = name.replace(".json", "");
            assert_eq!(stores.instance("boardroom", &id).unwrap().keys().len(), 0);
        }
    }

    #[test]
    fn lookalike_names_never_share_a_store() {
        let d = temp("lookalikes");
        let stores = open(&d);
        for (x, y) in contract::LOOKALIKES {
            for (codec, script) in [("c", *x), ("c", *y), (*x, "s"), (*y, "s")] {
                let who = format!("{codec}/{script}");
                stores
                    .instance(codec, script)
                    .unwrap()
                    .set("k", json!(who))
                    .unwrap();
            }
        }
        drop(stores);
        let stores = open(&d);
        for (x, y) in contract::LOOKALIKES {
            for (codec, script) in [("c", *x), ("c", *y), (*x, "s"), (*y, "s")] {
                let got = stores.instance(codec, script).unwrap().get("k");
                assert_eq!(got, Some(json!(format!("{codec}/{script}"))));
            }
        }
        // Nothing was written outside the state directory.
        assert!(!d.parent().unwrap().join("s").exists());
    }

    fn nested(n: usize) -> Value {
        (0..n).fold(json!("leaf"), |inner, _| json!([inner]))
    }

    #[test]
    fn a_value_that_would_not_load_again_is_refused_and_nothing_changes() {
        let d = temp("deep");
        let s = open(&d).instance("c", "s").unwrap();
        s.set("deep", json!(1)).unwrap();
        let e = s.set("deep", nested(200)).unwrap_err().to_string();
        assert!(
            e.contains("\"deep\"") && e.contains("200") && e.contains("\"s\""),
            "{e}"
        );
        assert_eq!(s.get("deep"), Some(json!(1)));
        s.set("ok", nested(MAX_DEPTH)).unwrap();
        drop(s);
        let s = open(&d).instance("c", "s").unwrap();
        assert_eq!(s.get("deep"), Some(json!(1)));
        assert_eq!(s.get("ok"), Some(nested(MAX_DEPTH)));
    }

    #[test]
    fn a_damaged_entry_is_left_out_and_the_rest_stays_reachable() {
        let d = temp("damaged");
        let file = d.join(DB_FILE);
        let s = open(&d).instance("c", "s").unwrap();
        s.set("good", json!("kept")).unwrap();
        drop(s);
        let raw = SqliteBackend::open(&file).unwrap();
        let id = InstanceId::new("c", "s");
        raw.put(&id, "bad", "{nope").unwrap();
        raw.put(
            &id,
            "too-deep",
            &serde_json::to_string(&nested(200)).unwrap(),
        )
        .unwrap();
        drop(raw);
        let s = open(&d).instance("c", "s").unwrap();
        assert_eq!(s.get("good"), Some(json!("kept")));
        assert_eq!(s.get("bad"), None);
        assert_eq!(s.keys(), vec!["good".to_string()]);
        // Setting the damaged key again repairs it.
        s.set("bad", json!("fixed")).unwrap();
        assert!(s.remove("too-deep").unwrap().is_none());
        drop(s);
        let s = open(&d).instance("c", "s").unwrap();
        assert_eq!(s.keys(), vec!["bad".to_string(), "good".to_string()]);
    }

    #[test]
    fn a_set_over_the_quota_is_refused_and_changes_nothing() {
        let d = temp("quota");
        let s = Stores::open_dir(&d, 1000)
            .unwrap()
            .instance("c", "s")
            .unwrap();
        s.set("a", json!("x".repeat(600))).unwrap();
        let e = s.set("b", json!("y".repeat(600))).unwrap_err().to_string();
        assert!(
            e.contains("quota of 1000 bytes") && e.contains("\"b\""),
            "{e}"
        );
        assert_eq!(s.get("b"), None);
        // Replacing a key counts its new size, not both.
        s.set("a", json!("z".repeat(900))).unwrap();
        assert_eq!(s.used(), 1 + 902);
        s.remove("a").unwrap();
        assert_eq!(s.used(), 0);
        s.set("b", json!("y".repeat(600))).unwrap();
    }

    /// Bytes this thread has handed to `write` so far (Linux).
    fn written_by_this_thread() -> u64 {
        let io = std::fs::read_to_string("/proc/thread-self/io").unwrap();
        io.lines()
            .find_map(|l| l.strip_prefix("wchar: "))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    #[test]
    fn a_set_writes_about_its_own_size_not_the_whole_store() {
        let d = temp("small-writes");
        let s = open(&d).instance("c", "s").unwrap();
        for i in 0..40 {
            s.set(&format!("k{i}"), json!("v".repeat(100_000))).unwrap();
        }
        assert!(s.used() > 4_000_000);
        let before = written_by_this_thread();
        s.set("small", json!(1)).unwrap();
        s.set("k7", json!(2)).unwrap();
        let written = written_by_this_thread() - before;
        assert!(written < 200_000, "two small sets wrote {written} bytes");
    }

    /// A backend whose writes can be made to fail, as on a read-only disk.
    #[derive(Debug, Default)]
    struct Flaky {
        failing: AtomicBool,
        rows: Mutex<HashMap<String, String>>,
    }

    impl Backend for Flaky {
        fn load(&self, _: &InstanceId) -> Result<Vec<Row>, StoreError> {
            let rows = self.rows.lock().unwrap();
            Ok(rows
                .iter()
                .map(|(k, v)| Row {
                    key: k.clone(),
                    value: v.clone().into_bytes(),
                })
                .collect())
        }
        fn put(&self, _: &InstanceId, key: &str, value: &str) -> Result<(), StoreError> {
            self.check()?;
            self.rows.lock().unwrap().insert(key.into(), value.into());
            Ok(())
        }
        fn delete(&self, _: &InstanceId, key: &str) -> Result<(), StoreError> {
            self.check()?;
            self.rows.lock().unwrap().remove(key);
            Ok(())
        }
    }

    impl Flaky {
        fn check(&self) -> Result<(), StoreError> {
            if self.failing.load(Ordering::SeqCst) {
                return Err(StoreError::new("flaky", "Read-only file system"));
            }
            Ok(())
        }
    }

    #[test]
    fn a_remove_or_set_that_fails_on_disk_changes_nothing_in_memory() {
        let flaky = Arc::new(Flaky::default());
        let stores = Stores::with_backend(flaky.clone(), DEFAULT_QUOTA);
        let s = stores.instance("c", "s").unwrap();
        s.set("k", json!("v")).unwrap();
        flaky.failing.store(true, Ordering::SeqCst);
        let e = s.remove("k").unwrap_err().to_string();
        assert!(e.contains("Read-only"), "{e}");
        assert_eq!(s.get("k"), Some(json!("v")));
        assert!(s.set("k", json!("w")).is_err());
        assert!(s.set("new", json!(1)).is_err());
        assert_eq!(s.get("k"), Some(json!("v")));
        assert_eq!(s.keys(), vec!["k".to_string()]);
        let used = s.used();
        flaky.failing.store(false, Ordering::SeqCst);
        assert_eq!(
            Store::load(InstanceId::new("c", "s"), flaky, DEFAULT_QUOTA)
                .unwrap()
                .used(),
            used
        );
    }

    /// A backend that counts its reads, over a SQLite one.
    #[derive(Debug)]
    struct Counting {
        inner: SqliteBackend,
        one: AtomicUsize,
        many: AtomicUsize,
        failing: AtomicBool,
    }

    impl Backend for Counting {
        fn load(&self, id: &InstanceId) -> Result<Vec<Row>, StoreError> {
            self.one.fetch_add(1, Ordering::SeqCst);
            self.inner.load(id)
        }
        fn load_many(&self, ids: &[InstanceId]) -> Result<Vec<Vec<Row>>, StoreError> {
            self.many.fetch_add(1, Ordering::SeqCst);
            if self.failing.load(Ordering::SeqCst) {
                return Err(StoreError::new("counting", "the connection is closed"));
            }
            self.inner.load_many(ids)
        }
        fn put(&self, id: &InstanceId, key: &str, value: &str) -> Result<(), StoreError> {
            self.inner.put(id, key, value)
        }
        fn delete(&self, id: &InstanceId, key: &str) -> Result<(), StoreError> {
            self.inner.delete(id, key)
        }
    }

    #[test]
    fn stores_preloaded_in_bulk_are_read_in_batches_and_not_again_one_by_one() {
        let d = temp("preload");
        let counting = Arc::new(Counting {
            inner: SqliteBackend::open(&d.join(DB_FILE)).unwrap(),
            one: AtomicUsize::new(0),
            many: AtomicUsize::new(0),
            failing: AtomicBool::new(false),
        });
        let codecs: Vec<String> = (0..2500).map(|i| format!("room-{i}")).collect();
        counting
            .put(&InstanceId::new("room-7", "b"), "v", "50")
            .unwrap();
        let stores = Stores::with_backend(counting.clone(), DEFAULT_QUOTA);
        let early = stores.instance("room-3", "b").unwrap();
        stores.preload(codecs.iter().map(|c| (c.as_str(), "b")));
        assert_eq!(
            counting.many.load(Ordering::SeqCst),
            3,
            "2,499 in batches of 1,000"
        );
        assert_eq!(counting.one.load(Ordering::SeqCst), 1, "only the early one");
        for c in &codecs {
            stores.instance(c, "b").unwrap();
        }
        assert_eq!(counting.one.load(Ordering::SeqCst), 1, "none read again");
        assert_eq!(
            stores.instance("room-7", "b").unwrap().get("v"),
            Some(json!(50))
        );
        assert!(Arc::ptr_eq(
            &early,
            &stores.instance("room-3", "b").unwrap()
        ));

        // Already open: nothing to read. A failed bulk read leaves each to
        // be read on its own.
        stores.preload(codecs.iter().map(|c| (c.as_str(), "b")));
        assert_eq!(counting.many.load(Ordering::SeqCst), 3);
        counting.failing.store(true, Ordering::SeqCst);
        stores.preload([("room-7", "c"), ("room-8", "c")]);
        assert_eq!(counting.many.load(Ordering::SeqCst), 4);
        assert!(stores.instance("room-7", "c").unwrap().keys().is_empty());
        assert_eq!(counting.one.load(Ordering::SeqCst), 2);
    }
}
