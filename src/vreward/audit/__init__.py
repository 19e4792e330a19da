"""``vreward audit``: attack a reward configuration with completions that do none of the task.

>>> from vreward.audit import AuditConfig, audit
>>> audit().passed                                   # vreward's defaults on the bundled scenes
True
>>> paper = audit(AuditConfig.of_preset("visual_rft"))
>>> "one junk box at confidence 0" in {v.name for v in paper.failures}
True

Each attack is scored next to honest answers (perfect, slightly off, one object missed, honest "No Objects",
wrong class, ...) on bundled scenes or on scenes built from a dataset's ground truth, with the defaults, a
preset, weights, or any TRL-style reward given as ``module:function``. See docs/audit.md.
"""

from vreward.audit.report import markdown, table, to_html, write_report
from vreward.audit.run import AuditConfig, AuditReport, Verdict, audit, load_reward
from vreward.audit.scenes import BUNDLED, Scene, bundled, scenes_from_records

__all__ = ["BUNDLED", "AuditConfig", "AuditReport", "Scene", "Verdict", "audit", "bundled", "load_reward",
           "markdown", "scenes_from_records", "table", "to_html", "write_report"]
