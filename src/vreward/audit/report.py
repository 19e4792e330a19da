"""The audit's table for the terminal, and its Markdown / HTML report."""

from __future__ import annotations

import html
from pathlib import Path

from vreward.audit.run import AuditReport, Verdict

VERDICT_WORDS = {("attack", True): "WINS", ("attack", False): "held", ("harmless", True): "PUNISHED",
                 ("harmless", False): "ok"}


def _word(v: Verdict) -> str:
    return VERDICT_WORDS[v.kind, v.failed]


def _columns(report: AuditReport) -> list[str]:
    return list(dict.fromkeys(name for v in report.verdicts for name in v.scores))


def _rows(report: AuditReport) -> list[list[str]]:
    names = _columns(report)
    return [[v.task, v.scene, v.name, *(f"{v.scores[n]:.3f}" if n in v.scores else "" for n in names),
             f"{v.total:.3f}", f"{v.against} {v.against_total:.3f}", _word(v)] for v in report.verdicts]


def _headers(report: AuditReport) -> list[str]:
    return ["task", "scene", "answer", *_columns(report), "total", "compared with", "verdict"]


def table(report: AuditReport, failures_only: bool = False) -> list[str]:
    """Lines of a plain-text table of the verdicts (attacks that win first)."""
    headers = _headers(report)
    rows = _rows(report)
    if failures_only:
        rows = [r for r, v in zip(rows, report.verdicts) if v.failed]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths))
    out = [f"vreward audit: {report.config}", line, "-" * len(line)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    n_attacks = sum(v.kind == "attack" for v in report.verdicts)
    wins = sum(v.kind == "attack" and v.failed for v in report.verdicts)
    punished = sum(v.kind == "harmless" and v.failed for v in report.verdicts)
    out += ["", f"{wins} of {n_attacks} attacks beat an honest answer; {punished} harmless variations punished"]
    return out


def markdown(report: AuditReport) -> str:
    """The verdicts as a Markdown document (with each attack's source)."""
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    headers = _headers(report)
    lines = [f"# vreward audit: {cell(report.config)}", "", "| " + " | ".join(headers) + " |",
             "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(c) for c in r) + " |" for r in _rows(report)]
    sources = sorted({(v.name, v.source) for v in report.verdicts if v.source})
    if sources:
        lines += ["", "## Where the attacks come from", ""] + [f"* **{cell(n)}**: {cell(s)}" for n, s in sources]
    return "\n".join(lines) + "\n"


def to_html(report: AuditReport) -> str:
    """The verdicts as a self-contained HTML page."""
    headers = _headers(report)
    rows = "".join("<tr class='{}'>{}</tr>".format("fail" if v.failed else "ok",
                                                   "".join(f"<td>{html.escape(c)}</td>" for c in r))
                   for r, v in zip(_rows(report), report.verdicts))
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    return ("<!doctype html><meta charset='utf-8'><title>vreward audit</title><style>body{font:14px sans-serif}"
            "td,th{padding:2px 8px;border-bottom:1px solid #ddd}tr.fail{background:#fdd}</style>"
            f"<h1>vreward audit: {html.escape(report.config)}</h1><table><tr>{head}</tr>{rows}</table>")


def write_report(report: AuditReport, out_dir: Path) -> list[Path]:
    """Write ``audit.md`` and ``audit.html`` under ``out_dir``; returns their paths."""
    from vreward.atomic import write_atomic

    out_dir = Path(out_dir)
    return [write_atomic(out_dir / "audit.md", markdown(report)), write_atomic(out_dir / "audit.html", to_html(report))]
