//! The `drbd:` storage.cfg options of `linstor-proxmox` (plus `controllervm`), parsed from the
//! `$scfg` hash the Perl module passes on, with the peer's defaults.

use linstor_common::config::{BoundNames, Overlay};
use serde_json::{Map, Value};

use crate::error::PveError;

/// The storage options that set the controller bounds.
pub const BOUND_NAMES: BoundNames = BoundNames {
    read: "readtimeout",
    change: "changetimeout",
};

/// How `allowtwoprimaries` is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TwoPrimariesMode {
    /// `yes` (default): `DrbdOptions/Net/allow-two-primaries=yes` set when the volume is created.
    Permanent,
    /// `no`: set to `no` at creation; live migration needs the resource group to allow it.
    Off,
    /// `migration`: set only while a live migration hands the volume over, cleared afterwards.
    Migration,
}

/// Every option of a `drbd:` storage this plugin reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// `controller`: comma-separated controllers (`host`, `host:port`, `[v6]:port`, URLs).
    pub controller: Option<String>,
    /// `resourcegroup` (default `drbdgrp`).
    pub resource_group: String,
    /// `preferlocal` (default yes).
    pub prefer_local: bool,
    /// `exactsize` (default no).
    pub exact_size: bool,
    /// `allowtwoprimaries` (default yes).
    pub two_primaries: TwoPrimariesMode,
    /// `statuscache` seconds, 0-7200 (default 60; 0 = refresh on every call, still bounded).
    pub status_cache: u64,
    /// `apicrt`: client certificate.
    pub api_crt: Option<String>,
    /// `apikey`: client key.
    pub api_key: Option<String>,
    /// `apica`: CA file.
    pub api_ca: Option<String>,
    /// `clusterlocktimeout` seconds (applied by the Perl module).
    pub cluster_lock_timeout: u64,
    /// `searchdomain`: appended to the PVE node name.
    pub search_domain: Option<String>,
    /// `controllervm`: VMID of the VM running the controller.
    pub controller_vm: Option<String>,
    /// `readtimeout` seconds as written (checked by [`linstor_common::config::parse_bound`]).
    pub read_timeout: Option<String>,
    /// `changetimeout` seconds as written.
    pub change_timeout: Option<String>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            controller: None,
            resource_group: "drbdgrp".into(),
            prefer_local: true,
            exact_size: false,
            two_primaries: TwoPrimariesMode::Permanent,
            status_cache: 60,
            api_crt: None,
            api_key: None,
            api_ca: None,
            cluster_lock_timeout: 0,
            search_domain: None,
            controller_vm: None,
            read_timeout: None,
            change_timeout: None,
        }
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(if *b { "1" } else { "0" }.to_string()),
        _ => None,
    }
    .filter(|s| !s.is_empty())
}

fn yes_no(key: &str, raw: &str) -> Result<bool, PveError> {
    match raw.to_ascii_lowercase().as_str() {
        "yes" | "1" | "true" | "on" => Ok(true),
        "no" | "0" | "false" | "off" => Ok(false),
        _ => Err(PveError::Input(format!(
            "storage option '{key}' is '{raw}': use yes or no"
        ))),
    }
}

fn number(key: &str, raw: &str, max: u64) -> Result<u64, PveError> {
    raw.parse::<u64>()
        .ok()
        .filter(|n| *n <= max)
        .ok_or_else(|| {
            PveError::Input(format!(
                "storage option '{key}' is '{raw}': use a whole number of seconds from 0 to {max}"
            ))
        })
}

impl StoreOptions {
    /// Read the options from the `$scfg` hash; keys of other PVE options are ignored.
    pub fn from_scfg(scfg: &Map<String, Value>) -> Result<Self, PveError> {
        let mut o = Self::default();
        let get = |k: &str| scfg.get(k).and_then(text);
        o.controller = get("controller");
        if let Some(rg) = get("resourcegroup") {
            o.resource_group = rg;
        }
        if let Some(v) = get("preferlocal") {
            o.prefer_local = yes_no("preferlocal", &v)?;
        }
        if let Some(v) = get("exactsize") {
            o.exact_size = yes_no("exactsize", &v)?;
        }
        if let Some(v) = get("allowtwoprimaries") {
            o.two_primaries = match v.to_ascii_lowercase().as_str() {
                "migration" => TwoPrimariesMode::Migration,
                _ => match yes_no("allowtwoprimaries", &v) {
                    Ok(true) => TwoPrimariesMode::Permanent,
                    Ok(false) => TwoPrimariesMode::Off,
                    Err(_) => {
                        return Err(PveError::Input(format!(
                            "storage option 'allowtwoprimaries' is '{v}': use yes (always), migration (only during a live migration) or no"
                        )))
                    }
                },
            };
        }
        if let Some(v) = get("statuscache") {
            o.status_cache = number("statuscache", &v, 7200)?;
        }
        if let Some(v) = get("clusterlocktimeout") {
            o.cluster_lock_timeout = number("clusterlocktimeout", &v, 86400)?;
        }
        o.api_crt = get("apicrt");
        o.api_key = get("apikey");
        o.api_ca = get("apica");
        o.read_timeout = get("readtimeout");
        o.change_timeout = get("changetimeout");
        o.search_domain = get("searchdomain").map(|s| s.trim_start_matches('.').to_string());
        if let Some(vm) = get("controllervm") {
            if !vm.bytes().all(|b| b.is_ascii_digit()) || vm.len() > 10 {
                return Err(PveError::Input(format!(
                    "storage option 'controllervm' is '{vm}': use the VMID (a number, e.g. 100) of the VM that runs the LINSTOR controller"
                )));
            }
            o.controller_vm = Some(vm);
        }
        linstor_common::naming::validate_resource_group_name(&o.resource_group)?;
        Ok(o)
    }

