"""The package surface: every public name resolves, and importing stays light."""

from __future__ import annotations

import subprocess
import sys

import vreward


def test_every_public_name_resolves():
    for name in vreward.__all__:
        assert getattr(vreward, name) is not None, name
    assert "iou_reward" in dir(vreward)


def test_import_needs_neither_torch_nor_numba():
    code = ("import sys, vreward; from vreward import iou_reward; "
            "print(sorted(m for m in ('torch', 'numba', 'scipy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_scanner_reason_codes_match_the_enum():
    from vreward import _scan
    from vreward.reasons import PARSE_REASONS, ParseReason

    for reason in ParseReason:
        assert getattr(_scan, reason.name) == PARSE_REASONS.index(reason)
