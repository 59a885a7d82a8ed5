//! Test harness: an in-process LINSTOR simulator, an oned XML-RPC stand-in serving documents
//! built in the reference formats, hosts reached over a private real sshd
//! (`linstor_tests::sshd`, one directory and device root per host), and the real `linstor-one`
//! binary installed under `remotes/{datastore,tm}/<driver>/<action>` symlinks.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use base64::Engine as _;
use linstor_one::input::{DsKind, TM_ACTIONS};
use linstor_tests::sim::{Backing, BlockingSim, Sim, SimConfig};
use linstor_tests::sshd::Sshd;

pub fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

pub use linstor_tests::oned::{xml_escape, Docs};

/// The oned XML-RPC stand-in of `linstor_tests::oned`; returns its endpoint.
pub fn oned_standin(docs: Docs) -> String {
    linstor_tests::oned::standin(docs).expect("oned stand-in listens on loopback")
}

/// A `<DATASTORE>` in the 6.x/7.x format.
pub fn datastore_xml(id: u64, ds_type: u32, template: &[(&str, &str)]) -> String {
    let attrs: String = template
        .iter()
        .map(|(k, v)| format!("<{k}><![CDATA[{v}]]></{k}>"))
        .collect();
    format!(
        "<DATASTORE><ID>{id}</ID><UID>0</UID><GID>0</GID><UNAME>oneadmin</UNAME><GNAME>oneadmin</GNAME><NAME>ds{id}</NAME>\
<DS_MAD><![CDATA[linstor]]></DS_MAD><TM_MAD><![CDATA[linstor]]></TM_MAD><BASE_PATH><![CDATA[/var/lib/one//datastores/{id}]]></BASE_PATH>\
<TYPE>{ds_type}</TYPE><DISK_TYPE>2</DISK_TYPE><STATE>0</STATE><CLUSTERS><ID>0</ID></CLUSTERS><TOTAL_MB>0</TOTAL_MB><FREE_MB>0</FREE_MB><USED_MB>0</USED_MB>\
<IMAGES></IMAGES><TEMPLATE>{attrs}</TEMPLATE></DATASTORE>"
    )
}

/// An `<IMAGE>` in the 6.x format (FORMAT/FS split, plain-text SOURCE/PATH).
pub fn image_xml(
    id: u64,
    source: &str,
    path: &str,
    format: &str,
    size_mb: u64,
    target_snapshot: i64,
    snaps: &[u64],
) -> String {
    let s: String = snaps
        .iter()
        .map(|i| format!("<SNAPSHOT><ACTIVE>NO</ACTIVE><CHILDREN></CHILDREN><DATE>1700000000</DATE><ID>{i}</ID><NAME>s{i}</NAME><PARENT>-1</PARENT><SIZE>{size_mb}</SIZE></SNAPSHOT>"))
        .collect();
    format!(
        "<IMAGE><ID>{id}</ID><UID>0</UID><GID>0</GID><UNAME>oneadmin</UNAME><GNAME>oneadmin</GNAME><NAME>img{id}</NAME>\
<PERMISSIONS><OWNER_U>1</OWNER_U></PERMISSIONS><TYPE>2</TYPE><DISK_TYPE>2</DISK_TYPE><PERSISTENT>0</PERSISTENT><REGTIME>1700000000</REGTIME>\
<MODTIME>1700000000</MODTIME><SOURCE>{}</SOURCE><PATH>{}</PATH><FORMAT>{format}</FORMAT><FS></FS><SIZE>{size_mb}</SIZE><STATE>1</STATE>\
<PREV_STATE>1</PREV_STATE><RUNNING_VMS>0</RUNNING_VMS><CLONING_OPS>0</CLONING_OPS><CLONING_ID>-1</CLONING_ID>\
<TARGET_SNAPSHOT>{target_snapshot}</TARGET_SNAPSHOT><DATASTORE_ID>100</DATASTORE_ID><DATASTORE>ds100</DATASTORE><VMS></VMS><CLONES></CLONES>\
<APP_CLONES></APP_CLONES><TEMPLATE></TEMPLATE><SNAPSHOTS><ALLOW_ORPHANS>NO</ALLOW_ORPHANS><CURRENT_BASE>-1</CURRENT_BASE><NEXT_SNAPSHOT>0</NEXT_SNAPSHOT>{s}</SNAPSHOTS></IMAGE>",
        xml_escape(source),
        xml_escape(path)
    )
}

pub fn action_msg(image: &str, ds: &str) -> String {
    format!("<DS_DRIVER_ACTION_DATA>{image}{ds}</DS_DRIVER_ACTION_DATA>")
}

