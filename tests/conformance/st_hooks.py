"""Schemathesis hooks for the simulator runs.

A 5xx without an ApiCallRc list is a failure: the real controller answers every server error
with one (`R/utils/ApiCallRcRestUtils.java`, `R/config/GrizzlyHttpService.java` `LinstorMapper`).

The resource-connection, clone-status and sync-status routes only answer something but 404
for objects that exist, and the spec has no examples to name them. run_schemathesis.py seeds
the simulator with SEED before each pass; here, every other generated set of path
parameters of those routes (chosen from a checksum of the generated values, so the run stays
reproducible under --seed) names the seeded objects instead.
"""

import json
import re
import zlib

import schemathesis

SEED = {
    "resource": "rsc1",
    "resourceClone": "rsc1clone",
    "volume_size_kib": 4096,
    "diskful": ["n1", "n2"],
    # With two diskful replicas the simulator adds the tie-breaker on the third node.
    "node_pairs": [["n1", "n2"], ["n2", "n1"], ["n1", "n3"], ["n3", "n2"]],
}

SEEDED_ROUTES = re.compile(
    r"^/v1/resource-definitions/\{resource\}/(resource-connections(/\{node_a\}/\{node_b\})?|"
    r"clone/\{resourceClone\}|sync-status)$"
)


def seeded_route(path):
    return SEEDED_ROUTES.match(path) is not None


@schemathesis.hook
def map_path_parameters(ctx, path_parameters):
    op = ctx.operation
    if op is None or not path_parameters or not seeded_route(op.path):
        return path_parameters
    pick = zlib.crc32(json.dumps(path_parameters, sort_keys=True, default=str).encode())
    if pick % 2:
        return path_parameters
    out = dict(path_parameters)
    out["resource"] = SEED["resource"]
    if "resourceClone" in out:
        out["resourceClone"] = SEED["resourceClone"]
    if "node_a" in out:
        a, b = SEED["node_pairs"][(pick >> 1) % len(SEED["node_pairs"])]
        out["node_a"], out["node_b"] = a, b
    return out


@schemathesis.check
def apicallrc_on_5xx(ctx, response, case):
    if response.status_code < 500:
        return None
    try:
        body = json.loads(response.content or b"null")
    except ValueError:
        raise AssertionError(f"{response.status_code} without a JSON body")
    ok = isinstance(body, list) and body and all(
        isinstance(e, dict) and isinstance(e.get("ret_code"), int) and isinstance(e.get("message"), str)
        for e in body
    )
    if not ok:
        raise AssertionError(f"{response.status_code} without an ApiCallRc list: {str(body)[:200]}")
    return None
