//! The operations users wait on, driven through the real release binaries exactly as each
//! platform invokes them, and the same LINSTOR work through python-linstor.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use base64::Engine as _;
use http_body_util::BodyExt as _;
use linstor_tests::sim::Sim;
use serde_json::{json, Value};

use crate::measure::{timed, vm_hwm_kib, Runner, Sample, Summary};

/// One line of the result table.
#[derive(Debug, Clone)]
pub struct Row {
    pub platform: &'static str,
    pub op: String,
    pub volumes: usize,
    pub latency_ms: u64,
    pub ours: Summary,
    pub theirs: Option<Summary>,
    /// Round trips the operation needs (lowest, highest), and why.
    pub expected: (u64, u64, &'static str),
    /// ssh connections to hosts per invocation, for frontends that reach hosts over ssh.
    pub ssh: Option<SshCount>,
    /// The same PVE call through LINBIT's Proxmox plugin (`--pve-peer`), or why it failed.
    pub peer: Option<Result<Summary, String>>,
}

/// ssh connections of one operation: the range over the runs, and the better peer driver's
/// count for the same action (the most this operation may open).
#[derive(Debug, Clone, Copy)]
pub struct SshCount {
    pub min: u64,
    pub max: u64,
    pub peer: u64,
}

impl SshCount {
    fn of(counts: &[u64], peer: u64) -> SshCount {
        SshCount {
            min: counts.iter().copied().min().unwrap_or(0),
            max: counts.iter().copied().max().unwrap_or(0),
            peer,
        }
    }
}

/// What every frontend run shares.
#[derive(Debug)]
pub struct Bench<'a> {
    pub sim: &'a Sim,
    pub runner: &'a Runner,
    pub bin_dir: &'a Path,
    pub python: &'a Path,
    pub peer: &'a Path,
    pub tmp: &'a Path,
    pub runs: usize,
    pub latency_ms: u64,
    pub volumes: usize,
}

impl Bench<'_> {
    fn url(&self) -> String {
        self.sim.url()
    }

    /// python-linstor doing `op args` in a fresh interpreter.
    pub fn peer(&self, op: &str, args: &[String]) -> anyhow::Result<Sample> {
        let mut a = vec![self.peer.display().to_string(), self.url(), op.to_string()];
        a.extend(args.iter().cloned());
        Ok(self.runner.run(self.sim, self.python, &a, &[], b"")?.0)
    }

    fn row(
        &self,
        platform: &'static str,
        op: &str,
        ours: &[Sample],
        theirs: Option<&[Sample]>,
        expected: Expected,
    ) -> Row {
        Row {
            platform,
            op: op.to_string(),
            volumes: self.volumes,
            latency_ms: self.latency_ms,
            ours: Summary::of(ours),
            theirs: theirs.map(Summary::of),
            expected,
            ssh: None,
            peer: None,
        }
    }
}

fn s(v: impl ToString) -> String {
    v.to_string()
}

/// Size a Proxmox volume of 4 MiB is grown to, in KiB.
const RESIZED_KIB: u64 = 8192;

/// Round trips an operation needs (fewest, most) and why.
type Expected = (u64, u64, &'static str);

// ---------------------------------------------------------------- Proxmox VE

/// How PVE runs the plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PveMode {
    /// A fresh Perl process per call, as `pvesm` and `qm` workers do.
    PerCall,
    /// Many calls in one long-lived Perl process, as `pvestatd` and `pvedaemon` do.
    LongLived,
}

impl PveMode {
    fn label(self) -> &'static str {
        match self {
            PveMode::PerCall => "one process per call",
            PveMode::LongLived => "long-lived process",
        }
    }
}

/// Which `PVE::Storage::Custom::LINSTORPlugin` the Perl driver loads.
#[derive(Debug, Clone)]
pub enum PvePlugin {
    /// Ours (`proxmox-plugin/perl`), with the release `linstor-pve` as its helper.
    Ours,
    /// A checkout of LINBIT's linstor-proxmox: `LINSTORPlugin.pm` and `LINBIT/*.pm` in this
    /// directory.
    Linbit(PathBuf),
}

/// LINBIT's plugin writes its status cache to `/var/cache/linstor-proxmox/sizeinfos` and turns
/// to https when `/var/lib/linstor.d` holds a token: its driver runs in a private mount
/// namespace where `/var/cache` is a directory of the bench (`$0`) and `/var/lib/linstor.d`,
/// when present, an empty tmpfs. Nothing of it reaches the host's mounts.
const LINBIT_NAMESPACE: &str = "mount --bind \"$0\" /var/cache && \
     { [ ! -d /var/lib/linstor.d ] || mount -t tmpfs linstor-bench /var/lib/linstor.d; } && \
     exec \"$@\"";

/// Perl modules LINBIT's plugin loads beyond what ours needs, with their Debian packages.
const LINBIT_PERL_MODULES: &[(&str, &str)] = &[
    ("REST::Client", "librest-client-perl"),
    ("UUID", "libuuid-perl"),
    ("JSON::XS", "libjson-xs-perl"),
    ("Types::Serialiser", "libtypes-serialiser-perl"),
];

