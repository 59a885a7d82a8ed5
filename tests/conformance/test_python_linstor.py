"""Drive linstor-sim with python-linstor and validate raw replies against the OpenAPI spec.

Usage: test_python_linstor.py URL SPEC_PATH [URL_1_31_1]
URL_1_31_1 is a simulator emulating LINSTOR 1.31.1 (rollback only to the newest snapshot).
Prints one line per check and a final "N passed, N failed"; exits non-zero on failure.
"""

import json
import os
import sys
import urllib.error
import urllib.request

import linstor

URL, SPEC = sys.argv[1], sys.argv[2]
URL_OLD = sys.argv[3] if len(sys.argv) > 3 else None
passed = 0
failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok   {name}")
    else:
        failed += 1
        print(f"FAIL {name} {detail}")


def raw(method, path, body=None, base=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request((base or URL) + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            text = r.read()
            return r.status, json.loads(text) if text else None
    except urllib.error.HTTPError as e:
        text = e.read()
        return e.code, json.loads(text) if text else None


# ---------------------------------------------------------------- spec validation
validator = None
if os.path.exists(SPEC):
    import jsonschema
    import yaml

    with open(SPEC) as f:
        spec = yaml.safe_load(f)
    # Documented server-vs-spec deviations (linstor-rest.md section 5).
    node_type = spec["components"]["schemas"]["Node"]["properties"].get("type", {})
    if "enum" in node_type:
        node_type["enum"] = node_type["enum"] + [v.upper() for v in node_type["enum"]]

    def one_to_any(node):
        # LayerData variants have no required fields, so any object matches several of them
        # and a strict oneOf can never pass (true for the real server as well).
        if isinstance(node, dict):
            if "oneOf" in node:
                node["anyOf"] = node.pop("oneOf")
            for v in node.values():
                one_to_any(v)
        elif isinstance(node, list):
            for v in node:
                one_to_any(v)

    one_to_any(spec)

    def schema_for(path, method, status):
        op = spec["paths"][path][method]
        resp = op["responses"].get(str(status))
        if resp is None and path.endswith("/volume-definitions") and method == "post" and status == 200:
            resp = op["responses"].get("201")
        if resp is None:
            return None
        if "$ref" in resp and resp["$ref"].startswith("#/components/responses/"):
            resp = spec["components"]["responses"][resp["$ref"].split("/")[-1]]
        sch = resp.get("content", {}).get("application/json", {}).get("schema")
        return sch

    def validator(name, path, method, status, body):
        sch = schema_for(path, method, status)
        if sch is None:
            check(f"schema {name}", False, f"no schema for {method} {path} {status}")
            return
        full = dict(sch)
        full["components"] = spec["components"]
        try:
            jsonschema.Draft4Validator(full).validate(body)
            check(f"schema {name}", True)
        except jsonschema.ValidationError as e:
            check(f"schema {name}", False, f"{e.message} at {list(e.absolute_path)}")
else:
    print(f"SKIP: spec not found at {SPEC}; schema validation skipped")


def validate(name, path, method, status, body):
    if validator is not None:
        validator(name, path, method, status, body)


# ---------------------------------------------------------------- python-linstor flow
def no_error(name, replies):
    ok = linstor.Linstor.all_api_responses_no_error(replies)
    check(name, ok, "; ".join(str(r) for r in replies if r.is_error()))


with linstor.Linstor(URL) as lin:
    no_error("resource_group_create", lin.resource_group_create("conf_rg", place_count=2))
    no_error("volume_group_create", lin.volume_group_create("conf_rg"))
    no_error("resource_group_spawn", lin.resource_group_spawn("conf_rg", "conf_rsc", [102400]))
    rsc = lin.resource_list(filter_by_resources=["conf_rsc"])
    nodes_with = {r.node_name for r in rsc[0].resources} if rsc else set()
    check("spawned resources listed", len(nodes_with) >= 2, str(nodes_with))
    nodes = [n.name for n in lin.node_list()[0].nodes]
    target = next((n for n in nodes if n not in nodes_with), None)
    if target is None:
        target = next(n for n in nodes
                      if any(r.node_name == n and "TIE_BREAKER" in r.flags for r in rsc[0].resources))
    no_error("resource_make_available", lin.resource_make_available(target, "conf_rsc", diskful=False))
    rsc = lin.resource_list(filter_by_resources=["conf_rsc"])
    check("resource_list", bool(rsc) and any(r.node_name == target for r in rsc[0].resources))
    vols = lin.volume_list(filter_by_resources=["conf_rsc"])
    paths = [v.device_path for r in vols[0].resources for v in r.volumes] if vols else []
    check("volume_list device paths", paths and all(p.startswith("/dev/drbd") for p in paths), str(paths))
    diskful = [r.node_name for r in rsc[0].resources if "DISKLESS" not in r.flags]
    no_error("snapshot_create", lin.snapshot_create(diskful, "conf_rsc", "conf_snap"))
    snaps = lin.snapshot_dfn_list()
    names = [s.snapshot_name for s in snaps[0].snapshots] if snaps else []
    check("snapshot_dfn_list", "conf_snap" in names, str(names))
    no_error("snapshot_delete", lin.snapshot_delete("conf_rsc", "conf_snap"))
    no_error("volume_dfn_modify resize", lin.volume_dfn_modify("conf_rsc", 0, size=204800))
    no_error("resource_dfn_delete", lin.resource_dfn_delete("conf_rsc"))
    rds = lin.resource_dfn_list()
    check("rd gone", all(d.name != "conf_rsc" for d in rds[0].resource_definitions))

# ---------------------------------------------------------------- raw replies vs. spec
st, body = raw("GET", "/v1/controller/version")
check("version 200", st == 200 and body.get("rest_api_version") == "1.28.0")
validate("controller version", "/v1/controller/version", "get", st, body)
st, body = raw("POST", "/v1/resource-groups", {"name": "spec_rg", "select_filter": {"place_count": 2}})
check("rg create 201", st == 201)
validate("rg create", "/v1/resource-groups", "post", st, body)
st, body = raw("POST", "/v1/resource-groups/spec_rg/spawn",
               {"resource_definition_name": "spec_rsc", "volume_sizes": [65536]})
check("spawn 201", st == 201)
validate("spawn", "/v1/resource-groups/{resource_group}/spawn", "post", st, body)
st, body = raw("POST", "/v1/resource-definitions/spec_rsc/volume-definitions",
               {"volume_definition": {"size_kib": 4096}})
check("vd create 200", st == 200)
validate("vd create", "/v1/resource-definitions/{resource}/volume-definitions", "post", st, body)
for name, path, tmpl in [
    ("nodes", "/v1/nodes", "/v1/nodes"),
    ("view resources", "/v1/view/resources", "/v1/view/resources"),
    ("view storage pools", "/v1/view/storage-pools", "/v1/view/storage-pools"),
    ("resource groups", "/v1/resource-groups", "/v1/resource-groups"),
    ("resource definitions", "/v1/resource-definitions", "/v1/resource-definitions"),
    ("volume definitions", "/v1/resource-definitions/spec_rsc/volume-definitions",
     "/v1/resource-definitions/{resource}/volume-definitions"),
]:
    st, body = raw("GET", path)
    check(f"GET {name} 200", st == 200)
    validate(name, tmpl, "get", st, body)
st, body = raw("POST", "/v1/resource-definitions/spec_rsc/snapshots", {"name": "s1"})
check("snapshot create 201", st == 201)
validate("snapshot create", "/v1/resource-definitions/{resource}/snapshots", "post", st, body)
st, body = raw("GET", "/v1/view/snapshots")
validate("view snapshots", "/v1/view/snapshots", "get", st, body)
st, body = raw("POST", "/v1/queries/resource-groups/query-all-size-info", {})
check("query-all-size-info 200", st == 200)
validate("query-all-size-info", "/v1/queries/resource-groups/query-all-size-info", "post", st, body)
st, body = raw("PUT", "/v1/resource-definitions/spec_rsc/volume-definitions/0", {"size_kib": 131072})
check("resize 200", st == 200)
validate("resize", "/v1/resource-definitions/{resource}/volume-definitions/{volume_number}", "put", st, body)

# ---------------------------------------------------------------- the issue-20 strictness checks
FAIL_IN_USE = 997
FAIL_EXISTS_SNAPSHOT_DFN = 514


def code_of(reply):
    return reply.ret_code & 0x7FFF if reply is not None else None


def first_error(replies):
    return next((r for r in replies if r.is_error()), None)


# As the official CLI sends `linstor rg create ... --place-count 2`: the count as a string.
st, body = raw("POST", "/v1/resource-groups", {"name": "str_rg", "select_filter": {"place_count": "2"}})
check("rg create with place_count as a string 201", st == 201, str(body))
st, body = raw("PUT", "/v1/resource-groups/str_rg", {"select_filter": {"place_count": "2"}})
check("rg modify with place_count as a string 200", st == 200, str(body))
st, body = raw("POST", "/v1/resource-groups/str_rg/query-size-info", {"select_filter": {"place_count": "2"}})
check("query-size-info with place_count as a string 200", st == 200, str(body))
st, body = raw("POST", "/v1/resource-groups/str_rg/spawn",
               {"resource_definition_name": "num_rsc", "volume_sizes": ["65536"],
                "resource_definition_props": {"Aux/pm/vmid": 101}})
check("spawn with a numeric property value 201", st == 201, str(body))

with linstor.Linstor(URL) as lin:
    rds = lin.resource_dfn_list(filter_by_resource_definitions=["num_rsc"])
    props = rds[0].resource_definitions[0].properties if rds and rds[0].resource_definitions else {}
    check("numeric property value stored as a string", props.get("Aux/pm/vmid") == "101", str(props))

    qsi = lin.resource_group_query_size_info("str_rg")
    check("resource_group_query_size_info", qsi.space_info.max_vlm_size_in_kib > 0,
          str(qsi.space_info.max_vlm_size_in_kib))

    # Diskless through a DISKLESS pool (linstor resource create n r -s DfltDisklessStorPool).
    rsc = lin.resource_list(filter_by_resources=["num_rsc"])
    held = {r.node_name for r in rsc[0].resources}
    diskful = sorted(r.node_name for r in rsc[0].resources if "DISKLESS" not in r.flags)
    free = next((n for n in nodes if n not in held), None)
    tb = next((r.node_name for r in rsc[0].resources if "TIE_BREAKER" in r.flags), None)
    check("a node without the resource and a tie-breaker node to try", free is not None and tb is not None,
          f"free={free} tie-breaker={tb}")
    for node in [n for n in (free, tb) if n]:
        replies = lin.resource_create([linstor.ResourceData(node, "num_rsc", storage_pool="DfltDisklessStorPool")])
        no_error(f"diskless create via the DISKLESS pool on {node}", replies)
        r = lin.resource_list(filter_by_resources=["num_rsc"], filter_by_nodes=[node])[0].resources[0]
        check(f"diskless on {node}, not a tie-breaker", "DRBD_DISKLESS" in r.flags and "TIE_BREAKER" not in r.flags,
              str(r.flags))

    # Resource connections: 404 unless both nodes hold the resource; props kept.
    a, b = diskful[0], diskful[1]
    no_error("resource_conn_modify", lin.resource_conn_modify(
        "num_rsc", a, b, {"DrbdOptions/Net/allow-two-primaries": "yes"}, []))
    conn = lin.resource_conn_node_list_raise("num_rsc", a, b)
    check("resource connection props", conn.properties.get("DrbdOptions/Net/allow-two-primaries") == "yes",
          str(conn.properties))
    conns = lin.resource_conn_list_raise("num_rsc")
    check("resource_conn_list", len(conns.resource_connections) >= 1, str(conns.resource_connections))
    st, body = raw("GET", f"/v1/resource-definitions/num_rsc/resource-connections/{a}/{a}")
    check("resource connection of a node with itself 404", st == 404, str(body))

    # Snapshots: two, list, rollback to the older one (allowed since 1.31.2), delete.
    for s in ("snap_a", "snap_b"):
        no_error(f"snapshot_create {s}", lin.snapshot_create(diskful, "num_rsc", s))
    names = [s.snapshot_name for s in lin.snapshot_dfn_list()[0].snapshots]
    check("snapshot_dfn_list lists both", {"snap_a", "snap_b"} <= set(names), str(names))
    no_error("snapshot_rollback to the older snapshot (1.34)", lin.snapshot_rollback("num_rsc", "snap_a"))
    for s in ("snap_a", "snap_b"):
        no_error(f"snapshot_delete {s}", lin.snapshot_delete("num_rsc", s))
    names = [s.snapshot_name for s in lin.snapshot_dfn_list()[0].snapshots]
    check("snapshots gone", not {"snap_a", "snap_b"} & set(names), str(names))

    # Delete of a resource that is in use (Primary) is refused with FAIL_IN_USE.
    st, body = raw("POST", "/sim/in-use", {"resource": "num_rsc", "node": a, "in_use": True})
    check("opened on a node (Primary)", st == 200, str(body))
    err = first_error(lin.resource_delete(a, "num_rsc"))
    check("resource delete refused while Primary", code_of(err) == FAIL_IN_USE,
          str(err) if err else "no error")
    raw("POST", "/sim/in-use", {"resource": "num_rsc", "node": a, "in_use": False})
    no_error("resource delete once closed", lin.resource_delete(a, "num_rsc"))

if URL_OLD:
    with linstor.Linstor(URL_OLD) as lin:
        check("emulated 1.31.1 reports it", lin.controller_version().version == "1.31.1")
        no_error("1.31.1 resource_group_create", lin.resource_group_create("old_rg", place_count=2))
        no_error("1.31.1 spawn", lin.resource_group_spawn("old_rg", "old_rsc", [65536]))
        rsc = lin.resource_list(filter_by_resources=["old_rsc"])
        dfl = [r.node_name for r in rsc[0].resources if "DISKLESS" not in r.flags]
        for s in ("snap_a", "snap_b"):
            no_error(f"1.31.1 snapshot_create {s}", lin.snapshot_create(dfl, "old_rsc", s))
        err = first_error(lin.snapshot_rollback("old_rsc", "snap_a"))
        check("1.31.1 rollback to the older snapshot refused",
              code_of(err) == FAIL_EXISTS_SNAPSHOT_DFN
              and "only allowed with the most recent snapshot" in err.message,
              str(err) if err else "no error")
        no_error("1.31.1 rollback to the newest snapshot", lin.snapshot_rollback("old_rsc", "snap_b"))
else:
    check("second simulator emulating 1.31.1 given", False, "run.sh passes its URL as the third argument")

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
