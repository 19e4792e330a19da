"""Run the completion scanner without importing numba: its machine code, cached as an object file.

In a fresh process the first call of any numba function costs about 0.5 s even when the function is in numba's
on-disk cache: importing numba, building its typing and lowering registries, and importing ``scipy.linalg``
(numba's BLAS probe) all happen before the cached code can run. The scanner (:func:`vreward._scan.scan_into`)
needs none of that: it is compiled without numba's runtime (``_nrt=False``) and with the numpy error model, so
it allocates nothing, raises nothing and calls nothing but libm.

So on first use this module compiles it once through numba, adds a C entry point taking a single array of
int64 words (pointers, shapes and scalars), and writes the resulting object code next to numba's cache. Later
processes load that object with llvmlite's MCJIT (no numba import) and call it through ctypes, which also
releases the GIL while it runs. The cache key covers the sources of ``_scan.py`` and this file, the numba and
llvmlite versions, the host CPU and the relevant ``NUMBA_*`` settings.

Safety: an object is loaded only after its checksum matches, every external symbol it needs is found in the
process, and (when it is built) its results match the numba dispatcher's on a sample batch. Any failure falls
back to the numba dispatcher, as does ``VREWARD_NATIVE=0`` or ``NUMBA_DISABLE_JIT=1``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import struct
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger("vreward")

# Arguments of vreward._scan.scan_into: (dtype, ndim); ndim 0 is a scalar passed by value.
SCAN_INTO_ARGS: tuple[tuple[str, int], ...] = (
    ("u1", 1), ("i8", 1), ("i8", 1), ("b1", 0),  # buf, starts, ends, require_tag
    ("u1", 1), ("i8", 1), ("i8", 1),  # keyword table
    ("u1", 1), ("u1", 1), ("u1", 1), ("u1", 1),  # tags
    ("i8", 0),  # row0
    ("b1", 1), ("i8", 1), ("i8", 1), ("b1", 1), ("i1", 1), ("i8", 2), ("i8", 1),  # per-row outputs
    ("f8", 2), ("f8", 1), ("i8", 1), ("i8", 1), ("i8", 3), ("b1", 1),  # per-box outputs
    ("i8", 2), ("f8", 2), ("f8", 1), ("i8", 1), ("f8", 1), ("i8", 1),  # scratch
)

_MAGIC = b"vreward-native-object-1\n"
_ENTRY = "vreward_scan_into_entry"
_HERE = Path(__file__).resolve().parent
_CODEGEN_ENV = ("NUMBA_OPT", "NUMBA_BOUNDSCHECK", "NUMBA_CPU_NAME", "NUMBA_CPU_FEATURES", "NUMBA_FASTMATH",
                "NUMBA_LOOP_VECTORIZE", "NUMBA_SLP_VECTORIZE", "NUMBA_ENABLE_AVX")

_lock = threading.Lock()
_kernel: Callable[..., int] | None = None
_engines: list[Any] = []  # MCJIT engines stay alive as long as the process: their code is in use


def scan_kernel() -> Callable[..., int]:
    """The scanner, callable like ``vreward._scan.scan_into``: the cached native code, else numba's."""
    global _kernel
    if _kernel is None:
        with _lock:
            if _kernel is None:
                _kernel = _native_or_none() or _dispatcher()
    return _kernel


def _dispatcher() -> Callable[..., int]:
    from vreward._scan import scan_into

    return scan_into


def _native_or_none() -> Callable[..., int] | None:
    if os.environ.get("VREWARD_NATIVE", "1") == "0":
        return None
    if os.environ.get("NUMBA_DISABLE_JIT", "0") not in ("", "0"):
        return None
    if sys.byteorder != "little" or struct.calcsize("P") != 8 or not sys.platform.startswith("linux"):
        return None
    try:
        key = _cache_key()
        for path in _cache_paths(key):
            if path.is_file():
                try:
                    return _load(path.read_bytes(), key)
                except Exception as exc:  # a stale or foreign file: rebuild it
                    log.debug("vreward: cannot load %s: %s", path, exc)
        return _build_and_store(key)
    except Exception as exc:
        log.debug("vreward: native scanner unavailable, using numba: %r", exc)
        return None


