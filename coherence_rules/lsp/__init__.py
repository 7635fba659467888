"""``coherence lsp``: a Language Server Protocol server for policy and rules files (pygls).

Diagnostics as the drafter types (syntax, schema, references, and the set's findings), hover,
go to definition, completion, formatting and an "Accept this trade-off" quick fix, for
``.policy`` and ``.rules`` files and Markdown files with ``policy``/``rules`` blocks. See
``docs/editors.md`` for editor set-up.

The server needs the ``lsp`` extra (pygls); this package imports it only when the server starts,
so that the rest of coherence works without it.
"""

from __future__ import annotations

from typing import Optional, Sequence


def serve(rulesets: Optional[Sequence[str]] = None, with_paths: Optional[Sequence[str]] = None) -> None:
    """Run the server over stdin/stdout. ``rulesets``/``with_paths`` (shipped names or absolute
    paths) replace every set's ``ruleset``/``with`` settings."""
    from .server import serve as _serve

    _serve(rulesets, with_paths)
