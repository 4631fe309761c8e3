"""``provenance.to_ro_crate``: a data file and its records as an RO-Crate (Process Run Crate).

The crate (RO-Crate 1.1, conforming to the Workflow Run RO-Crate's Process Run Crate profile
0.5, written with the ``rocrate`` library) holds:

- the data file, as a ``File`` (``.h5ad``, ``.h5mu``) with its ``sha256`` and ``contentSize``,
  or a ``Dataset`` (``.zarr``) whose files' sha256 are listed in ``<name>.sha256`` (a file of
  the crate, with its own ``sha256``); copied into the crate, referenced in place, or by its
  URL (not downloaded: no digest);
- one ``CreateAction`` per record (``@id`` ``urn:uuid:<record id>``): ``instrument`` the
  ``SoftwareApplication`` whose function ran (scanpy, muon) at its recorded version,
  ``object`` what it read (graph, labels, representation) and one ``PropertyValue`` per
  argument of the call (nothing else), ``result`` what it wrote, ``startTime``/``endTime``
  from the record (to the second), ``actionStatus`` completed, ``agent`` the person the
  depositor names (the records do not say who ran a call); the description says what the
  record adds (resolved arguments, a signature's key id, not checked);
- what the actions read and wrote as ``CreativeWork`` entities with their digests
  (``identifier``), the ones the file holds now ``isPartOf`` the data file;
- ``prov.json``: the same records as W3C PROV-JSON (:func:`provenance.to_prov`);
- a ``license`` and a ``datePublished`` only when given: the same file and options give the
  same bytes.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .crate_meta import (
    agent_entity,
    check_date,
    file_sha256,
    license_entity,
    write_manifest,
)
from .deps import require

if TYPE_CHECKING:
    from rocrate.rocrate import ROCrate

    from .model import Export, Item, Run, Software

__all__ = ["CRATE_VERSION", "INVALID_MARK", "PROFILE", "to_ro_crate"]

PROFILE = "https://w3id.org/ro/wfrun/process/0.5"
"""The Process Run Crate profile the crate conforms to."""
CRATE_VERSION = "1.1"
"""The RO-Crate specification version written (the one the profile extends)."""
PROV_FILE = "prov.json"
"""The PROV-JSON document's name in the crate."""
INVALID_MARK = "INVALID:"
"""How the description of an action whose record fails its digest check starts."""

_PYPI = "https://pypi.org/project/"
_DONE = "http://schema.org/CompletedActionStatus"
_MEDIA = {".h5ad": "application/x-hdf5", ".h5mu": "application/x-hdf5"}
_KIND_TEXT = {
    "labels": "cluster labels (an obs column)",
    "graph": "a neighbors graph (an obsp matrix)",
    "representation": "the matrix a neighbors graph was computed from",
    "result": "a result computed from clusterings (an uns entry)",
    "record": "a record that could not be read",
    "data": "a slot of the object (X, a layer, an obsm matrix, a column) a step read or wrote",
}


