"""``coherence serve``: a local drafting page and JSON API over one policy set's directory.

:mod:`.app` builds the Starlette application (:func:`~.app.create_app`) and runs it on uvicorn
(:func:`~.app.serve`); :mod:`.models` holds the pydantic models of its requests and responses
and of the published ``coherence-report/1`` document; :mod:`.files` reads and writes the served
directory (containment, versions, atomic writes); :mod:`.guard` checks ``Host`` and ``Origin`` and
sets the security headers. Needs the ``serve`` extra (Starlette, uvicorn, pydantic, Jinja2).
"""
