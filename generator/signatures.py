"""What an implementation's constructor accepts, read from its source with `ast` (nothing is
imported): the parameters of the `__init__` (or `__new__`) a call of the class reaches.

Validation checks an adapter's call against it, so a missing or unknown argument is a located
error in the description instead of a pyright error in generated code or a TypeError when a
model is built.
"""

import ast
from dataclasses import dataclass
from enum import Enum
from functools import cache

from generator.resolve import CONSTRUCTORS, bound_in, class_definition


class Binding(Enum):
    POSITIONAL_ONLY = "positional-only"
    POSITIONAL_OR_KEYWORD = "positional or keyword"
    KEYWORD_ONLY = "keyword-only"


@dataclass(frozen=True)
class Accepted:
    name: str
    binding: Binding
    required: bool


@dataclass(frozen=True)
class Signature:
    """A constructor's parameters after `self`/`cls`."""

    owner: str  # the dotted class whose `__init__` or `__new__` this is
    parameters: tuple[Accepted, ...]
    var_positional: bool  # *args
    var_keyword: bool  # **kwargs

    def problems(self, positional: int, keywords: list[str]) -> list[str]:
        """Why a call with `positional` positional arguments, then `keywords`, does not bind
        (Python's own rules, as pyright applies them); empty when it does."""
        takes_position = [p for p in self.parameters if p.binding is not Binding.KEYWORD_ONLY]
        problems: list[str] = []
        if positional > len(takes_position) and not self.var_positional:
            problems.append(
                f"takes {len(takes_position)} positional arguments but is given {positional}"
            )
        bound = {p.name for p in takes_position[:positional]}
        by_name = {p.name: p for p in self.parameters}
        for keyword in keywords:
            parameter = by_name.get(keyword)
            if keyword in bound:
                problems.append(f"gets {keyword!r} twice, by position and by name")
            elif parameter is not None and parameter.binding is not Binding.POSITIONAL_ONLY:
                bound.add(keyword)
            elif not self.var_keyword:
                problems.append(f"has no parameter {keyword!r}")
        for parameter in self.parameters:
            if parameter.required and parameter.name not in bound:
                problems.append(f"requires {parameter.name!r}, which it is not given")
        return problems


@cache
def constructor(dotted_class: str) -> Signature | None:
    """The signature calling the class `dotted_class` checks against: the first `__new__` or
    `__init__` along its bases, depth first in order (a plain MRO); None when that cannot be read
    from source (a base that is not a plain name resolvable to readable source, a decorated
    class or constructor, a metaclass)."""
    found = _constructor(dotted_class, frozenset())
    if found is _Outcome.UNKNOWN:
        return None
    return found if isinstance(found, Signature) else Signature("object", (), False, False)


class _Outcome(Enum):
    UNKNOWN = "unknown"
    INHERITS_OBJECT = "inherits object's"


def _constructor(dotted_class: str, seen: frozenset[str]) -> Signature | _Outcome:
    found = class_definition(dotted_class)
    if found is None or dotted_class in seen:
        return _Outcome.UNKNOWN
    module, node = found
    if node.decorator_list or node.keywords:
        # @dataclass and metaclasses make constructors the source does not show
        return _Outcome.UNKNOWN
    for name in CONSTRUCTORS:
        for statement in node.body:
            if isinstance(statement, ast.FunctionDef) and statement.name == name:
                if statement.decorator_list:  # overloads and wrappers: not read
                    return _Outcome.UNKNOWN
                return _signature(f"{module}.{node.name}", statement.args)
    for base in node.bases:
        if not isinstance(base, ast.Name):
            return _Outcome.UNKNOWN
        if base.id == "object":
            continue
        target = bound_in(module, base.id)
        inherited = (
            _Outcome.UNKNOWN if target is None else _constructor(target, seen | {dotted_class})
        )
        if inherited is not _Outcome.INHERITS_OBJECT:
            return inherited
    return _Outcome.INHERITS_OBJECT


def _signature(owner: str, arguments: ast.arguments) -> Signature:
    positional = [*arguments.posonlyargs, *arguments.args][1:]  # after self / cls
    first_default = len(positional) - len(arguments.defaults)
    parameters = [
        Accepted(
            argument.arg,
            (
                Binding.POSITIONAL_ONLY
                if argument in arguments.posonlyargs
                else Binding.POSITIONAL_OR_KEYWORD
            ),
            index < first_default,
        )
        for index, argument in enumerate(positional)
    ]
    parameters += [
        Accepted(argument.arg, Binding.KEYWORD_ONLY, default is None)
        for argument, default in zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True)
    ]
    return Signature(
        owner, tuple(parameters), arguments.vararg is not None, arguments.kwarg is not None
    )
