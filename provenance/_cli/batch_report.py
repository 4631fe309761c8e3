"""What a run of several files checked, and its HTML archive (``verify DIR --html OUT.html``).

Each file's report carries its own ``checks`` (the keys re-run, the ledger's seal); the run
as a whole has one policy, the options given: :func:`run_checks` states it, for the top of
the JSON document, the table and the page.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from provenance._audit.checked import Checks, LedgerCheck

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["run_checks", "write_html"]


def _key_ids(options: dict[str, Any], results: list[dict[str, Any]]) -> tuple[str, ...]:
    """The trusted key ids: as the audits read them, or from the key files when no file was
    readable (a key file that cannot be read: none, each file's row says why)."""
    for r in results:
        checks = (r.get("report") or {}).get("checks")
        if checks is not None:
            return tuple(checks["trusted_key_ids"])
    paths = options.get("trusted_keys")
    if not paths:
        return ()
    from provenance._audit.signatures import load_trust

    try:
        return tuple(sorted(load_trust(paths)))
    except Exception:  # the rows already carry the error
        return ()


def run_checks(command: str, options: dict[str, Any], results: list[dict[str, Any]]) -> Checks:
    """The run's policy as :class:`Checks`, from the options every file was audited with
    (``show`` compares no data); no key re-run nor seal is named (each file's report has
    them)."""
    ledger = options.get("ledger")
    return Checks(
        data=command == "verify",
        representation=bool(options.get("check_representation")),
        deep=bool(options.get("deep")),
        allow_unreplayable=bool(options.get("allow_unreplayable")),
        trusted_key_ids=_key_ids(options, results),
        require_signed=bool(options.get("require_signed")),
        ledger=None if ledger is None else LedgerCheck(location=str(ledger)),
    )


def write_html(
    path: Path,
    results: list[dict[str, Any]],
    *,
    command: str,
    strict: bool,
    checks: Checks,
) -> None:
    """Write the archive page of ``results`` (each file's ``"html"`` fragment, rendered by
    its worker) to ``path``."""
    from provenance._render.archive import ArchiveFile, archive_page
    from provenance._render.checked import checked_parts, checks_from_dict
    from provenance._util.atomic import write_text_atomic

    from .batch_output import _totals, status

    files = []
    for r in results:
        rep = r.get("report")
        file_checks = rep.get("checks") if rep is not None else None
        checked = ""
        if file_checks is not None:
            checked = "; ".join(checked_parts(checks_from_dict(file_checks)))
        files.append(
            ArchiveFile(
                path=r["path"],
                status=status(r),
                counts=r.get("counts") or {},
                checked=checked,
                report_html=r.get("html"),
                error=r.get("error"),
            )
        )
    n = len(results)
    page = archive_page(
        files,
        title=f"Provenance {command} of {n} file{'s' * (n != 1)}",
        totals=_totals(results, command=command, strict=strict),
        policy=checks,
    )
    write_text_atomic(path, page)
