//! JSON views of the simulator state, shaped like the real controller's responses.

use serde_json::{json, Map, Value};

use super::core::{Core, DISKLESS_POOL};
use super::model::{Props, RdSt, RgSt, RscSt, SnapSt, VdSt};

/// Removes null, empty strings, empty arrays and empty objects (Jackson `NON_EMPTY`).
pub fn non_empty(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let v = non_empty(v);
                let empty = match &v {
                    Value::Null => true,
                    Value::String(s) => s.is_empty(),
                    Value::Array(a) => a.is_empty(),
                    Value::Object(o) => o.is_empty(),
                    _ => false,
                };
                if !empty {
                    out.insert(k, v);
                }
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.into_iter().map(non_empty).collect()),
        other => other,
    }
}

fn props(p: &Props) -> Value {
    json!(p)
}

impl Core {
    pub fn node_json(&self, key: &str) -> Value {
        let Some(n) = self.st.nodes.get(key) else {
            return Value::Null;
        };
        let mut p = n.props.clone();
        p.entry("CurStltConnName".into())
            .or_insert_with(|| "default".into());
        p.insert("NodeUname".into(), n.name.clone());
        let netifs: Vec<Value> = n.net_ifs.values().map(|i| self.netif_json(n, i)).collect();
        json!({
            "name": n.name,
            "type": "SATELLITE",
            "props": p,
            "flags": [],
            "net_interfaces": netifs,
            "connection_status": if n.online { "ONLINE" } else { "OFFLINE" },
            "uuid": n.uuid,
            "storage_providers": ["DISKLESS", "FILE", "FILE_THIN"],
            "resource_layers": ["DRBD", "STORAGE"],
        })
    }

    pub fn pool_json(&self, node_key: &str, diskless: bool) -> Value {
        let Some(n) = self.st.nodes.get(node_key) else {
            return Value::Null;
        };
        if diskless {
            return json!({
                "storage_pool_name": DISKLESS_POOL,
                "node_name": n.name,
                "provider_kind": "DISKLESS",
                "static_traits": {"SupportsSnapshots": "false"},
                "free_capacity": i64::MAX,
                "total_capacity": i64::MAX,
                "free_space_mgr_name": format!("{}:{}", n.name, DISKLESS_POOL),
                "uuid": n.diskless_pool_uuid,
                "supports_snapshots": false,
                "external_locking": false,
            });
        }
        let mut v = json!({
            "storage_pool_name": self.pool_name,
            "node_name": n.name,
            "provider_kind": "FILE_THIN",
            "props": {"StorDriver/FileDir": format!("/var/lib/linstor-pools/{}", self.pool_name)},
            "static_traits": {"Provisioning": "Thin", "SupportsSnapshots": "true"},
            "free_space_mgr_name": format!("{}:{}", n.name, self.pool_name),
            "uuid": n.pool_uuid,
            "supports_snapshots": true,
            "external_locking": false,
        });
        if n.online {
            v["free_capacity"] = json!(self.pool_free(node_key));
            v["total_capacity"] = json!(self.pool_kib);
        }
        v
    }

    pub fn rg_json(&self, rg: &RgSt) -> Value {
        let f = &rg.select_filter;
        let pools = f.pools();
        let mut sf = json!({
            "place_count": f.place_count,
            "storage_pool_list": pools,
            "not_place_with_rsc": f.not_place_with_rsc,
            "not_place_with_rsc_regex": f.not_place_with_rsc_regex,
            "replicas_on_same": f.replicas_on_same,
            "replicas_on_different": f.replicas_on_different,
            "x_replicas_on_different_map": f.x_replicas_on_different_map,
            "layer_stack": f.layer_stack,
            "provider_list": f.provider_list,
            "diskless_on_remaining": f.diskless_on_remaining,
            "diskless_type": f.diskless_type,
            "overprovision": f.overprovision,
        });
        if let Some(p) = &pools {
            if p.len() == 1 {
                sf["storage_pool"] = json!(p[0]);
            }
        }
        json!({
            "name": rg.name,
            "description": rg.description,
            "props": props(&rg.props),
            "select_filter": sf,
            "uuid": rg.uuid,
        })
    }

    pub fn vg_json(&self, nr: u32, uuid: &str, p: &Props) -> Value {
        json!({"volume_number": nr, "props": props(p), "uuid": uuid})
    }