# ---------------------------------------------------------------------------------------------------- cache


def _llvm():
    import llvmlite.binding as ll

    ll.initialize_native_target()
    ll.initialize_native_asmprinter()
    return ll


def _target_machine(ll):
    """A target machine set up like numba's JIT one (host CPU and features, its relocation model)."""
    target = ll.Target.from_triple(ll.get_process_triple())
    arch = target.name
    reloc = "static" if arch.startswith("x86") else ("pic" if arch.startswith("ppc") else "default")
    return target.create_target_machine(cpu=ll.get_host_cpu_name(),
                                        features=ll.get_host_cpu_features().flatten(), opt=3, reloc=reloc,
                                        codemodel="jitdefault", jit=True)


def _cache_key() -> str:
    import importlib.util

    import llvmlite

    ll = _llvm()
    h = hashlib.sha256()
    for path in (_HERE / "_scan.py", Path(__file__)):
        h.update(path.read_bytes())
    spec = importlib.util.find_spec("numba")
    if spec is None or spec.origin is None:
        raise RuntimeError("numba is not installed")
    numba_dir = Path(spec.origin).parent
    version_file = numba_dir / "_version.py"
    h.update(version_file.read_bytes() if version_file.is_file() else str(numba_dir).encode())
    parts = [llvmlite.__version__, ll.get_process_triple(), ll.get_host_cpu_name(),
             ll.get_host_cpu_features().flatten(), f"{sys.version_info[0]}.{sys.version_info[1]}",
             *(f"{k}={os.environ.get(k, '')}" for k in _CODEGEN_ENV)]
    h.update("\0".join(parts).encode())
    return h.hexdigest()


def _cache_paths(key: str) -> list[Path]:
    name = f"_scan.scan_into.{key[:24]}.vrnative"
    dirs = [_HERE / "__pycache__"]
    if os.environ.get("NUMBA_CACHE_DIR"):
        dirs.append(Path(os.environ["NUMBA_CACHE_DIR"]) / "vreward")
    try:
        dirs.append(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vreward")
    except RuntimeError:  # no home directory
        pass
    return [d / name for d in dirs]


def _store(data: bytes, key: str) -> None:
    for path in _cache_paths(key):
        tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(data)
            os.replace(tmp, path)
            return
        except OSError as exc:
            log.debug("vreward: cannot write %s: %s", path, exc)
            try:
                tmp.unlink()
            except OSError:
                pass


# ---------------------------------------------------------------------------------------------------- load


def _load(data: bytes, key: str) -> Callable[..., int]:
    """Load a cached object: check it, resolve its external symbols, map it with MCJIT."""
    import ctypes

    if not data.startswith(_MAGIC):
        raise ValueError("not a vreward native object")
    head_end = data.index(b"\n", len(_MAGIC))
    head = json.loads(data[len(_MAGIC):head_end])
    obj = data[head_end + 1:]
    if head.get("key") != key or head.get("sha256") != hashlib.sha256(obj).hexdigest():
        raise ValueError("key or checksum mismatch")
    ll = _llvm()
    process = ctypes.CDLL(None)
    for name in head["undefined"]:
        # MCJIT aborts the process on a symbol it cannot resolve: make sure of every one first
        if not ll.address_of_symbol(name):
            try:
                address = ctypes.cast(getattr(process, name), ctypes.c_void_p).value
            except AttributeError:
                address = None
            if not address:
                raise RuntimeError(f"unresolved symbol {name!r}")
            ll.add_symbol(name, address)
    engine = ll.create_mcjit_compiler(ll.parse_assembly(""), _target_machine(ll))
    engine.add_object_file(ll.ObjectFileRef.from_data(obj))
    engine.finalize_object()
    address = engine.get_function_address(head["symbol"])
    if not address:
        raise RuntimeError("entry point not found")
    _engines.append(engine)
    return _wrap(ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_void_p)(address), SCAN_INTO_ARGS)


