//! The data a Compute app's lookups read, from its `fastly.toml`:
//! geolocation by IP address, device detection by user agent, ACLs (IP
//! prefixes with actions), and secret stores. Every file read is bounded,
//! and so is every entry.
//!
//! ```toml
//! [local_server.geolocation]            # or: format = "json", file = "geo.json"
//! format = "inline-toml"
//! [local_server.geolocation.addresses."127.0.0.1"]
//! city = "Sydney"
//!
//! [local_server.device_detection]       # or: format = "json", file = "ua.json"
//! format = "inline-toml"
//! [local_server.device_detection.user_agents."Mozilla/5.0 ..."]
//! device = { name = "iPhone", brand = "Apple", is_mobile = true }
//!
//! [local_server.acls]
//! blocklist = "acl.json"                # {"entries": [{"prefix": "192.0.2.0/24", "action": "BLOCK"}]}
//!
//! [[local_server.secret_stores.keys]]   # or: [local_server.secret_stores.keys] format = "json", file = ...
//! key = "api"
//! data = "s3cret"                       # or file = "api.key", or env = "API_KEY"
//! ```

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;

use bytes::Bytes;
use serde_json::{Map, Value};

use super::files::read_bounded;

/// Most entries in one table of lookups (addresses, user agents, ACL
/// prefixes, secrets).
const MAX_ENTRIES: usize = 100_000;
/// Largest secret (Fastly's limit).
pub(crate) const MAX_SECRET: usize = 64 << 10;
/// Largest file of lookups.
const MAX_FILE: u64 = 16 << 20;

