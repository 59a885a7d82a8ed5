//! Shared pieces of the fault suites of the three frontends: the steps of an operation as the
//! simulator saw them, killing a frontend process exactly at one step, the loop that disturbs
//! every step of an operation ([`every_step`], each suite supplying a [`Trial`]), the
//! invariants every case asserts (no diskful replica removed, no volume lost, same end state
//! after a re-run), and the tally that fills `RELIABILITY.md`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Child;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::sim::{FailKind, Fault, Sim};

/// One mutating request of an operation: the `nth` request with this method and path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub method: String,
    pub path: String,
    pub nth: u32,
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} #{}", self.method, self.path, self.nth)
    }
}

/// The steps of an operation from the simulator's log of mutating requests.
pub fn steps(mutations: &[String]) -> Vec<Step> {
    let mut seen: BTreeMap<&str, u32> = BTreeMap::new();
    mutations
        .iter()
        .map(|m| {
            let n = seen.entry(m.as_str()).or_default();
            *n += 1;
            let (method, path) = m.split_once(' ').unwrap_or((m.as_str(), ""));
            Step {
                method: method.to_string(),
                path: path.to_string(),
                nth: *n,
            }
        })
        .collect()
}

/// What happened when the process was killed at a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kill {
    /// The step was reached and the process killed while the request was held.
    AtStep,
    /// The process ended before reaching the step (an earlier step went another way).
    NotReached,
}

/// Arms a pause at `step`, before or after the controller executes it.
pub fn arm(sim: &Sim, step: &Step, after_execute: bool) {
    sim.inject(Fault::Pause {
        method: step.method.clone(),
        path_contains: step.path.clone(),
        nth: step.nth,
        after_execute,
    });
}

