"""Minimal descriptions with which the fuzzer (tests/fuzz, `make fuzz`) found generator defects.

Each ends either in generated code that passes pyright strict (the accepted examples are
type-checked together, in one pyright run) or in a located error. Defects of the load stage
(bytes, JSON) are in tests/test_bad_input.py.
"""

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from generator.errors import DescriptionError, DescriptionErrors
from generator.pipeline import generate_files
from tests.fuzz.typecheck import TypeChecker, TypeError_, Variant

ROOT = Path(__file__).resolve().parent.parent
Edit = Callable[[str], str]  # the text of a description -> its edited text


def _rename(old: str, new: str) -> Edit:
    """Renames a name everywhere in a description (not inside dotted import paths)."""
    return lambda text: re.sub(rf"(?<![\w.]){re.escape(old)}(?!\w)", new, text)


def _generate(folder: Path, edits: dict[str, Edit]) -> dict[str, str]:
    """Generated files (path -> text) of a project copy with the edits; raises DescriptionErrors."""
    shutil.copytree(ROOT / "schemas", folder / "schemas")
    for name, edit in edits.items():
        path = folder / "schemas" / "megatron_core" / name
        path.write_text(edit(path.read_text()))
    return {p.as_posix(): t for p, t in generate_files(folder / "schemas", folder).items()}


def _rejected(folder: Path, edits: dict[str, Edit]) -> list[DescriptionError]:
    with pytest.raises(DescriptionErrors) as raised:
        _generate(folder, edits)
    return raised.value.errors


# Accepted examples: name -> edits. Each must generate code that passes pyright strict.
ACCEPTED: dict[str, dict[str, Edit]] = {
    # An imports key other than the object's own name, used in a type expression: the code
    # imported the object under its own name and printed the alias (undefined).
    "import-alias-in-a-type-expression": {"cross_attention.json": _rename("Tensor", "TorchTensor")},
}


@pytest.fixture(scope="module")
def typechecked(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, tuple[dict[str, str], list[TypeError_]]]:
    """Each accepted example's generated files and its pyright errors (one run for all)."""
    baseline = {
        p.relative_to(ROOT).as_posix(): p.read_text()
        for p in (ROOT / "generated").rglob("*.py")
        if "__pycache__" not in p.parts
    }
    generated: dict[str, dict[str, str]] = {}
    variants: list[Variant] = []
    for name, edits in ACCEPTED.items():
        files = _generate(tmp_path_factory.mktemp(name), edits)
        generated[name] = files
        changed = {p: t for p, t in files.items() if p.endswith(".py") and baseline.get(p) != t}
        variants.append(Variant(name, changed))
    errors = TypeChecker(baseline).check(variants)
    return {name: (generated[name], [e for e in errors if e.variant == name]) for name in ACCEPTED}


def test_an_import_alias_is_imported_under_that_alias(
    typechecked: dict[str, tuple[dict[str, str], list[TypeError_]]],
) -> None:
    files, errors = typechecked["import-alias-in-a-type-expression"]
    module = files["generated/megatron_core/cross_attention.py"]
    assert "from torch import Tensor as TorchTensor\n" in module
    assert "input: TorchTensor" in module
    assert errors == []


def test_an_import_alias_the_generated_code_needs_for_itself_is_a_located_error(
    tmp_path: Path,
) -> None:
    # typing.Protocol and the alias would share one name: an ImportClash traceback before.
    errors = _rejected(tmp_path, {"cross_attention.json": _rename("Tensor", "Protocol")})
    assert [(e.file, e.pointer) for e in errors] == [
        ("schemas/megatron_core/cross_attention.json", "/imports/Protocol")
    ]
    assert "takes the name of typing.Protocol" in errors[0].message
    assert "another local name" in errors[0].fix


def test_a_lone_surrogate_in_a_name_is_a_located_error(tmp_path: Path) -> None:
    # JSON's "\ud800" escape decodes to a lone surrogate, which jsonschema-rs cannot take
    # (a UnicodeEncodeError traceback before).
    edit: Edit = lambda text: text.replace(
        '"configure_fused_tp_inference"', '"configure_fused_tp_inference\\ud800"', 1
    )
    errors = _rejected(tmp_path, {"transformer_block.json": edit})
    assert [(e.file, e.pointer) for e in errors] == [
        ("schemas/megatron_core/transformer_block.json", "/interfaces/0/methods/3/name")
    ]


def test_an_import_path_too_long_for_a_file_name_is_a_located_error(tmp_path: Path) -> None:
    # Looking for `transforme<300 x>r/identity_op.py` raised OSError (name too long) before.
    long_module = "transforme" + "x" * 300 + "r"
    edit: Edit = lambda text: text.replace(
        "megatron.core.transformer.identity_op.IdentityOp",
        f"megatron.core.{long_module}.identity_op.IdentityOp",
    )
    errors = _rejected(tmp_path, {"layer_norm.json": edit})
    assert [(e.file, e.pointer) for e in errors] == [
        ("schemas/megatron_core/layer_norm.json", "/imports/IdentityOp")
    ]
    assert "does not resolve in the installed packages" in errors[0].message


def test_a_lone_surrogate_in_a_condition_is_a_located_error(tmp_path: Path) -> None:
    # ast.parse raised UnicodeEncodeError on the condition (a traceback before).
    edit: Edit = lambda text: text.replace('"if": "use_te"', '"if": "use_te\\ud800"', 1)
    errors = _rejected(tmp_path, {"gpt_specs.json": edit})
    assert len(errors) == 1 and errors[0].file == "schemas/megatron_core/gpt_specs.json"
    assert errors[0].pointer.startswith("/specs/0/body")  # the choice that holds it
    assert "holds a character Python source cannot" in errors[0].message
