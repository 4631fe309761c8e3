"""``provenance seal FILE --key KEY --ledger LEDGER``: a signed seal of a file's state, appended
to a ledger (:func:`provenance.seal`); ``verify --ledger`` compares files with it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import argparse

__all__ = ["add_seal"]


def _cmd_seal(args: argparse.Namespace) -> int:
    from provenance._audit.seal import seal
    from provenance._base.errors import SealRefusedError
    from provenance._util.signing import public_path

    try:
        s = seal(
            args.path,
            key=args.key,
            ledger=args.ledger,
            storage_options=args.storage_options,
            force=args.force,
            new_signer=args.new_signer,
        )
    except SealRefusedError as e:  # the file's findings, or the ledger's: exit 1, as verify
        print(f"provenance seal: {e}", file=sys.stderr)
        report = e.report
        for f in getattr(report, "errors", ()):
            print(f"  {f.code} on {f.key!r}: {f.message}", file=sys.stderr)
        return 1
    n, m = len(s.keys), len(s.steps)
    print(f"sealed {args.path}: seal {s.seq} of {args.ledger}, {s.sealed_at}, signed by {s.signer}")
    print(f"  {n} clustering key{'s' * (n != 1)}, {m} step{'s' * (m != 1)}")
    pub = public_path(args.key)
    print(f"verify with: provenance verify {args.path} --trusted-key {pub} --ledger {args.ledger}")
    return 0


def add_seal(sub: Any) -> None:
    """Add ``seal`` to the subparsers ``sub``."""
    from .remote import add_storage_options

    p = sub.add_parser(
        "seal",
        help="append a signed seal of a checked file's state to a ledger, against rollback "
        "and deletion (exit 0 sealed, 1 not sealed: the file has errors, is older than its "
        "latest seal, or the key is new to the ledger; 2 unreadable)",
    )
    p.add_argument(
        "path", type=_location, help=".h5ad or .h5mu file, or .zarr store (a path or URL)"
    )
    add_storage_options(p)
    p.add_argument(
        "--key",
        type=Path,
        required=True,
        metavar="PRIVATE_KEY",
        help="the private key to sign the seal with (provenance keygen)",
    )
    p.add_argument(
        "--ledger",
        type=_location,
        required=True,
        metavar="LEDGER",
        help="the ledger to append to (created when absent): a path (locked while appending) "
        "or an fsspec URL (read-modify-write, no lock: seal from one place at a time)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="seal this state although it is older than the ledger's latest seal of it (a "
        "sealed key older or gone), e.g. after a deliberate restore; refused without it",
    )
    p.add_argument(
        "--new-signer",
        action="store_true",
        help="seal with a key that has signed none of the ledger's seals (key rotation): "
        "verifiers must then trust both public keys; refused without it",
    )
    p.set_defaults(func=_cmd_seal)


def _location(text: str) -> str | Path:
    return text if "://" in text else Path(text)
