"""``provenance.to_prov``: the records of a file as a W3C PROV document (the ``prov`` library).

Each record is an activity, named by its key and version (``provenance:L/v2``): the function
and every parameter as attributes, ``prov:startTime``/``prov:endTime`` from the record. The
data it read and wrote are entities carrying their digests: the neighbors graph, the labels,
the representation a graph was computed from, a result (markers, dendrogram, PAGA). The
software is ``prov:SoftwareAgent`` agents, one per distribution and version. The relations:
``used``, ``wasGeneratedBy``, ``wasDerivedFrom`` (output from input), ``wasAssociatedWith``
(activity and software), ``wasRevisionOf`` (an output and the same output of the version
before), and ``hadMember`` (the data file and what it holds now). Records that cannot be
read stop the export unless ``allow_invalid``: then they are named on the file
(``ap:unreadable_records``), what the file holds of them has no ``hadMember``, and what was
used of them is marked ``ap:record_readable`` false.

The parameters (``param:<name>``) are the arguments of the recorded call and nothing else;
what the record says beyond them is under its own name (``ap:resolved_arguments``,
``ap:arguments_without_effect``, ``ap:arguments_not_known``, ``ap:seeded``), and so are a
signature (``ap:signature_key_id``, ``ap:signature_algorithm``, ``ap:signature``, with
``ap:signature_checked`` false: an export does not check it) and whether the record's digest
matches its content (``ap:record_digest_valid``).

Namespaces (the prefixes are fixed, so documents of different files compare):

- ``provenance``: the data, ``urn:anndata-provenance:records:<32 hex digits>/``, derived
  from the records' digests (:attr:`Export.records_digest`), not from the file's name: two
  files of one name with other records get other identifiers, a copy the same ones;
- ``ap``: this package's terms, ``urn:anndata-provenance:terms#``;
- ``param``: a call's parameters, ``urn:anndata-provenance:param#``;
- ``pypi``: software, ``https://pypi.org/project/`` (``pypi:scanpy/1.11.5``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, get_args

from .deps import require
from .gaps import unreadable_text

if TYPE_CHECKING:
    from prov.model import ProvDocument

    from .model import Export, Software

__all__ = [
    "PROV_FORMATS",
    "TERMS",
    "ProvFormat",
    "document",
    "namespace",
    "serialize",
    "to_prov",
]

TERMS = "urn:anndata-provenance:terms#"
"""The namespace of this package's attribute and type names (prefix ``ap``)."""
PARAMS = "urn:anndata-provenance:param#"
"""The namespace of parameter names (prefix ``param``)."""
PYPI = "https://pypi.org/project/"
"""Software agents are named by their PyPI release page."""

ProvFormat = Literal["prov-json", "prov-n", "prov-o"]
PROV_FORMATS: tuple[str, ...] = get_args(ProvFormat)
"""The serializations :func:`serialize` writes."""

_TYPES = {
    "labels": "Labels",
    "graph": "Graph",
    "representation": "Representation",
    "result": "Result",
    "record": "Record",
    "data": "Data",
}
_INT32 = 2**31


