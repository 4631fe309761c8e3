"""Layer 3: records in ``uns`` and files: encoding histories (``codec``), the index, reading
only what the audit needs from ``.h5ad``/``.zarr``/``.h5mu`` (``files``, ``nodes``, ``mudata``)
and the graph a record names (``graph``)."""
