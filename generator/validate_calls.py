"""Stage 3d: an adapter's call of its implementation binds to the implementation's
constructor (generator/signatures.py), so a mapping that leaves out a required argument or
invents one is a located error in the description, not a pyright error in generated code or a
TypeError when a model is built.
"""

from collections.abc import Iterator

from generator.errors import DescriptionError
from generator.model import (
    Builder,
    Implementation,
    ImplementationKind,
    Location,
    MappingKind,
    ParameterKind,
    ordered_mappings,
)
from generator.signatures import constructor
from generator.validate_contracts import Catalog


def check_calls(catalog: Catalog) -> Iterator[DescriptionError]:
    """Every adapter's call against its implementation's constructor (last: the other checks
    say more about a description that is wrong in several ways)."""
    for adapter in catalog.adapters.values():
        yield from check_call(
            adapter.description.import_map(), adapter.builder, adapter.implementation
        )


def check_call(
    imports: dict[str, str], builder: Builder, implementation: Implementation
) -> Iterator[DescriptionError]:
    """Errors for a call of `implementation` (as the adapter or build_module makes it) that its
    constructor rejects; nothing when the constructor cannot be read from source."""
    if implementation.kind is not ImplementationKind.CLASS or implementation.unannotated:
        return  # an unbuilt function is not called here; an unannotated class is bound as is
    signature = constructor(imports[implementation.object])
    if signature is None:
        return
    kinds = {p.name: p.kind for p in builder.parameters}
    positional = 0
    keywords: list[str] = []
    for mapping in ordered_mappings(builder, implementation):
        if (
            mapping.kind is MappingKind.PASS
            and kinds[mapping.parameter] is ParameterKind.POSITIONAL
        ):
            positional += 1
        elif mapping.kind is MappingKind.PASS:
            keywords.append(mapping.parameter)
        elif mapping.kind is not MappingKind.DROP:
            keywords += [argument for argument, _ in mapping.targets]
    keywords += [fixed.name for fixed in implementation.fixed]
    if implementation.submodules is not None:
        keywords.append(implementation.submodules.argument)
    at = Location(implementation.location.file, implementation.location.pointer + "/arguments")
    accepted = ", ".join(p.name for p in signature.parameters) or "nothing"
    for problem in signature.problems(positional, keywords):
        yield DescriptionError(
            at.file,
            at.pointer,
            f"the call of {implementation.object} {problem} ({signature.owner} takes {accepted})",
            "map the builder's parameters (and fixed parameters) to the arguments it takes",
        )
