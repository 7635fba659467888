"""The findings stage: engine matches become findings with proofs (:mod:`.build`), a report
(:mod:`.report`), and the views that explain them (:mod:`.explain`)."""