def to_prov(
    adata_or_path: Any, *, name: str | None = None, allow_invalid: bool = False
) -> ProvDocument:
    """The records of an AnnData or MuData object, or of a file holding one, as W3C PROV.

    One activity per record (``provenance:<key>/v<version>``), with the function, every
    parameter (``param:<name>``) and the start and end times; the graphs, labels,
    representations and results it read and wrote as entities with their digests; the
    software as ``prov:SoftwareAgent`` agents (``pypi:<name>/<version>``). Versions of one
    key are linked by ``wasRevisionOf`` between their outputs, and steps by ``used`` and
    ``wasDerivedFrom`` as the records link them (the labels version a result used, the
    graph a clustering ran on). The same file gives the same document.

    Parameters
    ----------
    adata_or_path
        An AnnData or MuData object, or the path (or URL) of an ``.h5ad``/``.h5mu`` file or
        ``.zarr`` store; of a file only ``uns`` is read. A MuData modality's keys are named
        ``"<mod>:<key>"`` (``rna%3AL`` in identifiers).
    name
        The data file's label (default: the file's name, or ``"adata"`` for an object);
        identifiers do not depend on it.
    allow_invalid
        Export a record whose digest does not match its content (edited after it was
        recorded), with ``ap:record_digest_valid`` false, and leave out records that cannot
        be read, marked (``ap:unreadable_records``, ``ap:record_readable`` false; a
        :class:`~provenance.ProvenanceWarning`), instead of raising.

    Returns
    -------
    A :class:`prov.model.ProvDocument`: ``doc.serialize(format="json")`` writes PROV-JSON,
    ``doc.get_provn()`` PROV-N, ``doc.serialize(format="rdf", rdf_format="turtle")``
    PROV-O (with rdflib). A file without records gives a document holding only the data
    file's entity.

    Raises
    ------
    ImportError
        prov is not installed: ``pip install 'anndata-provenance[export]'``.
    UnreadableFileError
        The path is missing, not AnnData, or its ``uns`` cannot be read.
    InvalidRecordError
        A record fails its own digest check or cannot be read (invalid, newer schema,
        an unreadable history), and not ``allow_invalid``; one line per key.

    Examples
    --------
    >>> from prov.model import ProvActivity
    >>> doc = provenance.to_prov("pbmc.h5ad")
    >>> sorted(str(a.identifier) for a in doc.get_records(ProvActivity))[:2]
    ['provenance:leiden_0.5/v1', 'provenance:leiden_0.8/v1']
    """
    require("prov.model", "provenance.to_prov")
    from .collect import collect

    return document(collect(adata_or_path, name=name, allow_invalid=allow_invalid))


def document(export: Export) -> ProvDocument:
    """The PROV document of an export (see :func:`to_prov`)."""
    pm = require("prov.model", "provenance.to_prov")
    doc: ProvDocument = pm.ProvDocument()
    ns = doc.add_namespace("provenance", namespace(export))
    ap = doc.add_namespace("ap", TERMS)
    param = doc.add_namespace("param", PARAMS)
    pypi = doc.add_namespace("pypi", PYPI)
    prov_type, label = pm.PROV_TYPE, pm.PROV_LABEL

    file_attrs: list[tuple[Any, Any]] = [
        (prov_type, pm.PROV["Collection"]),
        (label, export.name),
        (ap["role"], ap["DataFile"]),
        (ap["records_digest"], export.records_digest),
    ]
    # Records left out (allow_invalid): named, and no hadMember for a key whose latest one
    # is among them (the file holds what that record made, which the export cannot say).
    file_attrs += [(ap["unreadable_records"], unreadable_text(g)) for g in export.gaps]
    data = doc.entity(ns["file"], file_attrs)
    for item in export.items.values():
        attrs: dict[Any, Any] = {prov_type: ap[_TYPES[item.kind]], label: item.label}
        if item.digest is not None:
            attrs[ap["digest"]] = item.digest
        attrs |= {ap[k]: v for k, v in item.attrs.items()}
        doc.entity(ns[item.id], attrs)

    agents: dict[Software, Any] = {}
    for run in export.runs:
        for sw in (run.tool, *run.software):
            if sw not in agents:
                agents[sw] = doc.agent(pypi[_release(sw)], _agent_attrs(sw, pm, ap))

    for run in export.runs:
        attrs = {
            prov_type: ap[run.kind],
            label: run.label,
            ap["function"]: run.function,
            ap["key"]: run.key,
            ap["version"]: run.version,
            ap["record_id"]: run.record_id,
            ap["record_digest"]: run.digest,
            ap["origin"]: run.origin,
            ap["record_digest_valid"]: run.digest_valid,
        }
        optional = {
            "previous_digest": run.previous,
            "python": run.python,
            "platform": run.platform,
            "source": run.source,
        }
        attrs |= {ap[k]: v for k, v in optional.items() if v is not None}
        attrs |= {ap[k]: _value(v, pm, ap) for k, v in run.notes.items()}
        if run.signature is not None:
            attrs |= {
                ap["signature_algorithm"]: run.signature.algorithm,
                ap["signature_key_id"]: run.signature.key_id,
                ap["signature"]: run.signature.value,
                ap["signature_checked"]: False,
            }
        attrs |= {param[k]: _value(v, pm, ap) for k, v in run.params.items()}
        act = doc.activity(ns[run.id], run.started, run.finished, attrs)
        for used in run.used:
            doc.used(act, ns[used])
        for made in run.made:
            doc.wasGeneratedBy(ns[made], act, run.finished)
        for sw in (run.tool, *(s for s in run.software if s.name != run.tool.name)):
            role = _role(sw, run.tool)
            doc.wasAssociatedWith(act, agents[sw], other_attributes={pm.PROV_ROLE: ap[role]})

    for made, used in export.derived:
        doc.wasDerivedFrom(ns[made], ns[used])
    for newer, older in export.revisions:
        doc.wasRevisionOf(ns[newer], ns[older])
    for member in export.current:
        doc.hadMember(data, ns[member])
    return doc


