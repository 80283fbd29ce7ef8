//! The `[local_server]` section of a Compute app's `fastly.toml`: what the
//! app's stores and services hold when it runs here. Read at start-up and
//! at every reload; every size is bounded before it is read.
//!
//! Backends (`[local_server.backends.NAME]`): see `../backends/`.
//!
//! Config stores and dictionaries (`[local_server.config_stores.NAME]`,
//! `[local_server.dictionaries.NAME]`, the older name of the same thing)
//! are either inline (`format = "inline-toml"` and a `contents` table) or
//! a JSON object in a file (`format = "json"`, `file = "..."`, relative to
//! the directory of `fastly.toml`).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;

use super::super::backends::{tls_config, Backend, DynamicBackends};
use super::cache::Cache;
use super::erl::Erl;
use super::files::read_bounded;
use super::kv::{self, KvStore};
use super::lookups::{self, Acl, DeviceDetection, Geolocation};
use super::sandbox::Sandboxes;
use crate::abi::log_file::LogFile;
use crate::config::toml_error;

/// Largest `fastly.toml`.
const MAX_MANIFEST: u64 = 4 << 20;
/// Largest JSON file of one store.
const MAX_STORE_FILE: u64 = 16 << 20;
/// Longest key of a config store (Fastly's limit).
pub(crate) const MAX_STORE_KEY: usize = 256;
/// Longest value of a config store (Fastly's limit).
pub(crate) const MAX_STORE_VALUE: usize = 8000;
/// Most entries in one store.
const MAX_STORE_ENTRIES: usize = 100_000;

/// A config store (or dictionary): keys and values, both text.
pub(crate) type ConfigStore = HashMap<String, String>;

/// Most backends (and ACLs, and secret stores) one app may have.
const MAX_BACKENDS: usize = 1000;

/// What an app's `[local_server]` section configures.
#[derive(Debug, Default)]
pub(crate) struct LocalServer {
    /// Backends, by name.
    pub backends: HashMap<String, Arc<Backend>>,
    /// Config stores and dictionaries, by name.
    pub config_stores: HashMap<String, Arc<ConfigStore>>,
    /// Secret stores, by name.
    pub secret_stores: HashMap<String, Arc<HashMap<String, Bytes>>>,
    /// Geolocation by address.
    pub geolocation: Geolocation,
    /// Device detection by user agent.
    pub device_detection: DeviceDetection,
    /// ACLs, by name.
    pub acls: HashMap<String, Arc<Acl>>,
    /// KV stores, by name, shared by the app's instances (afresh after a
    /// reload).
    pub kv_stores: HashMap<String, Arc<KvStore>>,
    /// Rate counters and penalty boxes, shared by the app's instances
    /// (empty again after a reload).
    pub erl: Erl,
    /// The hosts the route allows dynamic backends for, and their
    /// connection pools.
    pub dynamic: DynamicBackends,
    /// Files that log endpoints write to, by endpoint name.
    pub log_files: HashMap<String, Arc<LogFile>>,
    /// The app's cache, shared by its instances (empty again after a
    /// reload).
    pub cache: Arc<Cache>,
    /// The app's instances waiting for a further request (`next_request`).
    pub sandboxes: Sandboxes,
    /// Sections present but not used by this server yet (each named in a
    /// warning at load).
    pub ignored: Vec<String>,
}