    pub fn vd_json(&self, vd: &VdSt) -> Value {
        json!({
            "volume_number": vd.nr,
            "size_kib": vd.size_kib,
            "props": props(&vd.props),
            "flags": vd.flags,
            "layer_data": [
                {"type": "DRBD", "data": {"resource_name_suffix": "", "volume_number": vd.nr, "minor_number": vd.minor}},
                {"type": "STORAGE"}
            ],
            "uuid": vd.uuid,
        })
    }

    pub fn rd_json(&self, rd: &RdSt, with_vds: bool) -> Value {
        let mut v = json!({
            "name": rd.name,
            "external_name": rd.external_name,
            "props": props(&rd.props),
            "flags": rd.flags,
            "layer_data": [
                {"type": "DRBD", "data": {
                    "resource_name_suffix": "",
                    "peer_slots": rd.peer_slots.unwrap_or(7),
                    "al_stripes": 1,
                    "al_stripe_size_kib": 32,
                    "port": rd.port.map_or(-1, i64::from),
                    "transport_type": "IP",
                    "secret": rd.secret,
                    "down": false
                }},
                {"type": "STORAGE"}
            ],
            "uuid": rd.uuid,
            "resource_group_name": rd.rg,
        });
        if with_vds {
            v["volume_definitions"] =
                Value::Array(rd.vds.values().map(|vd| self.vd_json(vd)).collect());
        }
        v
    }

    fn backing_dev(&self, rd: &RdSt, r: &RscSt, vnr: u32) -> String {
        if r.is_diskless() {
            return "none".into();
        }
        if let Some(id) = rd.vds.get(&vnr).and_then(|v| v.props.get("OverrideVlmId")) {
            return format!("/var/lib/linstor-pools/{}/{id}.img", r.pool);
        }
        format!(
            "/var/lib/linstor-pools/{}/{}_{vnr:05}.img",
            r.pool,
            rd.name.to_ascii_lowercase()
        )
    }

    fn drbd_vols(&self, rd: &RdSt, r: &RscSt) -> Vec<Value> {
        rd.vds
            .values()
            .map(|vd| {
                let mut v = json!({
                    "drbd_volume_definition": {"resource_name_suffix": "", "volume_number": vd.nr, "minor_number": vd.minor},
                    "device_path": format!("/dev/drbd{}", vd.minor),
                    "backing_device": if r.is_diskless() { Value::Null } else { json!(self.backing_dev(rd, r, vd.nr)) },
                    "meta_disk": "internal",
                    "allocated_size_kib": if r.is_diskless() { 0 } else { vd.size_kib + meta_kib(vd.size_kib) },
                    "usable_size_kib": vd.size_kib,
                });
                if let Some(ds) = self.disk_state(r) {
                    v["disk_state"] = json!(ds);
                }
                v
            })
            .collect()
    }

    fn layer_object(&self, rd: &RdSt, r: &RscSt, in_use: Option<bool>) -> Value {
        let online = self.node_online(&r.node);
        let mut conns = Map::new();
        if online {
            for p in rd.rscs.values().filter(|p| p.node != r.node) {
                let up = self.node_online(&p.node);
                conns.insert(
                    p.node.clone(),
                    json!({"connected": up, "message": if up { "Connected" } else { "Connecting" }}),
                );
            }
        }
        let storage_vols: Vec<Value> = rd
            .vds
            .values()
            .map(|vd| {
                json!({
                    "volume_number": vd.nr,
                    "device_path": if r.is_diskless() { Value::Null } else { json!(self.backing_dev(rd, r, vd.nr)) },
                    "allocated_size_kib": if r.is_diskless() { 0 } else { vd.size_kib + meta_kib(vd.size_kib) },
                    "usable_size_kib": if r.is_diskless() { 0 } else { vd.size_kib + meta_kib(vd.size_kib) },
                    "disk_state": "[]",
                })
            })
            .collect();
        let any_primary = rd
            .rscs
            .values()
            .any(|p| self.rsc_in_use_raw(rd, p) && p.node != r.node);
        let mut drbd = json!({
            "node_id": r.node_id,
            "tcp_ports": [r.port],
            "peer_slots": r.peer_slots.unwrap_or(7),
            "al_stripes": 1,
            "al_size": 32,
            "flags": if r.drbd_client { json!(["INITIALIZED", "CLIENT"]) } else { json!(["INITIALIZED"]) },
            "drbd_volumes": self.drbd_vols(rd, r),
            "connections": conns,
        });
        if online {
            drbd["promotion_score"] = json!(if r.is_diskless() { 1 } else { 10102 });
            drbd["may_promote"] = json!(!any_primary && !in_use.unwrap_or(false));
        }
        json!({
            "type": "DRBD",
            "children": [{
                "type": "STORAGE",
                "storage": {"storage_volumes": storage_vols, "storage_pool_name": r.pool}
            }],
            "drbd": drbd,
        })
    }

