#!/usr/bin/env python3
"""Checks the fleet manifests of deploy/ against the image and units they wire up.

  manifests.py check       parse every manifest (Kubernetes YAML, Nomad HCL) and check its
                           wiring against deploy/Containerfile and deploy/units: sup as the
                           entrypoint, probes that are `supctl health [UNIT]` of a real unit,
                           one for the whole pod and one for a unit, a stop grace period of
                           at least the longest chain of stop timeouts + sup's --grace, a
                           Prometheus scrape annotation. Needs no container runtime.
  manifests.py image IMG   the same, then in the image IMG built from deploy/Containerfile:
                           every command and path the manifests name exists (executables
                           executable), and each manifest's command runs (podman) until its
                           probes pass, then stops within its grace period with status 0.

Prints `PASS name` / `FAIL name: why` per check; exits 1 if any failed. YAML needs PyYAML;
HCL uses python-hcl2 when installed, otherwise the small HCL reader below (the subset the
manifests use: blocks, attributes, strings, numbers, lists, comments).
"""
import glob
import json
import os
import re
import subprocess
import sys
import tarfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEPLOY = os.path.join(REPO, "deploy")
RESULTS = {"pass": 0, "fail": 0}


def ok(name):
    print(f"PASS {name}", flush=True)
    RESULTS["pass"] += 1


def bad(name, why):
    print(f"FAIL {name}: {why}", flush=True)
    RESULTS["fail"] += 1


def expect(name, cond, why):
    ok(name) if cond else bad(name, why)
    return cond


def duration(v):
    """sup's durations (and Kubernetes' / Nomad's): 250ms, 10s, 2m, 1h, bare seconds."""
    if isinstance(v, (int, float)):
        return float(v)
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*", str(v))
    if not m:
        raise ValueError(f"not a duration: {v!r}")
    return float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[m.group(2)]


# --- units: the longest chain of stop timeouts -----------------------------------------------
def load_units(directory):
    import yaml

    units = {}
    for path in sorted(glob.glob(os.path.join(directory, "*.yaml"))):
        doc = yaml.safe_load(open(path)) or {}
        if doc.get("kind") == "slice":
            continue
        name = os.path.basename(path)[: -len(".yaml")]
        stop = doc.get("stop") or {}
        units[name] = {
            "timeout": duration(stop.get("timeout", "10s")),
            "after": set(doc.get("requires", []) or []) | set(doc.get("after", []) or []),
            "before": set(doc.get("before", []) or []),
        }
    for name, u in units.items():  # `before: [X]` orders X after this unit
        for other in u["before"]:
            if other in units:
                units[other]["after"].add(name)
    return units


def stop_chain(units):
    """Units stop in reverse dependency order, each waiting for those ordered after it:
    the worst case is the heaviest path of stop timeouts through the ordering graph."""
    memo = {}

    def longest(name, seen=()):
        if name in memo:
            return memo[name]
        if name in seen:
            raise ValueError(f"ordering cycle through {name}")
        best = (0.0, [])
        for dep in units[name]["after"]:
            if dep in units:
                best = max(best, longest(dep, seen + (name,)), key=lambda x: x[0])
        memo[name] = (units[name]["timeout"] + best[0], [name] + best[1])
        return memo[name]

    return max((longest(n) for n in units), key=lambda x: x[0], default=(0.0, []))


def containerfile_entrypoint():
    text = open(os.path.join(DEPLOY, "Containerfile")).read()
    m = re.search(r"^ENTRYPOINT\s+(\[.*\])\s*$", text, re.M)
    return json.loads(m.group(1)) if m else None


