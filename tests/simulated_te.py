"""Build Transformer Engine layer specs where Transformer Engine is not installed.

A spec only names classes, but without TE upstream's TE factories cannot even be called:
``gpt_layer_specs`` binds ``TESpecProvider``/``TENorm``/``TEFusedMLP`` to ``None`` behind
``if HAVE_TE``, ``experimental_attention_variant_module_specs`` never defines ``TESpecProvider``,
``_get_backend_spec_provider``-style code asserts ``HAVE_TE``, and the version checks
(``is_te_min_version``) see TE 0.0.0 and choose the fallbacks of very old TE releases.

:func:`simulated_te` makes the process look like one with TE ``TE_VERSION`` installed, for
spec building only (nothing built from such a spec can run):

* in every loaded ``megatron.*`` and ``generated.*`` module, each TE name that is ``None``
  without TE (``TEFusedMLP``, ``TEActivationOp``, the grouped linears, ...) is rebound to one
  stand-in class of that name (``TEFusedMLP`` and ``TEFusedMLPWithGroupedLinear`` subclass
  ``MLP``, as the real ones do, so ``as_mlp_submodule`` exists); TE classes that are
  ``MagicMock`` instances without TE stay what they are (each is one distinct object), except
  those a spec puts into a slot as a bare class (``BARE_IN_SPECS``: MLA's down-projections,
  which the parent dispatches on by identity and the typed constructors check to be classes):
  wherever a module binds that ``MagicMock``, it is rebound to one stand-in class of that name;
* ``HAVE_TE`` is set in the spec modules, which also get the real ``TESpecProvider`` and
  ``TENorm``;
* megatron's cached TE version is set to ``TE_VERSION``.

Everything is restored on exit. Where TE is installed it does nothing.
"""

from __future__ import annotations

import contextlib
import sys
import warnings
from collections.abc import Generator

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import megatron.core.utils as megatron_utils
    from megatron.core.extensions import transformer_engine as te_module
    from megatron.core.extensions.transformer_engine_spec_provider import TESpecProvider
    from megatron.core.models import backends
    from megatron.core.models.gpt import experimental_attention_variant_module_specs
    from megatron.core.models.gpt import gpt_layer_specs
    from megatron.core.transformer.mlp import MLP
    from packaging.version import Version

TE_VERSION = "2.14.0"
"""The TE version the simulation reports: new enough for every TE path of megatron-core 0.19.2
(TEFusedMLPWithGroupedLinear needs 2.14)."""

NONE_WITHOUT_TE = (
    "TEActivationOp",
    "TEColumnParallelGroupedLinear",
    "TERowParallelGroupedLinear",
    "TEGroupedLinear",
    "TEFusedResidualRMSNorm",
    "TEFusedMLP",
    "TEFusedMLPWithGroupedLinear",
)


def _stand_in(name: str) -> type:
    base: type = MLP if name.startswith("TEFusedMLP") else object
    return type(name, (base,), {"__module__": te_module.__name__, "__qualname__": name})


BARE_IN_SPECS = ("TELinear", "TELayerNormColumnParallelLinear")
"""TE classes (``MagicMock`` instances without TE) that upstream's MLA specs put bare into the
down-projection slots (``backend.linear()``, ``backend.column_parallel_layer_norm_linear()``)."""

STAND_INS: dict[str, type] = {name: _stand_in(name) for name in NONE_WITHOUT_TE}
"""One stand-in class per TE name that is None without TE (stable identity across cases)."""

BARE_STAND_INS: dict[str, type] = {name: _stand_in(name) for name in BARE_IN_SPECS}
"""One stand-in class per TE name of ``BARE_IN_SPECS`` (stable identity across cases)."""

_MISSING = object()


def _bare_te_mocks() -> list[tuple[object, str]]:
    """(module, name) for each binding of a ``BARE_IN_SPECS`` mock in a loaded megatron or
    generated module, megatron's TE module included. Recomputed on every entry, as
    :func:`_none_te_names`."""
    mocks = {name: getattr(te_module, name) for name in BARE_IN_SPECS}
    found: list[tuple[object, str]] = []
    for module_name, module in list(sys.modules.items()):
        if not module_name.startswith(("megatron.", "generated.")):
            continue
        namespace = vars(module)
        found.extend(
            (module, name)
            for name, value in mocks.items()
            if name in namespace and namespace[name] is value
        )
    return found


def _none_te_names() -> list[tuple[object, str]]:
    """(module, name) for each TE name bound to None in a loaded megatron or generated module,
    also under the generated modules' private bindings (``_TEActivationOp``, bound once at
    import). Recomputed on every entry: a test may have rebound a name since the last one."""
    found: list[tuple[object, str]] = []
    for module_name, module in list(sys.modules.items()):
        if not module_name.startswith(("megatron.", "generated.")):
            continue
        namespace = vars(module)
        found.extend(
            (module, bound)
            for name in STAND_INS
            for bound in (name, f"_{name}")
            if bound in namespace and namespace[bound] is None
        )
    return found


@contextlib.contextmanager
def simulated_te() -> Generator[None]:
    """Within the block, megatron's and the generated modules see TE ``TE_VERSION``."""
    if te_module.HAVE_TE:
        yield
        return
    saved: list[tuple[object, str, object]] = []

    def rebind(module: object, name: str, value: object) -> None:
        saved.append((module, name, getattr(module, name, _MISSING)))
        setattr(module, name, value)

    try:
        for module, name in _none_te_names():
            rebind(module, name, STAND_INS[name.removeprefix("_")])
        for module, name in _bare_te_mocks():
            rebind(module, name, BARE_STAND_INS[name])
        generated = [m for n, m in list(sys.modules.items()) if n.startswith("generated.")]
        for module in (gpt_layer_specs, experimental_attention_variant_module_specs, *generated):
            if hasattr(module, "HAVE_TE"):
                rebind(module, "HAVE_TE", True)
            rebind(module, "TESpecProvider", TESpecProvider)
        rebind(gpt_layer_specs, "TENorm", te_module.TENorm)
        rebind(megatron_utils, "_te_version", Version(TE_VERSION))
        yield
    finally:
        for module, name, value in reversed(saved):
            if value is _MISSING:
                delattr(module, name)
            else:
                setattr(module, name, value)


@contextlib.contextmanager
def environment(te: bool) -> Generator[None]:
    """Warnings off; simulated TE when asked; upstream's LNImpl rebinding undone on exit.

    ``LocalSpecProvider.layer_norm(rms_norm=True)`` rebinds the module global
    ``megatron.core.models.backends.LNImpl`` for good (it matters where apex is installed):
    each side of each case starts from the value the process started with.
    """
    saved = backends.LNImpl
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with simulated_te() if te else contextlib.nullcontext():
                yield
    finally:
        backends.LNImpl = saved
