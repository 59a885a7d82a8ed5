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
    r("POST", "/v1/controller/properties", |c, q| {
        ctx_reply(MOD, OBJ_CTRL_CONF, 201, c.ctrl_props(q))
    }),
    r("GET", "/v1/nodes", |c, q| get_reply(Ok(c.nodes_list(q)))),
    r("GET", "/v1/nodes/{node}", |c, q| {
        get_reply(
            c.node_ref(&q.p[0])
                .map(|n| super::core::key(&n.name))
                .map(|k| c.node_json(&k)),
        )
    }),
    r("GET", "/v1/nodes/{node}/net-interfaces", |c, q| {
        get_reply(c.netif_list(&q.p[0]))
    }),
    r("POST", "/v1/nodes/{node}/net-interfaces", |c, q| {
        ctx_reply(CRT, OBJ_NET_IF, 201, c.netif_create(q))
    }),
    r("GET", "/v1/nodes/{node}/net-interfaces/{netif}", |c, q| {
        get_reply(c.netif_get(&q.p[0], &q.p[1]))
    }),
    r("PUT", "/v1/nodes/{node}/net-interfaces/{netif}", |c, q| {
        ctx_reply(MOD, OBJ_NET_IF, 200, c.netif_modify(q))
    }),
    r(
        "DELETE",
        "/v1/nodes/{node}/net-interfaces/{netif}",
        |c, q| ctx_reply(DEL, OBJ_NET_IF, 200, c.netif_delete(q)),
    ),
    r("GET", "/v1/error-reports", |c, q| {
        get_reply(Ok(c.error_reports(q)))
    }),
    r("PATCH", "/v1/error-reports", |c, q| {
        ctx_reply(DEL, 0, 200, c.error_reports_delete(q))
    }),
    r("GET", "/v1/error-reports/{id}", |c, q| {
        get_reply(Ok(c.error_report(q)))
    }),
    r("DELETE", "/v1/error-reports/{id}", |c, q| {
        ctx_reply(DEL, 0, 200, c.error_report_delete(q))
    }),
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
    r("PUT", "/v1/resource-groups/{rg}", |c, q| {
        ctx_reply(MOD, OBJ_RSC_GRP, 200, c.rg_modify(q))
    }),
    r("DELETE", "/v1/resource-groups/{rg}", |c, q| {
        ctx_reply(DEL, OBJ_RSC_GRP, 200, c.rg_delete(q))
    }),
    r("POST", "/v1/resource-groups/{rg}/spawn", |c, q| {
        ctx_reply(CRT, OBJ_RSC_GRP, 201, c.spawn(q))
    }),
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
    r("POST", "/v1/resource-groups/{rg}/volume-groups", |c, q| {
        ctx_reply(CRT, OBJ_VLM_GRP, 201, c.vg_create(q))
    }),
    r(
        "GET",
        "/v1/resource-groups/{rg}/volume-groups/{nr}",
        |c, q| get_reply(c.vg_get(&q.p[0], &q.p[1])),
    ),
    r(
        "DELETE",
        "/v1/resource-groups/{rg}/volume-groups/{nr}",
        |c, q| ctx_reply(DEL, OBJ_VLM_GRP, 200, c.vg_delete(q)),
    ),
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
    r(
        "POST",
        "/v1/resource-definitions/{rd}/volume-definitions",
        |c, q| ctx_reply(CRT, OBJ_VLM_DFN, 200, c.vd_create(q)),
    ),
    r(
        "GET",
        "/v1/resource-definitions/{rd}/volume-definitions/{nr}",
        |c, q| get_reply(c.vd_get(&q.p[0], &q.p[1])),
    ),
    r(
        "PUT",
        "/v1/resource-definitions/{rd}/volume-definitions/{nr}",
        |c, q| ctx_reply(MOD, OBJ_VLM_DFN, 200, c.vd_modify(q)),
    ),
    r(
        "DELETE",
        "/v1/resource-definitions/{rd}/volume-definitions/{nr}",
        |c, q| ctx_reply(DEL, OBJ_VLM_DFN, 200, c.vd_delete(q)),
    ),
    r("GET", "/v1/resource-definitions/{rd}/resources", |c, q| {
        get_reply(
            c.rd_ref(&q.p[0]).map(|rd| {
                Value::Array(rd.rscs.values().map(|r| c.rsc_json(rd, r, false)).collect())
            }),
        )
    }),
    r("POST", "/v1/resource-definitions/{rd}/resources", |c, q| {
        ctx_reply(CRT, OBJ_RSC, 201, c.rsc_create_many(q))
    }),
    r(
        "GET",
        "/v1/resource-definitions/{rd}/resources/{node}",
        |c, q| get_reply(c.rsc_get(&q.p[0], &q.p[1])),
    ),
    r(
        "POST",
        "/v1/resource-definitions/{rd}/resources/{node}",
        |c, q| ctx_reply(CRT, OBJ_RSC, 201, c.rsc_create_one(q)),
    ),
    r(
        "PUT",
        "/v1/resource-definitions/{rd}/resources/{node}",
        |c, q| ctx_reply(MOD, OBJ_RSC, 200, c.rsc_modify(q)),
    ),
    r(
        "DELETE",
        "/v1/resource-definitions/{rd}/resources/{node}",
        |c, q| ctx_reply(DEL, OBJ_RSC, 200, c.rsc_delete(q)),
    ),
    r(
        "POST",
        "/v1/resource-definitions/{rd}/resources/{node}/make-available",
        |c, q| ctx_reply(CRT, OBJ_RSC, 200, c.make_available(q)),
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
    r("POST", "/v1/resource-definitions/{rd}/autoplace", |c, q| {
        ctx_reply(CRT, OBJ_RSC, 201, c.autoplace_req(q))
    }),
    r("GET", "/v1/resource-definitions/{rd}/snapshots", |c, q| {
        get_reply(
            c.rd_ref(&q.p[0])
                .map(|rd| Value::Array(rd.snaps.values().map(|s| c.snap_json(rd, s)).collect())),
        )
    }),
    r("POST", "/v1/resource-definitions/{rd}/snapshots", |c, q| {
        ctx_reply(CRT, OBJ_SNAPSHOT, 201, c.snap_create(q))
    }),
    r(
        "GET",
        "/v1/resource-definitions/{rd}/snapshots/{snap}",
        |c, q| get_reply(c.snap_get(&q.p[0], &q.p[1])),
    ),
    r(
        "DELETE",
        "/v1/resource-definitions/{rd}/snapshots/{snap}",
        |c, q| ctx_reply(DEL, OBJ_SNAPSHOT, 200, c.snap_delete(q)),
    ),
    r(
        "POST",
        "/v1/resource-definitions/{rd}/snapshot-rollback/{snap}",
        |c, q| ctx_reply(MOD, OBJ_RSC_DFN, 200, c.snap_rollback(q)),
    ),
    r(
        "POST",
        "/v1/resource-definitions/{rd}/snapshot-restore-volume-definition/{snap}",
        |c, q| ctx_reply_sync(CRT, OBJ_VLM_DFN, 200, c.snap_restore_vd(q)),
    ),
    r(
        "POST",
        "/v1/resource-definitions/{rd}/snapshot-restore-resource/{snap}",
        |c, q| ctx_reply(CRT, OBJ_RSC, 200, c.snap_restore_rsc(q)),
    ),
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
    r(
        "PUT",
        "/v1/resource-definitions/{rd}/resource-connections/{a}/{b}",
        |c, q| ctx_reply(MOD, OBJ_RSC_CONN, 200, c.conn_modify(q)),
    ),
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