def _wrap(entry: Callable[[int], int], spec: Sequence[tuple[str, int]]) -> Callable[..., int]:
    """A Python callable packing its arguments (checked against ``spec``) into the entry's int64 words."""
    dtypes = [np.dtype(code) for code, _ in spec]

    def call(*args: Any) -> int:
        if len(args) != len(spec):
            raise TypeError(f"expected {len(spec)} arguments, got {len(args)}")
        words: list[int] = []
        for a, dtype, (_, ndim) in zip(args, dtypes, spec, strict=True):
            if ndim == 0:
                words.append(int(a))
                continue
            if not (isinstance(a, np.ndarray) and a.dtype == dtype and a.ndim == ndim
                    and a.flags.c_contiguous):
                raise TypeError(f"expected a C-contiguous {dtype} array of {ndim} dimensions")
            words.append(a.ctypes.data)
            words.extend(a.shape)
        argv = np.array(words, np.int64)
        return entry(argv.ctypes.data)

    return call


# ---------------------------------------------------------------------------------------------------- build


def _build_and_store(key: str) -> Callable[..., int]:
    obj, symbol = _compile_object()
    undefined = _elf_undefined_symbols(obj)
    head = {"key": key, "symbol": symbol, "undefined": undefined, "sha256": hashlib.sha256(obj).hexdigest()}
    data = _MAGIC + json.dumps(head).encode() + b"\n" + obj
    kernel = _load(data, key)
    _self_test(kernel)
    _store(data, key)
    return kernel


def _compile_object() -> tuple[bytes, str]:
    """Compile scan_into through numba (no Python wrappers) and add the C entry point; returns object code."""
    from llvmlite import ir
    from numba import njit, types
    from numba.np.arrayobj import populate_array

    from vreward import _scan

    ll = _llvm()
    numba_types = {"u1": types.uint8, "i1": types.int8, "i8": types.int64, "f8": types.float64,
                   "b1": types.boolean}
    sig = tuple(numba_types[code] if ndim == 0 else types.Array(numba_types[code], ndim, "C")
                for code, ndim in SCAN_INTO_ARGS)
    options = dict(_scan.JIT_OPTIONS, cache=False, no_cpython_wrapper=True, no_cfunc_wrapper=True)
    fresh = njit(**options)(_scan.scan_into.py_func)
    fresh.compile(sig)
    cres = fresh.overloads[sig]
    ctx, fndesc = cres.target_context, cres.fndesc

    module = ctx.create_module("vreward_entry")
    i64 = ir.IntType(64)
    callee = ir.Function(module, ctx.call_conv.get_function_type(fndesc.restype, fndesc.argtypes),
                         fndesc.llvm_func_name)
    entry = ir.Function(module, ir.FunctionType(i64, [i64.as_pointer()]), _ENTRY)
    builder = ir.IRBuilder(entry.append_basic_block("entry"))
    argv = entry.args[0]
    position = 0

    def word():
        nonlocal position
        value = builder.load(builder.gep(argv, [ir.Constant(i64, position)]))
        position += 1
        return value

    args = []
    for ty in sig:
        if isinstance(ty, types.Array):
            data_type = ctx.get_data_type(ty.dtype)
            data = builder.inttoptr(word(), data_type.as_pointer())
            shape = [word() for _ in range(ty.ndim)]
            itemsize = ctx.get_abi_sizeof(data_type)
            strides = []
            stride = ir.Constant(i64, itemsize)
            for d in reversed(range(ty.ndim)):
                strides.insert(0, stride)
                stride = builder.mul(stride, shape[d])
            array = ctx.make_array(ty)(ctx, builder)
            populate_array(array, data=data, shape=shape, strides=strides,
                           itemsize=ir.Constant(i64, itemsize), meminfo=None)
            args.append(array._getvalue())
        elif isinstance(ty, types.Boolean):
            args.append(builder.icmp_unsigned("!=", word(), ir.Constant(i64, 0)))
        else:
            args.append(word())
    status, result = ctx.call_conv.call_function(builder, callee, fndesc.restype, fndesc.argtypes, args)
    builder.ret(builder.select(status.is_error, ir.Constant(i64, -2), result))

    linked = ll.parse_assembly(cres.library.get_llvm_str())
    linked.link_in(ll.parse_assembly(str(module)))
    # keep only the entry point and what it reaches
    for fn in linked.functions:
        if not fn.is_declaration and fn.name != _ENTRY:
            fn.linkage = "internal"
    for gv in linked.global_variables:
        if not gv.is_declaration:
            gv.linkage = "internal"
    linked.verify()
    tm = _target_machine(ll)
    pb = ll.create_pass_builder(tm, ll.create_pipeline_tuning_options(speed_level=2))
    pm = ll.create_new_module_pass_manager()
    pm.add_global_dead_code_eliminate_pass()
    pm.add_strip_dead_prototype_pass()
    pm.run(linked, pb)
    return tm.emit_object(linked), _ENTRY


