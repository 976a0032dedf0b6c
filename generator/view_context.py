"""Stage 4 (shared): what every view builder needs: names, imports, expressions, signatures."""

import textwrap
from collections.abc import Iterable
from dataclasses import dataclass

from generator import naming
from generator.expressions import check_type_expression, check_value_expression
from generator.imports import ImportRegistry
from generator.model import Description, Parameter, ParameterKind
from generator.validate import Catalog

PACKAGE = naming.PACKAGE
SUPPORT_MODULE = naming.SUPPORT_MODULE
MODULE_SPEC = naming.GENERATOR_IMPORTS["ModuleSpec"]
LINE_LENGTH = 100  # black's line length for generated code


@dataclass(frozen=True)
class SpecArgument:
    """One argument of the adapter's `ModuleSpec.__init__` call, with a suppression if needed."""

    name: str
    value: str
    ignored_rule: str | None = None
    reason: str | None = None  # the third-party gap the suppression covers


def docstring_lines(text: str, indent: int) -> tuple[str, ...]:
    """Docstring lines for text at `indent`; multi-line ones end with an empty line, so the
    closing quotes stand on their own line (PEP 257)."""
    lines = wrapped_lines(text, LINE_LENGTH - indent - len('""""""'))  # opening and closing quotes
    return lines if len(lines) == 1 else lines + ("",)


def wrapped_lines(text: str, width: int) -> tuple[str, ...]:
    """Wraps description text for a docstring; escapes what could end it early (quotes,
    backslashes) and every character a source file cannot hold as is."""
    escaped = escape_unprintable(text.replace("\\", "\\\\").replace('"', '\\"'))
    lines: list[str] = []
    for paragraph in escaped.split("\n\n"):
        if lines:
            lines.append("")
        lines.extend(textwrap.wrap(paragraph, width) or [""])
    return tuple(lines)


def comment_lines(text: str, width: int) -> tuple[str, ...]:
    """Wraps description text into comment lines: textwrap turns every line break into a space;
    other characters that are not printable are escaped, so none can end the comment."""
    escaped = escape_unprintable(text)
    return tuple(
        line for paragraph in escaped.split("\n\n") for line in textwrap.wrap(paragraph, width)
    )


def comment_text(text: str) -> str:
    """Description text for the rest of one comment line: whitespace (line breaks included)
    collapsed to single spaces, other characters that are not printable escaped."""
    return escape_unprintable(" ".join(text.split()))


# What textwrap turns into spaces; every other character that is not printable is escaped.
_LAYOUT = frozenset("\t\n\r\x0b\x0c")
_WITHOUT_LAYOUT = str.maketrans(dict.fromkeys(_LAYOUT))


def escape_unprintable(text: str) -> str:
    """`text` with each character that is not printable (control characters, line and paragraph
    separators, U+FEFF, lone surrogates: what a source file cannot hold, or what would break a
    line for an editor but not for Python) written as its escape sequence (`\\x00`, `\\u2028`).
    Layout whitespace is kept for the wrapping that follows."""
    if text.translate(_WITHOUT_LAYOUT).isprintable():  # the common case, without a loop
        return text
    return "".join(
        c if c.isprintable() or c in _LAYOUT else c.encode("unicode_escape").decode("ascii")
        for c in text
    )


class ViewContext:
    """Builds the views of one generated module; every name it prints is imported through it."""

    def __init__(self, catalog: Catalog, description: Description, fingerprint: str) -> None:
        self.catalog = catalog
        self.description = description
        self.fingerprint = fingerprint
        self.imports = ImportRegistry()
        self.sources = {description.file}
        self.local_imports = description.import_map()

    # -- names and expressions ---------------------------------------------------------------

    def _name(self, local: str, scope: Description | None = None) -> str:
        """The printable name for a name local to `scope` (default: this module's description),
        importing it as needed."""
        local_imports = self.local_imports if scope is None else scope.import_map()
        if local in local_imports:  # under the description's own name for it
            return self.imports.qualified(local_imports[local], local)
        for table in (self.catalog.interfaces, self.catalog.builders):
            if local in table:
                return self._generated(local, table[local][1])
        if local in self.catalog.adapters:
            return self._generated(local, self.catalog.adapters[local].description)
        if local in self.catalog.roles:
            return self._generated(local, self.catalog.roles[local][1])
        providers = self.catalog.providers
        if providers is not None and local in providers[0].generated_names:
            return self._generated(local, providers[1])
        return local  # a builtin

    def _generated(self, name: str, owner: Description) -> str:
        if owner is self.description:
            return name
        self.sources.add(owner.file)
        return self.imports.name(owner.qualified_module, name)

    def _type(self, text: str, scope: Description | None = None) -> str:
        checked = check_type_expression(text)
        for name in sorted(checked.names):
            self._name(name, scope)
        return checked.source

    def _value(self, text: str, scope: Description | None = None) -> str:
        checked = check_value_expression(text)
        self._import_expression_names(checked.names, scope)
        return checked.source

    def _import_expression_names(
        self, names: Iterable[str], scope: Description | None = None
    ) -> None:
        """Imports those of an expression's names that are the description's imports. Its other
        names are parameters of the function it is in (validated), even one spelled like a
        generated name of another module."""
        local_imports = self.local_imports if scope is None else scope.import_map()
        for name in sorted(set(names) & local_imports.keys()):
            self._name(name, scope)

    def _signature(
        self,
        parameters: tuple[Parameter, ...],
        *,
        self_first: bool,
        scope: Description | None = None,
    ) -> str:
        parts = ["self"] if self_first else []
        kinds = [p.kind for p in parameters]
        for index, parameter in enumerate(parameters):
            if (
                parameter.kind is ParameterKind.KEYWORD
                and ParameterKind.KEYWORD not in kinds[:index]
            ):
                parts.append("*")
            text = f"{parameter.name}: {self._type(parameter.type, scope)}"
            if parameter.default is not None:
                text += f" = {self._value(parameter.default, scope)}"
            parts.append(text)
            next_kind = kinds[index + 1] if index + 1 < len(kinds) else None
            if (
                parameter.kind is ParameterKind.POSITIONAL
                and next_kind is not ParameterKind.POSITIONAL
            ):
                parts.append("/")
        return ", ".join(parts)

    def _arg_doc(self, name: str, doc: str) -> tuple[str, ...]:
        return wrapped_lines(doc, LINE_LENGTH - 8 - len(f"{name}: "))