def to_ro_crate(
    path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    copy: bool = True,
    name: str | None = None,
    license_id: str | None = None,
    agent: str | None = None,
    agent_name: str | None = None,
    date_published: str | None = None,
    allow_invalid: bool = False,
) -> ROCrate:
    """Write a data file and how it was made as an RO-Crate in the directory ``out``.

    The crate is a Process Run Crate: one ``CreateAction`` per record (the function's
    package and version as ``instrument``, the data read and the parameters as ``object``,
    the data written as ``result``, ``startTime``/``endTime``), the data file as a data
    entity, and ``prov.json``, the same provenance as W3C PROV-JSON.
    ``rocrate.rocrate.ROCrate(out)`` loads it back.

    Parameters
    ----------
    path
        An ``.h5ad``/``.h5mu`` file or ``.zarr`` store, or its URL. Only ``uns`` is read.
    out
        The crate's directory (made if missing). It may be the directory holding ``path``:
        the file is then described where it is, not copied.
    copy
        Copy the data file into the crate (default). ``False`` writes the metadata alone:
        the data entity names the file, which must be put beside ``ro-crate-metadata.json``
        before the crate is deposited (for a large file). A URL is never copied: the data
        entity is the URL.
    name
        The name the provenance gives the data (default: the file's name).
    license_id
        The crate's licence: an SPDX id (``"CC-BY-4.0"``) or a URL. RO-Crate requires one
        (a crate without fails rocrate-validator); the records cannot know it.
    agent, agent_name
        The person who ran the recorded calls, as the depositor states it: a URL (an ORCID)
        and a name. Every action's ``agent``; without it the actions have none (the records
        do not say who ran them; the software is each action's ``instrument``).
    date_published
        The crate's ``datePublished`` (ISO 8601, or ``"today"``); none by default, so two
        exports of the same file are byte-identical.
    allow_invalid
        Export a record whose digest does not match its content (edited after it was
        recorded), marked so in its action's description, and leave out records that cannot
        be read, marked (the root's description, ``record_readable=False``; a
        :class:`~provenance.ProvenanceWarning`), instead of raising.

    Returns
    -------
    The crate as written (``rocrate.rocrate.ROCrate``): add authors or a licence to it and
    ``crate.write(out)`` again.

    Raises
    ------
    TypeError
        ``path`` is an object, not a file: write it first.
    ImportError
        rocrate or prov is not installed: ``pip install 'anndata-provenance[export]'``.
    UnreadableFileError
        The path is missing, not AnnData, or its ``uns`` cannot be read.
    InvalidRecordError
        A record fails its own digest check or cannot be read (invalid, newer schema,
        an unreadable history), and not ``allow_invalid``; one line per key.
    ValueError
        ``license_id``, ``agent`` or ``date_published`` is malformed.

    Examples
    --------
    >>> crate = provenance.to_ro_crate("pbmc.h5ad", "crate")
    >>> [a["instrument"]["name"] for a in crate.get_by_type("CreateAction")][:1]
    ['scanpy']
    >>> sorted(p.name for p in Path("crate").iterdir())
    ['pbmc.h5ad', 'prov.json', 'ro-crate-metadata.json']
    """
    if not isinstance(path, str | os.PathLike):
        msg = (
            f"to_ro_crate describes a data file; got a {type(path).__qualname__}. Write it "
            "first (adata.write_h5ad('data.h5ad')) and pass the path."
        )
        raise TypeError(msg)
    rc = require("rocrate.rocrate", "provenance.to_ro_crate")
    require("prov.model", "provenance.to_ro_crate")
    from .collect import collect
    from .gaps import unreadable_text
    from .prov import document, serialize

    people = None if agent is None else agent_entity(agent, agent_name)
    lic = None if license_id is None else license_entity(license_id)
    published = None if date_published is None else check_date(date_published)
    export = collect(path, name=name, allow_invalid=allow_invalid)
    out = Path(out)
    crate: ROCrate = rc.ROCrate(version=CRATE_VERSION)
    root = crate.root_dataset
    del root["datePublished"]  # rocrate's export time: only when asked
    if published is not None:
        root["datePublished"] = published
    if lic is not None:
        root["license"] = {"@id": _add(crate, lic).id}
    root["name"] = f"{export.name} and how it was made"
    root["description"] = (
        f"{export.name} with the provenance anndata-provenance recorded in it: one action "
        f"per recorded call ({len(export.runs)}), from the records in the file."
    )
    if export.gaps:  # allow_invalid: say what is missing, and that it is
        root["description"] += (
            " Left out, marked (record_readable=False): "
            + "; ".join(unreadable_text(g) for g in export.gaps)
            + "."
        )
    data = _add_data(crate, path, out, copy=copy)
    if export.runs:
        # An empty crate describes no process: it claims no process profile.
        _add(
            crate,
            {
                "@id": PROFILE,
                "@type": "CreativeWork",
                "name": "Process Run Crate",
                "version": "0.5",
            },
        )
        root["conformsTo"] = {"@id": PROFILE}
    # Written first and added as a file (not a stream, which a second crate.write would find
    # consumed): rocrate leaves a file it would copy onto itself as it is.
    out.mkdir(parents=True, exist_ok=True)
    prov_path = out / PROV_FILE
    prov_path.write_text(serialize(document(export), "prov-json"), encoding="utf-8")
    crate.add_file(
        prov_path,
        dest_path=PROV_FILE,
        properties={
            "name": f"W3C PROV of {export.name}",
            "encodingFormat": "application/json",
            "description": "The same provenance as W3C PROV-JSON (provenance.to_prov).",
            "about": {"@id": data},
        },
    )
    _add_actions(crate, export, data, None if people is None else _add(crate, people).id)
    with warnings.catch_warnings():
        # rocrate warns that a data entity it writes no bytes for has no source: the file
        # described in place, or left to be put beside the metadata (copy=False).
        warnings.filterwarnings("ignore", message="No source for", category=UserWarning)
        crate.write(out)
    return crate


