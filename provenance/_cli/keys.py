"""``provenance keygen`` and verify's ``--trusted-key``: the signing keys on the command line."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from provenance._base.errors import UsageError

if TYPE_CHECKING:
    import argparse

__all__ = ["add_keygen", "add_policy", "add_trusted_key", "policy_options", "show_options"]


def _cmd_keygen(args: argparse.Namespace) -> int:
    from provenance._util.signing import SIGNING_KEY_ENV, keygen

    pair = keygen(args.out, force=args.force)
    print(f"key id:      {pair.key_id}")
    print(f"private key: {pair.private}  (mode 0600: keep it secret, never commit it)")
    print(f"public key:  {pair.public}  (give it to whoever verifies)")
    print(
        f"sign with:   provenance.record(adata, sign_with={str(pair.private)!r}), "
        f"or {SIGNING_KEY_ENV}={pair.private}"
    )
    print(f"verify with: provenance verify --trusted-key {pair.public} FILE")
    return 0


def add_keygen(sub: Any) -> None:
    """Add ``keygen`` to the subparsers ``sub``."""
    p = sub.add_parser(
        "keygen",
        help="write an Ed25519 key pair to sign records with (needs anndata-provenance[sign])",
    )
    p.add_argument(
        "--out",
        type=Path,
        required=True,
        help="the private key file (mode 0600); the public key goes beside it as OUT.pub",
    )
    p.add_argument("--force", action="store_true", help="overwrite existing key files")
    p.set_defaults(func=_cmd_keygen)


def add_trusted_key(p: argparse.ArgumentParser, *, show: bool = False) -> None:
    """Add ``--trusted-key PUB`` (repeatable) to ``p``: its value is ``args.trusted_keys``
    (``show``: show's help, which checks signatures only to say so beside each one)."""
    p.add_argument(
        "--trusted-key",
        dest="trusted_keys",
        action="append",
        type=Path,
        default=None,
        metavar="PUB",
        help=_SHOW_TRUSTED_HELP
        if show
        else "check record signatures against this public key (repeatable); reports "
        "signature_invalid, untrusted_signer, signature_missing (unsigned after a signed "
        "version) and unsigned records (needs anndata-provenance[sign])",
    )


_SHOW_TRUSTED_HELP = (
    "say beside each signature whether this public key (repeatable) made it and the record "
    "is unchanged since: (trusted), (untrusted) or (invalid); without it, (not checked). "
    "Needs anndata-provenance[sign]"
)


def show_options(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of :func:`~provenance.audit` that ``show``'s options set."""
    return {"storage_options": args.storage_options, "trusted_keys": args.trusted_keys}


def add_policy(p: argparse.ArgumentParser) -> None:
    """Add the options that make verification stricter than its default: ``--require-signed``,
    ``--allow-unreplayable`` (which relaxes ``--deep``) and ``--ledger``."""
    p.add_argument(
        "--require-signed",
        action="store_true",
        help="with --trusted-key: every record and step must carry a trusted signature "
        "(an unsigned one is an error)",
    )
    p.add_argument(
        "--allow-unreplayable",
        action="store_true",
        help="with --deep: accept keys that cannot be re-run (a warning instead of an error)",
    )
    p.add_argument(
        "--ledger",
        default=None,
        metavar="LEDGER",
        help="with --trusted-key: compare the file with its latest seal in this ledger (path "
        "or URL), written by 'provenance seal'",
    )


def policy_options(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of :func:`~provenance.audit` that :func:`add_policy`'s options
    set; a :class:`UsageError` for an option without the one it qualifies."""
    if args.trusted_keys is None and (args.require_signed or args.ledger is not None):
        flag = "--require-signed" if args.require_signed else "--ledger"
        msg = f"{flag} needs --trusted-key PUB: the public key whose signatures count."
        raise UsageError(msg)
    if args.allow_unreplayable and not args.deep:
        msg = "--allow-unreplayable qualifies --deep: give --deep too."
        raise UsageError(msg)
    return {
        "require_signed": args.require_signed,
        "allow_unreplayable": args.allow_unreplayable,
        "ledger": args.ledger,
    }