# --- Kubernetes ---------------------------------------------------------------------------
def k8s_wirings():
    import yaml

    out = []
    for path in sorted(glob.glob(os.path.join(DEPLOY, "kubernetes", "*.yaml"))):
        rel = os.path.relpath(path, REPO)
        try:
            docs = [d for d in yaml.safe_load_all(open(path)) if d]
        except yaml.YAMLError as e:
            bad(f"parse {rel}", str(e).replace("\n", " "))
            continue
        ok(f"parse {rel} (YAML, {len(docs)} document(s))")
        for doc in docs:
            if doc.get("kind") not in ("Deployment", "StatefulSet", "DaemonSet"):
                continue
            tpl = doc["spec"]["template"]
            pod = tpl["spec"]
            for c in pod["containers"]:
                probes = []
                for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
                    p = c.get(kind)
                    if p and "exec" in p:
                        probes.append((kind, list(p["exec"]["command"])))
                out.append({
                    "name": f"{rel} {doc['metadata']['name']}/{c['name']}",
                    "argv": list(c.get("command") or []) + list(c.get("args") or []),
                    "probes": probes,
                    "stop": float(pod.get("terminationGracePeriodSeconds", 30)),
                    "stop_key": "terminationGracePeriodSeconds",
                    "annotations": (tpl.get("metadata") or {}).get("annotations") or {},
                    "image": c.get("image"),
                })
    return out


# --- Nomad --------------------------------------------------------------------------------
class HclError(Exception):
    pass


def mini_hcl(text):
    """Reads the HCL subset of the manifests into python-hcl2's shape: a block is a list of
    dicts, a labelled block nests {label: body}. Strings lose their quotes."""
    tok_re = re.compile(r'\s+|#[^\n]*|//[^\n]*|/\*.*?\*/|"(?:[^"\\]|\\.)*"|[{}\[\]=,]|[A-Za-z0-9_.:/+-]+', re.S)
    toks, pos = [], 0
    while pos < len(text):
        m = tok_re.match(text, pos)
        if not m:
            line = text.count("\n", 0, pos) + 1
            raise HclError(f"line {line}: unexpected {text[pos:pos + 10]!r}")
        t = m.group(0)
        if not (t.isspace() or t.startswith(("#", "//", "/*"))):
            toks.append((t, text.count("\n", 0, pos) + 1))
        pos = m.end()
    i = 0

    def need(want):
        nonlocal i
        if i >= len(toks) or toks[i][0] != want:
            got = toks[i] if i < len(toks) else ("end of file", "end")
            raise HclError(f"line {got[1]}: expected {want!r}, got {got[0]!r}")
        i += 1

    def value():
        nonlocal i
        t, line = toks[i]
        i += 1
        if t.startswith('"'):
            return json.loads(t)
        if t == "[":
            items = []
            while toks[i][0] != "]":
                items.append(value())
                if toks[i][0] == ",":
                    i += 1
            i += 1
            return items
        if re.fullmatch(r"-?\d+", t):
            return int(t)
        if t in ("true", "false"):
            return t == "true"
        raise HclError(f"line {line}: unexpected {t!r}")

    def body(end):
        nonlocal i
        out = {}
        while i < len(toks) and toks[i][0] != end:
            key, line = toks[i]
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", key):
                raise HclError(f"line {line}: expected a name, got {key!r}")
            i += 1
            if toks[i][0] == "=":
                i += 1
                out[key] = value()
                continue
            labels = []
            while toks[i][0].startswith('"'):
                labels.append(json.loads(toks[i][0]))
                i += 1
            need("{")
            b = body("}")
            need("}")
            for label in reversed(labels):
                b = {label: b}
            out.setdefault(key, []).append(b)
        return out

    result = body(None)
    if i != len(toks):
        raise HclError(f"line {toks[i][1]}: unexpected {toks[i][0]!r}")
    return result


def unquote(v):
    """python-hcl2 ≥ 5 keeps the quotes of strings; strip them, recursively."""
    if isinstance(v, str) and len(v) >= 2 and v[0] == v[-1] == '"':
        return json.loads(v)
    if isinstance(v, list):
        return [unquote(x) for x in v]
    if isinstance(v, dict):
        return {unquote(k): unquote(x) for k, x in v.items() if not k.startswith("__")}
    return v


def labelled(blocks):
    for b in blocks or []:
        for label, body in b.items():
            yield label, body