/// Fails with what to install when LINBIT's plugin in `dir` cannot be loaded here.
fn check_linbit(dir: &Path) -> anyhow::Result<()> {
    for f in [
        "LINSTORPlugin.pm",
        "LINBIT/Linstor.pm",
        "LINBIT/PluginHelper.pm",
    ] {
        if !dir.join(f).is_file() {
            bail!(
                "--pve-peer {}: no {f}; pass a checkout of LINBIT's linstor-proxmox",
                dir.display()
            );
        }
    }
    let missing: Vec<&(&str, &str)> = LINBIT_PERL_MODULES
        .iter()
        .filter(|(m, _)| {
            !Command::new("perl")
                .arg(format!("-M{m}"))
                .args(["-e", "1"])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .collect();
    if !missing.is_empty() {
        bail!(
            "LINBIT's plugin needs the Perl modules {}: apt-get install {} (scripts/bench.sh \
             does with --pve-peer)",
            missing
                .iter()
                .map(|(m, _)| *m)
                .collect::<Vec<_>>()
                .join(", "),
            missing
                .iter()
                .map(|(_, p)| *p)
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    Ok(())
}

/// The long-lived Perl process (`pve-driver.pl serve`).
#[derive(Debug)]
struct Session {
    child: Child,
    stdin: std::process::ChildStdin,
    stdout: std::io::BufReader<std::process::ChildStdout>,
}

/// A `PVE::Storage::Custom::LINSTORPlugin` driving the calls itself (`tests/bench/pve-driver.pl`):
/// ours with the release `linstor-pve` as its helper, or LINBIT's.
#[derive(Debug)]
pub struct Pve<'a> {
    b: &'a Bench<'a>,
    env: Vec<(String, String)>,
    /// The program and its arguments up to `once`/`serve`.
    cmd: Vec<String>,
    mode: PveMode,
    plugin: PvePlugin,
    /// LINBIT's plugin: what its namespace mounts over `/var/cache`.
    var_cache: Option<PathBuf>,
    session: Mutex<Option<Session>>,
}

impl Drop for Pve<'_> {
    fn drop(&mut self) {
        if let Some(mut s) = self.session.lock().ok().and_then(|mut g| g.take()) {
            drop(s.stdin);
            let _ = s.child.wait();
        }
    }
}

impl<'a> Pve<'a> {
    pub fn new(b: &'a Bench<'a>, mode: PveMode, plugin: PvePlugin) -> anyhow::Result<Self> {
        let env = vec![
            (
                s("LINSTOR_PVE_CACHE_DIR"),
                b.tmp.join("pve-cache").display().to_string(),
            ),
            (
                s("LINSTOR_PVE_AUTH_JSON"),
                b.tmp.join("no-auth.json").display().to_string(),
            ),
            (
                s("LINSTOR_PVE_HELPER"),
                b.bin_dir.join("linstor-pve").display().to_string(),
            ),
            (
                s("LINSTOR_PVE_LOG_FILE"),
                b.tmp.join("pve-plugin.log").display().to_string(),
            ),
        ];
        let driver = b.peer.with_file_name("pve-driver.pl");
        if !driver.is_file() {
            bail!("{} is missing", driver.display());
        }
        let (cmd, var_cache) = match &plugin {
            PvePlugin::Ours => (vec![s("perl"), driver.display().to_string()], None),
            PvePlugin::Linbit(dir) => {
                check_linbit(dir)?;
                let var_cache = b.tmp.join("linbit-var-cache");
                std::fs::create_dir_all(var_cache.join("linstor-proxmox"))
                    .with_context(|| format!("create {}", var_cache.display()))?;
                let cmd = vec![
                    s("unshare"),
                    s("--mount"),
                    s("--propagation"),
                    s("private"),
                    s("--"),
                    s("sh"),
                    s("-c"),
                    s(LINBIT_NAMESPACE),
                    var_cache.display().to_string(),
                    s("perl"),
                    driver.display().to_string(),
                    s("--plugin"),
                    dir.join("LINSTORPlugin.pm").display().to_string(),
                    s("--lib"),
                    dir.display().to_string(),
                ];
                (cmd, Some(var_cache))
            }
        };
        let session = match mode {
            PveMode::PerCall => None,
            PveMode::LongLived => {
                let mut child = Command::new(&cmd[0])
                    .args(&cmd[1..])
                    .arg("serve")
                    .envs(env.iter().map(|(k, v)| (k, v)))
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .spawn()
                    .context("start perl pve-driver.pl serve")?;
                let stdin = child.stdin.take().context("driver stdin")?;
                let stdout = std::io::BufReader::new(child.stdout.take().context("driver stdout")?);
                Some(Session {
                    child,
                    stdin,
                    stdout,
                })
            }
        };
        Ok(Pve {
            b,
            env,
            cmd,
            mode,
            plugin,
            var_cache,
            session: Mutex::new(session),
        })
    }

    fn op(&self, name: &str) -> String {
        format!("{name}, {}", self.mode.label())
    }

    /// The VM the benchmark allocates for: each plugin its own, so their volumes never meet.
    fn vmid(&self) -> u32 {
        match self.plugin {
            PvePlugin::Ours => 100,
            PvePlugin::Linbit(_) => 7100,
        }
    }

    /// The storage configuration of a call: the same for both plugins, except that LINBIT's
    /// takes controller host names and adds the port itself (the driver maps it to the
    /// simulator's).
    fn scfg(&self, statuscache: u32) -> (Value, Option<u16>) {
        let url = self.b.url();
        let (controller, port) = match self.plugin {
            PvePlugin::Ours => (url, None),
            PvePlugin::Linbit(_) => {
                let hostport = url.rsplit("://").next().unwrap_or_default();
                let (host, port) = hostport.rsplit_once(':').unwrap_or((hostport, ""));
                (host.to_string(), port.parse().ok())
            }
        };
        (
            json!({"controller": controller, "resourcegroup": "DfltRscGrp",
                   "statuscache": statuscache.to_string()}),
            port,
        )
    }

    /// A node where volume `vol` has no resource yet (a tie-breaker counts as one), so that
    /// activating it there is a diskless attach whatever the placement of its replicas.
    fn attach_node(&self, vol: &str) -> String {
        let rsc = vol.split('_').next().unwrap_or(vol);
        let (_, reply) = self.b.sim.call(
            "GET",
            &format!("/v1/resource-definitions/{rsc}/resources"),
            b"",
        );
        let placed: Vec<String> = reply
            .as_ref()
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|r| r["node_name"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        ["n3", "n2", "s1", "s2"]
            .into_iter()
            .find(|n| !placed.iter().any(|p| p == n))
            .unwrap_or("n3")
            .to_string()
    }

    /// Makes the next `status` find its cache expired. Ours: `statuscache` 0 does it. LINBIT's
    /// reads 0 as its default of 60 s, so its cache file is removed, as 60 s passing would
    /// make it stale.
    fn expire_status_cache(&self) -> anyhow::Result<()> {
        if let Some(dir) = &self.var_cache {
            let f = dir.join("linstor-proxmox/sizeinfos");
            match std::fs::remove_file(&f) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).with_context(|| format!("remove {}", f.display())),
            }
        }
        Ok(())
    }

    /// One plugin method; the sample's wall time is the method's own time measured in Perl
    /// (helper start included in a fresh process, Perl's start-up not), its `starts` the helper
    /// processes the call started. Also answers the method's result.
    pub fn call(
        &self,
        method: &str,
        args: Value,
        node: &str,
        statuscache: u32,
    ) -> anyhow::Result<(Sample, Value)> {
        use std::io::{BufRead as _, Write as _};
        let (scfg, rest_port) = self.scfg(statuscache);
        let doc = json!({
            "method": method,
            "storeid": "drbd1",
            "node": node,
            "dev_root": self.b.sim.dev_root(node),
            "scfg": scfg,
            "rest_port": rest_port,
            "args": args,
        });
        let (mut sample, out) = match self.mode {
            PveMode::PerCall => {
                let mut argv = self.cmd[1..].to_vec();
                argv.extend([s("once"), doc.to_string()]);
                self.b
                    .runner
                    .run(self.b.sim, Path::new(&self.cmd[0]), &argv, &self.env, b"")?
            }
            PveMode::LongLived => {
                let mut guard = self
                    .session
                    .lock()
                    .map_err(|_| anyhow::anyhow!("poisoned"))?;
                let sess = guard.as_mut().context("no driver session")?;
                self.b.sim.reset_stats();
                writeln!(sess.stdin, "{doc}")?;
                sess.stdin.flush()?;
                let mut line = String::new();
                sess.stdout.read_line(&mut line)?;
                let sample = Sample {
                    wall: Duration::ZERO,
                    trips: self.b.sim.request_count(),
                    server: self.b.sim.server_time(),
                    held: self.b.sim.held_time(),
                    rss_kib: vm_hwm_kib(sess.child.id()),
                    routes: self
                        .b
                        .sim
                        .stats()
                        .into_iter()
                        .map(|(k, v)| format!("{v}x {k}"))
                        .collect(),
                    starts: 0,
                };
                (sample, line)
            }
        };
        let v: Value = serde_json::from_str(&out)
            .with_context(|| format!("pve-driver answered '{}'", out.trim()))?;
        if let Some(e) = v.get("error") {
            bail!(
                "{method} through the Perl module failed: {}",
                e.as_str().unwrap_or_default().trim()
            );
        }
        sample.wall = Duration::from_nanos(v["wall_ns"].as_u64().context("no wall_ns")?);
        sample.starts = v["starts"].as_u64().unwrap_or(0);
        Ok((sample, v["ok"].clone()))
    }

    /// Every operation at the current population; with `peer`, the same PVE calls through that
    /// plugin too, each right after ours.
    pub fn ops(&self, peer: Option<&Pve<'_>>) -> anyhow::Result<Vec<Row>> {
        let b = self.b;
        let mut o: HashMap<&str, Vec<Sample>> = HashMap::new();
        let mut t: HashMap<&str, Vec<Sample>> = HashMap::new();
        let mut p = PeerRuns::new(peer);
        self.call("status", json!({}), "n1", 60)?;
        p.call("prime", "status", json!({}), "n1", 60);
        for i in 0..b.runs {
            let (smp, _) = self.call("status", json!({}), "n1", 60)?;
            if smp.starts != 0 {
                bail!(
                    "a warm-cache status started {} process(es); status file: {}; plugin log: {}",
                    smp.starts,
                    std::fs::read_to_string(b.tmp.join("pve-cache/pve-status-drbd1.json"))
                        .unwrap_or_else(|e| e.to_string()),
                    std::fs::read_to_string(b.tmp.join("pve-plugin.log")).unwrap_or_default()
                );
            }
            o.entry("status").or_default().push(smp);
            p.call("status", "status", json!({}), "n1", 60);
            o.entry("status_miss")
                .or_default()
                .push(self.call("status", json!({}), "n1", 0)?.0);
            p.expire_status_cache()?;
            p.call("status_miss", "status", json!({}), "n1", 0);
            t.entry("status_miss")
                .or_default()
                .push(b.peer("size_info", &[])?);
            let (smp, out) = self.call(
                "alloc_image",
                json!({"vmid": self.vmid(), "size_kib": 4096}),
                "n1",
                60,
            )?;
            o.entry("alloc").or_default().push(smp);
            let vol = out
                .as_str()
                .context("alloc_image answered no volname")?
                .to_string();
            let peer_vol = p.alloc(4096);
            let tag = if self.mode == PveMode::PerCall {
                'f'
            } else {
                'e'
            };
            let py = format!("pm-{tag}{i:07x}");
            t.entry("alloc").or_default().push(b.peer(
                "spawn_local_first",
                &[
                    s("n1"),
                    py.clone(),
                    s("4096KiB"),
                    s(2),
                    s("Aux/pm/vmid=100"),
                ],
            )?);
            let node = self.attach_node(&vol);
            let py_node = self.attach_node(&py);
            let peer_node = peer_vol
                .as_deref()
                .zip(peer)
                .map(|(v, pve)| pve.attach_node(v));
            o.entry("activate").or_default().push(
                self.call("activate_volume", json!({"volname": vol}), &node, 60)?
                    .0,
            );
            p.on_volume(
                "activate",
                "activate_volume",
                peer_vol.as_deref(),
                peer_node.as_deref(),
            );
            t.entry("activate")
                .or_default()
                .push(b.peer("make_available", &[py_node.clone(), py.clone()])?);
            o.entry("deactivate").or_default().push(
                self.call("deactivate_volume", json!({"volname": vol}), &node, 60)?
                    .0,
            );
            if p.failed("activate") {
                p.fail("deactivate", "not run: its activate_volume failed");
            } else {
                p.on_volume(
                    "deactivate",
                    "deactivate_volume",
                    peer_vol.as_deref(),
                    peer_node.as_deref(),
                );
            }
            t.entry("deactivate")
                .or_default()
                .push(b.peer("remove_diskless", &[py_node, py.clone()])?);
            let grown = json!({"volname": vol, "size": RESIZED_KIB * 1024});
            o.entry("resize")
                .or_default()
                .push(self.call("volume_resize", grown, "n1", 60)?.0);
            match &peer_vol {
                Some(v) => {
                    let grown = json!({"volname": v, "size": RESIZED_KIB * 1024});
                    p.call("resize", "volume_resize", grown, "n1", 60);
                }
                None => p.fail("resize", "not run: its alloc_image failed"),
            }
            t.entry("resize")
                .or_default()
                .push(b.peer("resize", &[py, s(RESIZED_KIB)])?);
        }
        let table: [(&str, &str, bool, Expected); 6] = [
            ("status", "status (cache fresh, 0 process starts)", false,
             (0, 0, "served in Perl from the status file")),
            ("status_miss", "status (cache expired)", true,
             (1, 1, "query-size-info of the resource group")),
            ("alloc", "alloc_image", true,
             (4, 4, "spawn of the definitions (ownership props, incomplete marker), the local diskful replica (make-available), autoplace of the rest, marker cleared")),
            ("activate", "activate_volume (diskless attach)", true,
             (3, 3, "this node's resource (absent), the definition (ownership), make-available")),
            ("deactivate", "deactivate_volume (diskless removed)", true,
             (3, 3, "the definition (ownership), its resources (this copy diskless, a disk elsewhere), delete of the diskless copy")),
            ("resize", "volume_resize (4 to 8 MiB)", true,
             (2, 2, "the definition (ownership, current size), the new size of volume 0")),
        ];
        let mut rows: Vec<Row> = table
            .into_iter()
            .map(|(key, label, theirs, expected)| {
                let theirs = theirs.then(|| t[key].as_slice());
                p.row(
                    key,
                    b.row("Proxmox", &self.op(label), &o[key], theirs, expected),
                )
            })
            .collect();
        rows.extend(self.list(peer, true)?);
        Ok(rows)
    }

    /// `list_images` at the current population (with `peer`, its too); `elsewhere`: the
    /// storage also holds volumes made by other tools (python-linstor's and LINBIT's plugin's
    /// volumes of the operation pass carry no creation time).
    pub fn list(&self, peer: Option<&Pve<'_>>, elsewhere: bool) -> anyhow::Result<Vec<Row>> {
        let b = self.b;
        let mut o = Vec::new();
        let mut t = Vec::new();
        let mut p = PeerRuns::new(peer);
        for _ in 0..b.runs {
            o.push(self.call("list_images", json!({}), "n1", 60)?.0);
            p.call("list", "list_images", json!({}), "n1", 60);
            t.push(b.peer("list_owned_volumes", &[s("Aux/pm/vmid")])?);
        }
        Ok(vec![p.row(
            "list",
            b.row(
                "Proxmox",
                &self.op("list_images"),
                &o,
                Some(&t),
                if elsewhere {
                    (2, 2, "the definitions; the resources of the volumes python-linstor (and LINBIT's plugin) made, which carry no creation time")
                } else {
                    (1, 1, "the definitions (each volume made here carries its creation time)")
                },
            ),
        )])
    }

    /// `status` with an expired cache at the current population (with `peer`, its too).
    pub fn status_at_scale(&self, peer: Option<&Pve<'_>>) -> anyhow::Result<Row> {
        let b = self.b;
        let mut o = Vec::new();
        let mut t = Vec::new();
        let mut p = PeerRuns::new(peer);
        for _ in 0..b.runs {
            o.push(self.call("status", json!({}), "n1", 0)?.0);
            p.expire_status_cache()?;
            p.call("status_miss", "status", json!({}), "n1", 0);
            t.push(b.peer("size_info", &[])?);
        }
        Ok(p.row(
            "status_miss",
            b.row(
                "Proxmox",
                &self.op("status (cache expired)"),
                &o,
                Some(&t),
                (1, 1, "query-size-info of the resource group"),
            ),
        ))
    }
}

/// The other plugin's samples per operation. The first failure of an operation ends its runs
/// and is reported in its row instead of figures.
struct PeerRuns<'p, 'a> {
    pve: Option<&'p Pve<'a>>,
    got: HashMap<&'static str, Result<Vec<Sample>, String>>,
}

impl<'p, 'a> PeerRuns<'p, 'a> {
    fn new(pve: Option<&'p Pve<'a>>) -> Self {
        PeerRuns {
            pve,
            got: HashMap::new(),
        }
    }

    fn call(
        &mut self,
        key: &'static str,
        method: &str,
        args: Value,
        node: &str,
        statuscache: u32,
    ) -> Option<Value> {
        let pve = self.pve?;
        let entry = self.got.entry(key).or_insert_with(|| Ok(Vec::new()));
        let Ok(samples) = entry else {
            return None;
        };
        match pve.call(method, args, node, statuscache) {
            Ok((smp, out)) => {
                samples.push(smp);
                Some(out)
            }
            Err(e) => {
                *entry = Err(format!("{e:#}"));
                None
            }
        }
    }

    fn alloc(&mut self, size_kib: u64) -> Option<String> {
        let vmid = self.pve?.vmid();
        let out = self.call(
            "alloc",
            "alloc_image",
            json!({"vmid": vmid, "size_kib": size_kib}),
            "n1",
            60,
        )?;
        match out.as_str() {
            Some(v) => Some(v.to_string()),
            None => {
                self.got
                    .insert("alloc", Err(format!("alloc_image answered {out}")));
                None
            }
        }
    }

    /// `method` on the volume the peer allocated in this run, or the reason there is none.
    fn on_volume(
        &mut self,
        key: &'static str,
        method: &str,
        vol: Option<&str>,
        node: Option<&str>,
    ) {
        if self.pve.is_none() {
            return;
        }
        match vol.zip(node) {
            Some((v, node)) => {
                self.call(key, method, json!({"volname": v}), node, 60);
            }
            None => self.fail(key, "not run: its alloc_image failed"),
        }
    }

    /// Ends the runs of `key` with `why`, unless they failed already.
    fn fail(&mut self, key: &'static str, why: &str) {
        if self.pve.is_some() {
            let e = self.got.entry(key).or_insert_with(|| Ok(Vec::new()));
            if e.is_ok() {
                *e = Err(why.to_string());
            }
        }
    }

    fn failed(&self, key: &str) -> bool {
        self.got.get(key).is_some_and(Result::is_err)
    }

    fn expire_status_cache(&self) -> anyhow::Result<()> {
        self.pve.map_or(Ok(()), Pve::expire_status_cache)
    }

    /// `row` with the peer's figures of `key`, when there is a peer.
    fn row(&self, key: &str, mut row: Row) -> Row {
        if self.pve.is_some() {
            row.peer = Some(match self.got.get(key) {
                Some(Ok(v)) if !v.is_empty() => Ok(Summary::of(v)),
                Some(Ok(_)) | None => Err("not run".into()),
                Some(Err(e)) => Err(e.clone()),
            });
        }
        row
    }
}

// ---------------------------------------------------------------- OpenNebula

const VM_DIR: &str = "/var/lib/one//datastores/0";

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn datastore_xml(id: u64, ds_type: u32, url: &str) -> String {
    format!(
        "<DATASTORE><ID>{id}</ID><UID>0</UID><GID>0</GID><UNAME>oneadmin</UNAME><GNAME>oneadmin</GNAME><NAME>ds{id}</NAME>\
<DS_MAD><![CDATA[linstor]]></DS_MAD><TM_MAD><![CDATA[linstor]]></TM_MAD><BASE_PATH><![CDATA[/var/lib/one//datastores/{id}]]></BASE_PATH>\
<TYPE>{ds_type}</TYPE><DISK_TYPE>2</DISK_TYPE><STATE>0</STATE><CLUSTERS><ID>0</ID></CLUSTERS><TOTAL_MB>0</TOTAL_MB><FREE_MB>0</FREE_MB><USED_MB>0</USED_MB>\
<IMAGES></IMAGES><TEMPLATE><LS_CONTROLLERS><![CDATA[{url}]]></LS_CONTROLLERS><RESOURCE_GROUP><![CDATA[DfltRscGrp]]></RESOURCE_GROUP></TEMPLATE></DATASTORE>"
    )
}

fn image_xml(id: u64, path: &str, size_mb: u64) -> String {
    format!(
        "<IMAGE><ID>{id}</ID><UID>0</UID><GID>0</GID><UNAME>oneadmin</UNAME><GNAME>oneadmin</GNAME><NAME>img{id}</NAME>\
<PERMISSIONS><OWNER_U>1</OWNER_U></PERMISSIONS><TYPE>0</TYPE><DISK_TYPE>2</DISK_TYPE><PERSISTENT>0</PERSISTENT><REGTIME>1700000000</REGTIME>\
<MODTIME>1700000000</MODTIME><SOURCE></SOURCE><PATH>{path}</PATH><FORMAT>raw</FORMAT><FS></FS><SIZE>{size_mb}</SIZE><STATE>1</STATE>\
<PREV_STATE>1</PREV_STATE><RUNNING_VMS>0</RUNNING_VMS><CLONING_OPS>0</CLONING_OPS><CLONING_ID>-1</CLONING_ID>\
<TARGET_SNAPSHOT>-1</TARGET_SNAPSHOT><DATASTORE_ID>100</DATASTORE_ID><DATASTORE>ds100</DATASTORE><VMS></VMS><CLONES></CLONES>\
<APP_CLONES></APP_CLONES><TEMPLATE></TEMPLATE><SNAPSHOTS><ALLOW_ORPHANS>NO</ALLOW_ORPHANS><CURRENT_BASE>-1</CURRENT_BASE><NEXT_SNAPSHOT>0</NEXT_SNAPSHOT></SNAPSHOTS></IMAGE>"
    )
}

/// A running VM whose disk 0 is a clone of `img` and disk 1 the persistent image `img`.
fn vm_xml(id: u64, img: u64, size_mb: u64) -> String {
    let src = format!("/dev/drbd/by-res/one-image-{img}/0");
    let disk = |did: u64, clone: &str| {
        format!(
            "<DISK><CLONE><![CDATA[{clone}]]></CLONE><DATASTORE_ID><![CDATA[100]]></DATASTORE_ID><DISK_ID><![CDATA[{did}]]></DISK_ID>\
<IMAGE_ID><![CDATA[{img}]]></IMAGE_ID><SOURCE><![CDATA[{src}]]></SOURCE><SIZE><![CDATA[{size_mb}]]></SIZE>\
<TM_MAD><![CDATA[linstor]]></TM_MAD><DISK_TYPE><![CDATA[BLOCK]]></DISK_TYPE></DISK>"
        )
    };
    format!(
        "<VM><ID>{id}</ID><UID>0</UID><NAME>vm{id}</NAME><STATE>3</STATE><LCM_STATE>3</LCM_STATE><TEMPLATE>{}{}</TEMPLATE></VM>",
        disk(0, "YES"),
        disk(1, "NO")
    )
}

/// `linstor-one` behind the `remotes/{datastore,tm}/linstor/<action>` links, with an oned
/// stand-in for the documents the TM actions fetch, reaching the hosts over a private sshd
/// (`linstor_tests::sshd`) that counts the connections.
#[derive(Debug)]
pub struct One<'a> {
    b: &'a Bench<'a>,
    sshd: linstor_tests::sshd::Sshd,
    remotes: PathBuf,
    env: Vec<(String, String)>,
    docs: Arc<Mutex<HashMap<(String, u64), String>>>,
    image: PathBuf,
}