/// One disk of [`vm_xml`]: `(disk_id, image_id, source, clone, tm_mad, ds_id, size_mb)`.
pub type DiskSpec<'a> = (u64, Option<u64>, &'a str, bool, &'a str, u64, u64);

/// A `<VM>` with disks.
pub fn vm_xml(id: u64, disks: &[DiskSpec<'_>]) -> String {
    let d: String = disks
        .iter()
        .map(|(did, img, src, clone, tm, ds, size)| {
            let img = img.map(|i| format!("<IMAGE_ID><![CDATA[{i}]]></IMAGE_ID><SOURCE><![CDATA[{src}]]></SOURCE>")).unwrap_or_else(|| "<TYPE><![CDATA[fs]]></TYPE>".into());
            format!(
                "<DISK><CLONE><![CDATA[{}]]></CLONE><DATASTORE_ID><![CDATA[{ds}]]></DATASTORE_ID><DISK_ID><![CDATA[{did}]]></DISK_ID>{img}\
<SIZE><![CDATA[{size}]]></SIZE><TM_MAD><![CDATA[{tm}]]></TM_MAD><DISK_TYPE><![CDATA[BLOCK]]></DISK_TYPE></DISK>",
                if *clone { "YES" } else { "NO" }
            )
        })
        .collect();
    format!("<VM><ID>{id}</ID><UID>0</UID><NAME>vm{id}</NAME><STATE>3</STATE><LCM_STATE>3</LCM_STATE><TEMPLATE>{d}</TEMPLATE></VM>")
}

/// What one invocation did.
#[derive(Debug, Clone)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub struct Harness {
    pub sshd: Sshd,
    pub sim: BlockingSim,
    pub tmp: tempfile::TempDir,
    pub remotes: PathBuf,
    pub docs: Docs,
    pub xmlrpc: String,
}

impl Harness {
    pub fn new(nodes: &[&str]) -> Harness {
        Harness::with_version(nodes, linstor_tests::sim::core::DEFAULT_VERSION)
    }

    /// A harness whose simulator emulates LINSTOR `version`.
    pub fn with_version(nodes: &[&str], version: &str) -> Harness {
        let tmp = tempfile::tempdir().unwrap();
        let sim = Sim::start_blocking(SimConfig {
            nodes: nodes.iter().map(|s| s.to_string()).collect(),
            backing: Backing::File,
            data_dir: Some(tmp.path().join("sim")),
            clone_delay: std::time::Duration::from_millis(20),
            version: version.into(),
            ..Default::default()
        })
        .unwrap();
        Harness::around(sim, tmp, nodes, &["linstor", "linstor_un"])
    }

    /// A harness around a running simulator whose nodes are `hosts` (and the front-end `fe`),
    /// with `drivers` installed.
    pub fn around(
        sim: BlockingSim,
        tmp: tempfile::TempDir,
        hosts: &[&str],
        drivers: &[&str],
    ) -> Harness {
        let remotes = tmp.path().join("remotes");
        install(&remotes, drivers);
        std::fs::create_dir_all(tmp.path().join("hosts")).unwrap();
        let mut hosts: Vec<&str> = hosts.to_vec();
        hosts.push("fe");
        let sshd = Sshd::start(
            &tmp.path().join("ssh"),
            &hosts,
            &tmp.path().join("hosts"),
            sim.dev_dir(),
        )
        .unwrap_or_else(|e| panic!("private sshd for the host steps: {e}"));
        sshd.frontend_remotes(&tmp.path().join("one"))
            .expect("front-end remotes");
        std::fs::write(tmp.path().join("one_auth"), "oneadmin:secret\n").unwrap();
        let docs: Docs = Arc::default();
        let xmlrpc = oned_standin(docs.clone());
        Harness {
            sshd,
            sim,
            tmp,
            remotes,
            docs,
            xmlrpc,
        }
    }

    pub fn serve(&self, method: &str, id: u64, doc: String) {
        self.docs
            .lock()
            .unwrap()
            .insert((method.to_string(), id), doc);
    }

    /// Serves datastore `id` of `ds_type` (0 image, 1 system) placing 2 replicas on s1 and s2
    /// through this simulator, with the `extra` attributes; its document.
    pub fn serve_datastore_on_s1_s2(
        &self,
        id: u64,
        ds_type: u32,
        extra: &[(&str, &str)],
    ) -> String {
        let url = self.sim.url();
        let mut tpl = vec![
            ("LS_CONTROLLERS", url.as_str()),
            ("REPLICA_COUNT", "2"),
            ("NODE_LIST", "s1,s2"),
        ];
        tpl.extend_from_slice(extra);
        let doc = datastore_xml(id, ds_type, &tpl);
        self.serve("one.datastore.info", id, doc.clone());
        doc
    }

