//! Error reports (`/v1/error-reports`) and the space report (`/v1/space-report`).

use serde_json::{json, Value};

use crate::sim::core::*;
use crate::sim::model::*;
use crate::sim::rc::*;

/// Bound of the kept error reports of a long-running simulator (the oldest half is dropped).
const MAX_REPORTS: usize = 10_000;

/// One error report the simulated controller wrote for an error answer.
#[derive(Debug, Clone)]
pub struct ErrReport {
    pub id: String,
    pub time_ms: i64,
    pub message: String,
    pub context: String,
}

impl ErrReport {
    fn json(&self, with_content: bool, version: &str) -> Value {
        let mut v = json!({
            "node_name": "Controller",
            "error_time": self.time_ms,
            "filename": format!("ErrorReport-{}.log", self.id),
            "module": "CONTROLLER",
            "version": version,
            "exception": "ApiRcException",
            "exception_message": self.message,
            "origin_file": "RequestHelper.java",
            "origin_method": "doFlux",
        });
        if with_content {
            v["text"] = json!(format!(
                "ERROR REPORT {}\n\nApplication:                        LINSTOR\nModule:                             Controller\nVersion:                            {version}\n\nReported error:\n===============\n\nDescription:\n    {}\n\nContext:\n    {}\n",
                self.id, self.message, self.context
            ));
        }
        v
    }
}

/// Return codes whose errors the real controller reports without writing an error report
/// (`ApiCallRcImpl.skipErrorReport` and the loader's not-found entries).
fn skips_report(code: u64) -> bool {
    let c = code & 0x7FFF;
    (300..400).contains(&c)
        || [
            FAIL_IN_USE,
            FAIL_EXISTS_RSC_DFN,
            FAIL_NOT_ENOUGH_NODES,
            FAIL_NOT_ALL_UPTODATE,
        ]
        .iter()
        .any(|k| k & 0x7FFF == c)
}

impl Core {
    /// Writes an error report for the first error entry of a 500 answer that has none yet,
    /// and names it in that entry's `error_report_ids`.
    pub(crate) fn add_error_report(&mut self, what: &str, resp: &mut Resp) {
        if resp.status != 500 {
            return;
        }
        let Some(Value::Array(es)) = resp.body.as_mut() else {
            return;
        };
        let Some(e) = es.iter_mut().find(|e| {
            e["ret_code"]
                .as_i64()
                .is_some_and(|c| (c as u64) & MASK_ERROR == MASK_ERROR)
        }) else {
            return;
        };
        let code = e["ret_code"].as_i64().unwrap_or_default() as u64;
        if skips_report(code) || e.get("error_report_ids").is_some() {
            return;
        }
        self.report_seq += 1;
        let id = format!("5F1M0000-00000-{:06}", self.report_seq);
        e["error_report_ids"] = json!([id]);
        if self.reports.len() >= MAX_REPORTS {
            self.reports.drain(..MAX_REPORTS / 2);
        }
        self.reports.push(ErrReport {
            id,
            time_ms: now_ms(),
            message: e["message"].as_str().unwrap_or_default().to_string(),
            context: what.to_string(),
        });
    }

    pub(crate) fn error_reports(&self, req: &Req<'_>) -> Value {
        let num = |k: &str| {
            req.query
                .iter()
                .find(|(a, _)| a == k)
                .and_then(|(_, v)| v.parse::<i64>().ok())
        };
        let since = num("since");
        let to = num("to");
        let limit = num("limit").unwrap_or(1000).max(0) as usize;
        let nodes = req.q_all("node");
        let content = req.q_bool("withContent");
        let node_ok =
            nodes.is_empty() || nodes.iter().any(|n| n.eq_ignore_ascii_case("controller"));
        Value::Array(
            self.reports
                .iter()
                .filter(|r| {
                    node_ok
                        && since.is_none_or(|s| r.time_ms >= s)
                        && to.is_none_or(|t| r.time_ms <= t)
                })
                .take(limit)
                .map(|r| r.json(content, &self.version))
                .collect(),
        )
    }

    pub(crate) fn error_report(&self, req: &Req<'_>) -> Value {
        let content = !req
            .query
            .iter()
            .any(|(k, v)| k == "withContent" && v.eq_ignore_ascii_case("false"));
        Value::Array(
            self.reports
                .iter()
                .filter(|r| r.id == req.p[0])
                .map(|r| r.json(content, &self.version))
                .collect(),
        )
    }

    pub(crate) fn error_reports_delete(&mut self, req: &Req<'_>) -> MR {
        let b: ErrorReportDelete = parse(req.body)?;
        let before = self.reports.len();
        let nodes_ok =
            b.nodes.is_empty() || b.nodes.iter().any(|n| n.eq_ignore_ascii_case("controller"));
        self.reports.retain(|r| {
            let hit = nodes_ok
                && b.since.is_none_or(|s| r.time_ms >= s)
                && b.to.is_none_or(|t| r.time_ms <= t)
                && (b.ids.is_empty() || b.ids.contains(&r.id))
                && b.exception.as_deref().is_none_or(|e| e == "ApiRcException")
                && b.version.as_deref().is_none_or(|v| v == self.version);
            !hit
        });
        let n = before - self.reports.len();
        Ok(vec![Entry::new(
            DELETED,
            format!("Deleted {n} error report(s) on Controller"),
        )])
    }

    pub(crate) fn error_report_delete(&mut self, req: &Req<'_>) -> MR {
        let id = req.p[0].clone();
        let before = self.reports.len();
        self.reports.retain(|r| r.id != id);
        if before == self.reports.len() {
            return Ok(vec![Entry::new(
                WARN_NOT_FOUND,
                format!("Error report '{id}' not found."),
            )]);
        }
        Ok(vec![Entry::new(
            DELETED,
            format!("Deleted error report '{id}'"),
        )])
    }

    pub(crate) fn space_report(&self) -> Value {
        json!({"reportText": "The SpaceTracking service is not installed."})
    }
}
