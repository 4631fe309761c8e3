"""Layer 9: exports of the records to other provenance formats, above the comparisons.

``collect`` gathers what the records of a file say (runs, the data they used and made, the
links between them) into one model (``model``); ``prov`` writes it as W3C PROV
(:func:`provenance.to_prov`), ``rocrate`` as an RO-Crate (:func:`provenance.to_ro_crate`).
prov and rocrate are imported only when an export is made (``deps``): the extra
``anndata-provenance[export]`` installs them.
"""