const IMAGE_MB: u64 = 4;

impl<'a> One<'a> {
    pub fn new(b: &'a Bench<'a>) -> anyhow::Result<Self> {
        let base = b.tmp.join("one");
        let remotes = base.join("remotes");
        let exe = b.bin_dir.join("linstor-one");
        for (kind, actions) in [
            ("datastore", &["cp", "monitor"][..]),
            ("tm", &["clone", "ln", "premigrate", "mv", "delete"][..]),
        ] {
            let dir = remotes.join(kind).join("linstor");
            std::fs::create_dir_all(&dir)?;
            for a in actions {
                let link = dir.join(a);
                let _ = std::fs::remove_file(&link);
                std::os::unix::fs::symlink(&exe, &link)?;
            }
        }
        std::fs::create_dir_all(base.join("hosts"))?;
        let sshd = linstor_tests::sshd::Sshd::start(
            &base.join("ssh"),
            &["n1", "n2", "n3", "s1", "s2", "fe"],
            &base.join("hosts"),
            b.sim.dev_dir(),
        )?;
        sshd.frontend_remotes(&base.join("one-location"))?;
        std::fs::write(base.join("one_auth"), "oneadmin:secret\n")?;
        let image = base.join("image.raw");
        let payload: Vec<u8> = (0..(IMAGE_MB as u32) << 20)
            .map(|i| (i % 251) as u8)
            .collect();
        std::fs::write(&image, payload)?;
        let docs: Arc<Mutex<HashMap<(String, u64), String>>> = Arc::default();
        let xmlrpc = linstor_tests::oned::standin(docs.clone())?;
        let url = b.url();
        if let Ok(mut d) = docs.lock() {
            d.insert(
                ("one.datastore.info".into(), 100),
                datastore_xml(100, 0, &url),
            );
            d.insert(("one.datastore.info".into(), 0), datastore_xml(0, 1, &url));
        }
        let p = |x: &str| base.join(x).display().to_string();
        let mut env = sshd.driver_env();
        env.extend([
            (s("ONE_LOCATION"), p("one-location")),
            (s("LINSTOR_ONE_STATE_DIR"), p("state")),
            (s("LINSTOR_ONE_LOCK_DIR"), p("locks")),
            (s("LINSTOR_ONE_NODE"), s("frontend")),
            (s("LINSTOR_ONE_DEVICE_TIMEOUT"), s("5")),
            (s("ONE_XMLRPC"), xmlrpc),
            (s("ONE_AUTH"), p("one_auth")),
            (s("LINSTOR_ONE_MONITORD_CONF"), p("no-monitord.conf")),
        ]);
        Ok(One {
            b,
            sshd,
            remotes,
            env,
            docs,
            image,
        })
    }

