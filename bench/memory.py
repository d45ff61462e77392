"""`make bench`, memory part: where dprive's RSS goes (issue 13).

Four tables, figures printed and never asserted:
- imports: VmRSS, RssAnon and RssFile of a fresh interpreter after each
  import step, in the daemon's own order (`dprive run`: the CLI, the config,
  then io/daemon.py's imports as its source lists them), then after each
  start-up step (a TLS context, the CA store, the listening sockets);
- started: the RSS of `dprive run` with one upstream (a local unbound), its
  session up, over --runs runs (median, min-max);
- per query and per session: tracemalloc of the core's structures (a
  pending query, its attempt on a session) and of one TLS client session;
- growth: RSS and tracemalloc after gc.collect() in the daemon after 10, 100,
  1000 and 10000 queries (dnsperf), a second daemon run under tracemalloc.
Modules are compiled first (the router has bytecode only). The daemon of
the last table runs through this file (`--probe`): it installs
a SIGUSR2 handler that writes those figures to a file, then runs the CLI.
"""

# Few imports up here: the probe and the child share this file with the daemon
# they measure (json, argparse, tracemalloc come into the functions that use them).
import gc
import os
import signal
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for path in (ROOT, os.path.join(ROOT, "src")):
    if path not in sys.path:
        sys.path.insert(0, path)

FIELDS = ("VmRSS", "RssAnon", "RssFile")
GROWTH_STEPS = (10, 100, 1000, 10000)


def rss(pid="self"):
    """VmRSS, RssAnon, RssFile in KiB."""
    out = {}
    with open("/proc/%s/status" % pid) as fh:
        for line in fh:
            key = line.split(":", 1)[0]
            if key in FIELDS:
                out[key] = int(line.split()[1])
    return tuple(out.get(k, 0) for k in FIELDS)


def mib(kib):
    return "%6.1f" % (kib / 1024.0)


# ---- imports and start-up steps, in a child interpreter ------------------------

def daemon_import_steps():
    """dprive's import order for `dprive run`: the CLI, the config, io/daemon.py's imports."""
    steps = ["dprive.cli", "dprive.config"]
    import ast
    with open(os.path.join(ROOT, "src", "dprive", "io", "daemon.py")) as fh:
        tree = ast.parse(fh.read())
    for node in tree.body:
        if isinstance(node, ast.Import):
            steps.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            steps.append(node.module)
    steps.append("dprive.io.daemon")
    seen = []
    for step in steps:
        if step not in seen:
            seen.append(step)
    return seen


def child_steps(ca_path, steps):
    """Run in a fresh interpreter (nothing of this bench imported): one line per step."""
    def say(step):
        print(repr((step, rss(), len(sys.modules))), flush=True)

    say("(interpreter)")
    for name in steps:
        __import__(name)
        say("import " + name)
    from dprive.tls import dot
    plain = dot.make_context(None, "1.2", False)
    say("TLS context (no CA)")
    verifying = dot.make_context(ca_path, "1.2", True)
    say("CA store %s" % ca_path)
    import socket
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(64)
    say("sockets (UDP, TCP listen)")
    gc.collect()
    say("gc.collect()")
    return plain, verifying, udp, tcp


CHILD = """import gc, sys
sys.path.insert(0, %r)
FIELDS = %r
%s
%s
child_steps(%r, %r)
"""


def table_imports(python, ca_path, runs):
    import ast
    import inspect
    import subprocess
    code = CHILD % (os.path.join(ROOT, "src"), FIELDS, inspect.getsource(rss), inspect.getsource(child_steps),
                    ca_path, daemon_import_steps())
    results = []
    for _ in range(runs):
        out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True).stdout
        results.append([ast.literal_eval(line) for line in out.splitlines()])
    import statistics
    print("== imports and start-up steps (%s; median of %d; KiB deltas are of VmRSS)" % (python, runs))
    print("   %-52s %7s %7s %7s %7s %5s" % ("step", "VmRSS", "Anon", "File", "+KiB", "mods"))
    prev = None
    for i, (step, _, mods) in enumerate(results[0]):
        med = [statistics.median(r[i][1][k] for r in results) for k in range(3)]
        delta = "" if prev is None else "%+7d" % (med[0] - prev)
        print("   %-52s %s %s %s %7s %5d" % (step[:52], mib(med[0]), mib(med[1]), mib(med[2]), delta, mods))
        prev = med[0]