    pub fn hosts(&self) -> PathBuf {
        self.tmp.path().join("hosts")
    }

    /// Run `remotes/<kind>/<driver>/<action> args` with `stdin`.
    pub fn run(&self, kind: &str, driver: &str, action: &str, args: &[&str], stdin: &str) -> Run {
        self.run_env(kind, driver, action, args, stdin, &[])
    }

    /// [`Harness::run`] with extra environment (applied last, so it overrides).
    pub fn run_env(
        &self,
        kind: &str,
        driver: &str,
        action: &str,
        args: &[&str],
        stdin: &str,
        env: &[(&str, &str)],
    ) -> Run {
        let child = self.spawn_env(kind, driver, action, args, stdin, env);
        let out = child.wait_with_output().unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Starts `remotes/<kind>/<driver>/<action> args` with `stdin` written and closed, without
    /// waiting for it.
    pub fn spawn_env(
        &self,
        kind: &str,
        driver: &str,
        action: &str,
        args: &[&str],
        stdin: &str,
        env: &[(&str, &str)],
    ) -> Child {
        let exe = self.remotes.join(kind).join(driver).join(action);
        let mut c = Command::new(&exe);
        c.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(self.sshd.driver_env())
            .env("ONE_LOCATION", self.tmp.path().join("one"))
            .env("LINSTOR_ONE_STATE_DIR", self.tmp.path().join("state"))
            .env("LINSTOR_ONE_LOCK_DIR", self.tmp.path().join("locks"))
            .env("LINSTOR_ONE_NODE", "frontend")
            .env("LINSTOR_ONE_DEVICE_TIMEOUT", "5")
            .env("ONE_XMLRPC", &self.xmlrpc)
            .env("ONE_AUTH", self.tmp.path().join("one_auth"))
            .env(
                "LINSTOR_ONE_MONITORD_CONF",
                self.tmp.path().join("no-monitord.conf"),
            )
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", exe.display()));
        let mut si = child.stdin.take().unwrap();
        let input = stdin.to_string();
        std::thread::spawn(move || {
            let _ = si.write_all(input.as_bytes());
        });
        child
    }

    /// ssh sessions per host since the last [`Harness::reset_counts`].
    pub fn ssh(&self) -> std::collections::BTreeMap<String, u64> {
        self.sshd.sessions()
    }

    /// Forget the REST requests and ssh sessions counted so far.
    pub fn reset_counts(&self) {
        self.sim.reset_stats();
        self.sshd.reset_sessions();
    }

    /// Where the symlink at `path` on `host` points, seen from the test: the device root of the
    /// host's sessions is `sim.dev_root(host)`.
    pub fn host_link(&self, host: &str, path: &str) -> PathBuf {
        let link = self.hosts().join(host).join(path.trim_start_matches('/'));
        let target =
            std::fs::read_link(&link).unwrap_or_else(|e| panic!("{}: {e}", link.display()));
        match target.strip_prefix(self.sshd.dev_root()) {
            Ok(rel) => self.sim.dev_root(host).join(rel),
            Err(_) => target,
        }
    }

    pub fn rds(&self) -> serde_json::Map<String, serde_json::Value> {
        self.sim.state()["resource_definitions"]
            .as_object()
            .cloned()
            .unwrap_or_default()
    }
}

/// The install layout: every action under `remotes/{datastore,tm}/<driver>/` as a symlink to
/// the binary.
pub fn install(remotes: &Path, drivers: &[&str]) {
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_linstor-one"));
    let ds_actions: Vec<&str> = DsKind::ALL.iter().map(|(_, name)| *name).collect();
    for d in drivers {
        for (kind, list) in [("datastore", &ds_actions[..]), ("tm", &TM_ACTIONS[..])] {
            let dir = remotes.join(kind).join(d);
            std::fs::create_dir_all(&dir).unwrap();
            for a in list {
                let _ = std::fs::remove_file(dir.join(a));
                std::os::unix::fs::symlink(&exe, dir.join(a)).unwrap();
            }
        }
    }
}

/// `../shared/fixtures/opennebula` relative to the workspace root, when present.
pub fn fixtures() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/opennebula");
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!(
            "SKIP: {} is absent; fixture-based cases not run",
            p.display()
        );
        None
    }
}