def nomad_wirings():
    out = []
    try:
        import hcl2

        reader = "python-hcl2"
    except ImportError:
        hcl2, reader = None, "the structural HCL reader (python-hcl2 not installed)"
    for path in sorted(glob.glob(os.path.join(DEPLOY, "nomad", "*.hcl"))):
        rel = os.path.relpath(path, REPO)
        try:
            doc = unquote(hcl2.load(open(path)) if hcl2 else mini_hcl(open(path).read()))
        except Exception as e:  # each reader has its own error types
            bad(f"parse {rel}", " ".join(f"{type(e).__name__}: {e}".split()))
            continue
        ok(f"parse {rel} (HCL, {reader})")
        if hcl2:  # keep the fallback honest: it must read the file as python-hcl2 does
            try:
                same = unquote(mini_hcl(open(path).read())) == doc
            except HclError as e:
                same = f"{e}"
            expect(f"parse {rel}: the structural HCL reader agrees with python-hcl2", same is True,
                   same if isinstance(same, str) else "different trees")
        for job, jb in labelled(doc.get("job")):
            for group, gb in labelled(jb.get("group")):
                for task, tb in labelled(gb.get("task")):
                    if tb.get("driver") not in ("docker", "podman"):
                        continue
                    cfg = (tb.get("config") or [{}])[0]
                    probes = []
                    for svc in tb.get("service") or []:
                        for chk in svc.get("check") or []:
                            if chk.get("type") == "script":
                                probes.append((f"check {chk.get('name')}", [chk["command"]] + list(chk.get("args") or [])))
                    out.append({
                        "name": f"{rel} {job}/{group}/{task}",
                        "argv": list(cfg.get("entrypoint") or []) + list(cfg.get("args") or []),
                        "probes": probes,
                        "stop": duration(tb.get("kill_timeout", "5s")),
                        "stop_key": "kill_timeout",
                        "annotations": None,
                        "image": cfg.get("image"),
                    })
    return out


# --- the checks ---------------------------------------------------------------------------
def sup_grace(argv):
    for i, a in enumerate(argv):
        if a == "--":
            break
        if a == "--grace" and i + 1 < len(argv):
            return duration(argv[i + 1])
        if a.startswith("--grace="):
            return duration(a.split("=", 1)[1])
    return 5.0


def check_wiring(w, units, chain, entry):
    n = w["name"]
    expect(f"{n}: sup is the entrypoint ({entry})", entry and w["argv"][: len(entry)] == entry,
           f"command {w['argv']} does not start with the Containerfile's ENTRYPOINT {entry}")
    whole, one = False, False
    for kind, argv in w["probes"]:
        good = argv[:2] == ["/usr/bin/supctl", "health"] and len(argv) <= 3
        expect(f"{n}: {kind} is `supctl health [UNIT]` ({' '.join(argv)})", good,
               "want /usr/bin/supctl health [UNIT]")
        if good and len(argv) == 2:
            whole = True
        if good and len(argv) == 3:
            one = True
            expect(f"{n}: {kind}: unit {argv[2]} exists in deploy/units", argv[2] in units,
                   f"units: {sorted(units)}")
    expect(f"{n}: a probe for the whole pod (supctl health)", whole, "none")
    expect(f"{n}: a probe for one unit (supctl health UNIT)", one, "none")
    grace = sup_grace(w["argv"])
    need = chain[0] + grace
    expect(f"{n}: {w['stop_key']} {w['stop']:g}s >= stop chain {chain[0]:g}s "
           f"({' -> '.join(chain[1])}) + sup --grace {grace:g}s",
           w["stop"] >= need, f"{w['stop']:g}s < {need:g}s")
    if w["annotations"] is not None:
        a = w["annotations"]
        expect(f"{n}: Prometheus scrape annotation", a.get("prometheus.io/scrape") == "true" and "prometheus.io/port" in a,
               f"annotations: {a}")


def podman(*args, check=False, timeout=60):
    return subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout, check=check)


def image_files(img, prefix):
    """path -> TarInfo of every file of the image, from `podman export` of a container."""
    name = f"{prefix}-ls"
    podman("rm", "-f", name)
    podman("create", "--pull=never", "--name", name, img, check=True)
    try:
        data = subprocess.run(["podman", "export", name], capture_output=True, check=True).stdout
    finally:
        podman("rm", "-f", name)
    import io

    files = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for m in tar.getmembers():
            files["/" + re.sub(r"^(\./)+", "", m.name).strip("/")] = m
    return files


