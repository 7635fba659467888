"""Renderers: a report, or a batch, comparison or diff document, as text for people and tools.

:func:`render_report` renders a :class:`~coherence_rules.findings.report.Report` in one of
:data:`REPORT_FORMATS`; the modules render one medium each (:mod:`.text`, :mod:`.formats` for
table, CSV, Markdown and SARIF, :mod:`.html`, :mod:`.batch_text` for the batch, compare and diff
documents, :mod:`.topics` for the topic matrix of ``batch --view topics``).
"""

from __future__ import annotations

REPORT_FORMATS = ("text", "table", "json", "sarif", "csv", "markdown", "html")


class MissingExtra(RuntimeError):
    """An optional dependency a renderer needs is not installed (the message says which extra).
    Here rather than in :mod:`.html`, so that naming it costs every command nothing."""


def signed(score: int) -> str:
    """A score as people read it: +2, 0, -1."""
    return f"+{score}" if score > 0 else str(score)


def plural(count: int, singular: str, many: str | None = None) -> str:
    """``3 findings``, ``1 finding``; ``many`` when adding an s is wrong (synergies)."""
    return f"{count} {singular if count == 1 else (many or singular + 's')}"


def render_report(report, fmt: str, explain: bool = False) -> str:
    """``report`` in format ``fmt`` (one of :data:`REPORT_FORMATS`); ``explain`` adds each
    finding's proof to the text format. HTML needs Jinja2 (the ``html`` extra): without it,
    :class:`MissingExtra` is raised."""
    if fmt == "text":
        from .escape import terminal
        from .text import render

        return terminal(render(report, explain))
    if fmt == "json":
        return report.to_json()
    if fmt == "html":
        from .html import render_html

        return render_html(report.to_dict(), report.source_texts())
    from . import formats

    renderers = {"table": formats.render_table, "csv": formats.render_csv, "markdown": formats.render_markdown,
                 "sarif": formats.render_sarif}
    if fmt not in renderers:
        raise ValueError(f"unknown format '{fmt}' (formats: {', '.join(REPORT_FORMATS)})")
    return renderers[fmt](report)
