"""Start-up costs, each in a fresh interpreter, one thread.

* ``import vreward``: median of 5 fresh processes (after one unmeasured run that writes the bytecode
  caches, kept under ``benchmarks/out/pycache``); also whether numba was imported and whether any numba
  function was compiled at import.
* First reward call with a warm numba cache: a fresh process imports vreward and scores one 128-completion
  GRPO batch with the three detection rewards. "First call" runs from after ``import vreward`` to the end of
  the first ``iou_reward`` call (loading the reward modules on first attribute access, numba, the cached
  parsing / ground-truth / matching kernels, and the scoring itself); the whole first step is timed too.
  Median of 5, after one priming run. For context, ``import numba`` alone (after numpy) is timed as well.
* Cold compile: the same with ``NUMBA_CACHE_DIR`` (and ``XDG_CACHE_HOME``) pointing to empty temporary
  directories and vreward imported from a fresh copy of ``src/vreward`` without ``__pycache__``, so nothing
  compiled is found anywhere (vreward also caches native scanner code next to its sources) and every kernel
  is compiled (one run by default).

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

FIRST_CALL_SCRIPT = """
import json, sys, time
sys.path.insert(0, {bench_dir!r})
from corpus import make_detection_corpus
completions, solutions, _ = make_detection_corpus(128, seed=4242, group=8)
kwargs = dict(prompts=[None] * 128, completion_ids=[[0]] * 128, solution=solutions, trainer_state=None,
              log_metric=lambda *a: None, log_extra=lambda *a: None)
t0 = time.perf_counter()
import vreward
t1 = time.perf_counter()
iou_reward = vreward.iou_reward  # loads the reward modules (lazy public names)
ta = time.perf_counter()
iou_reward(completions=completions, **kwargs)
t2 = time.perf_counter()
vreward.confidence_reward(completions=completions, **kwargs)
vreward.format_reward(completions=completions, **kwargs)
t3 = time.perf_counter()
fresh, _, _ = make_detection_corpus(128, seed=4243, group=8)
t4 = time.perf_counter()
for f in (vreward.iou_reward, vreward.confidence_reward, vreward.format_reward):
    f(completions=fresh, **kwargs)
t5 = time.perf_counter()
print(json.dumps({{"vreward_file": vreward.__file__, "import_s": t1 - t0, "load_rewards_s": ta - t1,
                  "call_s": t2 - ta, "first_call_s": t2 - t1,
                  "first_step_s": t3 - t1, "import_and_first_step_s": t3 - t0, "second_step_s": t5 - t4}}))
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
    """``script`` with empty numba / vreward caches and a fresh copy of the vreward sources."""
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cold-runs", type=int, default=1)
    args = parser.parse_args()

    OUT_DIR.mkdir(exist_ok=True)
    run_json(IMPORT_SCRIPT)  # writes .pyc files
    imports = [run_json(IMPORT_SCRIPT) for _ in range(args.runs)]
    first_script = FIRST_CALL_SCRIPT.format(bench_dir=str(BENCH_DIR))
    run_json(first_script)  # warms the numba cache
    warm = [run_json(first_script) for _ in range(args.runs)]
    numba_import = [run_json(NUMBA_SCRIPT) for _ in range(args.runs)]
    cold = [cold_run(first_script) for _ in range(args.cold_runs)]

    results = {
        "config": vars(args),
        "import": {"runs": imports, "median_s": median_of(imports, "import_s"),
                   "numba_imported": any(r["numba_imported"] for r in imports),
                   "compiled_signatures": max(r["compiled_signatures"] for r in imports),
                   "process_wall_median_s": median_of(imports, "process_wall_s")},
        "import_numba_median_s": median_of(numba_import, "import_numba_s"),
        "warm_cache": {"runs": warm, **{f"{k}_median": median_of(warm, k) for k in
                                        ("load_rewards_s", "call_s", "first_call_s", "first_step_s",
                                         "import_and_first_step_s", "second_step_s")}},
        "cold_cache": {"runs": cold, **{f"{k}_median": median_of(cold, k) for k in
                                        ("first_call_s", "first_step_s", "import_and_first_step_s")}},
    }
    imp = results["import"]
    rows = [
        ["import vreward", fmt_s(imp["median_s"]),
         f"numba imported: {imp['numba_imported']}, compiled at import: {imp['compiled_signatures']}"],
        ["first call, warm cache (iou_reward)", fmt_s(results["warm_cache"]["first_call_s_median"]),
         f"loading reward modules {fmt_s(results['warm_cache']['load_rewards_s_median'])}, call "
         f"{fmt_s(results['warm_cache']['call_s_median'])}; import numba alone "
         f"{fmt_s(results['import_numba_median_s'])}"],
        ["first step, warm cache (3 rewards)", fmt_s(results["warm_cache"]["first_step_s_median"]),
         f"second step: {fmt_s(results['warm_cache']['second_step_s_median'])}"],
    ]
    if cold:
        c = results["cold_cache"]
        rows += [["first call, cold cache (compile)", fmt_s(c["first_call_s_median"]), ""],
                 ["first step, cold cache (compile)", fmt_s(c["first_step_s_median"]), ""]]
    print_table(rows, ["measurement", "median", "notes"])
    path = write_results("import", results)
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
