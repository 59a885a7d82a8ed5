//! Shared helpers for the simulator tests: a small JSON client and ApiCallRc matchers.
#![allow(dead_code)]

use reqwest::{Client, Method};
use serde_json::Value;

pub const MASK_ERROR: u64 = 0xC000_0000_0000_0000;
pub const MASK_WARN: u64 = 0x8000_0000_0000_0000;
pub const MASK_INFO: u64 = 0x4000_0000_0000_0000;

pub struct Api {
    pub base: String,
    pub c: Client,
}

impl Api {
    pub fn new(base: &str) -> Api {
        Api {
            base: base.to_string(),
            c: Client::new(),
        }
    }

    pub async fn req(&self, m: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut r = self.c.request(m, format!("{}{}", self.base, path));
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.expect("request");
        let st = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        let v = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (st, v)
    }

    pub async fn get(&self, p: &str) -> (u16, Value) {
        self.req(Method::GET, p, None).await
    }

    pub async fn post(&self, p: &str, b: Value) -> (u16, Value) {
        self.req(Method::POST, p, Some(b)).await
    }

    pub async fn put(&self, p: &str, b: Value) -> (u16, Value) {
        self.req(Method::PUT, p, Some(b)).await
    }

    pub async fn delete(&self, p: &str) -> (u16, Value) {
        self.req(Method::DELETE, p, None).await
    }

    /// Spawns `rd` from a new group `rg` with one volume of `kib` and `place` replicas.
    pub async fn spawn(&self, rg: &str, rd: &str, kib: u64, place: u32) -> (u16, Value) {
        let (st, _) = self.get(&format!("/v1/resource-groups/{rg}")).await;
        if st == 404 {
            let (s, v) = self
                .post(
                    "/v1/resource-groups",
                    serde_json::json!({"name": rg, "select_filter": {"place_count": place}}),
                )
                .await;
            assert_eq!(s, 201, "{v}");
        }
        self.post(
            &format!("/v1/resource-groups/{rg}/spawn"),
            serde_json::json!({"resource_definition_name": rd, "volume_sizes": [kib]}),
        )
        .await
    }

    pub async fn rsc(&self, rd: &str, node: &str) -> (u16, Value) {
        self.get(&format!("/v1/resource-definitions/{rd}/resources/{node}"))
            .await
    }

    pub async fn flags(&self, rd: &str, node: &str) -> Vec<String> {
        let (_, v) = self.rsc(rd, node).await;
        v["flags"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|f| f.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub async fn nodes_of(&self, rd: &str) -> Vec<String> {
        let (_, v) = self
            .get(&format!("/v1/resource-definitions/{rd}/resources"))
            .await;
        let mut n: Vec<String> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["node_name"].as_str().unwrap().to_string())
            .collect();
        n.sort();
        n
    }
}

pub fn rc(e: &Value) -> u64 {
    e["ret_code"].as_i64().expect("ret_code is i64") as u64
}

/// True when some entry carries `code` (compared as golinstor does: type bits + code).
pub fn has(v: &Value, code: u64) -> bool {
    v.as_array()
        .is_some_and(|a| a.iter().any(|e| rc(e) & (MASK_ERROR | 0x7FFF) == code))
}

pub fn no_errors(v: &Value) -> bool {
    v.as_array()
        .is_some_and(|a| a.iter().all(|e| rc(e) & MASK_ERROR != MASK_ERROR))
}

pub fn first_code(v: &Value) -> u64 {
    rc(&v[0])
}

/// The ret_code and message of each entry of an ApiCallRc list.
pub fn entries(v: &Value) -> Vec<(u64, String)> {
    v.as_array()
        .unwrap_or_else(|| panic!("an ApiCallRc list: {v}"))
        .iter()
        .map(|e| (rc(e), e["message"].as_str().unwrap_or_default().to_string()))
        .collect()
}
