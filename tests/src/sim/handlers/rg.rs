//! Resource groups, volume groups, spawn and size queries.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::sim::core::*;
use crate::sim::model::*;
use crate::sim::rc::*;

impl Core {
    pub(crate) fn rg_create(&mut self, req: &Req<'_>) -> MR {
        let b: RgCreate = parse(req.body)?;
        if !valid_rsc_name(&b.name) {
            return Err(fail(
                FAIL_INVLD_RSC_GRP_NAME,
                format!("Invalid resource group name '{}'.", b.name),
            ));
        }
        if self.st.rgs.contains_key(&key(&b.name)) {
            return Err(fail(
                FAIL_EXISTS_RSC_GRP,
                format!(
                    "A resource group with the name '{}' already exists.",
                    b.name
                ),
            ));
        }
        let sf = b.select_filter.unwrap_or_default();
        if sf.place_count.is_some_and(|c| c < 1) {
            return Err(fail(
                FAIL_INVLD_PLACE_COUNT,
                "Place count must be greater than 0",
            ));
        }
        let id = uuid();
        self.st.rgs.insert(
            key(&b.name),
            RgSt {
                name: b.name.clone(),
                uuid: id.clone(),
                description: b.description.unwrap_or_default(),
                props: Props::new(),
                select_filter: sf,
                vgs: BTreeMap::new(),
            },
        );
        Ok(vec![Entry::new(
            CREATED,
            format!("New resource group '{}' created.", b.name),
        )
        .details(format!("Resource group '{}' UUID is: {id}", b.name))
        .obj("RscGrp", &b.name)
        .obj("UUID", id)])
    }

    pub(crate) fn rg_modify(&mut self, req: &Req<'_>) -> MR {
        let b: RgModify = parse(req.body)?;
        let name = self.rg_ref(&req.p[0])?.name.clone();
        if let Some(f) = &b.select_filter {
            if f.place_count.is_some_and(|c| c < 1) {
                return Err(fail(
                    FAIL_INVLD_PLACE_COUNT,
                    "Place count must be greater than 0",
                ));
            }
        }
        let mut props = self.st.rgs[&key(&name)].props.clone();
        let keys = modify_props(
            &mut props,
            &b.override_props,
            &b.delete_props,
            &b.delete_namespaces,
        )?;
        let rg = self
            .st
            .rgs
            .get_mut(&key(&name))
            .ok_or_else(|| fail(FAIL_UNKNOWN_ERROR, "lost"))?;
        rg.props = props;
        if let Some(d) = b.description {
            rg.description = d;
        }
        let mut raised = None;
        if let Some(f) = b.select_filter {
            let old = rg.select_filter.place_count;
            let mut merged = f.or(&rg.select_filter);
            merged.node_name_list = f.node_name_list.clone();
            if f.storage_pool.is_some() && f.storage_pool_list.is_none() {
                merged.storage_pool_list = None;
            }
            if f.storage_pool_list.is_some() && f.storage_pool.is_none() {
                merged.storage_pool = None;
            }
            if merged.place_count > old {
                raised = merged.place_count;
            }
            rg.select_filter = merged;
        }
        let mut out = vec![
            Entry::new(MODIFIED, format!("Resource group '{name}' modified."))
                .details(format!("Resource group '{name}' UUID is: {}", rg.uuid))
                .obj("RscGrp", &name),
        ];
        out.extend(props_set_entry(&keys));
        if raised.is_some() {
            let rds: Vec<String> = self
                .st
                .rds
                .iter()
                .filter(|(_, rd)| rd.rg.eq_ignore_ascii_case(&name) && !rd.vds.is_empty())
                .map(|(k, _)| k.clone())
                .collect();
            for rk in rds {
                let f = self.st.rgs[&key(&name)].select_filter.clone();
                let mut es = vec![];
                match self.autoplace(&rk, &f, &mut es) {
                    Ok(()) => out.extend(es.into_iter().filter(|e| !e.is_error())),
                    Err(e) => out.push(Entry::new(
                        e.ret_code & !MASK_ERROR | MASK_WARN,
                        e.message.clone(),
                    )),
                }
            }
        }
        Ok(out)
    }

