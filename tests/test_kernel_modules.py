"""The numba kernel modules are single files: every kernel they run and every constant it reads is theirs.

numba's disk cache checks a cached kernel against its own source file only, so a kernel calling a kernel of another
module, or reading one of its constants (numba freezes globals into the machine code), would keep running stale
machine code after that module changed. A kernel module therefore imports nothing but numpy, numba and the standard
library, its kernels call only what it defines, and each is compiled with the module's options constant.
"""

from __future__ import annotations

import ast
import builtins
from pathlib import Path

import pytest

import vreward

PACKAGE = Path(vreward.__file__).parent
KERNEL_MODULES = ("_kernels.py", "_rle.py", "_scan.py")
JIT_DECORATORS = {"njit", "jit", "vectorize", "guvectorize", "cfunc", "stencil"}
ALLOWED_IMPORTS = {"__future__", "math", "typing", "numpy", "numba"}


def _jit_decorator(node: ast.AST) -> ast.expr | None:
    if not isinstance(node, ast.FunctionDef):
        return None
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        name = target.id if isinstance(target, ast.Name) else getattr(target, "attr", None)
        if name in JIT_DECORATORS:
            return decorator
    return None


def _assigned_names(node: ast.AST) -> set[str]:
    names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    if isinstance(node, ast.FunctionDef):
        names |= {a.arg for a in node.args.args + node.args.kwonlyargs}
    return names


def kernel_module_problems(source: str) -> list[str]:
    """What keeps a kernel module's source from being a self-contained kernel file (empty when it is one)."""
    tree = ast.parse(source)
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            modules = ["." * node.level + (node.module or "")]
        else:
            continue
        problems += [f"line {node.lineno} imports {m}" for m in modules if m.split(".")[0] not in ALLOWED_IMPORTS]
    defined = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            defined |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
        else:
            defined |= _assigned_names(node)
    for node in tree.body:
        decorator = _jit_decorator(node)
        if decorator is None:
            continue
        options = decorator.keywords if isinstance(decorator, ast.Call) else []
        if not (isinstance(decorator, ast.Call) and not decorator.args and len(options) == 1
                and options[0].arg is None and isinstance(options[0].value, ast.Name)
                and options[0].value.id.endswith("_OPTIONS") and options[0].value.id in defined):
            problems.append(f"{node.name} is not compiled with the module's options constant, njit(**JIT_OPTIONS)")
        local = _assigned_names(node)
        for call in ast.walk(node):
            if isinstance(call, ast.Call) and isinstance(call.func, ast.Name):
                name = call.func.id
                if name not in local and name not in defined and not hasattr(builtins, name):
                    problems.append(f"{node.name} calls {name}, which this module does not define")
    return problems


def _modules_with_kernels() -> list[str]:
    return sorted(str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py")
                  if any(_jit_decorator(node) for node in ast.walk(ast.parse(path.read_text()))))


def test_the_kernel_modules_are_the_only_modules_with_kernels():
    assert _modules_with_kernels() == sorted(KERNEL_MODULES)


@pytest.mark.parametrize("module", KERNEL_MODULES)
def test_kernel_modules_are_self_contained(module):
    assert kernel_module_problems((PACKAGE / module).read_text()) == []


HEADER = "import numpy as np\nfrom numba import njit\nJIT_OPTIONS = {'cache': True}\n"


@pytest.mark.parametrize("source, problem", [
    ("@njit(**JIT_OPTIONS)\ndef area(b):\n    return np.float64(max(b[2] - b[0], 0.0))", None),
    ("from vreward._kernels import _box_area\n@njit(**JIT_OPTIONS)\ndef area(b):\n    return _box_area(b)",
     "imports vreward._kernels"),
    ("import vreward._kernels as k\n@njit(**JIT_OPTIONS)\ndef area(b):\n    return k._box_area(b)",
     "imports vreward._kernels"),
    ("from ._geometry import clip\n@njit(**JIT_OPTIONS)\ndef f(x):\n    return clip(x)", "imports ._geometry"),
    ("from vreward._scan import BOX_LEN\n@njit(**JIT_OPTIONS)\ndef f(x):\n    return x[BOX_LEN]",
     "imports vreward._scan"),
    ("@njit(**JIT_OPTIONS)\ndef f(x):\n    return helper(x)", "f calls helper, which this module does not define"),
    ("@njit(cache=True)\ndef f(x):\n    return x", "f is not compiled with the module's options constant"),
])
def test_the_check_catches_a_kernel_split_into_another_module(source, problem):
    problems = kernel_module_problems(HEADER + source)
    assert [problem in p for p in problems] == ([] if problem is None else [True]), problems
