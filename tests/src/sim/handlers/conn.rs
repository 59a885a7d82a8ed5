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

    /// Both nodes' stored names when each holds a resource of `rd` (and they differ).
    fn conn_nodes(rd: &RdSt, a: &str, b: &str) -> Option<(String, String)> {
        let na = rd.rscs.get(&key(a))?.node.clone();
        let nb = rd.rscs.get(&key(b))?.node.clone();
        (key(a) != key(b)).then_some((na, nb))
    }

    fn conn_json(rd: &RdSt, a: &str, b: &str) -> Value {
        let props = rd
            .conns
            .get(&Self::conn_key(a, b))
            .cloned()
            .unwrap_or_default();
        json!({"node_a": a, "node_b": b, "props": props, "flags": []})
    }

    pub(crate) fn conn_list(&self, req: &Req<'_>) -> Result<Value, Fail> {
        let rd = self.rd_ref(&req.p[0])?;
        let nodes: Vec<&String> = rd.rscs.values().map(|r| &r.node).collect();
        let mut out = vec![];
        for (i, a) in nodes.iter().enumerate() {
            for b in &nodes[i + 1..] {
                out.push(Self::conn_json(rd, a, b));
            }
        }
        Ok(Value::Array(out))
    }

    pub(crate) fn conn_get(&self, req: &Req<'_>) -> Result<Value, Fail> {
        let rd = self.rd_ref(&req.p[0])?;
        let (a, b) = Self::conn_nodes(rd, &req.p[1], &req.p[2]).ok_or_else(|| {
            fail(
                FAIL_NOT_FOUND_RSC_CONN,
                format!(
                    "Resource connection between '{}' and '{}' not found.",
                    req.p[1], req.p[2]
                ),
            )
        })?;
        Ok(Self::conn_json(rd, &a, &b))
    }

    /// Checks a `Paths/<path>/<node>` key: the node is one end of the connection and the
    /// value names one of its net interfaces.
    fn check_path_prop(&self, k: &str, v: &str, a: &str, b: &str) -> Result<(), Fail> {
        let bad = |why: String| {
            Box::new(Entry::new(FAIL_INVLD_PROP, format!("Invalid property key: {k}")).cause(why))
        };
        let rest = &k["Paths/".len()..];
        let Some((path, node)) = rest.split_once('/') else {
            return Err(bad(
                "Path properties have the form 'Paths/<path name>/<node name>'.".into(),
            ));
        };
        if path.is_empty() || node.contains('/') {
            return Err(bad(
                "Path properties have the form 'Paths/<path name>/<node name>'.".into(),
            ));
        }
        if key(node) != key(a) && key(node) != key(b) {
            return Err(bad(format!(
                "Node '{node}' is not part of the resource connection between '{a}' and '{b}'."
            )));
        }
        let n = self.node_ref(node)?;
        if !n.net_ifs.contains_key(&key(v)) {
            return Err(Box::new(
                Entry::new(
                    FAIL_NOT_FOUND_NET_IF,
                    format!("Net interface '{v}' on node '{}' not found.", n.name),
                )
                .obj("Node", &n.name),
            ));
        }
        Ok(())
    }

    pub(crate) fn conn_modify(&mut self, req: &Req<'_>) -> MR {
        let m: PropsModify = parse(req.body)?;
        let rd = self.rd_ref(&req.p[0])?;
        let rk = key(&rd.name);
        for n in [&req.p[1], &req.p[2]] {
            self.node_ref(n)?;
            if !rd.rscs.contains_key(&key(n)) {
                return Err(Box::new(
                    Entry::new(
                        FAIL_NOT_FOUND_RSC,
                        format!("Resource '{}' on '{n}' not found.", rd.name),
                    )
                    .rsc(&rd.name, n.as_str()),
                ));
            }
        }
        let (a, b) = Self::conn_nodes(rd, &req.p[1], &req.p[2]).ok_or_else(|| {
            fail(
                FAIL_NOT_FOUND_RSC_CONN,
                format!(
                    "Resource connection between '{}' and '{}' not found.",
                    req.p[1], req.p[2]
                ),
            )
        })?;
        let mut over = Props::new();
        let mut paths = Props::new();
        for (k, v) in &m.override_props {
            if k.starts_with("Paths/") {
                self.check_path_prop(k, v, &a, &b)?;
                paths.insert(k.clone(), v.clone());
            } else {
                over.insert(k.clone(), v.clone());
            }
        }
        let rd = self
            .st
            .rds
            .get_mut(&rk)
            .ok_or_else(|| fail(FAIL_UNKNOWN_ERROR, "lost"))?;
        let name = rd.name.clone();
        let ck = Self::conn_key(&a, &b);
        let mut props = rd.conns.get(&ck).cloned().unwrap_or_default();
        let (del_paths, del): (Vec<String>, Vec<String>) = m
            .delete_props
            .iter()
            .cloned()
            .partition(|k| k.starts_with("Paths/"));
        for k in &del_paths {
            props.remove(k);
        }
        let mut keys = modify_props(&mut props, &over, &del, &m.delete_namespaces)?;
        keys.extend(paths.keys().cloned());
        props.extend(paths);
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