def _add_data(crate: Any, path: str | os.PathLike[str], out: Path, *, copy: bool) -> str:
    """Add the data file, with its digests where it is local; return its ``@id``."""
    text = os.fspath(path)
    is_dir = text.rstrip("/").endswith(".zarr")
    props: dict[str, Any] = {
        "name": text.rstrip("/").replace("\\", "/").rsplit("/", 1)[-1],
        "description": "The data file; its records of how it was made are in its uns.",
    }
    if "://" in text:  # a URL: the data entity is the URL itself, never fetched
        props["description"] += " Not downloaded by the export: no digest of its bytes."
        add = crate.add_dataset if is_dir else crate.add_file
        entity = add(text, properties=props)
        return str(entity.id)
    local = Path(text)
    is_dir = local.is_dir()
    if not is_dir:
        props["contentSize"] = str(local.stat().st_size)
        props["sha256"] = file_sha256(local)
        if local.suffix in _MEDIA:
            props["encodingFormat"] = _MEDIA[local.suffix]
    in_place = out.exists() and local.resolve().parent == out.resolve()
    source = local if copy and not in_place else None
    add = crate.add_dataset if is_dir else crate.add_file
    entity = add(source, dest_path=local.name, properties=props)
    if is_dir:
        # A directory has no sha256 of its own: its files' are listed, and that list hashed.
        out.mkdir(parents=True, exist_ok=True)
        listed = f"{local.name}.sha256"
        manifest, n = write_manifest(local, local.name, out / listed)
        crate.add_file(
            manifest,
            dest_path=listed,
            properties={
                "name": f"sha256 of the {n} files of {local.name}",
                "encodingFormat": "text/plain",
                "description": f"One line per file of {local.name} (sha256sum format: "
                f"`sha256sum -c {listed}` in the crate checks them).",
                "about": {"@id": entity.id},
                "sha256": file_sha256(manifest),
                "contentSize": str(manifest.stat().st_size),
            },
        )
        entity["description"] = (
            f"{props['description']} A directory: the sha256 of each of its {n} files is "
            f"in {listed}."
        )
    return str(entity.id)


def _add(crate: Any, jsonld: dict[str, Any]) -> Any:
    """Add a contextual entity (``@id``, ``@type`` and properties) to the crate."""
    from rocrate.model.contextentity import ContextEntity

    props = {k: v for k, v in jsonld.items() if k != "@id"}
    return crate.add(ContextEntity(crate, jsonld["@id"], properties=props))


def _add_actions(crate: Any, export: Export, data: str, agent: str | None) -> None:
    current = set(export.current)
    for item in export.items.values():
        _add(crate, _item(item, data if item.id in current else None))
    apps: dict[Software, list[Software]] = {}
    for run in export.runs:
        deps = apps.setdefault(run.tool, [])
        deps += [s for s in run.software if s != run.tool and s not in deps]
    for sw in dict.fromkeys(s for tool, deps in apps.items() for s in (tool, *deps)):
        _add(crate, _app(sw, apps.get(sw, [])))
    mentions = []
    for run in export.runs:
        params = []
        for key, value in run.params.items():
            pid = f"#{run.id}/param/{key}"
            _add(crate, {"@id": pid, "@type": "PropertyValue", "name": key, "value": _json(value)})
            params.append({"@id": pid})
        action = _add(crate, _action(run, params, agent))
        mentions.append({"@id": action.id})
    if mentions:
        crate.root_dataset["mentions"] = mentions