    /// One invocation: its sample and the ssh connections it opened.
    fn run(
        &self,
        kind: &str,
        action: &str,
        args: &[String],
        stdin: &str,
    ) -> anyhow::Result<(Sample, u64)> {
        self.sshd.reset_sessions();
        let sample = self
            .b
            .runner
            .run(
                self.b.sim,
                &self.remotes.join(kind).join("linstor").join(action),
                args,
                &self.env,
                stdin.as_bytes(),
            )?
            .0;
        Ok((sample, self.sshd.sessions().values().sum()))
    }

    pub fn ops(&self) -> anyhow::Result<Vec<Row>> {
        let b = self.b;
        let url = b.url();
        let mut o: HashMap<&str, Vec<(Sample, u64)>> = HashMap::new();
        let mut t: HashMap<&str, Vec<Sample>> = HashMap::new();
        let ds = datastore_xml(100, 0, &url);
        let dev = |node: &str, rsc: &str| {
            b.sim
                .dev_root(node)
                .join(format!("drbd/by-res/{rsc}/0"))
                .display()
                .to_string()
        };
        let mon = format!("<DS_DRIVER_ACTION_DATA>{ds}</DS_DRIVER_ACTION_DATA>");
        self.run("datastore", "monitor", &[s(100)], &b64(&mon))?;
        for i in 0..b.runs as u64 {
            let img = 1000 + i;
            let vmid = 2000 + i;
            let msg = format!(
                "<DS_DRIVER_ACTION_DATA>{}{ds}</DS_DRIVER_ACTION_DATA>",
                image_xml(img, &self.image.display().to_string(), IMAGE_MB)
            );
            o.entry("cp")
                .or_default()
                .push(self.run("datastore", "cp", &[s(img)], &b64(&msg))?);
            let py_img = format!("py-image-{img}");
            b.peer("spawn", &[py_img.clone(), format!("{IMAGE_MB}MiB"), s(2)])?;
            t.entry("cp").or_default().push(b.peer(
                "copy_into",
                &[
                    s("s1"),
                    py_img.clone(),
                    self.image.display().to_string(),
                    dev("s1", &py_img),
                ],
            )?);
            let vm = vm_xml(vmid, img, IMAGE_MB * 2);
            if let Ok(mut d) = self.docs.lock() {
                d.insert(("one.vm.info".into(), vmid), vm.clone());
            }
            let src = format!("fe:/dev/drbd/by-res/one-image-{img}/0");
            o.entry("clone").or_default().push(self.run(
                "tm",
                "clone",
                &[
                    src.clone(),
                    format!("n1:{VM_DIR}/{vmid}/disk.0"),
                    s(vmid),
                    s(100),
                ],
                "",
            )?);
            let py_clone = format!("py-vm-{vmid}-disk-0");
            t.entry("clone").or_default().push(b.peer(
                "clone",
                &[
                    py_img.clone(),
                    py_clone.clone(),
                    s("n1"),
                    format!("Aux/one/VM_ID={vmid}"),
                ],
            )?);
            o.entry("ln").or_default().push(self.run(
                "tm",
                "ln",
                &[src, format!("n1:{VM_DIR}/{vmid}/disk.1"), s(vmid), s(100)],
                "",
            )?);
            t.entry("ln")
                .or_default()
                .push(b.peer("make_available", &[s("n1"), py_img.clone()])?);
            b.sim
                .set_in_use(&format!("one-vm-{vmid}-disk-0"), "n1", true);
            o.entry("premigrate").or_default().push(self.run(
                "tm",
                "premigrate",
                &[s("n1"), s("n2"), format!("{VM_DIR}/{vmid}"), s(vmid), s(0)],
                &b64(&vm),
            )?);
            t.entry("premigrate")
                .or_default()
                .push(b.peer("allow_two_primaries", &[s("n2"), py_clone, py_img])?);
            b.sim
                .set_in_use(&format!("one-vm-{vmid}-disk-0"), "n1", false);
            o.entry("mv").or_default().push(self.run(
                "tm",
                "mv",
                &[
                    format!("n1:{VM_DIR}/{vmid}/disk.1"),
                    format!("n2:{VM_DIR}/{vmid}/disk.1"),
                    s(vmid),
                    s(100),
                ],
                "",
            )?);
            o.entry("delete").or_default().push(self.run(
                "tm",
                "delete",
                &[format!("n2:{VM_DIR}/{vmid}/disk.0"), s(vmid), s(0)],
                "",
            )?);
            o.entry("monitor").or_default().push(self.run(
                "datastore",
                "monitor",
                &[s(100)],
                &b64(&mon),
            )?);
            t.entry("monitor")
                .or_default()
                .push(b.peer("size_info", &[])?);
        }
        let row = |key: &str,
                   label: &str,
                   theirs: Option<&[Sample]>,
                   expected: (u64, u64, &'static str),
                   peer: u64| {
            let ours: Vec<Sample> = o[key].iter().map(|(s, _)| s.clone()).collect();
            let ssh: Vec<u64> = o[key].iter().map(|(_, n)| *n).collect();
            Row {
                ssh: Some(SshCount::of(&ssh, peer)),
                ..b.row("OpenNebula", label, &ours, theirs, expected)
            }
        };
        Ok(vec![
            row(
                "cp",
                "cp (4 MiB image)",
                Some(&t["cp"]),
                (2, 2, "spawn with the ownership props, where its replicas are (the image is written on one)"),
                1,
            ),
            row(
                "clone",
                "clone",
                Some(&t["clone"]),
                (5, 7, "the source definition by name (ownership, props to drop, size), clone, clone status until done (1-3 polls), grow the volume definition, make-available on the host"),
                1,
            ),
            row(
                "ln",
                "ln",
                Some(&t["ln"]),
                (1, 3, "the host's resource (1 when a replica is there already), else the definition (ownership) and make-available"),
                1,
            ),
            row(
                "premigrate",
                "premigrate (2 disks)",
                Some(&t["premigrate"]),
                (6, 6, "per disk: the definition (ownership, props), allow-two-primaries, make-available on the target"),
                2,
            ),
            row(
                "mv",
                "mv (persistent disk, host to host)",
                None,
                (5, 7, "the image's definition by name, the node list once for both hosts, the target's resource (make-available with the definition when absent: 7), detach from the source (its resources, then delete or, after a premigrate as here, allow-two-primaries cleared)"),
                3,
            ),
            row(
                "delete",
                "delete (non-persistent disk)",
                None,
                (2, 2, "the VM disk's definition by name, then one delete of the whole definition"),
                1,
            ),
            row(
                "monitor",
                "monitor (datastore)",
                Some(&t["monitor"]),
                (0, 1, "capacity cache, refreshed by query-size-info when stale"),
                0,
            ),
        ])
    }
}

// ---------------------------------------------------------------- Docker

/// The `linstor-docker-volume` daemon, spoken to over its unix socket as dockerd does.
#[derive(Debug)]
pub struct Docker<'a> {
    b: &'a Bench<'a>,
    child: Child,
    socket: PathBuf,
    rt: tokio::runtime::Runtime,
}

