"""Layer 2: the record models, one module per schema version (``v1_0``, ``v1_1``, ...), their
stable names (``models``), converters between versions (``convert``), what a call resolves to
(``resolve``), comparing two records (``changes``) and the JSON Schemas (``jsonschema``)."""
