"""The parse stage: source text to syntax tree (:mod:`.ast`), by the Lark parser (:mod:`.parser`)
or, for sources made only of facts, the fast reader (:mod:`.fastfacts`); and the formatter
(:mod:`.fmt`), which lays a tree back out as text."""