def _item(item: Item, part_of: str | None) -> dict[str, Any]:
    facts = ", ".join(f"{k}={v}" for k, v in item.attrs.items())
    entity: dict[str, Any] = {
        "@id": f"#{item.id}",
        "@type": "CreativeWork",
        "name": item.label,
        "description": f"{_KIND_TEXT[item.kind]}; {facts}",
    }
    if item.digest is not None:
        entity["identifier"] = item.digest
    if part_of is not None:
        entity["isPartOf"] = {"@id": part_of}
    return entity


def _app_id(sw: Software) -> str:
    return f"{_PYPI}{sw.name}/{sw.version}" if sw.version else f"{_PYPI}{sw.name}"


def _app(sw: Software, deps: list[Software]) -> dict[str, Any]:
    app: dict[str, Any] = {
        "@id": _app_id(sw),
        "@type": "SoftwareApplication",
        "name": sw.name,
        "url": f"{_PYPI}{sw.name}/",
    }
    if sw.version:
        app["softwareVersion"] = sw.version
    if deps:
        app["softwareRequirements"] = [{"@id": _app_id(d)} for d in deps]
    return app


def _action(run: Run, params: list[dict[str, str]], agent: str | None) -> dict[str, Any]:
    args = ", ".join(f"{k}={_short(v)}" for k, v in run.params.items())
    env = ", ".join(f"{s.name} {s.version}" for s in run.software if s.version)
    how = "reconstructed after the fact (adopted)" if run.origin == "adopted" else "recorded"
    text = [
        f"{run.function}({args}). {how.capitalize()} by anndata-provenance as version "
        f"{run.version} of {run.key!r} (record {run.digest})"
        + (f"; Python {run.python}, {env}" if run.python else "")
        + "."
    ]
    if not run.digest_valid:
        text.insert(
            0,
            f"{INVALID_MARK} this record does not match its own digest (edited after "
            "it was recorded); exported as asked (--allow-invalid).",
        )
    text += [
        f"{note.replace('_', ' ').capitalize()}: {_short(v, 200)}." for note, v in run.notes.items()
    ]
    if run.signature is not None:
        text.append(
            f"Signed ({run.signature.algorithm}) by key {run.signature.key_id}; the export "
            "does not check signatures: provenance verify --trusted-key does."
        )
    action: dict[str, Any] = {
        "@id": f"urn:uuid:{run.record_id}",
        "@type": "CreateAction",
        "name": run.label,
        "description": " ".join(text),
        "instrument": {"@id": _app_id(run.tool)},
        "object": _one([{"@id": f"#{u}"} for u in run.used] + params),
        "result": _one([{"@id": f"#{m}"} for m in run.made]),
        # The profile's value is this string, not a reference (process-run-crate 0.5).
        "actionStatus": _DONE,
    }
    if agent is not None:
        action["agent"] = {"@id": agent}
    # To the second, with the offset: the profile's ISO 8601 form (no microseconds).
    if run.started is not None:
        action["startTime"] = run.started.replace(microsecond=0).isoformat()
    if run.finished is not None:
        action["endTime"] = run.finished.replace(microsecond=0).isoformat()
    return action


def _one(values: list[dict[str, str]]) -> Any:
    """A single value as itself (RO-Crate 1.1 prefers it to a one-element list)."""
    return values[0] if len(values) == 1 else values


def _json(value: Any) -> str | int | float | bool:
    """A parameter value: a string, number or boolean as itself, anything else as JSON."""
    if isinstance(value, str | int | float | bool):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value) if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."
