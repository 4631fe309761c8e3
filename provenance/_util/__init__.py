"""Layer 1: helpers that know no record: JSON-safe values, fingerprints, software versions,
partition agreement, and the binding of results to their renderers (``display``)."""
