"""The audit: for each clustering in an object or file, how it was made and whether it holds.

:func:`audit` chooses the keys (``keys``), runs the checks on each (``checks.CHECKS``), then
the checks across keys (``legacy_params``) and of ``uns["provenance_index"]``. The steps
around the clusterings (neighbors graphs, markers, dendrograms, PAGA) are found and checked
by ``steps`` (``checks_steps.STEP_CHECKS``: their chains, and whether a result is stale).
The findings are catalogued in ``catalogue``; the report they make up is defined in
``report``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .catalogue import WARNINGS, Finding, FindingCode, Severity
from .checked import Checks
from .checks import check_index, run_checks
from .checks_pipeline import add_pipeline
from .context import AuditContext, KeyContext
from .keys import clustering_keys, wanted_keys
from .legacy import FIXED_KEYS, add_legacy, scanpy_params
from .parts import mudata_entries
from .report import AuditEntry, AuditReport, Status, StepEntry
from .signatures import check_signatures, load_trust
from .steps import audit_steps, find_steps, lost_steps

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

    from anndata import AnnData

    from provenance._storage.files import AnnDataSource, FileSource
    from provenance._storage.mudata import PartView

    Source = AnnDataSource | FileSource | PartView

# The report's names are re-exported: docs/_ext and older imports read them from here.
__all__ = [
    "FIXED_KEYS",
    "WARNINGS",
    "AuditEntry",
    "AuditReport",
    "Finding",
    "FindingCode",
    "Severity",
    "Status",
    "StepEntry",
    "audit",
]


def audit(
    adata_or_path: AnnData | str | Any,
    key: str | Sequence[str] | None = None,
    *,
    check_data: bool = True,
    check_representation: bool = False,
    trusted_keys: Sequence[str | Path] | None = None,
    storage_options: Mapping[str, Any] | None = None,
    deep: bool = False,
    jobs: int | None = None,
    require_signed: bool = False,
    allow_unreplayable: bool = False,
    ledger: str | Path | None = None,
) -> AuditReport:
    """Audit every clustering of an AnnData or MuData object, or of a file holding one.

    Parameters
    ----------
    adata_or_path
        An AnnData or MuData object, or the path of an ``.h5ad``/``.h5mu`` file or ``.zarr``
        store (only ``uns``, the needed ``obs`` columns, ``obs_names`` and the recorded ``obsp``
        graphs are read). A MuData's root and every modality are audited; a modality's keys
        are named ``"<mod>:<key>"``, as muon names a modality's columns (``"rna:leiden"``).
    key
        Audit this key only, or these keys (in the order given); ``"<mod>:<key>"`` for a
        modality's key of a MuData.
    check_data
        Compare labels and graphs with the records. ``False`` reads a file's ``uns`` and the
        length of its ``obs`` index alone.
    check_representation
        Also read the matrix each recorded neighbors graph was computed from (``obsm``/``X``,
        which the audit never reads otherwise) and compare it with the record's digest
        (``representation_changed``).
    trusted_keys
        A trust policy: the public key files (``lab.key.pub``) whose signatures are trusted.
        Every record is then checked: ``signature_invalid`` (changed after signing),
        ``untrusted_signer`` (signed by another key), ``signature_missing`` (an unsigned
        record after a signed one of its history), ``unsigned`` (a warning). ``None``
        checks no signature. Needs ``anndata-provenance[sign]``.
    storage_options
        When ``adata_or_path`` is a URL (``https://``, ``s3://``, ``gs://``, read through
        fsspec: ``pip install 'anndata-provenance[remote]'``), the options of its filesystem,
        e.g. ``{"anon": True}`` or ``{"endpoint_url": "http://localhost:9000"}``. fsspec's
        ``FSSPEC_*`` and botocore's ``AWS_*`` environment variables apply too.
    deep
        Also re-run the latest record of each clustering key on its recorded graph and compare
        the partition with the labels (``replay_differs``, with ARI/NMI; ``unverified``
        says why a key cannot be re-run, an error unless ``allow_unreplayable``). This
        catches a record forged with a recomputed digest; it costs about one clustering per
        key. Needs ``check_data``.
    jobs
        With ``deep``: worker processes for the re-runs (``1``: in this process; ``None``: the
        usable cores, at most one per key, when the graphs to re-run hold 1,000,000 edges or
        more, else in this process: below that, starting workers costs more than it saves).
    require_signed
        With ``trusted_keys``: every record and step must carry a trusted signature; an
        unsigned one is an error (``signature_missing``), not the warning ``unsigned``.
    allow_unreplayable
        With ``deep``: a key that cannot be re-run is the warning ``not_replayable``. Without
        it such a key is the error ``unverified``: deep verification never passes a key it
        did not check.
    ledger
        With ``trusted_keys``: the path or URL of a ledger of seals (``provenance seal``, read
        with ``storage_options`` too). The ledger is checked first (hash chain, every seal
        signed by a trusted key); then the file is compared with its latest seal
        (``rolled_back``, ``history_lost``; ``not_sealed`` when no seal names its records).

    Returns
    -------
    The report: ``.ok`` is true when no finding is an error. ``.entries`` has one entry per
    clustering key, ``.steps`` one per step key (``report.step("rank_genes_groups")``); a
    key asked for may be either.

    Raises
    ------
    UnknownKeyError
        A key asked for is neither in ``obs`` nor in ``uns``.
    UnreadableFileError
        The path is missing, not AnnData, or damaged where it must be read.
    LedgerError
        The ledger is missing, or fails its own checks: a broken chain, a seal not signed
        by a trusted key (the message names the line).
    ProvenanceError
        A trusted key file is missing or not an Ed25519 public key, or ``cryptography`` is
        not installed.

    Examples
    --------
    >>> report = provenance.audit(adata)
    >>> report.ok
    True
    >>> [(e.key, e.status) for e in report.entries]
    [('louvain', 'warning'), ('leiden_0.5', 'ok'), ('leiden_1.0', 'ok'), ('leiden_0.8', 'ok')]
    >>> [e.key for e in provenance.audit(adata, ["leiden_1.0", "leiden_0.5"]).entries]
    ['leiden_1.0', 'leiden_0.5']
    """
    from provenance._storage.files import open_source
    from provenance._storage.mudata import MuDataSource

    if deep and not check_data:
        msg = "deep=True re-runs clusterings against their labels: it needs check_data=True."
        raise ValueError(msg)
    _check_policy(trusted_keys, deep, require_signed, allow_unreplayable, ledger)
    wanted = wanted_keys(key)
    trust = load_trust(trusted_keys) if trusted_keys is not None else None
    seals = None
    if ledger is not None and trust is not None:  # believed only once verified: first
        from .ledger import load_ledger

        seals = load_ledger(ledger, trust, storage_options)
    with open_source(adata_or_path, check_data=check_data, storage_options=storage_options) as src:
        if isinstance(src, MuDataSource):
            entries, steps = mudata_entries(src, wanted, _entries)
        else:
            entries, steps = _entries(src, wanted)
        if check_representation:
            from .representation import check_representations

            mods = tuple(src.root.modalities) if isinstance(src, MuDataSource) else ()
            steps = check_representations(
                adata_or_path, steps, modalities=mods, storage_options=storage_options
            )
        if trust is not None:
            entries, steps = check_signatures(entries, steps, trust, require_signed=require_signed)
        replayed: tuple[str, ...] = ()
        unverified: tuple[str, ...] = ()
        if deep:
            from .deep import check_replays

            mods = tuple(src.root.modalities) if isinstance(src, MuDataSource) else ()
            # A file's open source: its graphs are read once (over a URL: fetched once).
            import pathlib

            read = src if isinstance(adata_or_path, str | pathlib.PurePath) else adata_or_path
            entries, replayed, unverified = check_replays(
                read,
                entries,
                modalities=mods,
                jobs=jobs,
                allow_unreplayable=allow_unreplayable,
            )
        ledger_check = None
        if seals is not None:
            from .ledger import check_ledger

            entries, steps, ledger_check = check_ledger(entries, steps, seals, str(ledger), wanted)
        checks = Checks(
            data=src.check_data,
            representation=check_representation,
            deep=deep,
            replayed=replayed,
            unverified=unverified,
            allow_unreplayable=allow_unreplayable,
            trusted_key_ids=tuple(sorted(trust)) if trust is not None else (),
            require_signed=require_signed,
            ledger=ledger_check,
        )
        return AuditReport(
            source=src.label,
            n_obs=src.n_obs,
            entries=entries,
            key=key if key is None or isinstance(key, str) else wanted,
            checked_data=src.check_data,
            steps=steps,
            checks=checks,
        )


def _check_policy(
    trusted_keys: Sequence[str | Path] | None,
    deep: bool,
    require_signed: bool,
    allow_unreplayable: bool,
    ledger: str | Path | None,
) -> None:
    """Refuse options that would check nothing without the option they qualify."""
    if require_signed and trusted_keys is None:
        msg = "require_signed=True needs trusted_keys: the public keys whose signatures count."
        raise ValueError(msg)
    if ledger is not None and trusted_keys is None:
        msg = "ledger= needs trusted_keys: a ledger is believed only when its seals are signed."
        raise ValueError(msg)
    if allow_unreplayable and not deep:
        msg = "allow_unreplayable=True qualifies deep=True: pass deep=True too."
        raise ValueError(msg)


def _entries(
    src: Source, wanted: tuple[str, ...] | None
) -> tuple[tuple[AuditEntry, ...], tuple[StepEntry, ...]]:
    """The clustering and step entries of one AnnData (or one part of a MuData): ``wanted``
    keys, or all."""
    ctx = AuditContext(src)
    found = find_steps(src)
    found.update(lost_steps(src, ctx.index, found))  # deleted by hand: their history_lost
    steps = audit_steps(ctx, found, wanted)
    if wanted is not None:
        wanted = tuple(w for w in wanted if w not in found)
        if not wanted:
            return add_pipeline(src, (), steps)
    if wanted is None:
        keys = clustering_keys(src, None, ctx.index)
    else:
        keys = list(dict.fromkeys(k for w in wanted for k in clustering_keys(src, w, ctx.index)))
    entries = tuple(_audit_key(k, ctx) for k in keys)
    # The checks of the whole pipeline (gaps, staleness through every step) read every record.
    entries, steps = add_pipeline(src, entries, steps)
    prefix = getattr(src, "prefix", "")
    if wanted is None or any(k.removeprefix(prefix) in FIXED_KEYS for k in wanted):
        names = keys if wanted is None else clustering_keys(src, None, ctx.index)
        entries = add_legacy(src, entries, names)
        if wanted is not None:
            entries = tuple(e for e in entries if e.key in wanted)
    if wanted is None:
        entries += _index_entries(src, found)
    return entries, steps


def _audit_key(key: str, shared: AuditContext) -> AuditEntry:
    """One key's entry: its history and the findings of every check in ``CHECKS``."""
    ctx = KeyContext(shared, key)
    return AuditEntry(
        key=key,
        history=tuple(ctx.records),
        n_stored=ctx.history.n_stored,
        findings=run_checks(ctx),
        scanpy_params=scanpy_params(ctx.entry),
        in_obs=ctx.in_obs,
        checked=ctx.latest is not None and ctx.check_data,
    )


def _index_entries(src: Source, steps: dict[str, str]) -> tuple[AuditEntry, ...]:
    """The entry of ``uns["provenance_index"]``, when it has findings."""
    from provenance._storage.index import INDEX_KEY

    findings = tuple(check_index(src, steps))
    if not findings:
        return ()
    return (AuditEntry(key=INDEX_KEY, history=(), n_stored=0, findings=findings, in_obs=False),)