/// Waits until `child` reaches the armed step or ends. At the step it is SIGKILLed and the
/// held request dropped (never executed when held before execution). Panics when neither
/// happens within `bound`.
pub fn kill_when_held(sim: &Sim, child: &mut Child, bound: Duration) -> Kill {
    let t = Instant::now();
    loop {
        if sim.paused().is_some() {
            let _ = child.kill();
            let _ = child.wait();
            sim.release_pause(false);
            sim.clear_faults();
            return Kill::AtStep;
        }
        if let Ok(Some(_)) = child.try_wait() {
            return Kill::NotReached;
        }
        assert!(
            t.elapsed() < bound,
            "the operation neither reached the armed step nor ended within {bound:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// How a step is disturbed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    /// The frontend is killed while the controller holds the step, before or after carrying
    /// it out.
    Kill { after: bool },
    /// The controller answers the step with this failure (garbage after carrying it out).
    Fail(FailKind),
    /// The frontend is killed at a host command, before or after it runs (armed by the suite).
    KillHost { after: bool },
}

/// The controller-side disturbances every suite applies at every step, with their labels.
pub const CONTROLLER_HOWS: [(&str, How); 4] = [
    ("killed before the step", How::Kill { after: false }),
    ("killed after the step", How::Kill { after: true }),
    ("step answered 500", How::Fail(FailKind::Status500)),
    ("step answered garbage", How::Fail(FailKind::Garbage)),
];

/// Arms a controller-side `how` at `step` (host-side ones are armed by the suite).
pub fn disturb(sim: &Sim, step: &Step, how: How) {
    match how {
        How::Kill { after } => arm(sim, step, after),
        How::Fail(kind) => sim.inject(Fault::FailMatching {
            method: step.method.clone(),
            path_contains: step.path.clone(),
            nth: step.nth,
            kind,
            execute: kind == FailKind::Garbage,
        }),
        How::KillHost { .. } => {}
    }
}

/// One try of a frontend operation with one step disturbed, on a fresh harness prepared for it.
pub trait Trial {
    /// The simulator of this try.
    fn sim(&self) -> &Sim;
    /// Runs the operation's calls with `how` at `step`: the index of the call that was killed
    /// at the step or answered an error (which the suite checks is clear), `None` when every
    /// call succeeded.
    fn disturbed(&mut self, step: &Step, how: How) -> Option<usize>;
    /// Completes a disturbed operation by running its calls again from `from`; true when the
    /// re-run took a path the reliability row mentions.
    fn rerun(&mut self, from: usize, how: How) -> bool;
    /// After an operation that succeeded despite the disturbance: true when it needed a
    /// recovery (which the row mentions) to reach `reference`.
    fn undisturbed(&mut self, _reference: &Value) -> bool {
        false
    }
    /// The end state compared with the undisturbed run's.
    fn end(&self, reference: &Value) -> Value;
    /// Extra text for a failed comparison (e.g. the frontend's log).
    fn context(&self) -> String {
        String::new()
    }
}

/// Tries per disturbance label, and how many of them took the path [`Trial::rerun`] or
/// [`Trial::undisturbed`] reported.
#[derive(Debug, Default)]
pub struct Tally {
    pub tries: BTreeMap<&'static str, u64>,
    pub noted: BTreeMap<&'static str, u64>,
}

impl Tally {
    /// Records one reliability row per label: nothing lost (a loss fails the suite), the case
    /// text from `case`, what survived from `survived` given how many tries were noted.
    pub fn record(
        self,
        frontend: &str,
        case: impl Fn(&str) -> String,
        survived: impl Fn(Option<u64>) -> String,
    ) {
        for (label, tries) in self.tries {
            record(&Row {
                frontend: frontend.into(),
                case: case(label),
                tries,
                survived: survived(self.noted.get(label).copied()),
                lost: "nothing".into(),
            });
        }
    }
}

/// The kill-at-every-step loop of operation `op`: for every disturbance and each of its steps
/// a fresh trial from `fresh`, asserting that nothing but `deleting` was lost, that finishing
/// the operation converges to `reference` (the end state of an undisturbed run) and that each
/// try ends within `bound`.
pub fn every_step<T: Trial>(
    op: &str,
    reference: &Value,
    cases: &[(&'static str, How, &[Step])],
    deleting: Option<&str>,
    bound: Duration,
    mut fresh: impl FnMut() -> T,
    tally: &mut Tally,
) {
    for (label, how, steps) in cases {
        for step in *steps {
            eprintln!("try: {op} {label} at {step}");
            let t = Instant::now();
            let mut trial = fresh();
            let before = trial.sim().state();
            let disturbed = trial.disturbed(step, *how);
            let lost = lost(&before, &trial.sim().state(), deleting);
            assert!(lost.is_empty(), "{op} {label} at {step}: lost {lost:?}");
            let noted = match disturbed {
                Some(from) => trial.rerun(from, *how),
                None => trial.undisturbed(reference),
            };
            if noted {
                *tally.noted.entry(label).or_default() += 1;
            }
            assert_eq!(
                &trial.end(reference),
                reference,
                "{op} {label} at {step}: re-run did not converge\n{}",
                trial.context()
            );
            assert!(
                t.elapsed() < bound,
                "{op} {label} at {step}: {:?}",
                t.elapsed()
            );
            *tally.tries.entry(label).or_default() += 1;
        }
    }
}

/// Diskful replicas `(resource, node)`; tie-breakers and diskless copies left out.
pub fn diskful(state: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    if let Some(rds) = state["resource_definitions"].as_object() {
        for (rd, v) in rds {
            for (node, r) in v["resources"].as_object().into_iter().flatten() {
                let flags = r["flags"].as_array().cloned().unwrap_or_default();
                if !flags.iter().any(|f| f == "DISKLESS" || f == "TIE_BREAKER") {
                    out.insert((rd.clone(), node.clone()));
                }
            }
        }
    }
    out
}

/// Names of the resource definitions.
pub fn volumes(state: &Value) -> BTreeSet<String> {
    state["resource_definitions"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

/// The loss between two states: diskful replicas and volumes present `before` and missing
/// `after`, except those of `deleting` (the volume the operation removes). Empty means
/// nothing was lost.
pub fn lost(before: &Value, after: &Value, deleting: Option<&str>) -> Vec<String> {
    let keep = |rd: &str| deleting != Some(rd);
    let now_vols = volumes(after);
    let now_disks = diskful(after);
    let mut out: Vec<String> = volumes(before)
        .into_iter()
        .filter(|v| keep(v) && !now_vols.contains(v))
        .map(|v| format!("volume {v}"))
        .collect();
    out.extend(
        diskful(before)
            .into_iter()
            .filter(|k| keep(&k.0) && !now_disks.contains(k))
            .map(|(rd, n)| format!("diskful replica {rd} on {n}")),
    );
    out
}

/// `linstor_common::volume::CREATED_PROP`: when a volume was made, different in every run.
const CREATED_PROP: &str = "Aux/linstor-plugins/created";

/// The end state a user sees: per volume its props (the creation time only as present), size
/// and which node holds a disk, a diskless copy or a tie-breaker, and its snapshots. Ports,
/// minors and node ids are left out.
pub fn end_state(state: &Value) -> Value {
    let mut out = serde_json::Map::new();
    for (rd, v) in state["resource_definitions"]
        .as_object()
        .into_iter()
        .flatten()
    {
        let rscs: BTreeMap<String, &str> = v["resources"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(n, r)| {
                let flags = r["flags"].as_array().cloned().unwrap_or_default();
                let kind = if flags.iter().any(|f| f == "TIE_BREAKER") {
                    "tie-breaker"
                } else if flags.iter().any(|f| f == "DISKLESS") {
                    "diskless"
                } else {
                    "diskful"
                };
                (n.clone(), kind)
            })
            .collect();
        let sizes: Vec<Value> = v["volumes"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|x| x["size_kib"].clone())
            .collect();
        let mut props = v["props"].clone();
        if let Some(t) = props.get_mut(CREATED_PROP) {
            *t = json!("(a time)");
        }
        out.insert(
            rd.clone(),
            json!({"props": props, "sizes": sizes, "resources": rscs, "snapshots": v["snapshots"]}),
        );
    }
    Value::Object(out)
}

/// The silent controllers of the bounded-call cases: one that accepts requests and never
/// answers (a paused or partitioned controller), and one whose connections are accepted by
/// the kernel and never read (an address that does not answer).
pub fn silent_controllers() -> [(&'static str, Fault); 2] {
    let max = Duration::from_secs(120);
    [
        (
            "hung",
            Fault::Hang {
                method: None,
                path_contains: None,
                max,
            },
        ),
        ("blackholed", Fault::Blackhole { max }),
    ]
}

/// The worst time of each bounded call of a case, measured as the suite runs and printed in
/// its reliability row (bounds are asserted only where the issue names them).
#[derive(Debug, Default)]
pub struct Worst(pub BTreeMap<String, Duration>);

impl Worst {
    /// Runs `f`, keeping its time under `call` when it is the worst so far.
    pub fn time<T>(&mut self, call: &str, f: impl FnOnce() -> T) -> (T, Duration) {
        let t = Instant::now();
        let out = f();
        let took = t.elapsed();
        let w = self.0.entry(call.to_string()).or_default();
        *w = (*w).max(took);
        (out, took)
    }

    /// `call worst-time` pairs, e.g. `Mount 1.52 s, Get 1.50 s`.
    pub fn summary(&self) -> String {
        self.0
            .iter()
            .map(|(c, d)| format!("{c} {:.2} s", d.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// One row of the reliability table.
#[derive(Debug, Clone, Default)]
pub struct Row {
    pub frontend: String,
    pub case: String,
    pub tries: u64,
    pub survived: String,
    pub lost: String,
}

fn summary_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::current_exe()
                .ok()
                .and_then(|e| e.ancestors().nth(3).map(PathBuf::from))
        })
        .unwrap_or_else(|| PathBuf::from("target"));
    target.join("reliability")
}

/// Records a row (printed, and kept under `<target>/reliability/`) and rewrites
/// `<target>/reliability-summary.md` from every row recorded so far.
pub fn record(row: &Row) {
    println!(
        "reliability: {} | {} | {} | {} | {}",
        row.frontend, row.case, row.tries, row.survived, row.lost
    );
    let dir = summary_dir();
    if std::fs::create_dir_all(&dir).is_err() {
        return;
    }
    let file: String = format!("{}--{}", row.frontend, row.case)
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let line = format!(
        "| {} | {} | {} | {} | {} |\n",
        row.frontend, row.case, row.tries, row.survived, row.lost
    );
    let _ = std::fs::write(dir.join(format!("{file}.row")), line);
    let mut rows: Vec<String> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "row"))
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .collect();
    rows.sort();
    let md = format!(
        "| frontend | case | tries | survived | lost |\n|---|---|---|---|---|\n{}",
        rows.concat()
    );
    if let Some(parent) = dir.parent() {
        let _ = std::fs::write(parent.join("reliability-summary.md"), md);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_number_repeated_requests() {
        let s = steps(&["POST /v1/a".into(), "PUT /v1/b".into(), "POST /v1/a".into()]);
        assert_eq!(s.len(), 3);
        assert_eq!(
            (s[2].method.as_str(), s[2].path.as_str(), s[2].nth),
            ("POST", "/v1/a", 2)
        );
        assert_eq!(s[1].nth, 1);
    }

    #[test]
    fn loss_counts_missing_disks_and_volumes_but_not_the_deleted_one() {
        let st = |rs: Value| json!({"resource_definitions": rs});
        let before = st(json!({
            "a": {"resources": {"n1": {"flags": []}, "n2": {"flags": []}, "n3": {"flags": ["DISKLESS", "TIE_BREAKER"]}}},
            "b": {"resources": {"n1": {"flags": []}}},
        }));
        let after = st(json!({"a": {"resources": {"n1": {"flags": []}}}}));
        assert_eq!(
            lost(&before, &after, None),
            [
                "volume b",
                "diskful replica a on n2",
                "diskful replica b on n1"
            ]
        );
        assert_eq!(
            lost(&before, &after, Some("b")),
            ["diskful replica a on n2"]
        );
        assert!(lost(&before, &before, None).is_empty());
    }
}
