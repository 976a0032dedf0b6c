"""The slot inventory: every upstream slot of megatron-core with what the descriptions say of it.

`python -m generator slots` prints it as a table; `python -m generator generate` keeps the same
table, as Markdown, in README.md between the `<!-- slots:begin -->` and `<!-- slots:end -->`
markers. The inventory of upstream slots is read from megatron-core's source with `ast` (the
package is located with `importlib.util.find_spec`, never imported): a slot is an annotated
field of a dataclass named `*Submodules` under megatron/core (`sharded_state_dict_keys_map` is
bookkeeping, not a slot). A slot is *typed* when a description gives it a Builder.
"""

import ast
import functools
import importlib.util
import re
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from generator import naming
from generator.errors import DescriptionError, DescriptionErrors
from generator.resolve import parsed_source
from generator.statements import statement_alone
from generator.validate import Catalog

README = Path("README.md")
BEGIN_MARKER = "<!-- slots:begin -->"
END_MARKER = "<!-- slots:end -->"

_BOOKKEEPING_FIELDS = frozenset({"sharded_state_dict_keys_map"})
_LIST_NAMES = frozenset({"List", "list", "Sequence"})


@dataclass(frozen=True)
class UpstreamSlot:
    """One annotated field of a `*Submodules` dataclass in megatron-core's source."""

    module: str  # dotted module that defines the dataclass
    dataclass: str
    name: str
    is_list: bool  # annotated as a list
    optional: bool  # annotated Optional or defaulting to None
    upstream_typed: bool  # the annotation names a Protocol class defined in megatron/core

    @property
    def qualname(self) -> str:
        return f"{self.module}.{self.dataclass}"


@dataclass(frozen=True)
class SlotRow:
    """One line of the inventory table."""

    parent: str  # the Submodules dataclass
    slot: str
    construction: str | None  # "call" or "build_module"; None when no description types it
    builder: str | None
    interface: str | None
    implementations: tuple[str, ...]  # implementation objects, "(TE)" when TE is required
    upstream_typed: bool
    is_list: bool
    optional: bool

    @property
    def typed(self) -> bool:
        return self.builder is not None

    @property
    def flags(self) -> str:
        return ", ".join(
            flag for flag, on in (("list", self.is_list), ("optional", self.optional)) if on
        )


@dataclass(frozen=True)
class Inventory:
    rows: tuple[SlotRow, ...]
    upstream_total: int  # slots in megatron-core's Submodules dataclasses
    lifted: tuple[str, ...] = ()  # one line per lifted slot (not among upstream's slots)

    @property
    def typed(self) -> int:
        return sum(row.typed for row in self.rows)

    @property
    def summary(self) -> str:
        return f"slots typed: {self.typed}/{self.upstream_total}"


# --- upstream source -------------------------------------------------------------------------


def core_dir() -> Path:
    """megatron/core's directory, found without importing megatron."""
    spec = importlib.util.find_spec("megatron")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        if (Path(location) / "core").is_dir():
            return Path(location) / "core"
    raise DescriptionErrors(
        [
            DescriptionError(
                "megatron/core",
                "",
                "megatron-core is not installed, so its slots cannot be listed",
                "run the generator with the project's .venv (`make generate`)",
            )
        ]
    )


_WANTED = r"class (\w*Submodules\b|\w+\([^)]*\bProtocol\b)"  # the classes the inventory reads
_WANTED_AT_COLUMN_0 = re.compile(rf"^{_WANTED}", re.MULTILINE)
_WANTED_INDENTED = re.compile(rf"^[ \t]+{_WANTED}", re.MULTILINE)


