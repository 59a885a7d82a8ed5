"""The LINSTOR work of one frontend operation done through LINBIT's python-linstor, one
process per action as the Python peers run it. Used by `linstor-bench`; not a test.

Usage: peer.py <controller-url> <operation> [args...]
"""

import sys

import linstor

RG = "DfltRscGrp"


def connect(url):
    lin = linstor.Linstor(url)
    lin.connect()
    return lin


def check(replies):
    for r in replies:
        if hasattr(r, "is_error") and r.is_error():
            sys.exit(f"LINSTOR error: {r}")
    return replies


def main():
    url, op, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    lin = connect(url)
    if op == "size_info":
        lin.resource_group_query_size_info(RG)
    elif op == "spawn":
        # name, size, place count, then prop=value pairs set on the definition
        name, size, place = args[0], args[1], int(args[2])
        check(lin.resource_group_spawn(RG, name, [size], place_count=place))
        props = dict(p.split("=", 1) for p in args[3:])
        if props:
            check(lin.resource_dfn_modify(name, props))
    elif op == "spawn_local_first":
        # definitions, the local replica, the remaining replicas, then the owner props
        node, name, size, place = args[0], args[1], args[2], int(args[3])
        check(lin.resource_group_spawn(RG, name, [size], definitions_only=True))
        check(lin.resource_make_available(node, name, diskful=True))
        check(lin.resource_auto_place(name, place))
        props = dict(p.split("=", 1) for p in args[4:])
        if props:
            check(lin.resource_dfn_modify(name, props))
    elif op == "resize":
        name, size_kib = args[0], int(args[1])
        check(lin.volume_dfn_modify(name, 0, size=size_kib))
    elif op == "make_available":
        check(lin.resource_make_available(args[0], args[1], diskful=False))
    elif op == "remove_diskless":
        node, name = args
        rscs = lin.resource_list(filter_by_nodes=[node], filter_by_resources=[name])
        if rscs and rscs[0].resources and "DISKLESS" in rscs[0].resources[0].flags:
            check(lin.resource_delete(node, name))
    elif op == "list_owned":
        # every definition carrying the owner property, with its volumes
        prop = args[0]
        rds = lin.resource_dfn_list(query_volume_definitions=True)
        [rd for rd in rds[0].resource_definitions if prop in rd.properties]
    elif op == "list_owned_volumes":
        prop = args[0]
        rds = lin.resource_dfn_list(query_volume_definitions=True)
        owned = {rd.name for rd in rds[0].resource_definitions if prop in rd.properties}
        # all resources, kept client-side (a filter naming thousands of resources is a URI
        # too long for the controller)
        rscs = lin.resource_list()
        [r for r in rscs[0].resources if r.name in owned]
    elif op == "get_one":
        name = args[0]
        lin.resource_dfn_list(filter_by_resource_definitions=[name])
        lin.resource_list(filter_by_resources=[name])
    elif op == "clone":
        # clone, wait for it (polled every 50 ms, not the library's default 1 s), set the
        # owner props, make it available on the host
        src, name, node = args[0], args[1], args[2]
        lin.resource_dfn_clone(src, name)
        lin.resource_dfn_clone_wait_complete(src, name, wait_interval=0.05)
        props = dict(p.split("=", 1) for p in args[3:])
        if props:
            check(lin.resource_dfn_modify(name, props))
        check(lin.resource_make_available(node, name, diskful=False))
    elif op == "copy_into":
        # make the volume available here, then copy the image into the device
        node, name, image, device = args
        check(lin.resource_make_available(node, name, diskful=False))
        with open(image, "rb") as src, open(device, "r+b") as dst:
            while True:
                chunk = src.read(1 << 20)
                if not chunk:
                    break
                dst.write(chunk)
    elif op == "allow_two_primaries":
        node, names = args[0], args[1:]
        for name in names:
            check(lin.resource_dfn_modify(name, {"DrbdOptions/Net/allow-two-primaries": "yes"}))
            check(lin.resource_make_available(node, name, diskful=False))
    else:
        sys.exit(f"unknown operation {op}")


if __name__ == "__main__":
    main()