impl LocalServer {
    /// Reads the `[local_server]` section of the manifest at `path`; a
    /// manifest without one configures nothing. The error is one line.
    pub fn read(path: &Path) -> Result<LocalServer, String> {
        let shown = path.display();
        let text = read_bounded(path, MAX_MANIFEST)?;
        let text = String::from_utf8(text).map_err(|_| format!("{shown}: not UTF-8"))?;
        let mut manifest: toml::Table =
            toml::from_str(&text).map_err(|e| format!("{shown}: {}", toml_error(&text, &e)))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut local = LocalServer::default();
        let Some(section) = manifest.remove("local_server") else {
            return Ok(local);
        };
        let toml::Value::Table(section) = section else {
            return Err(format!("{shown}: local_server is not a table"));
        };
        for (key, value) in section {
            match key.as_str() {
                "config_stores" | "dictionaries" => {
                    let toml::Value::Table(stores) = value else {
                        return Err(format!("{shown}: local_server.{key} is not a table"));
                    };
                    for (name, store) in stores {
                        let where_ = format!("{shown}: local_server.{key}.{name}");
                        let store =
                            config_store(store, dir).map_err(|e| format!("{where_}: {e}"))?;
                        if local
                            .config_stores
                            .insert(name.clone(), Arc::new(store))
                            .is_some()
                        {
                            return Err(format!(
                                "{where_}: a store of this name is already defined"
                            ));
                        }
                    }
                }
                "backends" => {
                    let toml::Value::Table(backends) = value else {
                        return Err(format!("{shown}: local_server.backends is not a table"));
                    };
                    if backends.len() > MAX_BACKENDS {
                        return Err(format!("{shown}: more than {MAX_BACKENDS} backends"));
                    }
                    let tls = match backends.is_empty() {
                        true => None,
                        false => Some(tls_config().map_err(|e| format!("{shown}: {e}"))?),
                    };
                    for (name, backend) in backends {
                        let where_ = format!("{shown}: local_server.backends.{name}");
                        let Some(tls) = &tls else { break };
                        let backend = Backend::from_toml(backend, tls)
                            .map_err(|e| format!("{where_}: {e}"))?;
                        local.backends.insert(name, Arc::new(backend));
                    }
                }
                "geolocation" => {
                    local.geolocation = lookups::geolocation(value, dir)
                        .map_err(|e| format!("{shown}: local_server.geolocation: {e}"))?;
                }
                "device_detection" => {
                    local.device_detection = lookups::device_detection(value, dir)
                        .map_err(|e| format!("{shown}: local_server.device_detection: {e}"))?;
                }
                "acls" | "secret_stores" | "kv_stores" => {
                    let toml::Value::Table(t) = value else {
                        return Err(format!("{shown}: local_server.{key} is not a table"));
                    };
                    if t.len() > MAX_BACKENDS {
                        return Err(format!(
                            "{shown}: local_server.{key}: more than {MAX_BACKENDS}"
                        ));
                    }
                    for (name, v) in t {
                        let where_ = format!("{shown}: local_server.{key}.{name}");
                        if key == "acls" {
                            let acl = lookups::acl(v, dir).map_err(|e| format!("{where_}: {e}"))?;
                            local.acls.insert(name, Arc::new(acl));
                        } else if key == "kv_stores" {
                            let store =
                                kv::kv_store(v, dir).map_err(|e| format!("{where_}: {e}"))?;
                            local.kv_stores.insert(name, Arc::new(store));
                        } else {
                            let store = lookups::secret_store(v, dir)
                                .map_err(|e| format!("{where_}: {e}"))?;
                            local.secret_stores.insert(name, Arc::new(store));
                        }
                    }
                }
                other => local.ignored.push(format!("local_server.{other}")),
            }
        }
        Ok(local)
    }
}

