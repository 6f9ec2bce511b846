//! The project around the open files: its root (from the editor), its
//! config (`--config`, else `xmacro.toml` in the root), the scripts folder,
//! each script's `args`, and the schema paths are checked against. The
//! schema is loaded once, in the background, while the editor goes on.
//!
//! The config is read without its secrets: no password is read, so a
//! password variable the editor's environment lacks is no problem. The
//! codecs' `settings` are kept, for completion after `codec.settings.`;
//! when a codec table cannot be resolved here (a TLS file the editor's
//! machine lacks), the config is read without codecs instead.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use lsp_types::Uri;

use super::Options;
use crate::config::{Config, DEFAULT_SCRIPTS};
use crate::schema::Schema;

/// The schema in use, and where it came from.
#[derive(Debug)]
pub struct Model {
    pub schema: Schema,
    /// "roomos-26.4.1.json" or "the built-in model".
    pub name: String,
    /// Why the schema asked for could not be used, if it could not.
    pub problem: Option<String>,
}

/// The workspace, shared by the message loop and the checker.
#[derive(Debug)]
pub struct Workspace {
    pub root: PathBuf,
    pub scripts: PathBuf,
    /// The config, when it could be read (for each script's codecs and
    /// their settings).
    config: Option<Config>,
    schema_file: Option<PathBuf>,
    product: Option<String>,
    model: OnceLock<Arc<Model>>,
}

/// Where a file sits, as the checker and the resolver of imports see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// The file on disk, for a `file:` URI.
    pub file: Option<PathBuf>,
    /// The folder imports are read from: the scripts folder, or the file's
    /// own folder for a file outside it (as `xmacro check FILE` does).
    pub dir: Option<PathBuf>,
    /// The file's name relative to `dir`, as messages name it.
    pub name: String,
    /// The file is not in the scripts folder (`xmacro run` does not load it).
    pub outside: bool,
}

impl Workspace {
    /// The workspace at `root`; also says what was wrong with the config,
    /// if anything (it is then left out, not fatal).
    pub fn new(options: &Options, root: PathBuf) -> (Workspace, Option<String>) {
        let file = options.config.clone().or_else(|| {
            let f = root.join("xmacro.toml");
            f.is_file().then_some(f)
        });
        let mut problem = None;
        let config = file.as_deref().and_then(|f| match read_config(f) {
            Ok(c) => Some(c),
            Err(e) => {
                problem = Some(format!("{e}; going on without the config"));
                None
            }
        });
        let scripts = config
            .as_ref()
            .map_or_else(|| root.join(DEFAULT_SCRIPTS), |c| c.scripts.clone());
        let ws = Workspace {
            schema_file: options
                .schema
                .clone()
                .or_else(|| config.as_ref().and_then(|c| c.schema.clone())),
            product: options.product.clone(),
            scripts,
            root,
            config,
            model: OnceLock::new(),
        };
        (ws, problem)
    }

    /// The schema; the first call loads it (another caller waits for that).
    pub fn model(&self) -> Arc<Model> {
        self.model.get_or_init(|| Arc::new(self.load())).clone()
    }

    fn load(&self) -> Model {
        let builtin = || crate::sim::builtin::schema();
        let Some(file) = &self.schema_file else {
            return Model {
                schema: builtin(),
                name: "the built-in model".into(),
                problem: None,
            };
        };
        let started = std::time::Instant::now();
        match Schema::load(file, self.product.as_deref()) {
            Ok(schema) => {
                tracing::info!(
                    "schema {} loaded in {} ms",
                    file.display(),
                    started.elapsed().as_millis()
                );
                Model {
                    schema,
                    name: file.display().to_string(),
                    problem: None,
                }
            }
            Err(e) => Model {
                schema: builtin(),
                name: "the built-in model".into(),
                problem: Some(format!(
                    "the schema could not be loaded ({e}); paths are checked against the built-in model instead"
                )),
            },
        }
    }