def _elf_undefined_symbols(obj: bytes) -> list[str]:
    """Names of the undefined symbols of a little-endian ELF64 relocatable object."""
    if obj[:4] != b"\x7fELF" or obj[4] != 2 or obj[5] != 1:
        raise ValueError("not a little-endian ELF64 object")
    shoff, = struct.unpack_from("<Q", obj, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", obj, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", obj, shoff + k * shentsize) for k in range(shnum)]
    names = []
    for _, sh_type, _, _, offset, size, link, _, _, entsize in sections:
        if sh_type != 2:  # SHT_SYMTAB
            continue
        str_offset = sections[link][4]
        for k in range(size // entsize):
            st_name, _, _, st_shndx, _, _ = struct.unpack_from("<IBBHQQ", obj, offset + k * entsize)
            if st_shndx == 0 and st_name:
                end = obj.index(b"\0", str_offset + st_name)
                names.append(obj[str_offset + st_name:end].decode())
    return sorted(set(names))


_SAMPLES = (
    "<think>x</think><answer>[{'Position': [1, 2, 3, 4], 'Confidence': 0.9}, {\"position\": [5.5,6,7,8]}]"
    "</answer>",
    "<think>a</think>\n<answer>```json\n[{\"bbox_2d\": [10, 20, 30, 40], \"label\": \"cat\", "
    "\"score\": 1e-3}]\n```</answer>",
    "<answer>{\"cat\": [[1,2,3,4],[5,6,7,8]], \"dog\": [9,10,11,12]}</answer>",
    "<answer><|object_ref_start|>a man<|object_ref_end|><|box_start|>(1,2),(30,40)<|box_end|></answer>",
    "<answer>[0.1, 0.2, 0.3, 0.4] and 1, 2, 3, 4 and [5, 6] and [1,2,3]</answer>",
    "<answer>[nan, 1, 2, 3], [1e999, 1, 2, 3], [12345678901234567890123, -1.7976931348623157e308, 0, .5e-3]",
    "<answer>No Objects</answer>", "<answer>[]</answer>", "<answer>  </answer>", "no tags", "",
    "<answer>" + "[" * 70 + "</answer>", "<answer>[{'Position': [1,2,3,4], 'Conf",
    "<think>\u2003</think>\u3000<answer>[\\{'Position': [1, 2, 3, 4], 'Confidence': '0.5', "
    "'label': 'men's shoe'\\}]",
)


def _self_test(kernel: Callable[..., int]) -> None:
    """The native kernel must give exactly what the numba dispatcher gives on a sample batch."""
    from vreward import parsing

    texts = list(_SAMPLES) * 3
    buf, starts, ends = parsing._encode(texts)
    arr = np.frombuffer(buf, np.uint8)
    for tag in (True, False):
        # room for 3 boxes at first: the scan stops and resumes several times
        ours = parsing._scan_arrays(arr, starts, ends, tag, kernel, cap=3)
        ref = parsing._scan_arrays(arr, starts, ends, tag, _dispatcher())
        for a, b in zip(ours, ref, strict=True):
            if a.shape != b.shape or not np.array_equal(a, b, equal_nan=a.dtype.kind == "f"):
                raise RuntimeError("native scanner disagrees with numba")
