"""The library side of the commands that combine several runs: batch runs, comparisons, diffs,
the language's own tests and the generated documentation."""