    /// Where the file of `uri` sits.
    pub fn place(&self, uri: &Uri) -> Place {
        let Some(file) = file_path(uri) else {
            let name = uri
                .as_str()
                .rsplit('/')
                .next()
                .unwrap_or("untitled")
                .to_string();
            return Place {
                file: None,
                dir: None,
                name,
                outside: false,
            };
        };
        let real = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
        let scripts = real(&self.scripts);
        let real_file = match (file.parent(), file.file_name()) {
            (Some(parent), Some(name)) => real(parent).join(name),
            _ => file.clone(),
        };
        match real_file.strip_prefix(&scripts) {
            Ok(rel) => Place {
                name: rel.to_string_lossy().replace('\\', "/"),
                file: Some(file),
                dir: Some(scripts),
                outside: false,
            },
            Err(_) => Place {
                name: file
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                dir: file.parent().map(Path::to_path_buf),
                file: Some(file),
                outside: true,
            },
        }
    }

    /// The `args` of the script in `place`, when the config has them.
    pub fn args_of(&self, place: &Place) -> Option<&toml::Table> {
        Some(&self.config.as_ref()?.script.get(script_name(place)?)?.args)
    }

    /// The settings keys the codecs of the script in `place` have: each
    /// with a value one of them has and on how many of how many codecs it
    /// is set. A library or a file outside the scripts folder runs on
    /// every codec.
    pub fn settings_of(&self, place: &Place) -> Vec<SettingKey> {
        let Some(config) = &self.config else {
            return Vec::new();
        };
        let scope: Vec<_> = match script_name(place) {
            Some(name) => config.scope(name).collect(),
            None => config.codecs.iter().collect(),
        };
        let mut keys: BTreeMap<&str, SettingKey> = BTreeMap::new();
        for c in &scope {
            for (k, v) in config.settings.get(&c.name).into_iter().flatten() {
                keys.entry(k)
                    .or_insert_with(|| SettingKey {
                        name: k.clone(),
                        example: v.to_string(),
                        set_on: 0,
                        codecs: scope.len(),
                    })
                    .set_on += 1;
            }
        }
        keys.into_values().collect()
    }
}

/// A key of `codec.settings` as the config sets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingKey {
    pub name: String,
    /// A value it has (the first codec's, in config order).
    pub example: String,
    /// On how many codecs of the script's scope it is set, of how many.
    pub set_on: usize,
    pub codecs: usize,
}

/// The script a file in the scripts folder is (not a library in a
/// subfolder, not a file outside).
fn script_name(place: &Place) -> Option<&str> {
    (!place.outside && !place.name.contains('/')).then(|| place.name.trim_end_matches(".rhai"))
}

/// The config, read bounded as `run` reads it, without reading any
/// password; without its codecs when one cannot be resolved here.
fn read_config(file: &Path) -> Result<Config, crate::config::ConfigError> {
    Config::load_without_passwords(file).or_else(|_| {
        let text = Config::read_text(file)?;
        Config::parse_keeping(file, &text, &|k| std::env::var(k).ok(), &|_| false)
    })
}

/// The path of a `file:` URI.
pub fn file_path(uri: &Uri) -> Option<PathBuf> {
    url::Url::parse(uri.as_str()).ok()?.to_file_path().ok()
}

/// The `file:` URI of a path.
pub fn file_uri(path: &Path) -> Option<Uri> {
    let url = url::Url::from_file_path(path).ok()?;
    url.as_str().parse().ok()
}

/// The folder an editor opened: `rootUri`, else the first workspace folder,
/// else `rootPath`, else the current directory.
pub fn root_of(params: &lsp_types::InitializeParams) -> PathBuf {
    #[allow(deprecated)]
    let from_uri = params
        .workspace_folders
        .as_ref()
        .and_then(|f| f.first())
        .map(|f| &f.uri)
        .or(params.root_uri.as_ref())
        .and_then(file_path);
    #[allow(deprecated)]
    let from_path = params.root_path.as_ref().map(PathBuf::from);
    from_uri
        .or(from_path)
        .unwrap_or_else(|| std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")))
}
