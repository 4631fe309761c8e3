"""Layer 5: ``record()``: the block, the patching of every registered target, one call (a
clustering's or a step's), and the session (``start``/``stop``, ``%load_ext provenance``)."""
