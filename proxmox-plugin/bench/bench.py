"""Times helper invocations against python-linstor doing the same REST work (see run.sh)."""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

PY_PRELUDE = "import linstor,sys,json,os\nl=linstor.Linstor(sys.argv[1]); l.connect()\n"
PY_OPS = {
    # The peer's status hit reads its cache file; a cold interpreter plus the read is the floor.
    "status (cache hit)": "import json,sys\njson.load(open(sys.argv[2]))\n",
    "status (cache miss)": PY_PRELUDE + "l.resource_group_query_size_info(sys.argv[3])\n",
    "alloc_image": PY_PRELUDE
    + "import uuid\nn='pm-'+uuid.uuid4().hex[:8]\n"
    + "r=l.resource_group_spawn(sys.argv[3], n, ['4MiB'], definitions_only=False)\n"
    + "l.resource_dfn_modify(n, {'Aux/pm/vmid': '100'})\n"
    + "open(sys.argv[2],'w').write(n)\n",
    "activate_volume": PY_PRELUDE + "l.resource_make_available('n2', open(sys.argv[2]).read(), diskful=False)\n",
}


def timed(cmd, stdin=None):
    t = time.perf_counter()
    p = subprocess.run(cmd, input=stdin, capture_output=True)
    dt = time.perf_counter() - t
    if p.returncode != 0:
        raise RuntimeError(f"{cmd[:2]} failed: {p.stderr.decode()[-400:]}")
    return dt, p.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--helper", required=True)
    ap.add_argument("--sim", required=True)
    ap.add_argument("-n", type=int, default=20)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="pve-bench-")
    sim = subprocess.Popen(
        [a.sim, "--listen", "127.0.0.1:0", "--nodes", "n1,n2,n3", "--backing", "file",
         "--dev-dir", f"{tmp}/dev", "--data-dir", f"{tmp}/data"],
        stdout=subprocess.PIPE, text=True)
    url = sim.stdout.readline().split()[-1]
    os.environ.update(LINSTOR_PVE_CACHE_DIR=f"{tmp}/cache", LINSTOR_PVE_AUTH_JSON=f"{tmp}/none.json")
    try:
        run(a, tmp, url)
    finally:
        sim.kill()
        sim.wait()


def run(a, tmp, url):
    rg = "DfltRscGrp"

    def helper(method, args, node="n1", statuscache="60"):
        doc = {"storeid": "drbd1", "node": node, "dev_root": f"{tmp}/dev/{node}", "timeout": 50,
               "scfg": {"controller": url, "resourcegroup": rg, "statuscache": statuscache},
               "args": args}
        return timed([a.helper, method], json.dumps(doc).encode())

    def stats():
        return json.load(urllib.request.urlopen(f"{url}/sim/stats"))["total"]

    ours = {k: [] for k in PY_OPS}
    peer = {k: [] for k in PY_OPS}
    trips = {}
    helper("status", {})
    cache_file = f"{tmp}/py-cache.json"
    with open(cache_file, "w") as f:
        json.dump({"total_kib": 1, "free_kib": 1}, f)
    for i in range(a.n):
        before = stats()
        ours["status (cache hit)"].append(helper("status", {})[0])
        trips["status (cache hit)"] = stats() - before
        before = stats()
        ours["status (cache miss)"].append(helper("status", {}, statuscache="0")[0])
        trips["status (cache miss)"] = stats() - before
        before = stats()
        dt, out = helper("alloc_image", {"vmid": 100, "size_kib": 4096})
        trips["alloc_image"] = stats() - before
        ours["alloc_image"].append(dt)
        vol = json.loads(out)["volname"]
        before = stats()
        ours["activate_volume"].append(helper("activate_volume", {"volname": vol}, node="n2")[0])
        trips["activate_volume"] = stats() - before
        name_file = f"{tmp}/py-name"
        for op, code in PY_OPS.items():
            peer[op].append(timed([sys.executable, "-c", code, url, cache_file if op.startswith("status (cache hit)") else name_file, rg])[0])
    print(f"{'operation':22} {'linstor-pve ms':>15} {'python-linstor ms':>18} {'REST calls':>11}  (median of {a.n})")
    for op in PY_OPS:
        print(f"{op:22} {statistics.median(ours[op]) * 1000:15.1f} {statistics.median(peer[op]) * 1000:18.1f} {trips[op]:11d}")


if __name__ == "__main__":
    main()
