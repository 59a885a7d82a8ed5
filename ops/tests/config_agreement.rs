//! `linstor-plugins doctor` and each frontend resolve the same controllers, TLS files and token
//! from the same platform configuration: storage.cfg as the Perl module hands it to the Proxmox
//! helper, a datastore template as oned sends it to the OpenNebula driver, docker-volume.conf
//! and the `LS_*` environment of the Docker plugin.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use linstor_common::config::{ClientConfig, Sources};
use linstor_common::naming::Platform;
use linstor_docker_volume::options::FileConfig;
use linstor_one::attrs::DsConfig;
use linstor_plugins_ops::platform::ConfigText;
use linstor_plugins_ops::{resolve, PlatformFiles, Settings};
use serde_json::json;

/// What both sides must agree on.
#[derive(Debug, PartialEq, Eq)]
struct Reach {
    controllers: Vec<String>,
    ca_file: Option<PathBuf>,
    client_cert: Option<PathBuf>,
    client_key: Option<PathBuf>,
    token: Option<String>,
}

impl From<&ClientConfig> for Reach {
    fn from(c: &ClientConfig) -> Self {
        Self {
            controllers: c.controllers.iter().map(|c| c.base.clone()).collect(),
            ca_file: c.ca_file.clone(),
            client_cert: c.client_cert.clone(),
            client_key: c.client_key.clone(),
            token: c.token.clone(),
        }
    }
}

/// Discovery sources in `dir`: a linstor-client.conf naming other controllers and TLS files
/// (which the platform's settings must override), and a token file when `token` is given.
fn sources(dir: &Path, token: Option<&str>) -> Sources {
    let conf = dir.join("linstor-client.conf");
    std::fs::write(
        &conf,
        "[global]\ncontrollers = conf-ctrl\ncafile = /conf/ca.pem\ncertfile = /conf/cert.pem\nkeyfile = /conf/key.pem\n",
    )
    .unwrap();
    let auth = dir.join("auth.json");
    if let Some(t) = token {
        std::fs::write(&auth, format!("{{\"token\": \"{t}\"}}")).unwrap();
    }
    Sources {
        ls_controllers: None,
        ls_username: None,
        ls_password: None,
        client_conf: conf,
        auth_json: auth,
    }
}

