"""The contract of a recorded function: what the recorder, replay, adopt and the audit ask of it.

A target is everything the package knows about one function it records (``scanpy.tl.leiden``,
``scanpy.tl.louvain``, ...). The machinery (``_record``, ``_compare``, ``_audit``) never branches
on the method: it looks the target up in ``_targets.registry`` and asks it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, ClassVar

from provenance._util.software import package_version

if TYPE_CHECKING:
    import inspect
    from collections.abc import Callable, Mapping
    from types import ModuleType

    from pydantic import BaseModel

    from provenance._schema.models import ClusteringRecord, LayerInfo, Params

__all__ = ["RecordedFunction", "Target"]


class RecordedFunction:
    """What every recorded function shares: where it lives, and whether a call is recorded.

    :class:`Target` (a clustering) and :class:`~provenance._targets.steps.StepTarget` (a step
    around one: neighbors, markers, dendrogram, PAGA) build on it; ``record()`` patches every
    registered one alike.

    Class attributes
    ----------------
    module, attr
        Where the function lives: ``importlib.import_module(module)`` has it as ``attr``.
        That attribute is what ``record()`` replaces.
    function
        The public name stored in a record's ``function`` (``"scanpy.tl.leiden"``). Unique
        across targets.
    kind
        The record kind it writes (``"clustering"``, ``"neighbors"``, ``"rank_genes_groups"``,
        ...): the recorder picks how a call is recorded by it, the registry's clustering
        look-ups consider ``"clustering"`` only.
    default_key
        The ``key_added`` default: the key a call writes when it names none.
    """

    module: ClassVar[str]
    attr: ClassVar[str]
    function: ClassVar[str]
    kind: ClassVar[str]
    default_key: ClassVar[str]
    also_in: ClassVar[tuple[str, ...]] = ()
    """Other modules whose ``attr`` is the same function, reached by the library itself
    (scanpy's plots import ``dendrogram`` from ``scanpy.tools._dendrogram`` at call time):
    ``record()`` patches them too where they hold the same object."""

    opaque: ClassVar[bool] = False
    """Whether the calls it makes to other recorded functions are part of its own record and
    not recorded on their own (``sc.pp.recipe_seurat`` runs ``sc.pp.filter_cells`` ... itself,
    some through imports the recorder does not patch: one record of the whole recipe keeps
    the chain whole)."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.function}>"

    def load(self) -> Callable[..., Any] | None:
        """The function as ``module.attr`` holds it now; ``None`` when it is not installed.

        Inside ``record()`` that is the recorder's wrapper (replay unwraps it).
        """
        try:
            module = importlib.import_module(self.module)
        except ImportError:
            return None
        return getattr(module, self.attr, None)

    def patch_module(self) -> ModuleType | None:
        """The module whose :attr:`attr` ``record()`` replaces; ``None``: nothing to patch.

        Imports :attr:`module`; a target whose library is slow to import may return only an
        already imported module.
        """
        try:
            return importlib.import_module(self.module)
        except ImportError:
            return None

    def reads(self, adata: Any, named: Mapping[str, Any]) -> list[str]:
        """The slots of ``adata`` the bound call is about to read, by name (``"X"``,
        ``"obsm['X_pca']"``, ``"obs['leiden']"``: ``_storage/slots.py``); a record keeps their
        digests as they were before the call (``reads``). Called before the call runs."""
        return []

    def records_call(self, data: Any) -> bool:
        """Whether a call on ``data`` is this target's to record. ``False`` runs it unrecorded
        and unreported: the function hands such data on to another recorded function."""
        return True

    def watched_objects(self, data: Any) -> tuple[Any, ...]:
        """The objects a call on ``data`` is recorded for when a block watches one of them
        (``anndata.concat``: each object joined)."""
        return (data,)

    def writes_result(self, named: Mapping[str, Any]) -> bool:
        """Whether the bound call writes to the object (``False``: it only returns its result,
        as ``sc.tl.dendrogram(..., inplace=False)``, and runs unrecorded)."""
        return True

    def writes_fixed_key(self) -> bool:
        """Whether calls must run one at a time because the library writes a fixed key."""
        return False


class Target(RecordedFunction):
    """One recorded clustering. Subclass it, set the class attributes, implement the methods.

    The recorder patches ``module.attr`` inside ``provenance.record()``; each call is bound to
    the function's signature (defaults applied, ``**kwargs`` split off) and handed to the
    target as ``named`` (argument name -> value, the data object under the first parameter's
    name) and ``var_kw`` (the ``**kwargs``). Instances are stateless and compared by identity.

    Class attributes
    ----------------
    module, attr
        Where the function lives: ``importlib.import_module(module)`` has it as ``attr``.
        That attribute is what ``record()`` replaces, and what replay calls (unwrapped).
    function
        The public name stored in ``ClusteringRecord.function`` (``"scanpy.tl.leiden"``). Unique
        across targets: a record is mapped back to its target by this name.
    kind
        ``"clustering"`` (see :class:`RecordedFunction`).
    method
        ``ClusteringRecord.method`` and the discriminator of :attr:`params_model`
        (``"leiden"``, ``"louvain"``). Several targets may share a method (scanpy's and muon's
        leiden); records too old to name a known function are mapped by it.
    params_model
        The pydantic model of the params, from :mod:`provenance._schema.models` (the
        versioned schema owns the models; :func:`provenance._schema.resolve.resolve_params`
        owns what the function makes of its arguments).
    default_key
        The ``key_added`` default. A column whose name starts with it (case-insensitive) is a
        candidate clustering for the audit.
    fixed_key
        The ``uns`` key the library writes the call's params to whatever ``key_added`` is
        (scanpy <= 1.9's ``"leiden"``), else ``None``.
    fixed_key_package, fixed_key_before
        Which distribution's version decides whether :attr:`fixed_key` is written, and the
        first ``(major, minor)`` of it that no longer writes it (``None``: every version does).
    partition_classes
        The classes replay may import for this target: qualified name stored in a record ->
        ``(package, attribute of package.VertexPartition)``. Replay never imports anything
        else named in a file.

    Methods
    -------
    See each method. :meth:`record_params`, :meth:`replay_kwargs`, :meth:`recognizes` and
    :meth:`adopt_params` must be implemented; the others have defaults that fit scanpy's
    clustering functions.
    """

    kind: ClassVar[str] = "clustering"
    method: ClassVar[str]
    params_model: ClassVar[type[BaseModel]]
    fixed_key: ClassVar[str | None] = None
    fixed_key_package: ClassVar[str] = "scanpy"
    fixed_key_before: ClassVar[tuple[int, int] | None] = None
    partition_classes: ClassVar[Mapping[str, tuple[str, str]]] = {}

    # -- record ----------------------------------------------------------------------------

    def record_params(self, named: dict[str, Any], var_kw: dict[str, Any]) -> Params:
        """Params of a bound call, as :attr:`params_model`, resolved as the function runs them.

        Must describe every argument (unknown ones in ``other_args``) in JSON-safe form and
        never mutate ``named``/``var_kw``. Raise ``ProvenanceError`` (or any exception) when
        the call cannot be described: the recorder reports it and the call still runs.
        """
        raise NotImplementedError

    def written_key(self, key_added: str, *, restrict_to: Any = None) -> str:
        """The ``obs``/``uns`` key the function actually writes for ``key_added``.

        scanpy appends ``_R`` to the default key when ``restrict_to`` is given.
        """
        if restrict_to is not None and key_added == self.default_key:
            return key_added + "_R"
        return key_added

    def graph_args(self, named: Mapping[str, Any]) -> dict[str, Any]:
        """Keyword arguments of ``_storage.graph.locate_graph``/``graph_info`` for this call.

        ``{"adjacency", "obsp", "neighbors_key"}``: which graph the function reads.
        """
        return {
            "adjacency": named.get("adjacency"),
            "obsp": named.get("obsp"),
            "neighbors_key": named.get("neighbors_key"),
        }

    def reads(self, adata: Any, named: Mapping[str, Any]) -> list[str]:
        """The graph clustered, and the labels ``restrict_to`` restricts."""
        from .slots import column_slots, graph_slot

        restrict = named.get("restrict_to")
        column = restrict[0] if isinstance(restrict, list | tuple) and restrict else None
        return graph_slot(adata, **self.graph_args(named)) + column_slots(column)

    def layers(self, out: Any, named: Mapping[str, Any], params: Any) -> list[LayerInfo] | None:
        """The layers of a multiplex clustering (one per graph clustered; the record then has
        no single ``graph``), or ``None``: the call clusters the graph :meth:`graph_args`
        names."""
        return None

    def uns_entry(self, out: Any, key: str, params: Any) -> dict[str, Any] | None:
        """A new ``uns[key]`` for a function that writes none there (``{"params": ...}``),
        else ``None``: the function's own entry holds the record."""
        return None

    def writes_fixed_key(self) -> bool:
        """Whether the installed library writes the params to :attr:`fixed_key`.

        When it does, the recorder moves them to the written key and puts the fixed key back
        as it was, and calls run one at a time.
        """
        if self.fixed_key is None:
            return False
        if self.fixed_key_before is None:
            return True
        return _version(self.fixed_key_package) < self.fixed_key_before

    def draws_python_random(self, flavor: str | None) -> bool:
        """Whether ``flavor`` draws from Python's ``random`` module, ignoring ``random_state``.

        Then the recorder keeps ``random``'s state in ``params.python_random_state``, replay
        restores it, and a record without it is not deterministic.
        """
        return False

    def backends(self, flavor: str | None) -> tuple[str, ...]:
        """Distributions whose versions matter for ``flavor`` (recorded in ``software``)."""
        return ()

    def partition_packages(self, flavor: str | None) -> tuple[str, ...]:
        """Distributions whose versions decide the partition a seeded call of ``flavor`` gives
        on a given graph: where they differ from the record's, a replay that differs proves
        nothing (deep verification's ``replay_inconclusive``)."""
        return self.backends(flavor)

    # -- replay ----------------------------------------------------------------------------

    def replay_kwargs(
        self, params: Any, *, parameters: Mapping[str, inspect.Parameter], where: str
    ) -> dict[str, Any]:
        """Keyword arguments that repeat the recorded call on the installed function.

        ``params`` is a record's params; ``parameters`` the installed function's signature;
        ``where`` names the record in messages. Classes are resolved only from
        :attr:`partition_classes`; arguments the record does not know (``params.unknown``)
        are left out so the installed defaults apply. Without the data object, ``key_added``,
        ``adjacency`` and ``copy`` handling: replay sets those. Raise ``ReplayError`` for a
        call the installed function cannot take.
        """
        raise NotImplementedError

    def replay_stage(
        self, data: Any, rec: ClusteringRecord, kwargs: dict[str, Any], *, force: bool, where: str
    ) -> tuple[Any, str, bool | None, bool, str | None] | None:
        """``(scratch object, graph name, graph matches, forced, note)`` to replay on, or
        ``None`` for a single-graph record (replay stages the recorded graph itself)."""
        return None

    # -- adopt -----------------------------------------------------------------------------

    def recognizes(self, key: str, params: Mapping[str, Any]) -> bool:
        """Whether ``uns[key]["params"]``, left by the library without a record, is this
        target's. Adopt takes the first registered target that recognizes it."""
        raise NotImplementedError

    def adopt_params(self, key: str, known: Mapping[str, Any]) -> Params:
        """Params of an adopted record from the JSON-safe ``uns[key]["params"]`` (``known``).

        Every argument the library did not keep goes to ``params.unknown`` with ``None`` in
        its field.
        """
        raise NotImplementedError


def _version(dist: str) -> tuple[int, int]:
    v = package_version(dist) or "0.0"
    parts = [int("".join(c for c in p if c.isdigit()) or 0) for p in v.split(".")[:2]]
    parts += [0] * (2 - len(parts))
    return parts[0], parts[1]