    pub(crate) fn rg_delete(&mut self, req: &Req<'_>) -> MR {
        let n = &req.p[0];
        let Some(rg) = self.st.rgs.get(&key(n)) else {
            return Ok(vec![Entry::new(
                WARN_NOT_FOUND,
                format!("Resource group '{n}' not found."),
            )
            .obj("RscGrp", n)]);
        };
        let name = rg.name.clone();
        if self
            .st
            .rds
            .values()
            .any(|rd| rd.rg.eq_ignore_ascii_case(&name))
        {
            return Err(fail(
                FAIL_EXISTS_RSC_DFN,
                format!("Cannot delete resource group '{name}' because it has existing resource definitions."),
            ));
        }
        self.st.rgs.remove(&key(&name));
        Ok(vec![Entry::new(
            DELETED,
            format!("Resource group '{name}' deleted."),
        )
        .obj("RscGrp", name)])
    }

    pub(crate) fn vg_get(&self, rg: &str, nr: &str) -> Result<Value, Fail> {
        let g = self.rg_ref(rg)?;
        nr.parse::<u32>()
            .ok()
            .and_then(|n| g.vgs.get(&n))
            .map(|v| self.vg_json(v.nr, &v.uuid, &v.props))
            .ok_or_else(|| {
                fail(
                    FAIL_NOT_FOUND_VLM_GRP,
                    format!("Volume group '{nr}' of resource group '{rg}' not found."),
                )
            })
    }

    pub(crate) fn vg_create(&mut self, req: &Req<'_>) -> MR {
        let b: VgCreate = parse(req.body)?;
        let name = self.rg_ref(&req.p[0])?.name.clone();
        let mut props = Props::new();
        modify_props(&mut props, &b.props, &[], &[])?;
        let rg = self
            .st
            .rgs
            .get_mut(&key(&name))
            .ok_or_else(|| fail(FAIL_UNKNOWN_ERROR, "lost"))?;
        let nr = match b.volume_number {
            Some(n) if !(0..=65534).contains(&n) => {
                return Err(fail(
                    FAIL_INVLD_VLM_NR,
                    format!("Invalid volume number {n}"),
                ));
            }
            Some(n) => n as u32,
            None => (0..).find(|n| !rg.vgs.contains_key(n)).unwrap_or(0),
        };
        if rg.vgs.contains_key(&nr) {
            return Err(fail(
                FAIL_EXISTS_VLM_GRP,
                format!(
                    "A volume group with number '{nr}' already exists in resource group '{name}'."
                ),
            ));
        }
        let id = uuid();
        rg.vgs.insert(
            nr,
            VgSt {
                nr,
                uuid: id.clone(),
                props,
            },
        );
        Ok(vec![Entry::new(
            CREATED,
            format!("New volume group with number '{nr}' of resource group '{name}' created."),
        )
        .obj("RscGrp", &name)
        .obj("VlmNr", nr.to_string())
        .obj("UUID", id)])
    }

    pub(crate) fn vg_delete(&mut self, req: &Req<'_>) -> MR {
        let name = self.rg_ref(&req.p[0])?.name.clone();
        let nr = req.p[1].parse::<u32>().ok();
        let rg = self
            .st
            .rgs
            .get_mut(&key(&name))
            .ok_or_else(|| fail(FAIL_UNKNOWN_ERROR, "lost"))?;
        match nr.and_then(|n| rg.vgs.remove(&n)) {
            Some(_) => Ok(vec![Entry::new(
                DELETED,
                format!(
                    "Volume group '{}' of resource group '{name}' deleted.",
                    req.p[1]
                ),
            )]),
            None => Ok(vec![Entry::new(
                WARN_NOT_FOUND,
                format!(
                    "Volume group '{}' of resource group '{name}' not found.",
                    req.p[1]
                ),
            )]),
        }
    }

