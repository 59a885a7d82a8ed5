//! The route table: every `/v1` route the simulator serves, as (method, pattern, handler),
//! and the matcher the server uses to find one for a request path.

use serde_json::{json, Value};

use super::core::{ctx_reply, ctx_reply_sync, get_reply, Core, Req, Resp};
use super::rc::*;

/// What a route runs: the controller state and the request, giving the answer.
pub type Handler = fn(&mut Core, &Req<'_>) -> Resp;

/// One route: `pattern` segments in braces are parameters, passed in order as `Req::p`.
pub struct Route {
    pub method: &'static str,
    pub pattern: &'static str,
    pub handler: Handler,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.pattern)
    }
}

const fn r(method: &'static str, pattern: &'static str, handler: Handler) -> Route {
    Route {
        method,
        pattern,
        handler,
    }
}

/// A route that changes the state: `METHOD "pattern" => handler; op, obj, status`, answered
/// with the handler's ApiCallRc entries in `op`/`obj` context, and `status` when all succeeded.
macro_rules! change {
    ($method:ident $pattern:literal => $handler:ident; $op:expr, $obj:expr, $ok:literal) => {
        r(stringify!($method), $pattern, |c, q| {
            ctx_reply($op, $obj, $ok, c.$handler(q))
        })
    };
}

/// [`change!`] for the endpoints run in `RequestHelper.doInScope`, where a body that does not
/// parse gives 400.
macro_rules! change_sync {
    ($method:ident $pattern:literal => $handler:ident; $op:expr, $obj:expr, $ok:literal) => {
        r(stringify!($method), $pattern, |c, q| {
            ctx_reply_sync($op, $obj, $ok, c.$handler(q))
        })
    };
}

const RD: &str = "/v1/resource-definitions/{rd}";

