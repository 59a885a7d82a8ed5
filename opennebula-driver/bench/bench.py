#!/usr/bin/env python3
"""Wall time per OpenNebula action: linstor-one (invoked as oned does) versus the same LINSTOR
work through python-linstor (interpreter start-up included), side by side in one run against
one linstor-sim. Not a test; prints a table."""
import base64, os, statistics, subprocess, sys, tempfile, time

SIM, BIN, RUNS = sys.argv[1], sys.argv[2], int(os.environ.get("RUNS", "10"))
tmp = tempfile.mkdtemp(prefix="one-bench-")
remotes = os.path.join(tmp, "remotes")
subprocess.run([os.path.join(os.path.dirname(__file__), "..", "install-remotes.sh"), BIN, remotes], check=True, stdout=subprocess.DEVNULL)
env = dict(os.environ, LINSTOR_ONE_LOCAL_HOSTS=os.path.join(tmp, "hosts"), LINSTOR_ONE_DEV_DIR=os.environ["SIM_DEV_DIR"],
           LINSTOR_ONE_STATE_DIR=os.path.join(tmp, "state"), LINSTOR_ONE_LOCK_DIR=os.path.join(tmp, "locks"), LINSTOR_ONE_NODE="frontend")
os.makedirs(env["LINSTOR_ONE_LOCAL_HOSTS"], exist_ok=True)

def ds(ident, extra=""):
    return (f"<DATASTORE><ID>100</ID><NAME>b</NAME><DS_MAD>linstor</DS_MAD><TM_MAD>linstor</TM_MAD><TYPE>0</TYPE>"
            f"<TEMPLATE><LS_CONTROLLERS>{SIM}</LS_CONTROLLERS><RESOURCE_GROUP>DfltRscGrp</RESOURCE_GROUP></TEMPLATE></DATASTORE>")

def msg(img_id, size=4, source="", fmt="raw"):
    x = (f"<DS_DRIVER_ACTION_DATA><IMAGE><ID>{img_id}</ID><SOURCE>{source}</SOURCE><PATH></PATH><FORMAT>{fmt}</FORMAT>"
         f"<SIZE>{size}</SIZE><TARGET_SNAPSHOT>-1</TARGET_SNAPSHOT></IMAGE>{ds(100)}</DS_DRIVER_ACTION_DATA>")
    return base64.b64encode(x.encode()).decode()

def ours(action, img_id, **kw):
    t = time.perf_counter()
    p = subprocess.run([os.path.join(remotes, "datastore/linstor", action), str(img_id)], input=msg(img_id, **kw),
                       capture_output=True, text=True, env=env)
    dt = time.perf_counter() - t
    if p.returncode != 0:
        sys.exit(f"linstor-one {action} failed: {p.stderr}")
    return dt

PY = {
    "monitor": "import linstor\nwith linstor.MultiLinstor(['%s']) as l: l.resource_group_query_size_info('DfltRscGrp')",
    "mkfs": "import linstor\nr=linstor.Resource('py-image-%d', uri='%s')\nr.placement.redundancy=2\nr.volumes[0]=linstor.Volume('4MiB')\n",
    "rm": "import linstor\nr=linstor.Resource('py-image-%d', uri='%s')\nr.delete()\n",
}

def theirs(action, img_id):
    code = PY[action]
    code = code % (SIM,) if action == "monitor" else code % (img_id, SIM)
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    dt = time.perf_counter() - t
    if p.returncode != 0:
        sys.exit(f"python-linstor {action} failed: {p.stderr}")
    return dt

rows = []
for action in ["mkfs", "monitor", "rm"]:
    a = [ours(action, 1000 + i) for i in range(RUNS)]
    b = [theirs(action, 1000 + i) for i in range(RUNS)]
    rows.append((action, statistics.median(a) * 1000, statistics.median(b) * 1000))
print(f"{'action':10} {'linstor-one ms':>15} {'python-linstor ms':>18}   (median of {RUNS})")
for r in rows:
    print(f"{r[0]:10} {r[1]:15.1f} {r[2]:18.1f}")
