"""Reading sources: finding the files of a policy set, reading them safely, Markdown blocks and CSV
inventories (:mod:`.loader`), and the caches that spare re-reading unchanged sources
(:mod:`.cache`)."""