fn config_store(value: toml::Value, dir: &Path) -> Result<ConfigStore, String> {
    let toml::Value::Table(mut t) = value else {
        return Err("not a table".into());
    };
    let format = match t.remove("format") {
        Some(toml::Value::String(f)) => f,
        Some(_) => return Err("format is not a string".into()),
        None => return Err("no format (\"inline-toml\" or \"json\")".into()),
    };
    let entries: BTreeMap<String, String> = match format.as_str() {
        "inline-toml" => match t.remove("contents") {
            Some(toml::Value::Table(c)) => c
                .into_iter()
                .map(|(k, v)| match v {
                    toml::Value::String(s) => Ok((k, s)),
                    _ => Err(format!("contents.{k} is not a string")),
                })
                .collect::<Result<_, String>>()?,
            Some(_) => return Err("contents is not a table".into()),
            None => return Err("no contents table".into()),
        },
        "json" => {
            let file = match t.remove("file") {
                Some(toml::Value::String(f)) => dir.join(f),
                _ => return Err("no file (a string) for format \"json\"".into()),
            };
            let bytes = read_bounded(&file, MAX_STORE_FILE)?;
            serde_json::from_slice(&bytes)
                .map_err(|e| format!("{}: not a JSON object of strings: {e}", file.display()))?
        }
        other => {
            return Err(format!(
                "unknown format \"{}\" (known: inline-toml, json)",
                lucet_module::escape_control(other)
            ))
        }
    };
    if let Some(k) = t.keys().next() {
        return Err(format!("unknown key {}", lucet_module::escape_control(k)));
    }
    if entries.len() > MAX_STORE_ENTRIES {
        return Err(format!("more than {MAX_STORE_ENTRIES} entries"));
    }
    for (k, v) in &entries {
        if k.len() > MAX_STORE_KEY {
            return Err(format!("a key is longer than {MAX_STORE_KEY} bytes"));
        }
        if v.len() > MAX_STORE_VALUE {
            return Err(format!(
                "the value of {} is longer than {MAX_STORE_VALUE} bytes",
                lucet_module::escape_control(k)
            ));
        }
    }
    Ok(entries.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(manifest: &str, files: &[(&str, &str)]) -> Result<LocalServer, String> {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "lucet-serve-local-server-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, text) in files {
            std::fs::write(dir.join(name), text).unwrap();
        }
        let path = dir.join("fastly.toml");
        std::fs::write(&path, manifest).unwrap();
        let result = LocalServer::read(&path);
        std::fs::remove_dir_all(&dir).unwrap();
        result
    }

    #[test]
    fn stores_inline_and_from_json() {
        let local = read(
            r#"
            name = "app"
            [local_server.config_stores.settings]
            format = "inline-toml"
            [local_server.config_stores.settings.contents]
            greeting = "hello"
            [local_server.dictionaries.legacy]
            format = "json"
            file = "legacy.json"
            [local_server.backends.origin]
            url = "http://127.0.0.1:1/"
            "#,
            &[("legacy.json", r#"{"a": "1", "b": "2"}"#)],
        )
        .unwrap();
        assert_eq!(local.config_stores["settings"]["greeting"], "hello");
        assert_eq!(local.config_stores["legacy"]["b"], "2");
        assert!(local.ignored.is_empty(), "{:?}", local.ignored);
        let origin = &local.backends["origin"];
        assert_eq!(
            (origin.host(), origin.port(), origin.is_tls()),
            ("127.0.0.1", 1, false)
        );
        assert!(read("name = \"no local server\"", &[])
            .unwrap()
            .config_stores
            .is_empty());
    }

    #[test]
    fn bad_stores_are_one_line_errors() {
        let e = read("[local_server.config_stores.s]\nformat = \"yaml\"\n", &[]).unwrap_err();
        assert!(
            e.contains("local_server.config_stores.s: unknown format \"yaml\""),
            "{e}"
        );
        let e = read(
            "[local_server.config_stores.s]\nformat = \"json\"\nfile = \"s.json\"\n",
            &[("s.json", "[1, 2]")],
        )
        .unwrap_err();
        assert!(e.contains("not a JSON object of strings"), "{e}");
        let long = "x".repeat(MAX_STORE_VALUE + 1);
        let e = read(
            &format!(
                "[local_server.config_stores.s]\nformat = \"inline-toml\"\n\
                 [local_server.config_stores.s.contents]\nk = \"{long}\"\n"
            ),
            &[],
        )
        .unwrap_err();
        assert!(
            e.contains("the value of k is longer than 8000 bytes"),
            "{e}"
        );
        let e = read("[local_server.backends.b]\nurl = \"ftp://x/\"\n", &[]).unwrap_err();
        assert!(
            e.contains("local_server.backends.b: url ftp://x/: not an http"),
            "{e}"
        );
        let e = read(
            "[local_server.backends.b]\nurl = \"http://x/\"\nfirst_byte_timeout_ms = -1\n",
            &[],
        )
        .unwrap_err();
        assert!(
            e.contains("first_byte_timeout_ms: expected a positive"),
            "{e}"
        );
        let e = read("local_server = [", &[]).unwrap_err();
        assert!(!e.contains('\n'), "{e}");
    }
}