/// Every route, in no particular order (the matcher prefers the most literal segments).
pub static ROUTES: &[Route] = &[
    r("GET", "/v1/controller/version", |c, _| {
        Resp::json(200, c.version_json())
    }),
    r("GET", "/v1/controller/properties", |c, _| Resp {
        status: 200,
        body: Some(json!(c.st.ctrl_props)),
        headers: vec![],
    }),
    change!(POST "/v1/controller/properties" => ctrl_props; MOD, OBJ_CTRL_CONF, 201),
    r("GET", "/v1/nodes", |c, q| get_reply(Ok(c.nodes_list(q)))),
    r("GET", "/v1/nodes/{node}", |c, q| {
        get_reply(
            c.node_ref(&q.p[0])
                .map(|n| super::core::key(&n.name))
                .map(|k| c.node_json(&k)),
        )
    }),
    r("GET", "/v1/nodes/{node}/net-interfaces", |c, q| {
        get_reply(c.netif_list(q))
    }),
    change_sync!(POST "/v1/nodes/{node}/net-interfaces" => netif_create; CRT, OBJ_NET_IF, 201),
    r("GET", "/v1/nodes/{node}/net-interfaces/{netif}", |c, q| {
        get_reply(c.netif_get(&q.p[0], &q.p[1]))
    }),
    change_sync!(PUT "/v1/nodes/{node}/net-interfaces/{netif}" => netif_modify; MOD, OBJ_NET_IF, 200),
    change_sync!(DELETE "/v1/nodes/{node}/net-interfaces/{netif}" => netif_delete; DEL, OBJ_NET_IF, 200),
    r("GET", "/v1/error-reports", |c, q| {
        get_reply(Ok(c.error_reports(q)))
    }),
    change!(PATCH "/v1/error-reports" => error_reports_delete; DEL, 0, 200),
    r("GET", "/v1/error-reports/{id}", |c, q| {
        get_reply(Ok(c.error_report(q)))
    }),
    change!(DELETE "/v1/error-reports/{id}" => error_report_delete; DEL, 0, 200),
    r("GET", "/v1/space-report", |c, _| {
        get_reply(Ok(c.space_report()))
    }),
    r("GET", "/v1/nodes/{node}/storage-pools", |c, q| {
        get_reply(c.node_pools(&q.p[0]))
    }),
    r("GET", "/v1/nodes/{node}/storage-pools/{pool}", |c, q| {
        get_reply(c.node_pool(&q.p[0], &q.p[1]))
    }),
    r("GET", "/v1/view/storage-pools", |c, q| {
        get_reply(Ok(c.view_pools(q)))
    }),
    r("GET", "/v1/view/resources", |c, q| {
        get_reply(Ok(c.view_resources(q)))
    }),
    r("GET", "/v1/view/snapshots", |c, q| {
        get_reply(Ok(c.view_snapshots(q)))
    }),
    r("GET", "/v1/resource-groups", |c, _| {
        get_reply(Ok(Value::Array(
            c.st.rgs.values().map(|g| c.rg_json(g)).collect(),
        )))
    }),
    r("POST", "/v1/resource-groups", |c, q| {
        ctx_reply_sync(CRT, OBJ_RSC_GRP, 201, c.rg_create(q))
    }),
    r("GET", "/v1/resource-groups/{rg}", |c, q| {
        get_reply(c.rg_ref(&q.p[0]).map(|g| c.rg_json(g)))
    }),
    change!(PUT "/v1/resource-groups/{rg}" => rg_modify; MOD, OBJ_RSC_GRP, 200),
    change!(DELETE "/v1/resource-groups/{rg}" => rg_delete; DEL, OBJ_RSC_GRP, 200),
    change!(POST "/v1/resource-groups/{rg}/spawn" => spawn; CRT, OBJ_RSC_GRP, 201),
    r(
        "POST",
        "/v1/resource-groups/{rg}/query-size-info",
        |c, q| c.query_size(q),
    ),
    r(
        "POST",
        "/v1/queries/resource-groups/query-all-size-info",
        |c, q| c.query_all_size(q),
    ),
    r("GET", "/v1/resource-groups/{rg}/volume-groups", |c, q| {
        get_reply(c.rg_ref(&q.p[0]).map(|g| {
            Value::Array(
                g.vgs
                    .values()
                    .map(|v| c.vg_json(v.nr, &v.uuid, &v.props))
                    .collect(),
            )
        }))
    }),
    change!(POST "/v1/resource-groups/{rg}/volume-groups" => vg_create; CRT, OBJ_VLM_GRP, 201),
    r(
        "GET",
        "/v1/resource-groups/{rg}/volume-groups/{nr}",
        |c, q| get_reply(c.vg_get(&q.p[0], &q.p[1])),
    ),
    change!(DELETE "/v1/resource-groups/{rg}/volume-groups/{nr}" => vg_delete; DEL, OBJ_VLM_GRP, 200),
    r("GET", "/v1/resource-definitions", |c, q| {
        get_reply(Ok(c.rd_list(q)))
    }),
    r("POST", "/v1/resource-definitions", |c, q| {
        ctx_reply_sync(CRT, OBJ_RSC_DFN, 201, c.rd_create(q))
    }),
    r("GET", RD, |c, q| {
        get_reply(
            c.rd_ref(&q.p[0])
                .map(|rd| c.rd_json(rd, q.q_bool("with_volume_definitions"))),
        )
    }),
    r("PUT", RD, |c, q| {
        ctx_reply(MOD, OBJ_RSC_DFN, 200, c.rd_modify(q))
    }),
    r("DELETE", RD, |c, q| {
        ctx_reply(DEL, OBJ_RSC_DFN, 200, c.rd_delete(q))
    }),
    r(
        "GET",
        "/v1/resource-definitions/{rd}/volume-definitions",
        |c, q| {
            get_reply(
                c.rd_ref(&q.p[0])
                    .map(|rd| Value::Array(rd.vds.values().map(|v| c.vd_json(v)).collect())),
            )
        },
    ),
    change!(POST "/v1/resource-definitions/{rd}/volume-definitions" => vd_create; CRT, OBJ_VLM_DFN, 200),
    r(
        "GET",
        "/v1/resource-definitions/{rd}/volume-definitions/{nr}",
        |c, q| get_reply(c.vd_get(&q.p[0], &q.p[1])),
    ),
    change!(PUT "/v1/resource-definitions/{rd}/volume-definitions/{nr}" => vd_modify; MOD, OBJ_VLM_DFN, 200),
    change!(DELETE "/v1/resource-definitions/{rd}/volume-definitions/{nr}" => vd_delete; DEL, OBJ_VLM_DFN, 200),
    r("GET", "/v1/resource-definitions/{rd}/resources", |c, q| {
        get_reply(
            c.rd_ref(&q.p[0]).map(|rd| {
                Value::Array(rd.rscs.values().map(|r| c.rsc_json(rd, r, false)).collect())
            }),
        )
    }),
    change!(POST "/v1/resource-definitions/{rd}/resources" => rsc_create_many; CRT, OBJ_RSC, 201),
    r(
        "GET",
        "/v1/resource-definitions/{rd}/resources/{node}",
        |c, q| get_reply(c.rsc_get(&q.p[0], &q.p[1])),
    ),
    change!(POST "/v1/resource-definitions/{rd}/resources/{node}" => rsc_create_one; CRT, OBJ_RSC, 201),
    change!(PUT "/v1/resource-definitions/{rd}/resources/{node}" => rsc_modify; MOD, OBJ_RSC, 200),
    change!(DELETE "/v1/resource-definitions/{rd}/resources/{node}" => rsc_delete; DEL, OBJ_RSC, 200),
    change!(POST "/v1/resource-definitions/{rd}/resources/{node}/make-available" => make_available; CRT, OBJ_RSC, 200),
    r(
        "PUT",
        "/v1/resource-definitions/{rd}/resources/{node}/toggle-disk",
        |c, q| c.toggle_disk(q),
    ),
    r(
        "PUT",
        "/v1/resource-definitions/{rd}/resources/{node}/toggle-disk/diskful",
        |c, q| c.toggle_diskful_route(q),
    ),
    r(
        "PUT",
        "/v1/resource-definitions/{rd}/resources/{node}/toggle-disk/diskful/{pool}",
        |c, q| c.toggle_diskful_route(q),
    ),
    r(
        "PUT",
        "/v1/resource-definitions/{rd}/resources/{node}/toggle-disk/diskless",
        |c, q| c.toggle_diskless_route(q),
    ),
    r(
        "PUT",
        "/v1/resource-definitions/{rd}/resources/{node}/toggle-disk/diskless/{pool}",
        |c, q| c.toggle_diskless_route(q),
    ),
    r(
        "PUT",
        "/v1/resource-definitions/{rd}/resources/{node}/migrate-disk/{from}",
        |c, q| c.migrate_disk_route(q),
    ),
    r(
        "PUT",
        "/v1/resource-definitions/{rd}/resources/{node}/migrate-disk/{from}/{pool}",
        |c, q| c.migrate_disk_route(q),
    ),
    r(
        "GET",
        "/v1/resource-definitions/{rd}/resources/{node}/volumes",
        |c, q| get_reply(c.vlm_list(&q.p[0], &q.p[1], None)),
    ),
    r(
        "GET",
        "/v1/resource-definitions/{rd}/resources/{node}/volumes/{nr}",
        |c, q| get_reply(c.vlm_list(&q.p[0], &q.p[1], Some(&q.p[2]))),
    ),
    change!(POST "/v1/resource-definitions/{rd}/autoplace" => autoplace_req; CRT, OBJ_RSC, 201),
    r("GET", "/v1/resource-definitions/{rd}/snapshots", |c, q| {
        get_reply(
            c.rd_ref(&q.p[0])
                .map(|rd| Value::Array(rd.snaps.values().map(|s| c.snap_json(rd, s)).collect())),
        )
    }),
    change!(POST "/v1/resource-definitions/{rd}/snapshots" => snap_create; CRT, OBJ_SNAPSHOT, 201),
    r(
        "GET",
        "/v1/resource-definitions/{rd}/snapshots/{snap}",
        |c, q| get_reply(c.snap_get(&q.p[0], &q.p[1])),
    ),
    change!(DELETE "/v1/resource-definitions/{rd}/snapshots/{snap}" => snap_delete; DEL, OBJ_SNAPSHOT, 200),
    change!(POST "/v1/resource-definitions/{rd}/snapshot-rollback/{snap}" => snap_rollback; MOD, OBJ_RSC_DFN, 200),
    r(
        "POST",
        "/v1/resource-definitions/{rd}/snapshot-restore-volume-definition/{snap}",
        |c, q| ctx_reply_sync(CRT, OBJ_VLM_DFN, 200, c.snap_restore_vd(q)),
    ),
    change!(POST "/v1/resource-definitions/{rd}/snapshot-restore-resource/{snap}" => snap_restore_rsc; CRT, OBJ_RSC, 200),
    r("POST", "/v1/resource-definitions/{rd}/clone", |c, q| {
        c.clone_rd(q)
    }),
    r(
        "GET",
        "/v1/resource-definitions/{rd}/clone/{clone}",
        |c, q| c.clone_status(&q.p[1]),
    ),
    r(
        "GET",
        "/v1/resource-definitions/{rd}/sync-status",
        |c, q| {
            get_reply(
                c.rd_ref(&q.p[0])
                    .map(|rd| json!({"synced_on_all": !rd.flags.iter().any(|f| f == "CLONING")})),
            )
        },
    ),
    r(
        "GET",
        "/v1/resource-definitions/{rd}/resource-connections",
        |c, q| get_reply(c.conn_list(q)),
    ),
    r(
        "GET",
        "/v1/resource-definitions/{rd}/resource-connections/{a}/{b}",
        |c, q| get_reply(c.conn_get(q)),
    ),
    change!(PUT "/v1/resource-definitions/{rd}/resource-connections/{a}/{b}" => conn_modify; MOD, OBJ_RSC_CONN, 200),
];