def namespace(export: Export) -> str:
    """The ``provenance`` namespace of an export: from its records' digests, not a name."""
    return f"urn:anndata-provenance:records:{export.records_digest.partition(':')[2][:32]}/"


def serialize(doc: ProvDocument, fmt: ProvFormat) -> str:
    """``doc`` as PROV-JSON, PROV-N or PROV-O (Turtle; needs rdflib).

    Examples
    --------
    >>> lines = serialize(provenance.to_prov("pbmc.h5ad"), "prov-n").splitlines()
    >>> lines[0], lines[1][:52]
    ('document', '  prefix provenance <urn:anndata-provenance:records:')
    """
    if fmt == "prov-json":
        text = doc.serialize(format="json", indent=2) or ""
    elif fmt == "prov-n":
        text = doc.get_provn()
    elif fmt == "prov-o":
        import warnings

        require("rdflib", "PROV-O (Turtle) output")
        with warnings.catch_warnings():
            # rdflib >= 7.5's own Turtle serializer reads an attribute it deprecates.
            warnings.filterwarnings(
                "ignore", "Dataset.default_context is deprecated", DeprecationWarning
            )
            text = doc.serialize(format="rdf", rdf_format="turtle") or ""
    else:
        msg = f"unknown PROV format {fmt!r}; one of: {', '.join(PROV_FORMATS)}."
        raise ValueError(msg)
    return text if text.endswith("\n") else text + "\n"


def _release(sw: Software) -> str:
    return f"{sw.name}/{sw.version}" if sw.version else sw.name


def _agent_attrs(sw: Software, pm: Any, ap: Any) -> dict[Any, Any]:
    attrs = {
        pm.PROV_TYPE: pm.PROV["SoftwareAgent"],
        pm.PROV_LABEL: f"{sw.name} {sw.version}" if sw.version else sw.name,
        ap["distribution"]: sw.name,
    }
    if sw.version:
        attrs[ap["software_version"]] = sw.version
    return attrs


def _role(sw: Software, tool: Software) -> str:
    """``implementation``: the package whose function ran; ``recorder``: this package;
    ``dependency``: the rest of the recorded environment."""
    if sw.name == tool.name:
        return "implementation"
    return "recorder" if sw.name == "anndata-provenance" else "dependency"


def _value(value: Any, pm: Any, ap: Any) -> Any:
    """A parameter as a PROV attribute value: a string, number or boolean as itself; ``None``,
    a list or an object as its canonical JSON, typed ``ap:json``."""
    from provenance._util.jsonsafe import canonical_json

    if isinstance(value, bool | str | float):
        return value
    if isinstance(value, int):
        # prov writes Python ints as xsd:int (32 bits): larger seeds as xsd:integer.
        return value if -_INT32 <= value < _INT32 else pm.Literal(str(value), pm.XSD["integer"])
    return pm.Literal(canonical_json(value), ap["json"])