def resolve(files, path, depth=0):
    m = files.get(path.rstrip("/") or "/")
    if m is not None and m.issym() and depth < 10:
        target = m.linkname if m.linkname.startswith("/") else os.path.join(os.path.dirname(path), m.linkname)
        return resolve(files, os.path.normpath(target), depth + 1)
    return m


def check_image(w, files, img, prefix, units):
    n = w["name"]
    cmds = [("command", w["argv"])] + list(w["probes"])
    for what, argv in cmds:
        m = resolve(files, argv[0])
        expect(f"{n}: {what}: {argv[0]} is an executable file in the image",
               m is not None and m.isfile() and m.mode & 0o111, "missing" if m is None else f"mode {oct(m.mode)}")
        for a in argv[1:]:
            if a.startswith("/"):
                expect(f"{n}: {what}: path {a} exists in the image", resolve(files, a) is not None, "missing")
    expect(f"{n}: /etc/sup.d in the image holds deploy/units",
           all(f"/etc/sup.d/{u}.yaml" in files for u in units), f"units {sorted(units)}")

    # Run it as the scheduler would: the manifest's command, its probes by exec.
    name = f"{prefix}-{re.sub(r'[^a-z0-9]+', '-', n.lower()).strip('-')}"
    podman("rm", "-f", name)
    r = podman("run", "-d", "--pull=never", "--network=none", "--name", name,
               "--entrypoint", json.dumps(w["argv"][:1]), img, *w["argv"][1:])
    if r.returncode != 0:
        bad(f"{n}: runs in podman", r.stderr.strip())
        return
    try:
        for what, argv in w["probes"]:
            deadline, last = time.monotonic() + 30, None
            while True:
                last = podman("exec", name, *argv)
                if last.returncode == 0 or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            expect(f"{n}: {what} passes in the running container", last.returncode == 0,
                   f"exit {last.returncode}: {(last.stdout + last.stderr).strip()}")
        t0 = time.monotonic()
        podman("stop", "-t", str(int(w["stop"])), name, timeout=w["stop"] + 30)
        took = time.monotonic() - t0
        code = podman("inspect", "-f", "{{.State.ExitCode}}", name).stdout.strip()
        expect(f"{n}: stop within {w['stop_key']} ({took:.2f}s < {w['stop']:g}s), sup exits 0",
               took < w["stop"] and code == "0", f"{took:.2f}s, exit {code}: {podman('logs', name).stderr[-500:]}")
    finally:
        podman("rm", "-f", "-t", "2", name)


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in ("check", "image") or (sys.argv[1] == "image") != (len(sys.argv) == 3):
        print(__doc__, file=sys.stderr)
        return 2
    try:
        import yaml  # noqa: F401
    except ImportError:
        print("manifests: SKIP: python3 has no yaml module (apt-get install python3-yaml)")
        return 0
    units = load_units(os.path.join(DEPLOY, "units"))
    chain = stop_chain(units)
    entry = containerfile_entrypoint()
    expect("deploy/Containerfile: FROM scratch with an ENTRYPOINT",
           entry is not None and re.search(r"^FROM scratch\s*$", open(os.path.join(DEPLOY, "Containerfile")).read(), re.M),
           f"ENTRYPOINT {entry}")
    wirings = k8s_wirings() + nomad_wirings()
    expect("deploy/: a Kubernetes and a Nomad wiring found", len(wirings) >= 2, f"{[w['name'] for w in wirings]}")
    for w in wirings:
        check_wiring(w, units, chain, entry)
    if sys.argv[1] == "image":
        img = sys.argv[2]
        prefix = os.environ.get("SUP_CT_PREFIX", f"supmf-{os.getpid()}")
        files = image_files(img, prefix)
        for w in wirings:
            check_image(w, files, img, prefix, units)
    print(f"manifests: {RESULTS['pass']} passed, {RESULTS['fail']} failed")
    return 1 if RESULTS["fail"] else 0


if __name__ == "__main__":
    sys.exit(main())
