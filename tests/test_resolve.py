"""resolve: finding a class statement in source without importing it."""

import ast
from pathlib import Path

import pytest

from generator import resolve
from generator.resolve import class_definition

MODULE = '''\
"""A module with the shapes class statements take."""
import dataclasses


def helper():
    return 1
@dataclasses.dataclass(
    frozen=True,
)
# a comment between decorator and class

class Decorated:
    x: int = 0


class Plain(
    object,
):
    """Docstring.
Text at column 0 inside the docstring.
    """

    def __init__(self, a: int) -> None:
        self.a = a


if True:
    class Conditional:
        pass


class Twice:
    first = True


class Twice:
    first = False
'''


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "resolve_probe"
    folder.mkdir()
    (folder / "__init__.py").write_text("")
    (folder / "shapes.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    for function in (resolve._module_file, resolve._source_text, resolve.parsed_source):
        function.cache_clear()
    resolve._class_statement.cache_clear()
    return folder / "shapes.py"


def _whole_tree_class(path: Path, name: str) -> ast.ClassDef:
    for node in resolve._module_level(ast.parse(path.read_text()).body):
        if isinstance(node, ast.ClassDef) and node.name == name:
            return node
    raise AssertionError(name)


def _constructor_facts(node: ast.ClassDef) -> list[str]:
    """What a constructor check reads: the header and the first __new__ and __init__."""
    facts = [ast.dump(part) for part in (*node.decorator_list, *node.bases, *node.keywords)]
    for name in resolve.CONSTRUCTORS:
        first = next(
            (s for s in node.body if isinstance(s, ast.FunctionDef) and s.name == name), None
        )
        if first is not None:
            facts += [name, ast.dump(first.args), *map(ast.dump, first.decorator_list)]
    return facts


@pytest.mark.parametrize("name", ["Decorated", "Plain", "Conditional", "Twice"])
def test_class_definition_reads_what_the_whole_tree_says_of_its_constructor(
    package: Path, name: str
) -> None:
    found = class_definition(f"resolve_probe.shapes.{name}")
    assert found is not None
    assert _constructor_facts(found[1]) == _constructor_facts(_whole_tree_class(package, name))


def test_decorators_above_a_class_are_kept_across_comments_and_blank_lines(package: Path) -> None:
    found = class_definition("resolve_probe.shapes.Decorated")
    assert found is not None
    assert [ast.unparse(d) for d in found[1].decorator_list] == [
        "dataclasses.dataclass(frozen=True)"
    ]


def test_a_common_class_is_read_without_parsing_its_whole_module(
    package: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def whole_tree(path: Path) -> ast.Module:
        raise AssertionError(f"parsed {path} whole")

    monkeypatch.setattr(resolve, "parsed_source", whole_tree)
    found = class_definition("resolve_probe.shapes.Decorated")
    assert found is not None and found[0] == "resolve_probe.shapes"


def test_a_missing_class_is_none(package: Path) -> None:
    assert class_definition("resolve_probe.shapes.Absent") is None
