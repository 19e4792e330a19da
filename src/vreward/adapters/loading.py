"""Adapter files loaded by path: their public objects are the installed package module's.

verl (``custom_reward_function.path``: module ``custom_module_<hash>``), EasyR1 (``custom_reward_fn``) and
ms-swift (``--external_plugins``: ``_swift_external_<hash>``) execute an adapter file under a module name of
their own. Functions defined by that execution would pickle by value or not at all (verl's remote reward manager
sends the function to Ray workers; its prime manager and multiprocessing use process pools), and would keep
caches apart from the package's. :func:`use_package_objects`, called at the end of each adapter file, binds the
file's public names to the objects of the package module instead, so every load shares one set of functions that
pickle by reference.
"""

from __future__ import annotations

import importlib
from typing import Any


def use_package_objects(namespace: dict[str, Any], module_name: str) -> None:
    """Bind the names in ``namespace["__all__"]`` to those of ``module_name`` unless ``namespace`` is that module."""
    if namespace["__name__"] == module_name:
        return
    module = importlib.import_module(module_name)
    for name in namespace["__all__"]:
        namespace[name] = getattr(module, name)
