"""Layer 8: comparing records with each other (``diff``), the lineage of a file's steps, and
adopting what a library left (``adopt``)."""
