"""Which fields of a record are the arguments of the call it recorded, and which are this
package's notes about the call.

A step's record (neighbors, markers, a transform...) keeps ``arguments``: every argument bound
to the function's signature, defaults applied; all of them are arguments. A clustering
record's ``params`` also hold what this package learnt about the call, which are no argument
of ``sc.tl.leiden``: ``method``/``library`` (which model the params are), ``passed`` (the value
passed where the function resolved it to another, the field holding the value that ran),
``not_in_effect`` (arguments the backend ignored), ``unknown`` (arguments an adopted record
cannot know), ``seeded`` (muon), ``python_random_state`` (Python's ``random`` state kept for a
replay), and ``other_args`` (arguments the schema has no field for: arguments, under their own
names). muon's ``flavor`` and ``use_weights`` are constants of the schema, not arguments, and
its ``optimiser_kwargs`` are the function's ``**kwargs``.

An export's parameters are the arguments as the function received them; the notes go under
their own names (:data:`NOTES`). Neither form says which arguments were passed explicitly: a
record binds the defaults too.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import JsonValue

__all__ = ["NOTES", "call_arguments"]

NOTES = {
    "resolved_arguments": "the value that ran, for an argument the function resolved to "
    "another value than it was given (scanpy 1.12's flavor=None runs 'leidenalg')",
    "arguments_without_effect": "arguments the backend ignored, so their values had no "
    "effect on the result",
    "arguments_not_known": "arguments whose value the record cannot know (an adopted "
    "record, reconstructed from what scanpy kept): left out of the parameters",
    "seeded": "whether muon seeded its optimiser with random_state",
    "backend": "the backend that ran, where the function had no flavor argument (scanpy "
    "< 1.10's leiden always runs leidenalg)",
}
"""The notes an export may carry beside the parameters, and what each means."""

# Fields of a clustering record's params that are no argument of the function called.
_NOT_ARGUMENTS = frozenset(
    {
        "method",
        "library",
        "seeded",
        "other_args",
        "unknown",
        "passed",
        "not_in_effect",
        "python_random_state",
    }
)
# muon's clustering functions have neither argument: the schema states what muon does.
_MUON_CONSTANTS = frozenset({"flavor", "use_weights"})


def call_arguments(rec: Any) -> tuple[dict[str, JsonValue], dict[str, JsonValue]]:
    """``(arguments, notes)`` of a record: the call's arguments by name, JSON-safe, and the
    notes (:data:`NOTES`) that apply, by name."""
    if rec.kind != "clustering":
        return dict(rec.arguments), {}
    data: dict[str, Any] = rec.params.model_dump(mode="json")
    muon = data.get("library") == "muon"
    args = {
        k: v
        for k, v in data.items()
        if k not in _NOT_ARGUMENTS and not (muon and k in _MUON_CONSTANTS)
    }
    args.update(data.get("other_args") or {})
    notes: dict[str, JsonValue] = {}
    resolved = {}
    for name, value in (data.get("passed") or {}).items():
        if name in args:
            resolved[name] = args[name]
            args[name] = value
    unknown = [n for n in data.get("unknown") or [] if n in args]
    for name in unknown:
        del args[name]
    if resolved:
        notes["resolved_arguments"] = resolved
    if data.get("not_in_effect"):
        notes["arguments_without_effect"] = list(data["not_in_effect"])
    if unknown:
        notes["arguments_not_known"] = unknown
    if muon:
        notes["seeded"] = bool(data.get("seeded"))
        args["kwargs"] = args.pop("optimiser_kwargs", {})  # muon's **kwargs
    if rec.function == "scanpy.tl.leiden" and _before_1_10(rec):
        # scanpy 1.9's leiden has no flavor and names its **kwargs partition_kwargs.
        notes["backend"] = args.pop("flavor", None)
        if "clustering_args" in args:
            args["partition_kwargs"] = args.pop("clustering_args")
    # The argument forms, where the record keeps a summary of them.
    if isinstance(args.get("restrict_to"), dict):
        r = args["restrict_to"]
        args["restrict_to"] = [r["key"], r["categories"]]
    if isinstance(args.get("partition_type"), str):
        args["partition_type"] = {"$type": "class", "name": args["partition_type"]}
    if isinstance(args.get("adjacency"), str):
        args["adjacency"] = {"$type": "matrix", "description": args["adjacency"]}
    return args, notes


def _before_1_10(rec: Any) -> bool:
    """Whether the record says scanpy < 1.10 ran the call (``False`` when it does not say)."""
    version = (rec.software.packages if rec.software is not None else {}).get("scanpy", "")
    parts = re.findall(r"\d+", version)[:2]
    return len(parts) == 2 and (int(parts[0]), int(parts[1])) < (1, 10)