    pub fn rsc_json(&self, rd: &RdSt, r: &RscSt, with_volumes: bool) -> Value {
        let online = self.node_online(&r.node);
        let in_use = online.then(|| self.rsc_in_use_raw(rd, r));
        let mut p = r.props.clone();
        p.insert("StorPoolName".into(), r.pool.clone());
        let mut v = json!({
            "name": rd.name,
            "node_name": r.node,
            "props": p,
            "flags": r.flags,
            "layer_object": self.layer_object(rd, r, in_use),
            "uuid": r.uuid,
            "create_timestamp": r.create_ts,
        });
        if let Some(u) = in_use {
            v["state"] = json!({"in_use": u});
        }
        if with_volumes {
            v["volumes"] =
                Value::Array(rd.vds.values().map(|vd| self.vlm_json(rd, r, vd)).collect());
        }
        v
    }

    pub fn vlm_json(&self, rd: &RdSt, r: &RscSt, vd: &VdSt) -> Value {
        let diskless = r.is_diskless();
        let by_res = format!("/dev/drbd/by-res/{}/{}", rd.name, vd.nr);
        let mut p = Props::new();
        if diskless {
            p.insert("Satellite/Device/Symlinks/0".into(), by_res);
        } else {
            p.insert(
                "Satellite/Device/Symlinks/0".into(),
                format!(
                    "/dev/drbd/by-disk/{}/{}_{:05}",
                    r.pool,
                    rd.name.to_ascii_lowercase(),
                    vd.nr
                ),
            );
            p.insert("Satellite/Device/Symlinks/1".into(), by_res);
        }
        let dv = self
            .drbd_vols(rd, r)
            .into_iter()
            .find(|d| d["drbd_volume_definition"]["volume_number"] == json!(vd.nr))
            .unwrap_or(Value::Null);
        let mut v = json!({
            "volume_number": vd.nr,
            "storage_pool_name": r.pool,
            "provider_kind": if diskless { "DISKLESS" } else { "FILE_THIN" },
            "device_path": format!("/dev/drbd{}", vd.minor),
            "allocated_size_kib": if diskless { 0 } else { vd.size_kib + meta_kib(vd.size_kib) },
            "props": p,
            "flags": [],
            "layer_data_list": [
                {"type": "DRBD", "data": dv},
                {"type": "STORAGE", "data": {"volume_number": vd.nr, "disk_state": "[]"}}
            ],
            "uuid": vd.uuid,
        });
        if let Some(ds) = self.disk_state(r) {
            let mut reps = Map::new();
            for peer in rd.rscs.values().filter(|p| p.node != r.node) {
                let peer_ds = self.disk_state(peer);
                let st = match (&peer_ds, ds.starts_with("SyncTarget")) {
                    (None, _) => json!({"replication_state": "Off"}),
                    (Some(_), true) if !peer.is_diskless() => {
                        json!({"replication_state": "SyncTarget"})
                    }
                    (Some(p), _) if p.starts_with("SyncTarget") && !diskless => {
                        json!({"replication_state": "SyncSource"})
                    }
                    _ => json!({"replication_state": "Established"}),
                };
                reps.insert(peer.node.clone(), st);
            }
            v["state"] = json!({
                "disk_state": ds,
                "replication_states": reps,
            });
        }
        v
    }

    pub fn snap_json(&self, rd: &RdSt, s: &SnapSt) -> Value {
        json!({
            "name": s.name,
            "resource_name": rd.name,
            "nodes": s.nodes,
            "props": props(&s.props),
            "snapshot_definition_props": props(&s.props),
            "resource_definition_props": props(&s.rd_props),
            "flags": ["SUCCESSFUL"],
            "volume_definitions": s.vols.iter().map(|(nr, sz)| json!({"volume_number": nr, "size_kib": sz})).collect::<Vec<_>>(),
            "uuid": s.uuid,
            "snapshots": s.nodes.iter().map(|n| json!({
                "snapshot_name": s.name,
                "node_name": n,
                "create_timestamp": s.create_ts,
                "flags": ["SUCCESSFUL"],
                "uuid": s.uuid,
                "snapshot_volumes": s.vols.keys().map(|nr| json!({"vlm_nr": nr, "state": "complete"})).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        })
    }
}

/// DRBD internal metadata size for a volume (about 32 KiB per GiB plus 4 KiB).
pub fn meta_kib(size_kib: u64) -> u64 {
    size_kib.div_ceil(32768) + 4
}
