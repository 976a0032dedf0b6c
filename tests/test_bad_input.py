"""Bad descriptions are rejected with a located, fixable message, and generated/ is left untouched."""

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.generator_runs import copy_project, run_generator, tree


@pytest.fixture
def workspace(tmp_path: Path) -> tuple[Path, Path]:
    """(schemas, root) of a project copy; schemas sit inside the root, as in the project."""
    root = copy_project(tmp_path)
    return root / "schemas", root


def _edit_json(file: str, change: Callable[[dict], None]) -> Callable[[Path], None]:
    def apply(schemas: Path) -> None:
        path = schemas / "megatron_core" / file
        data = json.loads(path.read_text())
        change(data)
        path.write_text(json.dumps(data, indent=2))

    return apply


def _edit_text(file: str, change: Callable[[str], str]) -> Callable[[Path], None]:
    def apply(schemas: Path) -> None:
        path = schemas / "megatron_core" / file
        path.write_text(change(path.read_text()))

    return apply


def _edit_bytes(file: str, change: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    def apply(schemas: Path) -> None:
        path = schemas / "megatron_core" / file
        path.write_bytes(change(path.read_bytes()))

    return apply


def _set(keys: list, value: object) -> Callable[[dict], None]:
    def change(data: dict) -> None:
        for key in keys[:-1]:
            data = data[key]
        data[keys[-1]] = value

    return change


def _delete(keys: list) -> Callable[[dict], None]:
    def change(data: dict) -> None:
        for key in keys[:-1]:
            data = data[key]
        del data[keys[-1]]

    return change


def _append_copy(keys: list) -> Callable[[dict], None]:
    def change(data: dict) -> None:
        for key in keys:
            data = data[key]
        data.append(json.loads(json.dumps(data[0])))

    return change


FC1 = ["builders", 0]  # LinearFc1Builder in mlp.json
MISTYPED = "ProcessGroupCollection"  # for MambaMixerBuilder's config (a TransformerConfig)
# get_mlp_module_spec's local dense MLP: its linear_fc1 adapter.
SPEC_FC1 = ["specs", 0, "body", "else", "else", "submodules", "slots", "linear_fc1", "adapter"]

# (id, mutation, file named in the error, JSON pointer, key phrase of the message)
CASES = [
    (
        "invalid-json",
        _edit_text("mlp.json", lambda text: text[: len(text) // 2]),
        "mlp.json",
        ": /: ",
        "invalid JSON",
    ),
    (
        "not-utf8",  # found by fuzzing: UnicodeDecodeError traceback
        _edit_bytes("mlp.json", lambda data: data.replace(b"Slots of", b"Slots\xe9 of", 1)),
        "mlp.json",
        ": /: ",
        "not UTF-8: byte 0xe9",
    ),
    (
        "key-written-twice",  # found by fuzzing: json.loads kept the last value silently
        _edit_text(
            "mlp.json",
            lambda text: text.replace('"module": "mlp",', '"module": "mlp", "module": "x",', 1),
        ),
        "mlp.json",
        "/module:",
        "key 'module' appears more than once",
    ),
    # A NUL or an unpaired surrogate in a doc (found by fuzzing: a module that did not compile,
    # a UnicodeEncodeError traceback) is not bad input: docstrings escape every unprintable
    # character (tests/test_injection.py, test_hostile_free_text_changes_only_string_constants).
    (
        # Python's `$` matches before a trailing newline, so jsonschema alone would accept it.
        "identifier-with-trailing-newline",
        _edit_json("mlp.json", _set([*FC1, "name"], "LinearFc1Builder\n")),
        "mlp.json",
        "/builders/0/name: ",
        "is not an ASCII Python identifier",
    ),
    (
        "unknown-property-on-builder",
        _edit_json("mlp.json", _set([*FC1, "bogus"], 1)),
        "mlp.json",
        "/builders/0:",
        "schema violation",
    ),
    (
        "construction-not-in-enum",
        _edit_json("mlp.json", _set([*FC1, "construction"], "factory")),
        "mlp.json",
        "/builders/0/construction:",
        "is not one of",
    ),
    (
        "unknown-type-name",
        _edit_json("mlp.json", _set([*FC1, "parameters", 0, "type"], "Tensr")),
        "mlp.json",
        "/builders/0/parameters/0:",
        "unknown type name 'Tensr'",
    ),
    (
        "call-in-type-expression",
        _edit_json("mlp.json", _set([*FC1, "parameters", 0, "type"], "os.system('x')")),
        "mlp.json",
        "/builders/0/parameters/0:",
        "Call is not allowed",
    ),
    (
        "call-in-default-expression",
        _edit_json("mlp.json", _set([*FC1, "parameters", 10, "default"], "__import__('os')")),
        "mlp.json",
        "/builders/0/parameters/10:",
        "not allowed",
    ),
    (
        "duplicate-slot",
        _edit_json("mlp.json", _append_copy(["parent", "slots"])),
        "mlp.json",
        "/parent/slots/3:",
        "duplicate slot 'linear_fc1'",
    ),
    (
        "import-does-not-resolve",
        _edit_json(
            "mlp.json", _set(["imports", "MLP"], "megatron.core.transformer.mlp.NoSuchThing")
        ),
        "mlp.json",
        "/imports/MLP:",
        "does not resolve",
    ),
    (
        # Found by fuzzing: torch star-imports, so any name "resolved" and pyright then
        # reported an unknown import symbol; star imports are now followed (stubs included).
        "import-missing-from-a-module-with-star-imports",
        _edit_json("mlp.json", _set(["imports", "Tensor"], "torch.NoSuchTensor")),
        "mlp.json",
        "/imports/Tensor:",
        "does not resolve",
    ),
    (
        "builder-parameter-not-mapped",
        _edit_json("mlp.json", _delete([*FC1, "implementations", 0, "arguments", "bias"])),
        "mlp.json",
        "/builders/0/implementations/0/arguments:",
        "is not mapped",
    ),
    (
        "mapping-names-unknown-parameter",
        _edit_json(
            "mlp.json", _set([*FC1, "implementations", 0, "arguments", "nonexistent"], "pass")
        ),
        "mlp.json",
        "/builders/0/implementations/0/arguments/nonexistent:",
        "is not a parameter of LinearFc1Builder",
    ),
    (
        "duplicate-generated-name",
        _edit_json("mlp.json", _append_copy(["interfaces"])),
        "mlp.json",
        "/interfaces/3:",
        "duplicate generated name 'LinearFc1Interface'",
    ),
    (
        "builder-returns-unknown-interface",
        _edit_json("mlp.json", _set([*FC1, "returns"], "NoSuchInterface")),
        "mlp.json",
        "/builders/0:",
        "unknown interface 'NoSuchInterface'",
    ),
    (
        "spec-uses-adapter-of-other-builder",
        _edit_json("gpt_specs.json", _set(SPEC_FC1, "LinearFc2FromRowParallelLinear")),
        "gpt_specs.json",
        "/specs/0/body/else/else/submodules/slots/linear_fc1:",
        "is not an adapter of LinearFc1Builder",
    ),
    (
        "build-module-class-cannot-rename",
        _edit_json(
            "transformer_layer.json",
            _set(["builders", 0, "implementations", 0, "arguments", "name"], {"rename": "x"}),
        ),
        "transformer_layer.json",
        "/builders/0/implementations/0/arguments/name:",
        "cannot rename",
    ),
    (
        # found by fuzzing: the adapter called ColumnParallelLinear without a required argument
        "mapping-drops-a-required-argument",
        _edit_json(
            "mlp.json", _set([*FC1, "implementations", 0, "arguments", "init_method"], "drop")
        ),
        "mlp.json",
        "/builders/0/implementations/0/arguments:",
        "the call of ColumnParallelLinear requires 'init_method', which it is not given",
    ),
    (
        "mapping-renames-to-an-argument-the-constructor-lacks",
        _edit_json(
            "mlp.json",
            _set([*FC1, "implementations", 0, "arguments", "gather_output"], {"rename": "gather"}),
        ),
        "mlp.json",
        "/builders/0/implementations/0/arguments:",
        "the call of ColumnParallelLinear has no parameter 'gather'",
    ),
    (
        # found by fuzzing: config typed as a ProcessGroupCollection; only pyright knows that
        # MambaMixer's config is a TransformerConfig (generator/typecheck.py)
        "builder-parameter-type-disagrees-with-upstream",
        _edit_json("mamba_layer.json", _set(["builders", 0, "parameters", 0, "type"], MISTYPED)),
        "mamba_layer.json",
        "/builders/0/implementations/0:",
        'fails pyright strict (reportArgumentType): Argument of type "ProcessGroupCollection" '
        'cannot be assigned to parameter "config" of type "TransformerConfig"',
    ),
]


@pytest.mark.parametrize(
    ("mutate", "file", "pointer", "phrase"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_broken_description_is_rejected_without_touching_output(
    workspace, mutate, file, pointer, phrase
):
    schemas, root = workspace
    before = tree(root / "generated")
    mutate(schemas)

    result = run_generator(root)

    assert result.returncode != 0, result.stdout
    stderr = result.stderr
    assert "Traceback" not in stderr, stderr
    error_lines = [
        line for line in stderr.splitlines() if line.startswith("error: ") and file in line
    ]
    assert error_lines, stderr
    assert any(pointer in line and phrase in line for line in error_lines), stderr
    assert "\n  fix: " in stderr, stderr
    assert tree(root / "generated") == before


def test_unmodified_copy_is_accepted_and_matches_generated_output(workspace):
    schemas, root = workspace
    before = tree(root / "generated")

    result = run_generator(root, "--check")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "up to date" in result.stdout
    assert tree(root / "generated") == before


def test_no_typecheck_writes_code_that_pyright_would_refuse(workspace):
    schemas, root = workspace
    mistype = _edit_json(
        "mamba_layer.json", _set(["builders", 0, "parameters", 0, "type"], MISTYPED)
    )
    mistype(schemas)

    result = run_generator(root, "--no-typecheck")

    assert result.returncode == 0, result.stderr
    written = (root / "generated" / "megatron_core" / "mamba_layer.py").read_text()
    assert "config: ProcessGroupCollection" in written
