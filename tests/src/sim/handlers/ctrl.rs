//! Controller properties, nodes and storage pools.

use serde_json::{json, Value};

use crate::sim::core::*;
use crate::sim::model::*;
use crate::sim::rc::*;

impl Core {
    pub(crate) fn ctrl_props(&mut self, req: &Req<'_>) -> MR {
        let m: PropsModify = parse(req.body)?;
        let keys = modify_props(
            &mut self.st.ctrl_props,
            &m.override_props,
            &m.delete_props,
            &m.delete_namespaces,
        )?;
        let mut out = vec![];
        out.extend(props_set_entry(&keys));
        if !m.delete_props.is_empty() || !m.delete_namespaces.is_empty() || out.is_empty() {
            out.push(Entry::new(
                MODIFIED,
                "Successfully updated controller config",
            ));
        }
        Ok(out)
    }

    pub(crate) fn nodes_list(&self, req: &Req<'_>) -> Value {
        let names: Vec<String> = req.q_all("nodes").iter().map(|n| key(n)).collect();
        let pf = req.q_all("props");
        Value::Array(
            self.st
                .nodes
                .iter()
                .filter(|(k, n)| {
                    (names.is_empty() || names.contains(k)) && props_filter_ok(&n.props, &pf)
                })
                .map(|(k, _)| self.node_json(k))
                .collect(),
        )
    }

    pub(crate) fn node_pools(&self, node: &str) -> Result<Value, Fail> {
        let k = key(&self.node_ref(node)?.name);
        Ok(json!([self.pool_json(&k, true), self.pool_json(&k, false)]))
    }

    pub(crate) fn node_pool(&self, node: &str, pool: &str) -> Result<Value, Fail> {
        let k = key(&self.node_ref(node)?.name);
        if pool.eq_ignore_ascii_case(DISKLESS_POOL) {
            Ok(self.pool_json(&k, true))
        } else if pool.eq_ignore_ascii_case(&self.pool_name) {
            Ok(self.pool_json(&k, false))
        } else {
            Err(fail(
                FAIL_NOT_FOUND_STOR_POOL,
                format!("Storage pool '{pool}' on node '{node}' not found."),
            ))
        }
    }

    pub(crate) fn view_pools(&self, req: &Req<'_>) -> Value {
        let names: Vec<String> = req.q_all("nodes").iter().map(|n| key(n)).collect();
        let pools: Vec<String> = req.q_all("storage_pools").iter().map(|n| key(n)).collect();
        let mut out = vec![];
        for k in self.st.nodes.keys() {
            if !names.is_empty() && !names.contains(k) {
                continue;
            }
            for (dl, pn) in [(true, DISKLESS_POOL), (false, self.pool_name.as_str())] {
                if pools.is_empty() || pools.contains(&key(pn)) {
                    out.push(self.pool_json(k, dl));
                }
            }
        }
        Value::Array(out)
    }
}
