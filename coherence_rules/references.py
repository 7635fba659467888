"""Reference facts: the shipped sets that join a policy set without being part of it (the WHO
safeguards list, the international conventions, the SDG targets and GCM objectives), how a
``--with`` names them, the frameworks a set that names them gets without ``--with``, and the help
line an unknown id gets when a shipped set defines it."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Optional

from .diagnostics import Diagnostic
from .syntax import ast as A

#: The shipped reference facts (the WHO safeguards list, the international conventions, the SDG
#: targets and GCM objectives), usable as ``--with reference`` when no such path exists.
REFERENCE_DIR = (Path(__file__).resolve().parent / "reference").resolve()
#: The SDG targets and GCM objectives, joined to a set that names them (``sdg``, ``gcm``).
FRAMEWORKS_DIR = REFERENCE_DIR / "frameworks"


def resolve_reference(path: str) -> Path:
    """The path a ``--with`` names: the path itself, or the shipped reference facts for
    ``reference`` when no such path exists."""
    p = Path(path)
    if not p.exists() and path.rstrip("/") == "reference" and REFERENCE_DIR.is_dir():
        return REFERENCE_DIR
    return p


#: The shipped frameworks as read, by the names they were shown under and their files' stamps:
#: package files, read once per process (a server checks many times).
_FRAMEWORKS_READ: dict[tuple, Any] = {}


def shipped_frameworks(for_texts: bool):
    """The SDG targets and GCM objectives of the package, as a :class:`Loaded`. Shown relative to
    the working directory when inside it; outside it, or for texts (an editor's buffers, named
    relative to the served folder, not to this process's directory), named inside the package,
    as `check` run in that folder names them."""
    from .sources.loader import Loaded, display_path, load_file

    entries = []
    for path in sorted(FRAMEWORKS_DIR.glob("*.policy")):
        shown = display_path(path)
        if os.path.isabs(shown) or for_texts:
            shown = "coherence_rules/reference/frameworks/" + path.name
        st = path.stat()
        entries.append((path, shown, st.st_mtime_ns, st.st_size))
    key = tuple((str(p), shown, m, n) for p, shown, m, n in entries)
    if key not in _FRAMEWORKS_READ:
        frameworks = Loaded()
        for path, shown, _, _ in entries:
            load_file(path, True, frameworks, shown)
        _FRAMEWORKS_READ.clear()  # one reading kept: the package does not change under a process
        _FRAMEWORKS_READ[key] = frameworks
    return _FRAMEWORKS_READ[key]


#: The fields of objectives and measures that name SDG targets and GCM objectives, and their types.
FRAMEWORK_FIELDS = ("sdg", "gcm")
FRAMEWORK_TYPES = ("sdg_target", "gcm_objective")


def names_frameworks(modules) -> bool:
    for m in modules:
        records = getattr(m, "records", None)
        if records is not None and getattr(m, "_items", None) is None:
            # a file restored from the check cache: its checked facts, without building its tree
            if any(name in values for _, _, _, values, _ in records for name in FRAMEWORK_FIELDS):
                return True
            continue
        if any(isinstance(item, A.Fact) and any(f.name in FRAMEWORK_FIELDS for f in item.fields) for item in m.items):
            return True
    return False


def defines_frameworks(modules) -> bool:
    return any(isinstance(item, A.Fact) and item.type_name in FRAMEWORK_TYPES for m in modules for item in m.items)


_UNKNOWN_ID = re.compile(r"^unknown (\w+) '(.+)'$")
_reference_index: Optional[dict[str, tuple[str, str]]] = None


def shipped_reference_index() -> dict[str, tuple[str, str]]:
    """Fact id -> (type, the title of the shipped reference set that defines it): the facts of
    :data:`REFERENCE_DIR`, read once per process, only when a reference is unknown."""
    global _reference_index
    if _reference_index is None:
        from .sources.loader import load_paths

        index: dict[str, tuple[str, str]] = {}
        if REFERENCE_DIR.is_dir():
            loaded = load_paths([REFERENCE_DIR])
            for m in loaded.modules:
                name = reference_set_title(m.file)
                for item in m.items:
                    if isinstance(item, A.Fact):
                        index.setdefault(item.id, (item.type_name, name))
        _reference_index = index
    return _reference_index


def reference_set_title(file: str) -> str:
    """How a shipped reference file is named in help lines."""
    base = os.path.basename(file)
    if base.startswith("who-ssl"):
        return "the shipped WHO safeguards list"
    if base.startswith("sdg"):
        return "the shipped SDG targets"
    if base.startswith("gcm"):
        return "the shipped GCM objectives"
    return "the shipped international conventions"


def reference_option_text() -> str:
    """How to name the shipped reference facts on the command line, from here."""
    here = Path("policies") / "reference"
    try:
        if here.resolve() == REFERENCE_DIR or (here.is_dir() and os.path.samefile(here, REFERENCE_DIR)):
            return "--with policies/reference"
    except OSError:
        pass
    return "--with reference"


def with_reference_hints(diags: list[Diagnostic]) -> list[Diagnostic]:
    """An unknown id that a shipped reference set defines gets a help line naming that set,
    instead of a did-you-mean that points the wrong way."""
    out = []
    for d in diags:
        m = _UNKNOWN_ID.match(d.message) if d.code == "E203" else None
        if m:
            hit = shipped_reference_index().get(m.group(2))
            if hit is not None and (m.group(1) in (hit[0], "fact")):
                d = Diagnostic(d.code, d.message, d.span, d.label, d.labels, d.notes,
                               f"{m.group(2)} is defined in {hit[1]}: add `{reference_option_text()}`", d.severity)
        out.append(d)
    return out


