"""One normalization of category labels, shared by the rewards' label-aware matching and the COCO metrics.

Labels are compared case-insensitively, with ``_`` and ``-`` read as spaces and runs of whitespace as one
space, so "Hot-Dog", "hot_dog" and "hot  dog" all name the COCO category "hot dog".

>>> normalize_label("  Hot-Dog ")
'hot dog'
>>> normalize_label("traffic_light") == normalize_label("Traffic Light")
True

Visual-RFT's classification rule (lowercase, spaces and underscores removed: "Hot dog" == "hotdog") is the one
exception, kept as the paper has it in :mod:`vreward.rewards.classification`.
"""

from __future__ import annotations

_AS_SPACE = str.maketrans({"_": " ", "-": " "})


def normalize_label(label: str | None) -> str | None:
    """The comparable form of a label: lowercase, ``_``/``-`` as spaces, whitespace collapsed; None if empty."""
    if label is None:
        return None
    return " ".join(label.lower().translate(_AS_SPACE).split()) or None