/// Result of matching a path against the route table.
#[derive(Debug)]
pub enum RouteMatch {
    Found(&'static str, Vec<String>),
    WrongMethod(&'static str),
    NotFound,
}

/// Finds the route for `method` and the path segments; with several matches the one with
/// the most literal segments wins.
pub fn match_route(method: &str, segs: &[String]) -> RouteMatch {
    let segs = match segs {
        [rest @ .., last] if last.is_empty() && !rest.is_empty() => rest,
        _ => segs,
    };
    let mut wrong = None;
    let mut best: Option<(&'static str, Vec<String>, usize)> = None;
    for rt in ROUTES {
        let ps: Vec<&str> = rt.pattern.trim_start_matches('/').split('/').collect();
        if ps.len() != segs.len() {
            continue;
        }
        let mut params = vec![];
        let mut lits = 0;
        let ok = ps.iter().zip(segs).all(|(p, s)| {
            if p.starts_with('{') {
                params.push(s.clone());
                !s.is_empty()
            } else {
                lits += 1;
                *p == s
            }
        });
        if !ok {
            continue;
        }
        if rt.method != method {
            wrong = Some(rt.pattern);
            continue;
        }
        if best.as_ref().is_none_or(|b| lits > b.2) {
            best = Some((rt.pattern, params, lits));
        }
    }
    match (best, wrong) {
        (Some((p, params, _)), _) => RouteMatch::Found(p, params),
        (None, Some(p)) => RouteMatch::WrongMethod(p),
        _ => RouteMatch::NotFound,
    }
}
