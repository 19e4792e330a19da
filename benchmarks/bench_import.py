"""Start-up costs, each in a fresh interpreter, one thread, against the targets: cold first call <= 3 s, warm <= 0.3 s.

* ``import vreward``: median of 5 fresh processes (after one unmeasured run that writes the bytecode caches, kept
  under ``benchmarks/out/pycache``); also whether numba was imported and whether any numba function was compiled.
* Warm start: a fresh process with a warm numba cache times ``import vreward`` through the end of its first call,
  for three first calls: ``iou_reward`` on a 128-completion GRPO batch, ``parse_completions`` of it, and the
  detection task's composite reward (iou + confidence + format). Median of 5 each, after one priming run. A
  breakdown process attributes the warm ``iou_reward`` start to its parts: loading the reward modules (pydantic
  settings), ``import numba``, numba's registries (``numba.np.arraymath`` imports ``scipy.linalg`` for its BLAS
  probe, timed apart), then vreward's kernels loaded from the cache and the call itself.
* Cold start, as a new user meets it: a fresh copy of ``src/vreward`` (no ``__pycache__``: its bytecode and every
  kernel are compiled), ``NUMBA_CACHE_DIR`` and ``XDG_CACHE_HOME`` empty, a fresh process per first call (the same
  three). One more cold process listens to numba's ``numba:compile`` events and lists every kernel compiled by the
  first ``iou_reward`` call with its compile time.

Run: ``python benchmarks/bench_import.py [--runs 5] [--cold-runs 1]``.
"""

from __future__ import annotations

import os