    pub(crate) fn spawn(&mut self, req: &Req<'_>) -> MR {
        let b: Spawn = parse(req.body)?;
        let rg = self.rg_ref(&req.p[0])?.clone();
        let mut name = b.resource_definition_name.clone();
        let ext = b
            .resource_definition_external_name
            .clone()
            .unwrap_or_default();
        if name.is_empty() && !ext.is_empty() {
            name = self.name_from_external(&ext);
        }
        let mut sizes = vec![];
        for s in &b.volume_sizes {
            sizes.push(size_ok(*s)?);
        }
        let mut out = vec![];
        if rg.vgs.is_empty() {
            out.push(Entry::new(
                MASK_INFO,
                format!(
                    "Resource group '{}' has no volume groups; spawning in partial mode.",
                    rg.name
                ),
            ));
        } else if sizes.len() != rg.vgs.len() && !(b.partial && sizes.len() < rg.vgs.len()) {
            return Err(fail(
                FAIL_INVLD_VLM_SIZES,
                format!(
                    "The resource group '{}' has {} volume groups, but only {} sizes were provided.",
                    rg.name,
                    rg.vgs.len(),
                    sizes.len()
                ),
            ));
        }
        out.insert(
            0,
            self.new_rd(&name, &rg.name, b.resource_definition_props.clone(), &ext)?,
        );
        let rk = key(&name);
        let vg_nrs: Vec<u32> = rg.vgs.keys().copied().collect();
        for (i, s) in sizes.iter().enumerate() {
            let nr = vg_nrs.get(i).copied().unwrap_or(i as u32);
            let props = rg.vgs.get(&nr).map(|v| v.props.clone()).unwrap_or_default();
            match self.add_vd(&rk, Some(nr), *s, props, None) {
                Ok(e) => out.push(e),
                Err(e) => {
                    self.st.rds.remove(&rk);
                    return Err(e);
                }
            }
        }
        let merged = b
            .select_filter
            .clone()
            .unwrap_or_default()
            .or(&rg.select_filter);
        if b.definitions_only || merged.place_count.is_none() {
            out.push(
                Entry::new(
                    INFO_NO_RSC_SPAWNED,
                    format!("Resource definition {name} and {} volume definition(s) created but no resources deployed", sizes.len()),
                )
                .obj("RscDfn", &name),
            );
            return Ok(out);
        }
        if let Err(e) = self.autoplace(&rk, &merged, &mut out) {
            if let Some(rd) = self.st.rds.remove(&rk) {
                for vd in rd.vds.values() {
                    self.be.remove_volume(&rd.name, vd.nr);
                }
            }
            return Err(e);
        }
        Ok(out)
    }

    pub(crate) fn space_info(&self, rg: &RgSt, req_filter: Option<&SelectFilter>) -> Value {
        let f = req_filter
            .cloned()
            .unwrap_or_default()
            .or(&rg.select_filter);
        let pc = f.place_count.unwrap_or(2).max(1) as usize;
        let pool_ok = f
            .pools()
            .is_none_or(|l| l.iter().any(|p| p.eq_ignore_ascii_case(&self.pool_name)));
        let nodes: Vec<&String> = self
            .st
            .nodes
            .iter()
            .filter(|(k, n)| {
                n.online
                    && pool_ok
                    && f.node_name_list
                        .as_ref()
                        .is_none_or(|l| l.is_empty() || l.iter().any(|x| key(x) == **k))
            })
            .map(|(k, _)| k)
            .collect();
        let free: Vec<u64> = nodes.iter().map(|k| self.pool_free(k)).collect();
        let total: Vec<u64> = nodes.iter().map(|_| self.pool_kib).collect();
        let mut by_free: Vec<(u64, &String)> = nodes
            .iter()
            .map(|k| (self.pool_free(k), *k))
            .filter(|(f, _)| *f > 0)
            .collect();
        by_free.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
        let (max, next) = if by_free.len() >= pc {
            let pick = &by_free[..pc];
            let next: Vec<Value> = pick
                .iter()
                .map(|(_, k)| json!({"node_name": self.st.nodes[*k].name, "stor_pool_name": self.pool_name}))
                .collect();
            (pick.iter().map(|p| p.0).min().unwrap_or(0), next)
        } else {
            (0, vec![])
        };
        let available = if next.is_empty() {
            0
        } else {
            crate::sim::placement::greedy_fill(free, pc)
        };
        json!({
            "max_vlm_size_in_kib": max,
            "available_size_in_kib": available,
            "capacity_in_kib": crate::sim::placement::greedy_fill(total, pc),
            "next_spawn_result": next,
        })
    }

    pub(crate) fn query_size(&mut self, req: &Req<'_>) -> Resp {
        let b: SizeQuery = match parse_or_default(req.body) {
            Ok(b) => b,
            Err(e) => return Resp::entries(500, &[*e]),
        };
        match self.rg_ref(&req.p[0]) {
            Ok(rg) => Resp::json(
                200,
                json!({"space_info": self.space_info(rg, b.select_filter.as_ref())}),
            ),
            Err(e) => Resp::json(200, json!({"reports": entries_json(&[*e])})),
        }
    }

    pub(crate) fn query_all_size(&mut self, req: &Req<'_>) -> Resp {
        let b: SizeQuery = match parse_or_default(req.body) {
            Ok(b) => b,
            Err(e) => return Resp::entries(500, &[*e]),
        };
        let mut result = serde_json::Map::new();
        for rg in self.st.rgs.values() {
            result.insert(
                rg.name.clone(),
                json!({"space_info": self.space_info(rg, b.select_filter.as_ref())}),
            );
        }
        Resp::json(200, json!({"result": result}))
    }
}