# ---- per query and per session ------------------------------------------------

def traced(fn):
    import tracemalloc
    gc.collect()
    before = tracemalloc.get_traced_memory()[0]
    keep = fn()
    gc.collect()
    return tracemalloc.get_traced_memory()[0] - before, keep


def table_structures(pki, count=1000):
    import tracemalloc
    rss_before = rss()[0]
    pairs = tls_sessions(pki, 100)
    pair_kib = (rss()[0] - rss_before) / float(len(pairs))
    del pairs
    gc.collect()
    sys.path.insert(0, os.path.join(ROOT, "tests", "unit"))     # coreharness imports testkit as a top module
    from coreharness import Harness, make_query
    print("== per structure (tracemalloc, Python objects only; bytes each, over %d)" % count)
    tracemalloc.start()
    h = Harness()
    h.warm(20)

    def waiting():
        # The session is down: queries wait in the pending table, no attempt yet.
        h.closed()
        for i in range(count):
            h.query(("wait", i), make_query("w%d.test" % i, msg_id=i))
    size, _ = traced(waiting)
    print("   %-52s %7d" % ("pending query, waiting (no session)", size // count))
    h2 = Harness()
    h2.warm(20)

    def in_flight():
        for i in range(count):
            h2.query(("fly", i), make_query("f%d.test" % i, msg_id=i))
    size, _ = traced(in_flight)
    print("   %-52s %7d" % ("pending query + attempt on a session", size // count))
    size, _ = traced(h2.answer_all)
    print("   %-52s %7d" % ("all answered: table change (bytes, total)", size))
    size, keep = traced(lambda: tls_sessions(pki, 50))
    print("   %-52s %7d" % ("TLS session pair, client + in-memory server (Python)", size // 50))
    tracemalloc.stop()
    print("   %-52s %7.1f" % ("the same pair in RSS (OpenSSL's too), KiB each of 100", pair_kib))


def tls_sessions(pki, n):
    """n handshaken client sessions against an in-memory server (no socket)."""
    import ssl
    from dprive.tls import dot
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(str(pki.server_cert), str(pki.server_key))
    client_ctx = dot.make_context(str(pki.ca_cert), "1.2", True)
    held = []
    for _ in range(n):
        client = dot.TlsClient(client_ctx, "dns.test")
        s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO()
        server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
        data = client.start()
        while not client.established:
            s_in.write(data)
            try:
                server.do_handshake()
            except ssl.SSLWantReadError:
                pass
            data = b""
            reply = s_out.read()
            client.receive(reply)
            data = client.pending_output()
        held.append((client, server))
    return held


# ---- the daemon -------------------------------------------------------------------

def probe_main(argv):
    """`memory.py --probe OUT [--trace] -- PYTHON -m dprive ARGS...`: the daemon, with a
    SIGUSR2 handler writing RSS and tracemalloc (after gc.collect()) to OUT."""
    out = argv[0]
    trace = "--trace" in argv
    rest = argv[argv.index("--") + 1:]
    if trace:
        import tracemalloc
        tracemalloc.start()

    def dump(signum, frame):
        gc.collect()
        traced_now = tracemalloc.get_traced_memory()[0] if trace else 0
        with open(out + ".tmp", "w") as fh:
            fh.write(repr({"rss": rss(), "traced": traced_now, "objects": len(gc.get_objects())}))
        os.replace(out + ".tmp", out)

    signal.signal(signal.SIGUSR2, dump)
    from dprive.cli import main
    sys.argv = ["dprive"] + rest[3:]
    sys.exit(main(rest[3:]))


def probe(dp, out):
    try:
        os.unlink(out)
    except FileNotFoundError:
        pass
    os.kill(dp.pid, signal.SIGUSR2)
    for _ in range(100):
        if os.path.exists(out):
            import ast
            with open(out) as fh:
                return ast.literal_eval(fh.read())
        time.sleep(0.02)
    raise RuntimeError("the daemon wrote no probe file")


def start_daemon(workdir, pki, port, probe_out=None, trace=False, options=None):
    from tests.tools.dprive_proc import DpriveProcess, upstream
    dp = DpriveProcess(workdir, pki.ca_cert, [upstream("u0", port)],
                       options=dict({"log_level": "warning"}, **(options or {})))
    if probe_out is not None:
        dp.argv_prefix = [sys.executable, __file__, "--probe", probe_out] + (["--trace"] if trace else []) + ["--"]
    dp.start()
    return dp


def session_up(dp, timeout_s=10.0):
    """One query answered, so the upstream's session is up."""
    from tests.tools import clients, common
    common.wait_until(lambda: clients.udp_query("a.test", port=dp.port, timeout_s=1.0)[1] is not None,
                      timeout_s, what="an answer through dprive")


def router_ca_stores(workdir, pki, system_dir="/etc/ssl/certs"):
    """A router's CA store with the test CA in it, both ways: (bundle file, hashed directory).
    The system's certificates (OpenWrt's ca-bundle and ca-certificates carry the same)."""
    import subprocess
    store = workdir / "castore"
    store.mkdir()
    bundle = store / "bundle.crt"
    links = store / "hashed"
    links.mkdir()
    with open(str(bundle), "wb") as out:
        for name in sorted(os.listdir(system_dir)):
            path = os.path.join(system_dir, name)
            if name.endswith((".crt", ".pem")) and name != "ca-certificates.crt" and os.path.isfile(path):
                with open(path, "rb") as fh:
                    out.write(fh.read())
                os.symlink(os.path.realpath(path), str(links / name))
        out.write(pki.ca_cert.read_bytes())
    os.symlink(str(pki.ca_cert), str(links / "dprive-test.crt"))
    subprocess.run(["openssl", "rehash", str(links)], check=True, capture_output=True)
    return bundle, links


def table_started(workdir, pki, ub, runs, options=None, label=""):
    import statistics
    rows = []
    for n in range(runs):
        try:
            dp = start_daemon(workdir / ("started%d-%s" % (n, label[:4])), pki, ub.tls_port, options=options)
        except Exception as err:     # noqa: BLE001 - an older tree may not take this config
            print("   %-40s did not start: %s" % (label, str(err).splitlines()[0]))
            return None
        try:
            session_up(dp)
            time.sleep(1.0)
            rows.append(rss(dp.pid))
            libraries = [libraries_mapped(dp.pid)]
        finally:
            dp.stop()
    med = [statistics.median(r[k] for r in rows) for k in range(3)]
    print("   %-44s VmRSS %s MiB (%s-%s)  Anon %s  File %s  %s  [%d runs]" % (
        label or "started, one upstream, session up", mib(med[0]), mib(min(r[0] for r in rows)).strip(),
        mib(max(r[0] for r in rows)).strip(), mib(med[1]), mib(med[2]), libraries[0], runs))
    return med


def libraries_mapped(pid):
    """Which of asyncio's C part and the two TLS libraries the daemon has mapped."""
    with open("/proc/%d/maps" % pid) as fh:
        names = set(line.split()[-1].rsplit("/", 1)[-1] for line in fh if ".so" in line)
    found = [lib for lib in ("_asyncio", "libssl", "libmbedtls") if any(n.startswith(lib) for n in names)]
    return "maps " + (",".join(found) or "none of _asyncio/libssl/libmbedtls")


def table_growth(workdir, pki, ub, trace):
    from tests.tools import clients
    from tests.tools.unbound import q_name
    out = str(workdir / ("probe-%d.json" % trace))
    dp = start_daemon(workdir / ("growth%d" % trace), pki, ub.tls_port, probe_out=out, trace=trace)
    try:
        session_up(dp)
        time.sleep(0.5)
        first = probe(dp, out)
        print("   %-8s %9s %9s %9s %10s %9s   (%s)" % ("queries", "VmRSS", "Anon", "File", "traced B", "objects",
                                                   "under tracemalloc" if trace else "plain"))
        row = lambda n, p: print("   %-8s %9d %9d %9d %10d %9d" % ((n,) + tuple(p["rss"]) + (p["traced"], p["objects"])))
        row("start", first)
        done = 0
        for total in GROWTH_STEPS:
            names = [q_name(i % 1000) for i in range(done, total)]
            datafile = clients.write_dnsperf_file(workdir / "q.txt", names)
            res = clients.dnsperf(dp.port, datafile, outstanding=20, clients=1)
            done = total
            if res.completed != len(names):
                print("   (dnsperf: %s of %d answered)" % (res.completed, len(names)))
            time.sleep(0.3)
            row(total, probe(dp, out))
    finally:
        dp.stop()


def main(argv=None):
    import argparse
    import shutil
    import tempfile
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of each started-daemon figure")
    parser.add_argument("--skip", default="", help="tables to leave out: imports,structures,started,growth")
    parser.add_argument("--ca", default="/etc/ssl/certs/ca-certificates.crt",
                        help="CA store the import table loads (a file or a hashed directory)")
    args = parser.parse_args(argv)
    skip = set(args.skip.split(","))
    # The router runs bytecode only (Python3/DeleteSourceFiles): compiling a module from
    # source leaves the compiler's memory in the heap (dprive.schema: +0.8 MB), so every
    # figure here is of compiled modules, as there.
    import compileall
    compileall.compile_dir(os.path.join(ROOT, "src", "dprive"), quiet=1)
    from tests.tools import certs
    from tests.tools.unbound import UnboundServer
    from pathlib import Path
    workdir = Path(tempfile.mkdtemp(prefix="dprive-memory-"))
    ub = None
    try:
        print("CPython %s, %s" % (sys.version.split()[0], sys.executable))
        if "imports" not in skip:
            table_imports(sys.executable, args.ca, args.runs)
        pki = certs.make_test_pki(workdir / "pki")
        if "structures" not in skip:
            table_structures(pki)
        if "started" in skip and "growth" in skip:
            return 0
        ub = UnboundServer(workdir / "unbound", pki, log_queries=False)
        ub.start()
        if "started" not in skip:
            print("== the daemon (python -m dprive run), median of runs")
            table_started(workdir, pki, ub, args.runs, label="CA: the test CA only (a file)")
            bundle, links = router_ca_stores(workdir, pki)
            table_started(workdir, pki, ub, args.runs, {"ca_bundle": str(bundle)},
                          label="CA: system bundle + test CA (a file)")
            table_started(workdir, pki, ub, args.runs, {"ca_bundle": str(links)},
                          label="CA: the same, hashed directory")
            table_started(workdir, pki, ub, args.runs, {"tls_engine": "mbedtls"},
                          label="tls_engine mbedtls, CA: the test CA only")
            table_started(workdir, pki, ub, args.runs, {"ca_bundle": str(bundle), "tls_engine": "mbedtls"},
                          label="tls_engine mbedtls, CA: system bundle + test")
        if "growth" not in skip:
            print("== growth: after gc.collect() in the daemon, one upstream (KiB, bytes)")
            table_growth(workdir, pki, ub, trace=False)
            table_growth(workdir, pki, ub, trace=True)
        return 0
    finally:
        if ub is not None:
            ub.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--probe"]:
        probe_main(sys.argv[2:])
    else:
        sys.exit(main())