    /// True when TLS is configured (`apica`, or `apicrt` with `apikey`): bare controller hosts
    /// then mean HTTPS on 3371, as in `linstor-proxmox`.
    pub fn tls(&self) -> bool {
        self.api_ca.is_some() || (self.api_crt.is_some() && self.api_key.is_some())
    }

    /// The controller list with bare hosts turned into `linstor+ssl://` when `https` is true.
    pub fn controller_list(&self, https: bool) -> Option<String> {
        let list = self.controller.as_deref()?;
        if !https {
            return Some(list.to_string());
        }
        Some(
            list.split(|c: char| c == ',' || c.is_whitespace())
                .filter(|s| !s.is_empty())
                .map(|s| {
                    if s.contains("://") {
                        s.to_string()
                    } else {
                        format!("linstor+ssl://{s}")
                    }
                })
                .collect::<Vec<_>>()
                .join(","),
        )
    }

    /// The client settings of this storage for [`linstor_common::config::ClientConfig::discover`]:
    /// `controller` (bare hosts mean HTTPS on 3371 when TLS, a bearer `token` or `basic_auth` is configured),
    /// `apica`, `apicrt` with `apikey`, which must be set together, and the bounds
    /// `readtimeout`/`changetimeout`.
    pub fn client_overlay(
        &self,
        token: Option<String>,
        basic_auth: bool,
    ) -> Result<Overlay, PveError> {
        let (client_cert, client_key) = match (&self.api_crt, &self.api_key) {
            (Some(c), Some(k)) => (Some(c.into()), Some(k.into())),
            (None, None) => (None, None),
            _ => {
                return Err(PveError::Input(
                    "storage options 'apicrt' and 'apikey' must be set together".into(),
                ))
            }
        };
        Ok(Overlay {
            controllers: self.controller_list(self.tls() || token.is_some() || basic_auth),
            ca_file: self.api_ca.as_ref().map(Into::into),
            client_cert,
            client_key,
            token,
            read_timeout: self.read_timeout.clone(),
            change_timeout: self.change_timeout.clone(),
            bound_names: Some(BOUND_NAMES),
            ..Overlay::default()
        })
    }

    /// LINSTOR node name for a PVE node name: `<node>.<searchdomain>` when a search domain is
    /// set and the name is not already qualified.
    pub fn linstor_node(&self, pve_node: &str) -> String {
        match &self.search_domain {
            Some(d) if !d.is_empty() && !pve_node.contains('.') => format!("{pve_node}.{d}"),
            _ => pve_node.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn opts(v: Value) -> Result<StoreOptions, PveError> {
        StoreOptions::from_scfg(v.as_object().unwrap())
    }

    #[test]
    fn defaults_are_the_peers() {
        let o = opts(json!({"type": "drbd", "content": "images", "shared": 1})).unwrap();
        assert_eq!(o, StoreOptions::default());
        assert_eq!(o.resource_group, "drbdgrp");
        assert!(o.prefer_local && !o.exact_size);
        assert_eq!(o.two_primaries, TwoPrimariesMode::Permanent);
        assert_eq!(o.status_cache, 60);
    }

    #[test]
    fn every_option_is_read() {
        let o = opts(json!({
            "controller": "a,b:4000", "resourcegroup": "rg1", "preferlocal": "No",
            "exactsize": "yes", "allowtwoprimaries": "migration", "statuscache": "0",
            "apicrt": "/c", "apikey": "/k", "apica": "/ca", "clusterlocktimeout": 30,
            "searchdomain": ".example.com", "controllervm": "100",
            "readtimeout": "12.5", "changetimeout": 90
        }))
        .unwrap();
        assert_eq!(o.controller.as_deref(), Some("a,b:4000"));
        assert_eq!(o.resource_group, "rg1");
        assert!(!o.prefer_local && o.exact_size);
        assert_eq!(o.two_primaries, TwoPrimariesMode::Migration);
        assert_eq!((o.status_cache, o.cluster_lock_timeout), (0, 30));
        assert!(o.tls());
        assert_eq!(
            o.controller_list(true).unwrap(),
            "linstor+ssl://a,linstor+ssl://b:4000"
        );
        assert_eq!(o.linstor_node("pve1"), "pve1.example.com");
        assert_eq!(o.linstor_node("pve1.other"), "pve1.other");
        assert_eq!(o.controller_vm.as_deref(), Some("100"));
        assert_eq!(
            (o.read_timeout.as_deref(), o.change_timeout.as_deref()),
            (Some("12.5"), Some("90"))
        );
        let overlay = o.client_overlay(None, false).unwrap();
        assert_eq!(overlay.read_timeout.as_deref(), Some("12.5"));
        assert_eq!(overlay.change_timeout.as_deref(), Some("90"));
        assert_eq!(overlay.bound_names, Some(BOUND_NAMES));
        assert_eq!(
            opts(json!({"allowtwoprimaries": "no"}))
                .unwrap()
                .two_primaries,
            TwoPrimariesMode::Off
        );
    }

    #[test]
    fn bad_values_name_the_option_and_the_fix() {
        for (v, needle) in [
            (
                json!({"preferlocal": "maybe"}),
                "'preferlocal' is 'maybe': use yes or no",
            ),
            (json!({"statuscache": "9000"}), "0 to 7200"),
            (json!({"allowtwoprimaries": "x"}), "migration"),
            (json!({"controllervm": "vm100"}), "controllervm"),
            (json!({"resourcegroup": "1bad"}), "resource group"),
        ] {
            let e = opts(v).unwrap_err().to_string();
            assert!(e.contains(needle), "{e}");
        }
    }
}