/// What geolocation returns for an address: Fastly's fields, each with a
/// neutral value unless the configuration gives it.
fn geo_template() -> Map<String, Value> {
    let fields: [(&str, Value); 19] = [
        ("as_name", "".into()),
        ("as_number", 0.into()),
        ("area_code", 0.into()),
        ("city", "".into()),
        ("conn_speed", "?".into()),
        ("conn_type", "?".into()),
        ("continent", "?".into()),
        ("country_code", "".into()),
        ("country_code3", "".into()),
        ("country_name", "".into()),
        ("gmt_offset", 0.into()),
        ("latitude", 0.0.into()),
        ("longitude", 0.0.into()),
        ("metro_code", 0.into()),
        ("postal_code", "".into()),
        ("proxy_description", "?".into()),
        ("proxy_type", "?".into()),
        ("region", Value::Null),
        ("utc_offset", 0.into()),
    ];
    fields
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

/// Geolocation: each address's data, as the JSON the ABI returns.
#[derive(Debug, Default)]
pub(crate) struct Geolocation(HashMap<IpAddr, Bytes>);

impl Geolocation {
    pub fn lookup(&self, ip: IpAddr) -> Option<&Bytes> {
        self.0.get(&ip)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Device detection: each user agent's data, as JSON.
#[derive(Debug, Default)]
pub(crate) struct DeviceDetection(HashMap<String, Bytes>);

impl DeviceDetection {
    pub fn lookup(&self, user_agent: &str) -> Option<&Bytes> {
        self.0.get(user_agent)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// An ACL: prefixes with actions; the longest matching prefix wins.
#[derive(Debug, Default)]
pub(crate) struct Acl(Vec<(IpAddr, u8, String)>);

impl Acl {
    /// The match for `ip`, as the JSON the ABI returns.
    pub fn lookup(&self, ip: IpAddr) -> Option<Bytes> {
        let (net, len, action) = self
            .0
            .iter()
            .filter(|(net, len, _)| in_prefix(ip, *net, *len))
            .max_by_key(|(_, len, _)| *len)?;
        let m = serde_json::json!({ "prefix": format!("{net}/{len}"), "action": action });
        Some(Bytes::from(m.to_string()))
    }
}

/// Whether `ip` is in `net/len`.
fn in_prefix(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// `addr/len`, checked.
fn prefix(s: &str) -> Result<(IpAddr, u8), String> {
    let bad = || {
        format!(
            "prefix {}: not ADDRESS/LENGTH",
            lucet_module::escape_control(s)
        )
    };
    let (addr, len) = s.split_once('/').ok_or_else(bad)?;
    let addr: IpAddr = addr.parse().map_err(|_| bad())?;
    let len: u8 = len.parse().map_err(|_| bad())?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    if len > max {
        return Err(bad());
    }
    Ok((addr, len))
}

/// The bytes of `file` (relative to `dir`), refused past [`MAX_FILE`].
fn read(dir: &Path, file: &str) -> Result<Vec<u8>, String> {
    read_bounded(&dir.join(file), MAX_FILE)
}

/// The entries of an inline or JSON table: `inline_key`'s table, or a
/// JSON object in `file`.
fn entries(value: toml::Value, dir: &Path, inline_key: &str) -> Result<Map<String, Value>, String> {
    let toml::Value::Table(mut t) = value else {
        return Err("not a table".into());
    };
    let format = match t.remove("format") {
        Some(toml::Value::String(f)) => f,
        _ => return Err("no format (\"inline-toml\" or \"json\")".into()),
    };
    let map = match format.as_str() {
        "inline-toml" => match t.remove(inline_key) {
            Some(v @ toml::Value::Table(_)) => match serde_json::to_value(v) {
                Ok(Value::Object(m)) => m,
                _ => return Err(format!("{inline_key}: not a table")),
            },
            _ => return Err(format!("no {inline_key} table")),
        },
        "json" => {
            let file = match t.remove("file") {
                Some(toml::Value::String(f)) => f,
                _ => return Err("no file (a string) for format \"json\"".into()),
            };
            match serde_json::from_slice(&read(dir, &file)?) {
                Ok(Value::Object(m)) => m,
                _ => return Err(format!("{file}: not a JSON object")),
            }
        }
        other => {
            return Err(format!(
                "unknown format \"{}\" (known: inline-toml, json)",
                lucet_module::escape_control(other)
            ))
        }
    };
    if map.len() > MAX_ENTRIES {
        return Err(format!("more than {MAX_ENTRIES} entries"));
    }
    Ok(map)
}

/// `[local_server.geolocation]`.
pub(crate) fn geolocation(value: toml::Value, dir: &Path) -> Result<Geolocation, String> {
    let mut geo = Geolocation::default();
    for (addr, data) in entries(value, dir, "addresses")? {
        let ip: IpAddr = addr
            .parse()
            .map_err(|_| format!("{}: not an IP address", lucet_module::escape_control(&addr)))?;
        let Value::Object(data) = data else {
            return Err(format!("{addr}: not a table"));
        };
        let mut full = geo_template();
        full.extend(data);
        geo.0
            .insert(ip, Bytes::from(Value::Object(full).to_string()));
    }
    Ok(geo)
}

/// `[local_server.device_detection]`.
pub(crate) fn device_detection(value: toml::Value, dir: &Path) -> Result<DeviceDetection, String> {
    let mut dd = DeviceDetection::default();
    for (ua, data) in entries(value, dir, "user_agents")? {
        if !data.is_object() {
            return Err(format!(
                "{}: not a table",
                lucet_module::escape_control(&ua)
            ));
        }
        dd.0.insert(ua, Bytes::from(data.to_string()));
    }
    Ok(dd)
}

/// One ACL of `[local_server.acls]`: a file name (or `{ file = ... }`) of
/// a JSON `{"entries": [{"prefix": ..., "action": ...}]}`.
pub(crate) fn acl(value: toml::Value, dir: &Path) -> Result<Acl, String> {
    let file = match value {
        toml::Value::String(f) => f,
        toml::Value::Table(mut t) => match t.remove("file") {
            Some(toml::Value::String(f)) => f,
            _ => return Err("no file".into()),
        },
        _ => return Err("not a file name".into()),
    };
    #[derive(serde::Deserialize)]
    struct File {
        entries: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        prefix: String,
        action: String,
    }
    let f: File = serde_json::from_slice(&read(dir, &file)?)
        .map_err(|e| format!("{file}: not an ACL ({{\"entries\": [...]}}): {e}"))?;
    if f.entries.len() > MAX_ENTRIES {
        return Err(format!("{file}: more than {MAX_ENTRIES} entries"));
    }
    let mut acl = Acl::default();
    for e in f.entries {
        let (net, len) = prefix(&e.prefix)?;
        acl.0.push((net, len, e.action.to_ascii_uppercase()));
    }
    Ok(acl)
}

/// One secret store of `[local_server.secret_stores]`: an array of
/// `{ key, data | file | env }`, or `{ format = "json", file }` (a JSON
/// object of strings).
pub(crate) fn secret_store(
    value: toml::Value,
    dir: &Path,
) -> Result<HashMap<String, Bytes>, String> {
    let mut store = HashMap::new();
    let mut put = |key: String, secret: Vec<u8>| -> Result<(), String> {
        if secret.len() > MAX_SECRET {
            return Err(format!(
                "secret {}: larger than {MAX_SECRET} bytes",
                lucet_module::escape_control(&key)
            ));
        }
        if store.len() >= MAX_ENTRIES {
            return Err(format!("more than {MAX_ENTRIES} secrets"));
        }
        store.insert(key, Bytes::from(secret));
        Ok(())
    };
    match value {
        toml::Value::Array(items) => {
            for item in items {
                let toml::Value::Table(mut t) = item else {
                    return Err("an entry is not a table".into());
                };
                let key = match t.remove("key") {
                    Some(toml::Value::String(k)) => k,
                    _ => return Err("an entry has no key".into()),
                };
                let secret = match (t.remove("data"), t.remove("file"), t.remove("env")) {
                    (Some(toml::Value::String(d)), None, None) => d.into_bytes(),
                    (None, Some(toml::Value::String(f)), None) => read(dir, &f)?,
                    (None, None, Some(toml::Value::String(v))) => std::env::var(&v)
                        .map_err(|_| format!("secret {key}: environment variable {v} is not set"))?
                        .into_bytes(),
                    _ => return Err(format!("secret {key}: give one of data, file or env")),
                };
                put(key, secret)?;
            }
        }
        value @ toml::Value::Table(_) => {
            for (key, v) in entries(value, dir, "contents")? {
                let Value::String(secret) = v else {
                    return Err(format!(
                        "secret {}: not a string",
                        lucet_module::escape_control(&key)
                    ));
                };
                put(key, secret.into_bytes())?;
            }
        }
        _ => return Err("not an array of secrets or a table".into()),
    }
    Ok(store)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_prefix_wins() {
        let acl = Acl(vec![
            ("10.0.0.0".parse().unwrap(), 8, "ALLOW".into()),
            ("10.1.0.0".parse().unwrap(), 16, "BLOCK".into()),
            ("2001:db8::".parse().unwrap(), 32, "BLOCK".into()),
            ("0.0.0.0".parse().unwrap(), 0, "OTHER".into()),
        ]);
        let m = |ip: &str| {
            acl.lookup(ip.parse().unwrap())
                .map(|b| String::from_utf8(b.to_vec()).unwrap())
        };
        assert_eq!(
            m("10.1.2.3").unwrap(),
            r#"{"action":"BLOCK","prefix":"10.1.0.0/16"}"#
        );
        assert_eq!(
            m("10.2.2.3").unwrap(),
            r#"{"action":"ALLOW","prefix":"10.0.0.0/8"}"#
        );
        assert_eq!(
            m("192.0.2.1").unwrap(),
            r#"{"action":"OTHER","prefix":"0.0.0.0/0"}"#
        );
        assert!(m("2001:db8::1").unwrap().contains("BLOCK"));
        assert_eq!(m("2001:db9::1"), None);
        assert!(prefix("10.0.0.0/33").is_err());
        assert!(prefix("10.0.0.0").is_err());
    }

    #[test]
    fn geolocation_is_complete_whatever_the_configuration_gives() {
        let v: toml::Value = toml::from_str(
            "format = \"inline-toml\"\n[addresses.\"192.0.2.1\"]\ncity = \"Lyon\"\n",
        )
        .unwrap();
        let geo = geolocation(v, Path::new(".")).unwrap();
        let data: Map<String, Value> =
            serde_json::from_slice(geo.lookup("192.0.2.1".parse().unwrap()).unwrap()).unwrap();
        assert_eq!(data["city"], "Lyon");
        assert_eq!(data.len(), geo_template().len());
        assert!(geo.lookup("192.0.2.2".parse().unwrap()).is_none());
    }
}