fn doctor(
    platform: Platform,
    config: &str,
    path: &str,
    sources: &Sources,
    env: &[(&str, &str)],
) -> Reach {
    let settings = Settings {
        platform,
        controllers: None,
        node: None,
        resource_group: None,
        storage: None,
    };
    let files = PlatformFiles {
        config: ConfigText::Text(PathBuf::from(path), config.to_string()),
        hostname: "node1".into(),
        sources: sources.clone(),
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    };
    let resolved = resolve(&settings, &files);
    Reach::from(resolved.client.as_ref().expect("doctor resolves a client"))
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn proxmox_plugin(scfg: serde_json::Value, sources: &Sources) -> Reach {
    let doc = json!({"storeid": "drbdstorage", "node": "node1", "scfg": scfg});
    let req = linstor_pve::parse("status", doc.to_string().as_bytes()).unwrap();
    Reach::from(&linstor_pve::exec::client_config(&req.ctx.options, sources).unwrap())
}

#[test]
fn proxmox_controller_is_split_on_commas_and_whitespace_and_tls_makes_bare_hosts_https() {
    let dir = tempfile::tempdir().unwrap();
    let src = sources(dir.path(), None);
    let cfg = "drbd: drbdstorage\n\tcontent images,rootdir\n\tcontroller c1 c2,c3:4000\n\tresourcegroup rg1\n\tapica /pve/ca.pem\n\tapicrt /pve/cert.pem\n\tapikey /pve/key.pem\n";
    let doctor = doctor(Platform::Proxmox, cfg, "/etc/pve/storage.cfg", &src, &[]);
    let plugin = proxmox_plugin(
        json!({"type": "drbd", "content": "images,rootdir", "controller": "c1 c2,c3:4000",
               "resourcegroup": "rg1", "apica": "/pve/ca.pem", "apicrt": "/pve/cert.pem",
               "apikey": "/pve/key.pem"}),
        &src,
    );
    assert_eq!(doctor, plugin);
    assert_eq!(
        plugin,
        Reach {
            controllers: strings(&["https://c1:3371", "https://c2:3371", "https://c3:4000"]),
            ca_file: Some("/pve/ca.pem".into()),
            client_cert: Some("/pve/cert.pem".into()),
            client_key: Some("/pve/key.pem".into()),
            token: None,
        }
    );
}

#[test]
fn proxmox_token_makes_bare_hosts_https_and_without_controller_discovery_applies() {
    let dir = tempfile::tempdir().unwrap();
    let src = sources(dir.path(), Some("pve-token"));
    let cfg = "drbd: drbdstorage\n\tcontroller a\tb\n\tresourcegroup rg1\n";
    let doctor_reach = doctor(Platform::Proxmox, cfg, "/etc/pve/storage.cfg", &src, &[]);
    let plugin = proxmox_plugin(json!({"controller": "a\tb", "resourcegroup": "rg1"}), &src);
    assert_eq!(doctor_reach, plugin);
    assert_eq!(
        plugin.controllers,
        strings(&["https://a:3371", "https://b:3371"])
    );
    assert_eq!(plugin.token.as_deref(), Some("pve-token"));
    assert_eq!(plugin.ca_file, Some("/conf/ca.pem".into()));

    let other = tempfile::tempdir().unwrap();
    let src = sources(other.path(), None);
    let cfg = "drbd: drbdstorage\n\tresourcegroup rg1\n";
    let doctor_reach = doctor(Platform::Proxmox, cfg, "/etc/pve/storage.cfg", &src, &[]);
    let plugin = proxmox_plugin(json!({"resourcegroup": "rg1"}), &src);
    assert_eq!(doctor_reach, plugin);
    assert_eq!(plugin.controllers, strings(&["http://conf-ctrl:3370"]));
}

fn opennebula_driver(ds_xml: &str, sources: &Sources) -> Reach {
    let ds = linstor_one::xml::parse_datastore(ds_xml).unwrap();
    let cfg = DsConfig::from_template(&ds.template);
    Reach::from(&linstor_one::exec::client_config(&cfg, sources, None).unwrap())
}

#[test]
fn opennebula_prefers_ls_tls_attributes_over_linstor_ones_as_the_driver_does() {
    let dir = tempfile::tempdir().unwrap();
    let src = sources(dir.path(), Some("one-token"));
    let attrs = [
        ("LINSTOR_CONTROLLERS", "linstor+ssl://c1,c2:3371"),
        ("LS_CONTROLLERS", "ignored-ctrl"),
        ("LINSTOR_CAFILE", "/linstor/ca.pem"),
        ("LS_CAFILE", "/ls/ca.pem"),
        ("LINSTOR_CERTFILE", "/linstor/cert.pem"),
        ("LS_CERTFILE", "/ls/cert.pem"),
        ("LINSTOR_KEYFILE", "/linstor/key.pem"),
        ("LS_KEYFILE", "/ls/key.pem"),
        ("LINSTOR_RESOURCE_GROUP", "OneRscGrp"),
        ("DISK_TYPE", "BLOCK"),
    ];
    let template: String = attrs
        .iter()
        .map(|(k, v)| format!("{k} = \"{v}\"\n"))
        .collect();
    let xml = format!(
        "<DATASTORE><ID>100</ID><NAME>linstor</NAME><DS_MAD>linstor</DS_MAD><TM_MAD>linstor</TM_MAD><TEMPLATE>{}</TEMPLATE></DATASTORE>",
        attrs
            .iter()
            .map(|(k, v)| format!("<{k}><![CDATA[{v}]]></{k}>"))
            .collect::<String>()
    );
    let doctor = doctor(Platform::OpenNebula, &template, "ds.txt", &src, &[]);
    let driver = opennebula_driver(&xml, &src);
    assert_eq!(doctor, driver);
    assert_eq!(
        driver,
        Reach {
            controllers: strings(&["https://c1:3371", "http://c2:3371"]),
            ca_file: Some("/ls/ca.pem".into()),
            client_cert: Some("/ls/cert.pem".into()),
            client_key: Some("/ls/key.pem".into()),
            token: Some("one-token".into()),
        }
    );
}

#[test]
fn docker_environment_wins_over_the_file_for_doctor_as_for_the_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let mut src = sources(dir.path(), Some("docker-token"));
    let conf = "[global]\ncontrollers = file-ctrl\ncafile = /file/ca.pem\ncertfile = /file/cert.pem\nkeyfile = /file/key.pem\n";
    let env: BTreeMap<&str, &str> = [
        ("LS_CONTROLLERS", "https://env-ctrl"),
        ("LS_CAFILE", "/env/ca.pem"),
        ("LS_CERT_FILE", "/env/cert.pem"),
    ]
    .into();
    src.ls_controllers = env.get("LS_CONTROLLERS").map(|s| s.to_string());
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, *v)).collect();
    let doctor = doctor(
        Platform::Docker,
        conf,
        "/etc/linstor/docker-volume.conf",
        &src,
        &pairs,
    );
    let file = FileConfig::parse(conf, Path::new("/etc/linstor/docker-volume.conf")).unwrap();
    let lookup = |k: &str| env.get(k).map(|s| s.to_string());
    let plugin = Reach::from(&file.client_config(None, &lookup, &src, None).unwrap());
    assert_eq!(doctor, plugin);
    assert_eq!(
        plugin,
        Reach {
            controllers: strings(&["https://env-ctrl:3371"]),
            ca_file: Some("/env/ca.pem".into()),
            client_cert: Some("/env/cert.pem".into()),
            client_key: Some("/file/key.pem".into()),
            token: Some("docker-token".into()),
        }
    );
}
