//! Resource-definition clone and its status.

use serde_json::json;

use crate::sim::core::*;
use crate::sim::model::*;
use crate::sim::rc::*;

impl Core {
    pub(crate) fn clone_rd(&mut self, req: &Req<'_>) -> Resp {
        let src = req.p[0].clone();
        let body = |name: &str, msgs: &[Entry], st: u16| {
            let msgs: Vec<Entry> = msgs
                .iter()
                .cloned()
                .map(|e| e.with_context(CRT, OBJ_RSC_DFN))
                .collect();
            let st = status_for(&msgs, st);
            Resp::json(
                st,
                json!({
                    "location": format!("/v1/resource-definitions/{src}/clone/{name}"),
                    "source_name": src,
                    "clone_name": name,
                    "messages": entries_json(&msgs),
                }),
            )
        };
        if let Err(e) = self.rd_ref(&src) {
            return Resp::entries(404, &[*e]);
        }
        let Ok(b) = parse::<CloneReq>(req.body) else {
            return Resp::no_answer();
        };
        let shown = b
            .name
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "__invalid_name__".into());
        match self.clone_inner(&src, b) {
            Ok(msgs) => body(&shown, &msgs, 201),
            Err(e) => body(&shown, &[*e], 500),
        }
    }

    pub(crate) fn clone_inner(&mut self, src: &str, b: CloneReq) -> MR {
        let s = self.rd_ref(src)?.clone();
        let ext = b.external_name.clone().unwrap_or_default();
        let name = match b.name.clone().filter(|n| !n.is_empty()) {
            Some(n) => n,
            None if !ext.is_empty() => self.name_from_external(&ext),
            None => return Err(fail(FAIL_INVLD_RSC_NAME, "No name given for the clone.")),
        };
        if s.flags.iter().any(|f| f == "CLONING") {
            return Err(fail(
                FAIL_INVLD_RSC_STATE_NOT_UPTODATE,
                format!("Resource definition '{}' is still being cloned.", s.name),
            ));
        }
        if !self.all_up_to_date(&s) {
            return Err(fail(
                FAIL_NOT_ALL_UPTODATE,
                "Cannot clone resource-definition, because we have a non-UpToDate DRBD device.",
            ));
        }
        let rg = b.resource_group.clone().unwrap_or_else(|| s.rg.clone());
        let mut props = s.props.clone();
        props.retain(|k, _| k != "cloned-from");
        let mut out = vec![self.new_rd(&name, &rg, props, &ext)?];
        let ck = key(&name);
        let over = {
            let rd = self
                .st
                .rds
                .get_mut(&ck)
                .ok_or_else(|| fail(FAIL_UNKNOWN_ERROR, "lost"))?;
            let r = modify_props(
                &mut rd.props,
                &b.override_props,
                &b.delete_props,
                &b.delete_namespaces,
            );
            rd.props.insert("cloned-from".into(), s.name.clone());
            rd.flags.push("CLONING".into());
            r
        };
        if let Err(e) = over {
            self.st.rds.remove(&ck);
            return Err(e);
        }
        for vd in s.vds.values() {
            self.be
                .copy_volume(&s.name, &name, vd.nr)
                .map_err(|e| fail(FAIL_UNKNOWN_ERROR, e))?;
            out.push(self.add_vd(&ck, Some(vd.nr), vd.size_kib, vd.props.clone(), None)?);
        }
        for r in s.rscs.values() {
            let (flags, pool) = if r.is_diskless() {
                (r.flags.clone(), DISKLESS_POOL.to_string())
            } else {
                (vec![], r.pool.clone())
            };
            self.add_resource(&ck, &r.node, flags, pool, r.props.clone(), &mut out)?;
        }
        if let Some(rd) = self.st.rds.get_mut(&ck) {
            rd.clone_done_ms = Some(now_ms() + self.clone_delay_ms as i64);
        }
        out.push(
            Entry::new(
                CREATED,
                format!("Clone of '{}' into '{name}' started.", s.name),
            )
            .obj("RscDfn", &name),
        );
        Ok(out)
    }

    pub(crate) fn clone_status(&mut self, clone: &str) -> Resp {
        self.tick();
        let Some(rd) = self.st.rds.get(&key(clone)) else {
            return Resp::entries(
                404,
                &[Entry::new(
                    FAIL_NOT_FOUND_RSC_DFN,
                    "Cloned resource not found.",
                )],
            );
        };
        let status = if rd.flags.iter().any(|f| f == "FAILED")
            || rd.rscs.values().any(|r| !self.node_online(&r.node))
        {
            "FAILED"
        } else if rd.flags.iter().any(|f| f == "CLONING") {
            "CLONING"
        } else {
            "COMPLETE"
        };
        Resp::json(200, json!({"status": status}))
    }
}
