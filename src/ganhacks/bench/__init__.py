"""The bench: trick ablations across seeds (:mod:`.ablate`), their statistics (:mod:`.stats`) and reports (:mod:`.report`)."""
