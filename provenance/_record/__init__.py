"""Layer 5: ``record()``: the block, the patching of every registered target, one call."""
