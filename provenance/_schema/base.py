"""What every schema version shares: the frozen base model, digest strings, record methods.

A version module (``v1_0``, ``v1_1``, ...) defines its fields; what a record *does* (its digest,
building a new one) is the same in every version and lives here.

Defining the models is cheap, so that a command reading one file (``provenance show``) starts
fast although every schema version is defined at import: pydantic builds a model's validator
the first time the model is used (``defer_build``), so only the versions a file holds are ever
built, and the field docstrings (the JSON Schema descriptions) are read from each module's
source in one pass (:func:`_field_docstrings`) instead of one parse per class.
"""

from __future__ import annotations

import ast
import inspect
import sys
import uuid
from functools import cache
from typing import Annotated, Any, Self, get_args

from pydantic import BaseModel, ConfigDict, Field, JsonValue, PrivateAttr

from provenance._util.jsonsafe import digest as _digest

__all__ = ["Digest", "FrozenModel", "RandomStateValue", "RecordBase", "build"]

Digest = Annotated[str, Field(pattern=r"^[a-z0-9_]+:[0-9a-f]+$", max_length=200)]
RandomStateValue = int | dict[str, JsonValue] | None


@cache
def _module_classes(module: str) -> dict[str, ast.ClassDef | None]:
    """The top-level classes of a module's source by name (``None``: the name is not unique)."""
    try:
        tree = ast.parse(inspect.getsource(sys.modules[module]))
    except (KeyError, OSError, TypeError, SyntaxError):
        return {}
    classes: dict[str, ast.ClassDef | None] = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            classes[node.name] = None if node.name in classes else node
    return classes


def _field_docstrings(cls: type[BaseModel]) -> dict[str, str]:
    """The attribute docstrings in ``cls``'s own body, as pydantic's
    ``use_attribute_docstrings`` reads them (a string right after an annotated assignment)."""
    node = _module_classes(cls.__module__).get(cls.__name__)
    if node is None or cls.__qualname__ != cls.__name__:
        # Not found in one pass (nested, or defined twice): pydantic's own per-class reading.
        from pydantic._internal._docs_extraction import extract_docstrings_from_cls

        return extract_docstrings_from_cls(cls)
    docs: dict[str, str] = {}
    previous: ast.stmt | None = None
    for stmt in node.body:
        if (
            isinstance(previous, ast.AnnAssign)
            and isinstance(previous.target, ast.Name)
            and isinstance(stmt, ast.Expr)
            and isinstance(stmt.value, ast.Constant)
            and isinstance(stmt.value.value, str)
        ):
            docs[previous.target.id] = inspect.cleandoc(stmt.value.value)
        previous = stmt
    return docs


class FrozenModel(BaseModel):
    """Base of every model: frozen, no unknown fields, field docstrings as descriptions."""

    # ``defer_build``: a model's validator is built when it is first used, not at import.
    # The field docstrings are set by ``__pydantic_init_subclass__`` (before anything is
    # built), as ``use_attribute_docstrings=True`` would, without parsing each class anew.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False, defer_build=True)

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        docs = _field_docstrings(cls)
        for name, info in cls.model_fields.items():
            if info.description is None and name in docs:
                info.description = docs[name]


def _nested_models(annotation: Any) -> list[type[FrozenModel]]:
    """The models an annotation holds (``GraphInfo | None``, ``list[SlotDigest]``, ...)."""
    if isinstance(annotation, type) and issubclass(annotation, FrozenModel):
        return [annotation]
    return [m for arg in get_args(annotation) for m in _nested_models(arg)]


def build(model: type[FrozenModel]) -> None:
    """Build ``model``'s validator and serializer now, after those of the models it holds.

    Built from the inside out, each model's schema is generated once and reused by the models
    holding it; built from the outside (its first use), a model's schema is generated inside
    each holder's and again when it is used on its own (``record.params.model_dump()``).
    """
    if model.__pydantic_complete__:
        return
    for info in model.model_fields.values():
        for nested in _nested_models(info.annotation):
            if nested is not model:
                build(nested)
    model.model_rebuild()


class RecordBase(FrozenModel):
    """Methods of a record in any schema version (the fields are each version's own)."""

    # A record upgraded from an older schema version was hashed in the form it was written
    # in: (that digest, the digest of the upgraded content it stands for). Set on upgrade
    # (``_schema/convert.py``), never serialized.
    _written: tuple[str, str] | None = PrivateAttr(default=None)

    def expected_digest(self) -> str:
        """Recompute the digest from the content (compare with the record's ``digest``).

        The stored one is :attr:`~provenance.ClusteringRecord.digest`. A record upgraded on
        read from an older schema version is checked in the form it was written in, so
        upgrading never breaks its digest while any edit still does.
        """
        content = self._content_digest()
        if self._written is not None and self._written[1] == content:
            return self._written[0]
        return content

    def _content_digest(self) -> str:
        """sha256 of the canonical JSON of this record as it is now, without ``digest`` and
        ``signature`` (1.4: the signature is of the digest, so it cannot be in it)."""
        # A version without ``signature`` (< 1.4) has no such field to leave out.
        return _digest(self.model_dump(mode="json", exclude={"digest", "signature"}))

    def _as_written(self, digest: str) -> Self:
        """Remember that this (upgraded) content was hashed as ``digest`` when written."""
        self._written = (digest, self._content_digest())
        return self

    @classmethod
    def create(cls, **fields: Any) -> Self:
        """Build a record with a new id, computing its digest."""
        fields.setdefault("id", str(uuid.uuid4()))
        draft = cls.model_validate({**fields, "digest": "sha256:0"})
        return draft.model_copy(update={"digest": draft.expected_digest()})