@functools.cache
def _sources(core: Path) -> tuple[tuple[str, tuple[ast.ClassDef, ...]], ...]:
    """(dotted module, its Submodules dataclasses and Protocols with the classes nested in
    them, as _classes visits them) of every file under megatron/core that defines one, sorted
    by path."""
    found: list[tuple[str, tuple[ast.ClassDef, ...]]] = []
    for path in sorted(core.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if not ("Submodules" in text or "Protocol" in text):
            continue
        classes = _wanted_classes(path, text)
        if not classes:
            continue
        parts = list(path.relative_to(core).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found.append((".".join(["megatron", "core", *parts]), classes))
    return tuple(found)


def _wanted_classes(path: Path, text: str) -> tuple[ast.ClassDef, ...]:
    """The classes _WANTED finds in a file with those nested in them, each parsed alone when all
    start at column 0 (the files are large), else every class of the whole tree."""
    if _WANTED_INDENTED.search(text) is None:
        alone = [statement_alone(text, m.start()) for m in _WANTED_AT_COLUMN_0.finditer(text)]
        classes = [node for node in alone if isinstance(node, ast.ClassDef)]
        if len(classes) == len(alone):
            return tuple(_classes(classes))  # () when the file has none
    return tuple(_classes(parsed_source(path).body))


def _classes(statements: Sequence[ast.stmt]) -> Iterator[ast.ClassDef]:
    """Class definitions, breadth first as `ast.walk` visits them, without descending into
    function bodies or expressions (a fraction of the nodes: the source files are large)."""
    pending: deque[ast.AST] = deque(statements)
    while pending:
        node = pending.popleft()
        if isinstance(node, ast.ClassDef):
            yield node
        for field in ("body", "orelse", "finalbody", "handlers"):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                pending.extend(getattr(node, field, ()))


def _last_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _names_in(annotation: ast.expr) -> Iterator[str]:
    """Every name an annotation mentions, string annotations included."""
    for node in ast.walk(annotation):
        name = _last_name(node)
        if name is not None:
            yield name
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            try:
                yield from _names_in(ast.parse(node.value, mode="eval").body)
            except SyntaxError:
                pass


def _is_list(annotation: ast.expr) -> bool:
    return any(
        isinstance(node, ast.Subscript) and _last_name(node.value) in _LIST_NAMES
        for node in ast.walk(annotation)
    )


def _is_optional(annotation: ast.expr, default: ast.expr | None) -> bool:
    if isinstance(default, ast.Constant) and default.value is None:
        return True
    return any(
        _last_name(node) == "Optional" or (isinstance(node, ast.Constant) and node.value is None)
        for node in ast.walk(annotation)
    )


@functools.cache
def upstream_slots(core: Path | None = None) -> tuple[UpstreamSlot, ...]:
    """Every slot of every `*Submodules` dataclass under megatron/core, in source order."""
    sources = _sources(core or core_dir())
    protocols = {
        cls.name
        for _, classes in sources
        for cls in classes
        if any(_last_name(base) == "Protocol" for base in cls.bases)
    }
    slots: list[UpstreamSlot] = []
    for module, classes in sources:
        for cls in classes:
            if not cls.name.endswith("Submodules"):
                continue
            for stmt in cls.body:
                if not (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)):
                    continue
                if stmt.target.id in _BOOKKEEPING_FIELDS:
                    continue
                slots.append(
                    UpstreamSlot(
                        module=module,
                        dataclass=cls.name,
                        name=stmt.target.id,
                        is_list=_is_list(stmt.annotation),
                        optional=_is_optional(stmt.annotation, stmt.value),
                        upstream_typed=any(n in protocols for n in _names_in(stmt.annotation)),
                    )
                )
    return tuple(slots)


# --- the table -------------------------------------------------------------------------------


def inventory(catalog: Catalog, upstream: tuple[UpstreamSlot, ...]) -> Inventory:
    """Described slots with their Builder, then upstream slots no description types, sorted."""
    implementations: dict[str, list[str]] = {}
    for adapter in catalog.adapters.values():
        implementation = adapter.implementation
        label = implementation.object
        if implementation.requires == "transformer_engine":
            label += " (TE)"
        elif implementation.requires is not None:
            label += f" ({implementation.requires})"
        implementations.setdefault(adapter.builder.name, []).append(label)
    rows: dict[tuple[str, str], SlotRow] = {}
    described: set[tuple[str, str]] = set()
    for description in catalog.descriptions:
        parent = description.parent
        if parent is None:
            continue
        qualname = description.import_map().get(parent.submodules, parent.submodules)
        for slot in parent.slots:
            described.add((qualname, slot.name))
            builder = catalog.builders[slot.builder][0]
            rows[(parent.submodules, slot.name)] = SlotRow(
                parent=parent.submodules,
                slot=slot.name,
                construction=builder.construction.value,
                builder=builder.name,
                interface=builder.returns,
                implementations=tuple(sorted(set(implementations.get(builder.name, [])))),
                upstream_typed=slot.upstream_typed,
                is_list=slot.is_list,
                optional=slot.optional,
            )
    for item in upstream:
        if (item.qualname, item.name) in described or (item.dataclass, item.name) in rows:
            continue
        rows[(item.dataclass, item.name)] = SlotRow(
            parent=item.dataclass,
            slot=item.name,
            construction=None,
            builder=None,
            interface=None,
            implementations=(),
            upstream_typed=item.upstream_typed,
            is_list=item.is_list,
            optional=item.optional,
        )
    return Inventory(tuple(rows[key] for key in sorted(rows)), len(upstream), _lifted(catalog))


def _lifted(catalog: Catalog) -> tuple[str, ...]:
    """Lifted slots: hard-coded upstream, typed in a generated subclass of the parent."""
    lines: list[str] = []
    for description in catalog.descriptions:
        parent = description.parent
        if parent is None or parent.lifted is None:
            continue
        for slot in parent.lifted.slots:
            lines.append(
                f"{parent.class_name}.{slot.name}: lifted ({slot.builder}, default "
                f"{slot.default}; upstream hard-codes it) -> "
                f"{naming.lifted_class_name(parent.class_name)}, "
                f"{naming.lifted_submodules_name(parent.class_name)}"
            )
    return tuple(sorted(lines))


_HEADINGS = (
    "Parent (Submodules)",
    "Slot",
    "Construction",
    "Builder",
    "Interface",
    "Upstream-typed",
    "Flags",
    "Implementations",  # last: the one long column
)


def _cells(row: SlotRow) -> tuple[str, ...]:
    return (
        row.parent,
        row.slot,
        row.construction or "-",
        row.builder or "(untyped)",
        row.interface or "-",
        "yes" if row.upstream_typed else "no",
        row.flags or "-",
        ", ".join(row.implementations) or "-",
    )


def render_text(table: Inventory) -> str:
    """Plain columns aligned with spaces, ending with `slots typed: N/M`."""
    lines = [_HEADINGS, *(_cells(row) for row in table.rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(_HEADINGS))]

    def join(cells: tuple[str, ...]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths)).rstrip()

    rule = "  ".join("-" * width for width in widths)
    body = [join(_HEADINGS), rule, *(join(_cells(row)) for row in table.rows)]
    lifted = ["", "lifted slots (not counted below):", *table.lifted] if table.lifted else []
    return "\n".join([*body, *lifted, "", table.summary]) + "\n"