impl Drop for Docker<'_> {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

impl<'a> Docker<'a> {
    pub fn start(b: &'a Bench<'a>) -> anyhow::Result<Self> {
        let base = b.tmp.join("docker");
        std::fs::create_dir_all(&base)?;
        let socket = base.join("linstor.sock");
        let child = Command::new(b.bin_dir.join("linstor-docker-volume"))
            .arg("--socket")
            .arg(&socket)
            .arg("--controllers")
            .arg(b.url())
            .args(["--node", "n1"])
            .arg("--state-dir")
            .arg(base.join("state"))
            .arg("--mount-root")
            .arg(base.join("mnt"))
            .arg("--dev-root")
            .arg(b.sim.dev_root("n1"))
            .arg("--config")
            .arg(base.join("none.conf"))
            .args(["--list-cache-ttl", "600"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .context("start linstor-docker-volume")?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("HTTP client runtime")?;
        let d = Docker {
            b,
            child,
            socket,
            rt,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while d.post("/VolumeDriver.Capabilities", "{}").is_err() {
            if Instant::now() > deadline {
                bail!("linstor-docker-volume did not answer on its socket");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        d.wait_idle()?;
        Ok(d)
    }

    /// Wait until the daemon's start-up reconciliation is over: no request reaches or leaves
    /// the simulator for a second.
    fn wait_idle(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(300);
        let probe = || (self.b.sim.request_count(), self.b.sim.server_time());
        let mut last = probe();
        loop {
            std::thread::sleep(Duration::from_secs(1));
            let now = probe();
            if now == last && now.0 > 0 {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("linstor-docker-volume kept talking to the controller after its start");
            }
            last = now;
        }
    }

    pub fn post(&self, path: &str, body: &str) -> anyhow::Result<Value> {
        let (status, payload) =
            self.rt
                .block_on(post_unix(&self.socket, path, body.to_string()))?;
        let v: Value = serde_json::from_str(&payload).unwrap_or(Value::Null);
        if status != hyper::StatusCode::OK || v["Err"].as_str().is_some_and(|e| !e.is_empty()) {
            bail!("{path} {body}: HTTP {status} {payload}");
        }
        Ok(v)
    }

    fn req(&self, path: &str, body: &str) -> anyhow::Result<Sample> {
        Ok(timed(self.b.sim, || self.post(path, body))?.0)
    }

    pub fn rss_kib(&self) -> u64 {
        vm_hwm_kib(self.child.id())
    }

    pub fn ops(&self) -> anyhow::Result<Vec<Row>> {
        let b = self.b;
        let mut o: HashMap<&str, Vec<Sample>> = HashMap::new();
        let mut t: HashMap<&str, Vec<Sample>> = HashMap::new();
        for i in 0..b.runs {
            let name = format!("bench{i:04}");
            let nb = json!({"Name": name}).to_string();
            let mb = json!({"Name": name, "ID": format!("c{i}")}).to_string();
            o.entry("Create").or_default().push(self.req(
                "/VolumeDriver.Create",
                &json!({"Name": name, "Opts": {"size": "16M"}}).to_string(),
            )?);
            let py = format!("py-docker-{i:04}");
            t.entry("Create").or_default().push(b.peer(
                "spawn",
                &[
                    py.clone(),
                    s("16MiB"),
                    s(2),
                    s("Aux/is-linstor-docker-volume=true"),
                ],
            )?);
            o.entry("Mount")
                .or_default()
                .push(self.req("/VolumeDriver.Mount", &mb)?);
            t.entry("Mount")
                .or_default()
                .push(b.peer("make_available", &[s("n1"), py.clone()])?);
            o.entry("Unmount")
                .or_default()
                .push(self.req("/VolumeDriver.Unmount", &mb)?);
            t.entry("Unmount")
                .or_default()
                .push(b.peer("remove_diskless", &[s("n1"), py.clone()])?);
            o.entry("Get")
                .or_default()
                .push(self.req("/VolumeDriver.Get", &nb)?);
            t.entry("Get").or_default().push(b.peer("get_one", &[py])?);
        }
        let mut rows = vec![
            b.row(
                "Docker",
                "Create (16 MiB)",
                &o["Create"],
                Some(&t["Create"]),
                (1, 1, "one spawn carrying the ownership props"),
            ),
            b.row(
                "Docker",
                "Mount (first: mkfs + mount)",
                &o["Mount"],
                Some(&t["Mount"]),
                (2, 3, "the definition (ownership, file system), its resources (this node's copy, in use elsewhere?), make-available when this node has no copy"),
            ),
            b.row(
                "Docker",
                "Unmount",
                &o["Unmount"],
                Some(&t["Unmount"]),
                (2, 3, "the definition (ownership), its resources (is this copy diskless), delete of the diskless copy when it is"),
            ),
        ];
        for r in &mut rows {
            r.ours.rss_kib = self.rss_kib();
        }
        rows.extend(self.get_list(&o["Get"], &t["Get"])?);
        Ok(rows)
    }

    /// `Get` of existing volumes and `List`, at the current population.
    pub fn get_list(&self, get: &[Sample], get_py: &[Sample]) -> anyhow::Result<Vec<Row>> {
        let b = self.b;
        let mut list = Vec::new();
        let mut list_py = Vec::new();
        for _ in 0..b.runs {
            list.push(self.req("/VolumeDriver.List", "{}")?);
            list_py.push(b.peer("list_owned", &[s("Aux/is-linstor-docker-volume")])?);
        }
        let mut get_rows = b.row(
            "Docker",
            "Get",
            get,
            Some(get_py),
            (
                2,
                2,
                "the definition by name (ownership), its resources (deployed here?)",
            ),
        );
        get_rows.ours.rss_kib = self.rss_kib();
        let mut list_row = b.row(
            "Docker",
            "List",
            &list,
            Some(&list_py),
            (0, 1, "the volume cache (0 when fresh; 1 when cold or older than --list-cache-ttl: definitions of ours)"),
        );
        list_row.ours.rss_kib = self.rss_kib();
        Ok(vec![get_rows, list_row])
    }

    /// `Get` of seeded volumes `seed00000…` and `List`.
    pub fn scale(&self, names: &[String]) -> anyhow::Result<Vec<Row>> {
        let b = self.b;
        let mut get = Vec::new();
        let mut get_py = Vec::new();
        for i in 0..b.runs {
            let name = &names[(i * 37) % names.len()];
            get.push(self.req("/VolumeDriver.Get", &json!({"Name": name}).to_string())?);
            get_py.push(b.peer("get_one", std::slice::from_ref(name))?);
        }
        self.get_list(&get, &get_py)
    }
}

/// One POST to the plugin's unix socket as dockerd sends it: status and body text.
async fn post_unix(
    socket: &Path,
    path: &str,
    body: String,
) -> anyhow::Result<(hyper::StatusCode, String)> {
    let stream = tokio::net::UnixStream::connect(socket).await?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let request = hyper::Request::post(path)
        .header(hyper::header::HOST, "plugin.moby.localhost")
        .header(
            hyper::header::CONTENT_TYPE,
            "application/vnd.docker.plugins.v1+json",
        )
        .body(http_body_util::Full::new(hyper::body::Bytes::from(body)))?;
    let answer = sender.send_request(request).await?;
    let status = answer.status();
    let bytes = answer.into_body().collect().await?.to_bytes();
    Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
}