os.environ.update(NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")

import argparse
import json
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from common import BENCH_DIR, OUT_DIR, ROOT, fmt_s, print_table, python, write_results

COLD_TARGET_S = 3.0
WARM_TARGET_S = 0.3

IMPORT_SCRIPT = """
import json, sys, time
t = time.perf_counter()
import vreward
dt = time.perf_counter() - t
compiled = 0
for name in ("vreward._kernels", "vreward._scan"):
    mod = sys.modules.get(name)
    if mod is not None:
        compiled += sum(len(getattr(f, "signatures", ())) for f in vars(mod).values())
print(json.dumps({"import_s": dt, "numba_imported": "numba" in sys.modules, "compiled_signatures": compiled,
                  "modules": len(sys.modules)}))
"""

# The batch and its TRL keywords are made before the clock starts (the corpus imports numpy, as a trainer has).
BATCH = """
import json, sys, time
sys.path.insert(0, {bench_dir!r})
from corpus import make_detection_corpus
completions, solutions, _ = make_detection_corpus(128, seed=4242, group=8)
kwargs = dict(prompts=[None] * 128, completion_ids=[[0]] * 128, solution=solutions, trainer_state=None,
              log_metric=lambda *a: None, log_extra=lambda *a: None)
"""

# The first call of each kind (on the batch named ``batch``), from `import vreward` to its end.
FIRST_CALLS = {
    "iou_reward": "vreward.iou_reward(completions={batch}, **kwargs)",
    "parse_completions": "vreward.parse_completions({batch})",
    "detection_composite": "vreward.make_task_reward('detection')(completions={batch}, **kwargs)",
}
FIRST_CALL_SCRIPT = BATCH + """
t0 = time.perf_counter()
import vreward
t1 = time.perf_counter()
{call}
t2 = time.perf_counter()
fresh, _, _ = make_detection_corpus(128, seed=4243, group=8)
t3 = time.perf_counter()
{again}
t4 = time.perf_counter()
print(json.dumps({{"vreward_file": vreward.__file__, "import_s": t1 - t0, "call_s": t2 - t1, "first_call_s": t2 - t0,
                  "second_call_s": t4 - t3, "numba_imported": "numba" in sys.modules,
                  "scipy_imported": "scipy" in sys.modules, "pydantic_imported": "pydantic" in sys.modules}}))
"""

# Where a warm first iou_reward call goes, phase by phase (each phase imports what the next would).
BREAKDOWN_SCRIPT = BATCH + """
phases = {{}}
def phase(name, t):
    now = time.perf_counter()
    phases[name] = now - t
    return now
t = t0 = time.perf_counter()
import vreward
t = phase("import vreward", t)
vreward.iou_reward  # the reward modules: settings (pydantic), parsing, ground truth, frames
t = phase("reward modules (pydantic settings)", t)
import numba
t = phase("import numba", t)
import scipy.linalg
t = phase("import scipy.linalg (numba's BLAS probe)", t)
from numba.core.registry import cpu_target
cpu_target.target_context.refresh()  # what numba does before loading the first cached kernel
t = phase("numba registries", t)
import vreward._kernels, vreward._scan
t = phase("import vreward's kernel modules", t)
vreward.iou_reward(completions=completions, **kwargs)
t = phase("first call (kernels loaded from the cache, scoring)", t)
print(json.dumps({{"phases": phases, "total_s": t - t0}}))
"""

# The kernels the first iou_reward call compiles, from numba's compile events (numba is imported first, so the
# call's own time here excludes numba's import).
COMPILE_SCRIPT = BATCH + """
import numba.core.event as event
compiled = []
class Listener(event.Listener):
    def __init__(self):
        self.started = []
    def on_start(self, ev):
        self.started.append(time.perf_counter())
    def on_end(self, ev):
        t = self.started.pop()
        fn = ev.data["dispatcher"].py_func
        compiled.append({{"kernel": f"{{fn.__module__}}.{{fn.__qualname__}}", "signature": str(ev.data["args"]),
                         "seconds": time.perf_counter() - t, "depth": len(self.started)}})
event.register("numba:compile", Listener())
t0 = time.perf_counter()
import vreward
vreward.iou_reward(completions=completions, **kwargs)
print(json.dumps({{"vreward_file": vreward.__file__, "call_s": time.perf_counter() - t0, "compiled": compiled}}))
"""

NUMBA_SCRIPT = """
import json, time
import numpy
t = time.perf_counter()
import numba
print(json.dumps({"import_numba_s": time.perf_counter() - t}))
"""


def base_env() -> dict[str, str]:
    """The environment of the measured processes: bytecode cached under ``benchmarks/out/pycache``.

    As after ``pip install`` (which compiles bytecode), modules load from ``.pyc`` files; the prefix keeps
    them out of the source tree, and ``PYTHONDONTWRITEBYTECODE`` (set in some sandboxes) is dropped.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(OUT_DIR / "pycache")
    return env


def run_json(script: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``script`` in a fresh interpreter; returns its JSON line plus the process wall time."""
    t = time.perf_counter()
    proc = subprocess.run([python(), "-c", script], capture_output=True, text=True,
                          env={**base_env(), **(env or {})}, timeout=900)
    wall = time.perf_counter() - t
    if proc.returncode:
        raise RuntimeError(f"subprocess failed:\n{proc.stderr}")
    return {**json.loads(proc.stdout.strip().splitlines()[-1]), "process_wall_s": wall}


def cold_run(script: str) -> dict[str, Any]:
    """``script`` with empty numba caches and a fresh copy of the vreward sources (its bytecode not compiled yet:
    the copy's path is new to the bytecode cache)."""
    with tempfile.TemporaryDirectory(prefix="vreward-cold-") as tmp:
        src = Path(tmp) / "src"
        shutil.copytree(ROOT / "src" / "vreward", src / "vreward",
                        ignore=shutil.ignore_patterns("__pycache__"))
        env = {"NUMBA_CACHE_DIR": str(Path(tmp) / "numba"), "XDG_CACHE_HOME": str(Path(tmp) / "xdg"),
               "PYTHONPATH": os.pathsep.join(filter(None, [str(src), os.environ.get("PYTHONPATH")]))}
        out = run_json(script, env)
        if not out["vreward_file"].startswith(str(src)):
            raise RuntimeError(f"cold run imported {out['vreward_file']}, not the fresh copy under {src}")
        return out


def median_of(runs: list[dict[str, Any]], key: str) -> float | None:
    return statistics.median(r[key] for r in runs) if runs else None


def spread(runs: list[dict[str, Any]], key: str) -> dict[str, float | None]:
    """Median, best and worst of ``key`` over the runs."""
    values = [r[key] for r in runs]
    return {"median_s": statistics.median(values), "min_s": min(values), "max_s": max(values), "n": len(values)}


def first_call(name: str, bench_dir: str) -> str:
    """The script timing the first call ``name`` (and, for comparison, a second one on new texts)."""
    call = FIRST_CALLS[name]
    return FIRST_CALL_SCRIPT.format(bench_dir=bench_dir, call=call.format(batch="completions"),
                                    again=call.format(batch="fresh"))


def compile_summary(compiled: list[dict[str, Any]]) -> dict[str, Any]:
    """Per top-level kernel: its compile time (nested kernels included) and how many specializations it compiled."""
    kernels: list[dict[str, Any]] = []
    nested = 0
    for record in compiled:  # in the order they end: a kernel's compile ends after those it calls
        if record["depth"] == 0:
            kernels.append({"kernel": record["kernel"], "seconds": record["seconds"], "specializations": nested + 1})
            nested = 0
        else:
            nested += 1
    by_module: dict[str, float] = {}
    for k in kernels:
        module = k["kernel"].rsplit(".", 1)[0]
        by_module[module] = by_module.get(module, 0.0) + k["seconds"]
    return {"kernels": kernels, "by_module_s": by_module, "specializations": len(compiled),
            "total_s": sum(k["seconds"] for k in kernels)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cold-runs", type=int, default=1)
    args = parser.parse_args()

    OUT_DIR.mkdir(exist_ok=True)
    bench_dir = str(BENCH_DIR)
    run_json(IMPORT_SCRIPT)  # writes .pyc files
    imports = [run_json(IMPORT_SCRIPT) for _ in range(args.runs)]
    warm: dict[str, list[dict[str, Any]]] = {}
    for name in FIRST_CALLS:
        run_json(first_call(name, bench_dir))  # warms the numba cache
        warm[name] = [run_json(first_call(name, bench_dir)) for _ in range(args.runs)]
    breakdown = [run_json(BREAKDOWN_SCRIPT.format(bench_dir=bench_dir)) for _ in range(args.runs)]
    numba_import = [run_json(NUMBA_SCRIPT) for _ in range(args.runs)]
    cold = {name: [cold_run(first_call(name, bench_dir)) for _ in range(args.cold_runs)] for name in FIRST_CALLS}
    compiles = cold_run(COMPILE_SCRIPT.format(bench_dir=bench_dir))

    phases = {name: statistics.median(b["phases"][name] for b in breakdown) for name in breakdown[0]["phases"]}
    results = {
        "config": vars(args),
        "targets": {"cold_first_call_s": COLD_TARGET_S, "warm_first_call_s": WARM_TARGET_S},
        "import": {"runs": imports, "median_s": median_of(imports, "import_s"),
                   "numba_imported": any(r["numba_imported"] for r in imports),
                   "compiled_signatures": max(r["compiled_signatures"] for r in imports),
                   "process_wall_median_s": median_of(imports, "process_wall_s")},
        "import_numba_median_s": median_of(numba_import, "import_numba_s"),
        "warm": {name: {"runs": runs, "first_call": spread(runs, "first_call_s"),
                        "second_call": spread(runs, "second_call_s")} for name, runs in warm.items()},
        "warm_breakdown": {"runs": breakdown, "phases_median_s": phases,
                           "total": spread(breakdown, "total_s")},
        "cold": {name: {"runs": runs, "first_call": spread(runs, "first_call_s")} for name, runs in cold.items()},
        "cold_compile": {"call_s": compiles["call_s"], **compile_summary(compiles["compiled"]),
                         "events": compiles["compiled"]},
    }
    imp = results["import"]
    rows = [["import vreward", fmt_s(imp["median_s"]),
             f"numba imported: {imp['numba_imported']}, compiled at import: {imp['compiled_signatures']}"]]
    for name in FIRST_CALLS:
        w, c = results["warm"][name]["first_call"], results["cold"][name]["first_call"]
        rows.append([f"warm start to the end of the first {name}", fmt_s(w["median_s"]),
                     f"{fmt_s(w['min_s'])} - {fmt_s(w['max_s'])}; target {fmt_s(WARM_TARGET_S)}"])
        rows.append([f"cold start to the end of the first {name}", fmt_s(c["median_s"]),
                     f"target {fmt_s(COLD_TARGET_S)}"])
    print_table(rows, ["measurement", "median", "notes"])
    print("\nwarm iou_reward start, by phase (median):")
    print_table([[k, fmt_s(v)] for k, v in phases.items()], ["phase", "time"])
    cc = results["cold_compile"]
    print(f"\nkernels compiled by a cold first iou_reward call ({cc['specializations']} specializations, "
          f"{fmt_s(cc['total_s'])}):")
    print_table([[k["kernel"], k["specializations"], fmt_s(k["seconds"])] for k in cc["kernels"]],
                ["kernel", "specializations", "compile time"])
    path = write_results("import", results)
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
