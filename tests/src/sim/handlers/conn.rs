//! Resource connections.

use serde_json::{json, Value};

use crate::sim::core::*;
use crate::sim::model::*;
use crate::sim::rc::*;

impl Core {
    pub(crate) fn conn_key(a: &str, b: &str) -> String {
        let (a, b) = (key(a), key(b));
        if a <= b {
            format!("{a}|{b}")
        } else {
            format!("{b}|{a}")
        }
    }

    pub(crate) fn conn_get(&self, req: &Req<'_>) -> Result<Value, Fail> {
        let rd = self.rd_ref(&req.p[0])?;
        let a = self.node_ref(&req.p[1])?.name.clone();
        let b = self.node_ref(&req.p[2])?.name.clone();
        let props = rd
            .conns
            .get(&Self::conn_key(&a, &b))
            .cloned()
            .unwrap_or_default();
        Ok(json!({"node_a": a, "node_b": b, "props": props}))
    }

    pub(crate) fn conn_modify(&mut self, req: &Req<'_>) -> MR {
        let m: PropsModify = parse(req.body)?;
        let rk = key(&self.rd_ref(&req.p[0])?.name);
        let a = self.node_ref(&req.p[1])?.name.clone();
        let b = self.node_ref(&req.p[2])?.name.clone();
        let rd = self
            .st
            .rds
            .get_mut(&rk)
            .ok_or_else(|| fail(FAIL_UNKNOWN_ERROR, "lost"))?;
        let name = rd.name.clone();
        let ck = Self::conn_key(&a, &b);
        let mut props = rd.conns.get(&ck).cloned().unwrap_or_default();
        let keys = modify_props(
            &mut props,
            &m.override_props,
            &m.delete_props,
            &m.delete_namespaces,
        )?;
        if props.is_empty() {
            rd.conns.remove(&ck);
        } else {
            rd.conns.insert(ck, props);
        }
        let mut out = vec![Entry::new(
            MODIFIED,
            format!("Successfully updated properties of resource connection between '{a}' and '{b}' of resource '{name}'"),
        )
        .obj("RscDfn", &name)];
        out.extend(props_set_entry(&keys));
        Ok(out)
    }
}
