"""The check stage: names and references resolved, facts validated against the schema, criteria
and rules turned into the resolved form both engines run."""