def render_markdown(table: Inventory) -> str:
    """A Markdown table and the `slots typed: N/M` line (what README.md holds between markers)."""
    lines = [
        "| " + " | ".join(_HEADINGS) + " |",
        "|" + "|".join("---" for _ in _HEADINGS) + "|",
        *("| " + " | ".join(_cells(row)) + " |" for row in table.rows),
    ]
    lifted = ["", "Lifted slots (not counted below):", *(f"- {x}" for x in table.lifted)]
    return "\n".join([*lines, *(lifted if table.lifted else []), "", f"`{table.summary}`"]) + "\n"


def replace_section(text: str, section: str) -> str | None:
    """`text` with the part between the markers replaced by `section`; None without markers."""
    begin = text.find(BEGIN_MARKER)
    end = text.find(END_MARKER, begin + len(BEGIN_MARKER)) if begin >= 0 else -1
    if end < 0:
        return None
    return text[: begin + len(BEGIN_MARKER)] + "\n" + section + text[end:]


def readme_files(catalog: Catalog, root: Path) -> dict[Path, str]:
    """README.md with its slots table regenerated; nothing when the project has no README.md
    (a project copy without one)."""
    path = root / README
    if not path.is_file():
        return {}
    section = render_markdown(inventory(catalog, upstream_slots()))
    updated = replace_section(path.read_text(encoding="utf-8"), section)
    if updated is None:
        raise DescriptionErrors(
            [
                DescriptionError(
                    README.as_posix(),
                    "",
                    f"no slots table: the {BEGIN_MARKER} and {END_MARKER} markers are missing",
                    "put both markers, on lines of their own, in the README's Slots section",
                )
            ]
        )
    return {README: updated}
