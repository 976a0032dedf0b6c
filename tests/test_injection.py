"""Strings taken from descriptions cannot inject code into the generated modules.

Every kind of string a description puts into generated code gets hostile values, placed into a
copy of a bundled description. The outcome is one of two:

- names (modules, Protocols, parameters, slots, fields, imports, factories, values, roles, call
  targets, ...), dotted import paths and expressions (types, defaults, fixed values, conditions,
  derivations) are either rejected with a located error (the file, the JSON pointer of the
  offending value, what to do) and no output, or, where the hostile part is only layout (a
  comment, a line break inside an expression), generate exactly the baseline's code;
- free text (docstrings, reasons, check messages, comments) generates a module whose syntax tree
  is the baseline's with only string constants changed: no new name, call, statement or
  import, and it compiles.

The stages of generator.pipeline.generate_files run in-process on the bundled descriptions with
the changed ones loaded from a temporary copy; only the changed modules are rendered and
formatted (the others do not change), which keeps the file fast. Two tests run generate_files
itself on a copy of the project.
"""

import ast
import copy
import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from generator.errors import DescriptionError, DescriptionErrors
from generator.formatting import format_code
from generator.load import LoadedDescription, load_descriptions
from generator.model import build_model
from generator.naming import GENERATED_BUILTINS, GENERATOR_IMPORTS
from generator.pipeline import OUTPUT_PACKAGE, UserDescriptions, generate_files, validated_catalog
from generator.render import environment, render_module
from generator.validate import validate
from generator.view import build_views
from tests.generator_runs import ROOT, copy_project

Change = Callable[[dict[str, Any]], None]

# -- running the stages ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bundled() -> dict[str, LoadedDescription]:
    """The bundled descriptions, loaded once, by file name."""
    return {Path(d.file).name: d for d in load_descriptions(ROOT / "schemas", ROOT)}


def _generate(
    bundled: dict[str, LoadedDescription], folder: Path, changes: dict[str, Change]
) -> dict[str, str]:
    """The formatted modules of the changed descriptions, the others as bundled.

    Raises DescriptionErrors as generate_files does."""
    schemas = folder / "schemas"
    (schemas / "megatron_core").mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "schemas" / "slot.schema.json", schemas)
    modules = set()
    for file, change in changes.items():
        data = copy.deepcopy(bundled[file].data)
        change(data)
        modules.add(f"{data['module']}.py")
        # ensure_ascii: a lone surrogate is written as \udcff, as a JSON file may hold it
        (schemas / "megatron_core" / file).write_text(json.dumps(data, indent=2))
    for loaded in load_descriptions(schemas, folder):
        bundled = {**bundled, Path(loaded.file).name: loaded}
    catalog = validate([build_model(d) for d in bundled.values()])
    views, _ = build_views(catalog, "fingerprint")
    return {
        view.path: format_code(render_module(ENVIRONMENT, view), "module.py.j2")
        for view in views
        if view.path in modules
    }


ENVIRONMENT = environment()  # compiles the templates once
_BASELINES: dict[str, dict[str, str]] = {}


def _baseline(bundled: dict[str, LoadedDescription], folder: Path, files: tuple[str, ...]):
    key = ",".join(files)
    if key not in _BASELINES:
        _BASELINES[key] = _generate(bundled, folder / "baseline", {f: _unchanged for f in files})
    return _BASELINES[key]


def _unchanged(data: dict[str, Any]) -> None:
    del data


def _rejected(
    bundled: dict[str, LoadedDescription],
    folder: Path,
    changes: dict[str, Change],
    file: str,
    pointer: str,
    phrase: str,
) -> DescriptionError:
    """Asserts the change is rejected at `file` and `pointer` with `phrase` and a fix."""
    with pytest.raises(DescriptionErrors) as raised:
        _generate(bundled, folder, changes)
    errors = raised.value.errors
    located = [
        e for e in errors if e.file == f"schemas/megatron_core/{file}" and e.pointer == pointer
    ]
    assert located, "\n".join(e.render() for e in errors)
    matching = [e for e in located if phrase in e.message]
    assert matching, "\n".join(e.render() for e in located)
    assert matching[0].fix.strip(), matching[0].render()
    return matching[0]


def _shape(source: str) -> str:
    """The syntax tree with every string constant blanked: what code the module holds."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            node.value = ""
    return ast.dump(tree)


def _strings(source: str) -> list[str]:
    return [
        node.value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]


def _words(text: str) -> str:
    return " ".join(text.split())


def _code(source: str) -> list[str]:
    """The lines of a module, comments aside (the header names the changed file's hash)."""
    return [line for line in source.splitlines() if not line.startswith("#")]


# -- editing descriptions ----------------------------------------------------------------------


def _put(path: tuple[str | int, ...], value: object) -> Change:
    def change(data: dict[str, Any]) -> None:
        target: Any = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


def _append(path: tuple[str | int, ...], value: object) -> Change:
    def change(data: dict[str, Any]) -> None:
        target: Any = data
        for key in path:
            target = target.setdefault(key, []) if isinstance(target, dict) else target[key]
        target.append(copy.deepcopy(value))

    return change


def _rename_key(path: tuple[str | int, ...], old: str, new: str) -> Change:
    """Renames a key, keeping its place (mappings are ordered)."""

    def change(data: dict[str, Any]) -> None:
        target: Any = data
        for key in path:
            target = target[key]
        items = list(target.items())
        target.clear()
        target.update((new if key == old else key, value) for key, value in items)

    return change


def _both(*changes: Change) -> Change:
    def change(data: dict[str, Any]) -> None:
        for each in changes:
            each(data)

    return change


def _rename_keys_everywhere(old: str, new: str) -> Change:
    """Renames the key `old` in every mapping of the description."""

    def change(data: dict[str, Any]) -> None:
        pending: list[Any] = [data]
        while pending:
            item = pending.pop()
            if isinstance(item, dict):
                if old in item:
                    _rename_key((), old, new)(item)
                pending.extend(item.values())
            elif isinstance(item, list):
                pending.extend(item)

    return change


def _every_string(keys: frozenset[str], value: str) -> Change:
    """Sets every string under one of `keys`, anywhere in the description, to `value`."""

    def change(data: dict[str, Any]) -> None:
        pending: list[Any] = [data]
        while pending:
            item = pending.pop()
            if isinstance(item, dict):
                for key, inner in item.items():
                    if key in keys and isinstance(inner, str):
                        item[key] = value
                    else:
                        pending.append(inner)
            elif isinstance(item, list):
                pending.extend(item)

    return change


# -- names -------------------------------------------------------------------------------------

# Names no schema-valid description may use anywhere, with the phrase of the error.
HOSTILE_NAMES = [
    ("__import__('os').system('x')", "not an ASCII Python identifier"),
    ("os.system", "not an ASCII Python identifier"),
    ("Tensor.__class__.__base__.__subclasses__", "not an ASCII Python identifier"),
    ('"', "not an ASCII Python identifier"),
    ("'", "not an ASCII Python identifier"),
    ('"""', "not an ASCII Python identifier"),
    ("'''", "not an ASCII Python identifier"),
    ("name\n", "not an ASCII Python identifier"),
    ("na\nme", "not an ASCII Python identifier"),
    ("name\r", "not an ASCII Python identifier"),
    ("name\\", "not an ASCII Python identifier"),
    ("name\x00", "not an ASCII Python identifier"),
    ("name ", "not an ASCII Python identifier"),
    ("1name", "not an ASCII Python identifier"),
    ("", "not an ASCII Python identifier"),
    ("Ｍlp", "not an ASCII Python identifier"),  # fullwidth: NFKC makes it Mlp
    ("Мlp", "not an ASCII Python identifier"),  # Cyrillic М
    ("mlpé", "not an ASCII Python identifier"),
    ("class", "is a Python keyword"),
    ("None", "is a Python keyword"),
    ("lambda", "is a Python keyword"),
    ("match", "is a Python soft keyword"),
    ("case", "is a Python soft keyword"),
    ("type", "is a Python soft keyword"),
    ("_", "is a Python soft keyword"),
    ("__x", "starts with two underscores"),
    ("__import__", "starts with two underscores"),
    ("__init__", "starts with two underscores"),
]

MLP_PARAMETER = ("interfaces", 0, "methods", 0, "parameters", 0, "name")


@pytest.mark.parametrize(("name", "phrase"), HOSTILE_NAMES, ids=[repr(n) for n, _ in HOSTILE_NAMES])
def test_a_hostile_name_is_rejected_where_it_is_written(bundled, tmp_path, name, phrase):
    """At an interface method's parameter; the next test shows every kind of name is checked
    alike."""
    change, pointer = _put(MLP_PARAMETER, name), "/" + "/".join(map(str, MLP_PARAMETER))
    error = _rejected(bundled, tmp_path, {"mlp.json": change}, "mlp.json", pointer, phrase)
    if phrase == "not an ASCII Python identifier":
        assert "NFKC" in error.fix


# Where each kind of name is written: (file, change given the name, JSON pointer).
def _name_sites() -> Iterator[tuple[str, str, Callable[[str], Change], str]]:
    def at(file: str, *path: str | int) -> tuple[str, Callable[[str], Change], str]:
        return file, lambda name: _put(path, name), "/" + "/".join(map(str, path))

    def key(file: str, path: tuple[str | int, ...], old: str):
        return (
            file,
            lambda name: _rename_key(path, old, name),
            "/" + "/".join(map(str, (*path, "{}"))),
        )

    fc1 = ("builders", 0)
    yield "module", *at("mlp.json", "module")
    yield "interface", *at("mlp.json", "interfaces", 0, "name")
    yield "method", *at("mlp.json", "interfaces", 0, "methods", 0, "name")
    yield "attribute", *at("hybrid_stack.json", "interfaces", 0, "attributes", 0, "name")
    yield "builder", *at("mlp.json", *fc1, "name")
    yield "builder-parameter", *at("mlp.json", *fc1, "parameters", 0, "name")
    yield "builder-returns", *at("mlp.json", *fc1, "returns")
    yield "implementation", *at("mlp.json", *fc1, "implementations", 0, "object")
    yield "argument", *key("mlp.json", (*fc1, "implementations", 0, "arguments"), "bias")
    yield "rename", *at(
        "attention.json", "builders", 2, "implementations", 0, "arguments", "hidden_size", "rename"
    )
    yield "derive-target", *key(
        "mlp.json", ("implementations", 0, "arguments", "pg_collection", "derive"), "tp_group"
    )
    yield "fixed", *at("layer_norm.json", "builders", 0, "implementations", 3, "fixed", 0, "name")
    yield "submodules-argument", *at(
        "transformer_layer.json", "builders", 0, "implementations", 0, "submodules", "argument"
    )
    yield "import", *key("mlp.json", ("imports",), "Tensor")
    yield "parent-class", *at("mlp.json", "parent", "class")
    yield "slot", *at("mlp.json", "parent", "slots", 0, "name")
    yield "field", *at("transformer_layer.json", "parent", "fields", 0, "name")
    yield "lifted-slot", *at("hybrid_stack.json", "parent", "lifted", "slots", 0, "name")
    yield "factory", *at("moe_module_specs.json", "specs", 0, "name")
    yield "factory-parameter", *at("moe_module_specs.json", "specs", 0, "parameters", 0, "name")
    yield "derived-value", *key("moe_module_specs.json", ("specs", 5, "let"), "provider")
    yield "call", *at("moe_module_specs.json", "specs", 3, "body", "then", "call")
    yield "value", *at("hybrid_layer_specs.json", "values", 0, "name")
    yield "value-factory", *at("hybrid_layer_specs.json", "values", 0, "factory")
    yield "role", *at("backends.json", "roles", 0, "name")
    yield "role-field", *at("backends.json", "roles", 0, "fields", 0, "name")
    yield "provider-function", *at("backends.json", "provider", "protocol", "function")


NAME_SITES = list(_name_sites())
# A line break at the end passes a pattern ending in a bare `$`; a soft keyword passes a
# keyword list (the two rules each kind of name must hold).
SCHEMA_NAMES = [("name\n", "not an ASCII Python identifier"), ("match", "is a Python soft keyword")]


@pytest.mark.parametrize(("name", "phrase"), SCHEMA_NAMES, ids=[repr(n) for n, _ in SCHEMA_NAMES])
@pytest.mark.parametrize(
    ("file", "place", "pointer"), [s[1:] for s in NAME_SITES], ids=[s[0] for s in NAME_SITES]
)
def test_every_kind_of_name_refuses_line_breaks_look_alikes_soft_keywords_and_dunders(
    bundled, tmp_path, file, place, pointer, name, phrase
):
    escaped = name.replace("~", "~0").replace("/", "~1")
    _rejected(bundled, tmp_path, {file: place(name)}, file, pointer.format(escaped), phrase)


def test_an_interface_method_may_be_a_dunder_but_not_a_mangled_name(bundled, tmp_path):
    method = ("interfaces", 0, "methods", 0, "name")
    modules = _generate(bundled, tmp_path / "call", {"mlp.json": _put(method, "__call__")})
    assert "def __call__(self, hidden_states: Tensor, /)" in modules["mlp.py"]
    _rejected(
        bundled,
        tmp_path / "mangled",
        {"mlp.json": _put(method, "__forward")},
        "mlp.json",
        "/interfaces/0/methods/0/name",
        "starts with two underscores",
    )


def test_module_names_are_lowercase(bundled, tmp_path):
    _rejected(
        bundled,
        tmp_path,
        {"mlp.json": _put(("module",), "Mlp")},
        "mlp.json",
        "/module",
        "lowercase",
    )


# -- names that would shadow what the generated code uses --------------------------------------


def _implementations_of(builder: str) -> Iterator[tuple[str, tuple[str | int, ...]]]:
    """(file, path of the arguments mapping) of every implementation of a bundled Builder."""
    for path in sorted((ROOT / "schemas" / "megatron_core").glob("*.json")):
        data = json.loads(path.read_text())
        for b, described in enumerate(data.get("builders", [])):
            if described["name"] == builder:
                for i in range(len(described["implementations"])):
                    yield path.name, ("builders", b, "implementations", i, "arguments")
        for i, contributed in enumerate(data.get("implementations", [])):
            if contributed["builder"] == builder:
                yield path.name, ("implementations", i, "arguments")


def _new_builder_parameter(name: str) -> dict[str, Change]:
    """LinearFc2Builder gains a keyword parameter `name`, passed to every implementation."""
    parameter = {
        "name": name,
        "kind": "keyword",
        "type": "int",
        "default": "0",
        "passed": "conditionally",
    }
    changes: dict[str, list[Change]] = {
        "mlp.json": [_append(("builders", 2, "parameters"), parameter)]
    }
    for file, path in _implementations_of("LinearFc2Builder"):
        changes.setdefault(file, []).append(_put((*path, name), "pass"))
    return {file: _both(*each) for file, each in changes.items()}


def _factory(name: str) -> dict[str, Any]:
    return {"name": name, "doc": "A factory.", "parameters": [], "returns": "None", "body": None}


def _optional_slot(name: str, builder: str) -> dict[str, Any]:
    return {"name": name, "builder": builder, "doc": "A slot.", "optional": True, "default": "None"}


def _role(name: str) -> dict[str, Any]:
    backends = json.loads((ROOT / "schemas/megatron_core/backends.json").read_text())
    return {**backends["roles"][0], "name": name}


ROLES = len(json.loads((ROOT / "schemas/megatron_core/backends.json").read_text())["roles"])
MLP_SPECS = len(json.loads((ROOT / "schemas/megatron_core/mlp.json").read_text()).get("specs", []))
DECODER_LAYERS = 9  # gpt_specs' get_gpt_decoder_layer_specs, which calls mla_down_proj_fusion

# (id, changes, file, pointer, phrase)
SHADOWING = [
    (
        "method-parameter-self",
        {"mlp.json": _put(MLP_PARAMETER, "self")},
        "mlp.json",
        "/interfaces/0/methods/0/parameters/0/name",
        "would hide the generated method's own instance",
    ),
    (
        "builder-parameter-self",
        _new_builder_parameter("self"),
        "mlp.json",
        "/builders/2/parameters/11/name",
        "would hide the generated method's own instance",
    ),
    (
        "builder-parameter-named-like-its-implementation",
        _new_builder_parameter("RowParallelLinear"),
        "mlp.json",
        "/builders/2/parameters/11/name",
        "would hide the implementation RowParallelLinear",
    ),
    (
        "builder-parameter-named-like-a-te-flag",
        _new_builder_parameter("HAVE_TE"),
        "mlp.json",
        "/builders/2/parameters/11/name",
        "would hide megatron.core.extensions.transformer_engine.HAVE_TE",
    ),
    (
        "fixed-parameter-super-of-a-module-spec-adapter",
        {
            "transformer_layer.json": _append(
                ("builders", 0, "implementations", 0, "fixed"),
                {"name": "super", "kind": "keyword", "type": "int", "default": "0"},
            )
        },
        "transformer_layer.json",
        "/builders/0/implementations/0/fixed/1/name",
        "would hide Python's builtin super",
    ),
    (
        "slot-named-like-the-constructors-helper",
        {
            "mlp.json": _append(
                ("parent", "slots"), _optional_slot("module_spec_or_type", "LinearFc1Builder")
            )
        },
        "mlp.json",
        "/parent/slots/3/name",
        "would hide generated.megatron_core.spec_values.module_spec_or_type",
    ),
    (
        "slot-dict",
        {"mlp.json": _append(("parent", "slots"), _optional_slot("dict", "LinearFc1Builder"))},
        "mlp.json",
        "/parent/slots/3/name",
        "would hide Python's builtin dict",
    ),
    (
        "slot-named-like-the-submodules-class",
        {
            "mlp.json": _append(
                ("parent", "slots"), _optional_slot("MLPSubmodules", "LinearFc1Builder")
            )
        },
        "mlp.json",
        "/parent/slots/3/name",
        "would hide the import MLPSubmodules",
    ),
    (
        "factory-cast",
        {"mlp.json": _append(("specs",), _factory("cast"))},
        "mlp.json",
        f"/specs/{MLP_SPECS}/name",
        "takes the name of typing.cast",
    ),
    (
        "factory-Protocol",
        {"mlp.json": _append(("specs",), _factory("Protocol"))},
        "mlp.json",
        f"/specs/{MLP_SPECS}/name",
        "takes the name of typing.Protocol",
    ),
    (
        "factory-dataclass",
        {"mlp.json": _append(("specs",), _factory("dataclass"))},
        "mlp.json",
        f"/specs/{MLP_SPECS}/name",
        "takes the name of dataclasses.dataclass",
    ),
    (
        "factory-ModuleSpec",
        {"mlp.json": _append(("specs",), _factory("ModuleSpec"))},
        "mlp.json",
        f"/specs/{MLP_SPECS}/name",
        "takes the name of megatron.core.transformer.spec_utils.ModuleSpec",
    ),
    (
        "factory-named-like-an-import",
        {"mlp.json": _append(("specs",), _factory("Tensor"))},
        "mlp.json",
        f"/specs/{MLP_SPECS}/name",
        "is also the name of an import in",
    ),
    (
        "factory-print",
        {"mlp.json": _append(("specs",), _factory("print"))},
        "mlp.json",
        f"/specs/{MLP_SPECS}/name",
        "shadows Python's builtin print",
    ),
    (
        "role-ValueError",
        {"backends.json": _append(("roles",), _role("ValueError"))},
        "backends.json",
        f"/roles/{ROLES}/name",
        "shadows Python's builtin ValueError",
    ),
    (
        "value-cast",
        {"hybrid_layer_specs.json": _put(("values", 0, "name"), "cast")},
        "hybrid_layer_specs.json",
        "/values/0/name",
        "takes the name of typing.cast",
    ),
    (
        "lifted-slot-field",
        {
            "hybrid_stack.json": _put(("parent", "lifted", "slots", 0, "name"), "field"),
            "hybrid_layer_specs.json": _rename_keys_everywhere("final_norm", "field"),
        },
        "hybrid_stack.json",
        "/parent/lifted/slots/0/name",
        "would hide dataclasses.field",
    ),
    (
        "factory-parameter-named-like-the-helper-it-calls",
        {
            "gpt_specs.json": _append(
                ("specs", DECODER_LAYERS, "parameters"),
                {
                    "name": "mla_down_proj_fusion",
                    "kind": "keyword",
                    "type": "bool",
                    "default": "False",
                },
            )
        },
        "gpt_specs.json",
        f"/specs/{DECODER_LAYERS}/parameters/6/name",
        "would hide generated.megatron_core.spec_values.mla_down_proj_fusion",
    ),
    (
        "derived-value-self",
        {"moe_module_specs.json": _put(("specs", 5, "let", "self"), {"value": "None"})},
        "moe_module_specs.json",
        "/specs/5/let/self",
        "would hide the generated method's own instance",
    ),
    (
        "import-Protocol-of-another-object",
        {"mlp.json": _put(("imports", "Protocol"), "torch.Tensor")},
        "mlp.json",
        "/imports/Protocol",
        "takes the name of typing.Protocol",
    ),
    (
        "import-dict",
        {"mlp.json": _put(("imports", "dict"), "torch.Tensor")},
        "mlp.json",
        "/imports/dict",
        "shadows Python's builtin dict",
    ),
    (
        "module-named-like-its-constructor",
        {"mlp.json": _put(("module",), "mlp_submodules")},
        "mlp.json",
        "/module",
        "has the name of mlp_submodules",
    ),
]


@pytest.mark.parametrize(
    ("changes", "file", "pointer", "phrase"),
    [c[1:] for c in SHADOWING],
    ids=[c[0] for c in SHADOWING],
)
def test_a_name_that_would_hide_what_generated_code_uses_is_rejected(
    bundled, tmp_path, changes, file, pointer, phrase
):
    _rejected(bundled, tmp_path, changes, file, pointer, phrase)


def test_an_import_under_another_name_is_bound_under_that_name(bundled, tmp_path):
    """The description's local name is the name its expressions use, so it is the name the
    generated module binds (before, the module imported Tensor and annotated with T)."""
    returns = ("interfaces", 0, "methods", 0, "returns")
    change = _both(_put(("imports", "T"), "torch.Tensor"), _put(returns, "tuple[T, T | None]"))
    module = _generate(bundled, tmp_path, {"mlp.json": change})["mlp.py"]
    assert "from torch import Tensor, Tensor as T" in module
    assert "-> tuple[T, T | None]:" in module
    compile(module, "mlp.py", "exec")


def test_names_the_generated_code_does_not_use_are_free(bundled, tmp_path):
    """The rules hide nothing more than what generated code refers to: a factory named
    TYPE_CHECKING (generated modules do not import it) is generated as written."""
    module = _generate(
        bundled, tmp_path, {"mlp.json": _append(("specs",), _factory("TYPE_CHECKING"))}
    )
    assert "def TYPE_CHECKING() -> None:" in module["mlp.py"]


def test_a_factory_parameter_named_like_a_generated_name_is_that_parameter(bundled, tmp_path):
    """Conditions and values read a factory's parameter even when a generated name elsewhere is
    spelled the same (before, the module also imported moe's RouterBuilder, which the parameter
    hid: a pyright error on the import line, found by `make fuzz`)."""
    factory = {
        **_factory("probe"),
        "parameters": [
            {"name": "RouterBuilder", "kind": "keyword", "type": "bool", "default": "False"}
        ],
        "checks": [{"when": "RouterBuilder", "raise": "ValueError", "message": "no router"}],
    }
    module = _generate(bundled, tmp_path, {"mlp.json": _append(("specs",), factory)})["mlp.py"]
    assert "RouterBuilder: bool = False" in module
    assert "if RouterBuilder:" in module
    assert "import RouterBuilder" not in module and "RouterBuilder," not in module


# -- dotted import paths -----------------------------------------------------------------------

# (hostile path, phrase)
HOSTILE_IMPORTS = [
    ("os.system", "outside the packages"),
    ("subprocess.run", "outside the packages"),
    ("builtins.eval", "outside the packages"),
    ("importlib.import_module", "outside the packages"),
    ("torch.os", "names a module"),  # torch/__init__.py: import os
    ("torch.nn", "names a module"),
    ("megatron.core.transformer.mlp.F", "names a module"),  # import torch.nn.functional as F
    ("megatron.core.transformer.mlp.torch", "names a module"),
    ("megatron.core.class.MLP", "is a Python keyword"),
    ("megatron.core.transformer.mlp.__builtins__", "starts with two underscores"),
    ("megatron.core.transformer.mlp.MLP\n", "does not match"),
    ("megatron.core.transformer.mlp.ＭLP", "does not match"),
    ("megatron.core.transformer.mlp.MLP; import os", "does not match"),
]


@pytest.mark.parametrize(
    ("dotted", "phrase"), HOSTILE_IMPORTS, ids=[repr(d) for d, _ in HOSTILE_IMPORTS]
)
def test_imports_name_objects_of_the_allowed_packages_only(bundled, tmp_path, dotted, phrase):
    change = _put(("imports", "MLP"), dotted)
    _rejected(bundled, tmp_path, {"mlp.json": change}, "mlp.json", "/imports/MLP", phrase)


USER_IMPORTS = [
    ("examples.custom_mlp.layers.GatedMLP", None),  # the user's own class: accepted
    ("os.system", "is outside the packages"),
    ("builtins.eval", "is outside the packages"),
    ("torch.os", "names a module"),
]


@pytest.mark.parametrize(("dotted", "phrase"), USER_IMPORTS, ids=[d for d, _ in USER_IMPORTS])
def test_your_own_descriptions_import_your_classes_but_not_the_standard_library(
    tmp_path, dotted, phrase
):
    """A user's descriptions (`generate --schemas DIR --out PACKAGE_DIR`) exist to import the
    user's own modules (those of the top-level package theirs is in); os and builtins stay out."""
    folder = tmp_path / "schemas"
    shutil.copytree(ROOT / "examples/custom_mlp/schemas", folder)
    path = folder / "gated_mlp.json"
    data = json.loads(path.read_text())
    data["imports"]["GatedMLP"] = dotted
    path.write_text(json.dumps(data))
    user = UserDescriptions(tuple(sorted(folder.glob("*.json"))), "examples.custom_mlp.typed")
    if phrase is None:
        validated_catalog(ROOT / "schemas", tmp_path, user)
        return
    with pytest.raises(DescriptionErrors) as raised:
        validated_catalog(ROOT / "schemas", tmp_path, user)
    [error] = [e for e in raised.value.errors if e.pointer == "/imports/GatedMLP"]
    assert error.file.endswith("gated_mlp.json") and phrase in error.message and error.fix


# -- expressions -------------------------------------------------------------------------------

FC1_PARAMETER = ("builders", 0, "parameters", 10)  # LinearFc1Builder's stride: int = 1
SPEC_VALUE = ("specs", 1, "body", "else", "then", "submodules", "slots", "linear_fc1", "value")
DERIVE = ("implementations", 0, "arguments", "pg_collection", "derive", "tp_group")

# (id, file, change, pointer, phrase)
HOSTILE_EXPRESSIONS = [
    (
        "type-call",
        "mlp.json",
        _put((*FC1_PARAMETER, "type"), "__import__('os').system('x')"),
        "/builders/0/parameters/10",
        "Call is not allowed",
    ),
    (
        "type-dunder-chain",
        "mlp.json",
        _put((*FC1_PARAMETER, "type"), "Tensor.__class__.__base__.__subclasses__"),
        "/builders/0/parameters/10",
        "attribute '__subclasses__' is not allowed",
    ),
    (
        "type-string",
        "mlp.json",
        _put((*FC1_PARAMETER, "type"), "'os.system'"),
        "/builders/0/parameters/10",
        "Constant is not allowed",
    ),
    (
        "type-fullwidth",
        "mlp.json",
        _put((*FC1_PARAMETER, "type"), "Ｔensor"),
        "/builders/0/parameters/10",
        "is not an ASCII name (Python reads it as 'Tensor')",
    ),
    (
        "type-cyrillic",
        "mlp.json",
        _put((*FC1_PARAMETER, "type"), "Тensor"),
        "/builders/0/parameters/10",
        "is not an ASCII name",
    ),
    (
        "type-two-lines",
        "mlp.json",
        _put((*FC1_PARAMETER, "type"), "Tensor\nimport os"),
        "/builders/0/parameters/10",
        "is not a Python expression",
    ),
    (
        "type-nul",
        "mlp.json",
        _put((*FC1_PARAMETER, "type"), "Tensor\x00"),
        "/builders/0/parameters/10",
        "null bytes",
    ),
    (
        "return-lambda",
        "mlp.json",
        _put(("interfaces", 0, "methods", 0, "returns"), "lambda: os"),
        "/interfaces/0/methods/0",
        "Lambda is not allowed",
    ),
    (
        "attribute-type-call",
        "hybrid_stack.json",
        _put(("interfaces", 0, "attributes", 0, "type"), "exec('x')"),
        "/interfaces/0/attributes/0",
        "Call is not allowed",
    ),
    (
        "field-type-subclasses",
        "transformer_layer.json",
        _put(("parent", "fields", 0, "type"), "dict.__subclasses__"),
        "/parent/fields/0",
        "attribute '__subclasses__' is not allowed",
    ),
    (
        "default-import",
        "mlp.json",
        _put((*FC1_PARAMETER, "default"), "__import__"),
        "/builders/0/parameters/10",
        "'__import__' is not allowed",
    ),
    (
        "default-call",
        "mlp.json",
        _put((*FC1_PARAMETER, "default"), "__import__('os').system('x')"),
        "/builders/0/parameters/10",
        "Call is not allowed",
    ),
    (
        "default-os-system",
        "mlp.json",
        _put((*FC1_PARAMETER, "default"), "os.system"),
        "/builders/0/parameters/10",
        "unknown name 'os'",
    ),
    (
        "default-torch-os-system",
        "mlp.json",
        _put((*FC1_PARAMETER, "default"), "torch.os.system"),
        "/builders/0/parameters/10",
        "unknown name 'torch'",
    ),
    (
        "default-conditional",
        "mlp.json",
        _put((*FC1_PARAMETER, "default"), "'a' if Tensor else 'b'"),
        "/builders/0/parameters/10",
        "IfExp is not allowed",
    ),
    (
        "default-fstring",
        "mlp.json",
        _put((*FC1_PARAMETER, "default"), "f'{Tensor.__init__}'"),
        "/builders/0/parameters/10",
        "JoinedStr is not allowed",
    ),
    (
        "fixed-dunder",
        "layer_norm.json",
        _put(
            ("builders", 0, "implementations", 3, "fixed", 0, "default"),
            "False.__class__.__bases__",
        ),
        "/builders/0/implementations/3/fixed/0",
        "is not allowed",
    ),
    (
        "spec-value-chain",
        "gpt_specs.json",
        _put(SPEC_VALUE, "LinearFc1FromColumnParallelLinear.__init__.__globals__"),
        "/" + "/".join(map(str, SPEC_VALUE[:-1])),
        "is not allowed",
    ),
    (
        "spec-value-look-alike",
        "gpt_specs.json",
        _put(SPEC_VALUE, "AttnMaskType.саusal"),
        "/" + "/".join(map(str, SPEC_VALUE[:-1])),
        "is not an ASCII name",
    ),
    (
        "condition-import",
        "gpt_specs.json",
        _put(("specs", 0, "body", "if"), "__import__('os')"),
        "/specs/0/body",
        "is not allowed",
    ),
    (
        "condition-dunder-chain",
        "gpt_specs.json",
        _put(("specs", 0, "body", "if"), "num_experts.__class__.__base__ is None"),
        "/specs/0/body",
        "attribute '__base__' is not allowed",
    ),
    (
        "condition-predicate-argument",
        "gpt_specs.json",
        _put(("specs", 0, "body", "if"), "te_at_least(__import__('os'))"),
        "/specs/0/body",
        "not allowed in a predicate argument",
    ),
    (
        "condition-walrus",
        "gpt_specs.json",
        _put(("specs", 0, "checks", 0, "when"), "(x := 1)"),
        "/specs/0/checks/0",
        "NamedExpr is not allowed",
    ),
    (
        "derive-call",
        "mlp.json",
        _put(DERIVE, "pg_collection.tp()"),
        "/implementations/0/arguments/pg_collection",
        "not a dotted name",
    ),
    (
        "derive-dunder",
        "mlp.json",
        _put(DERIVE, "pg_collection.__dict__"),
        "/implementations/0/arguments/pg_collection",
        "attribute '__dict__' is not allowed",
    ),
    (
        "derive-other-root",
        "mlp.json",
        _put(DERIVE, "os.environ"),
        "/implementations/0/arguments/pg_collection",
        "does not start from 'pg_collection'",
    ),
    (
        "default-factory",
        "transformer_layer.json",
        _put(("parent", "fields", 0, "default_factory"), "os.system"),
        "/parent/fields/0/default_factory",
        "is not one of",
    ),
    (
        "call-exec",
        "gpt_specs.json",
        _put(("specs", 0, "body", "then", "then", "call"), "exec"),
        "/specs/0/body/then/then",
        "is neither a spec factory nor a run-time helper",
    ),
    (
        "call-dunder",
        "gpt_specs.json",
        _put(("specs", 0, "body", "then", "then", "call"), "__import__"),
        "/specs/0/body/then/then/call",
        "starts with two underscores",
    ),
]


@pytest.mark.parametrize(
    ("file", "change", "pointer", "phrase"),
    [c[1:] for c in HOSTILE_EXPRESSIONS],
    ids=[c[0] for c in HOSTILE_EXPRESSIONS],
)
def test_a_hostile_expression_is_rejected(bundled, tmp_path, file, change, pointer, phrase):
    _rejected(bundled, tmp_path, {file: change}, file, pointer, phrase)


# Layout a checked expression may hold, which the generated code does not print.
LAYOUT = [
    ("derive-comment", "mlp.json", _put(DERIVE, "pg_collection.tp  # ), os.system('x')")),
    ("derive-comment-line-break", "mlp.json", _put(DERIVE, "pg_collection.tp  # x\n")),
    ("derive-parenthesized", "mlp.json", _put(DERIVE, "(pg_collection\n  .tp)")),
    ("type-comment", "mlp.json", _put((*FC1_PARAMETER, "type"), 'int  # """; import os')),
    ("default-parenthesized", "mlp.json", _put((*FC1_PARAMETER, "default"), "(\n1  # )\n)")),
]


@pytest.mark.parametrize(("file", "change"), [c[1:] for c in LAYOUT], ids=[c[0] for c in LAYOUT])
def test_layout_inside_an_expression_is_not_printed(bundled, tmp_path, file, change):
    baseline = _baseline(bundled, tmp_path, (file,))
    modules = _generate(bundled, tmp_path / "changed", {file: change})
    for path, source in modules.items():
        assert _code(source) == _code(baseline[path])


# -- free text ---------------------------------------------------------------------------------

DOC_KEYS = frozenset({"doc", "reason", "message", "function_doc"})

HOSTILE_TEXTS = [
    "__import__('os').system('x')",
    '"',
    "'",
    '"""',
    "'''",
    'x"""; import os; os.system("x"); """',
    "x'''\nimport os\n'''",
    "line\nbreak",
    "carriage\rreturn",
    "a\rimport os",
    "\\",
    "ends in a backslash\\",
    'ends in a quote"',
    "nul\x00byte",
    "line\u2028separator",
    "lone\udcffsurrogate",
    "\ufeffbyte order mark",
    "\\N{BULLET} \\x41 {x} %s",
    "Ｍlp Мlp mlpé",
    "x\n        )\n        import os\n        super().__init__(",
]


# All of HOSTILE_TEXTS in one text, and the ends a docstring must survive.
EVERY_TEXT = " | ".join(HOSTILE_TEXTS[:-1])
# Each of these alone too (the others only within EVERY_TEXT, to keep the file fast).
ALONE_TOO = (
    "__import__('os').system('x')",
    '"',
    'x"""; import os; os.system("x"); """',
    "line\nbreak",
    "a\rimport os",
    "ends in a backslash\\",
    'ends in a quote"',
    "nul\x00byte",
    "line\u2028separator",
    "lone\udcffsurrogate",
    "Ｍlp Мlp mlpé",
)
MLP_TEXTS = [EVERY_TEXT, *(t for t in HOSTILE_TEXTS if t in ALONE_TOO)]


@pytest.mark.parametrize("text", MLP_TEXTS, ids=["all", *(repr(t) for t in MLP_TEXTS[1:])])
def test_hostile_free_text_changes_only_string_constants(bundled, tmp_path, text):
    """Every doc, reason and message of mlp.json (module, Protocols, methods, builders, adapters,
    Submodules constructor arguments, upstream reasons) holds `text`."""
    baseline = _baseline(bundled, tmp_path, ("mlp.json",))["mlp.py"]
    change = _every_string(DOC_KEYS, text)
    source = _generate(bundled, tmp_path / "changed", {"mlp.json": change})["mlp.py"]
    compile(source, "mlp.py", "exec")
    assert _shape(source) == _shape(baseline)
    if _words(text):
        assert any(_words(text) in _words(s) for s in _strings(source))


@pytest.mark.parametrize(
    "text",
    [EVERY_TEXT, "ends in a backslash\\", 'ends in a quote"'],
    ids=["all", "backslash", "quote"],
)
def test_hostile_free_text_elsewhere_changes_only_string_constants(bundled, tmp_path, text):
    """Interface attributes and lifted slots (hybrid_stack.json), factory docs and their
    parameters', module values' docs (`#:` comments), roles', providers' and their methods' docs
    and check messages (string literals) of hybrid_layer_specs.json and backends.json."""
    files = ("hybrid_stack.json", "hybrid_layer_specs.json", "backends.json")
    baseline = _baseline(bundled, tmp_path, files)
    changes = {file: _every_string(DOC_KEYS, text) for file in files}
    changed = _generate(bundled, tmp_path / "changed", changes)
    assert set(changed) == set(baseline) and len(changed) == 3
    for path, source in changed.items():
        compile(source, path, "exec")
        assert _shape(source) == _shape(baseline[path]), path


def test_comment_text_stays_on_its_comment_line(bundled, tmp_path):
    """The reasons printed after `# pyright: ignore[...]` and module values' `#:` docs."""
    text = "MARK\n        )\n        import os\n        os.system('x')\n        f(\rMARK"
    reason = ("parent", "lifted", "unchecked_arguments", "pg_collection")
    changes = {
        "hybrid_stack.json": _put(reason, text),
        "hybrid_layer_specs.json": _put(("values", 0, "doc"), text),
        "backends.json": _unchanged,
    }
    baseline = _baseline(bundled, tmp_path, tuple(changes))
    changed = _generate(bundled, tmp_path / "changed", changes)
    for path in ("hybrid_stack.py", "hybrid_layer_specs.py"):
        source = changed[path]
        assert _shape(source) == _shape(baseline[path]), path
        [line] = [line for line in source.splitlines() if "MARK" in line]
        assert line.count("MARK") == 2 and "#" in line.split("MARK")[0], line


def test_a_description_that_is_not_utf8_is_a_located_error(tmp_path):
    root = copy_project(tmp_path, with_generated=False)
    (root / "schemas/megatron_core/mlp.json").write_bytes(b'{"module": "\xed\xb3\xbf"}')
    with pytest.raises(DescriptionErrors) as raised:
        generate_files(root / "schemas", root)
    [error] = raised.value.errors
    assert (error.file, error.pointer) == ("schemas/megatron_core/mlp.json", "")
    assert "not UTF-8" in error.message and error.fix


# -- the whole pipeline ------------------------------------------------------------------------


def test_generate_files_keeps_a_hostile_docstring_a_docstring(tmp_path):
    root = copy_project(tmp_path, with_generated=False)
    path = root / "schemas/megatron_core/mlp.json"
    data = json.loads(path.read_text())
    data["doc"] = 'x"""\nimport os\nos.system("x")\n"""\\'
    path.write_text(json.dumps(data))
    files = generate_files(root / "schemas", root)
    source = files[OUTPUT_PACKAGE / "mlp.py"]
    committed = (ROOT / OUTPUT_PACKAGE / "mlp.py").read_text()
    assert _shape(source) == _shape(committed)
    assert _words(ast.get_docstring(ast.parse(source), clean=False) or "") == _words(data["doc"])


def test_generate_files_rejects_a_hostile_name_before_generating(tmp_path):
    root = copy_project(tmp_path, with_generated=False)
    path = root / "schemas/megatron_core/mlp.json"
    data = json.loads(path.read_text())
    data["module"] = "mlp\nimport os"
    path.write_text(json.dumps(data))
    with pytest.raises(DescriptionErrors) as raised:
        generate_files(root / "schemas", root)
    assert [(e.file, e.pointer) for e in raised.value.errors] == [
        ("schemas/megatron_core/mlp.json", "/module")
    ]


# -- the rules stay in step with the generated code ---------------------------------------------


def _generated_modules() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted((ROOT / OUTPUT_PACKAGE).glob("*.py")):
        yield path.name, ast.parse(path.read_text())


def test_generator_imports_list_every_name_the_generator_imports(bundled):
    """Every `from x import y` of the generated modules is a description's import, a generated
    name, the module of a bound-once object, or in naming.GENERATOR_IMPORTS, which the name
    checks rely on."""
    described = {dotted for d in bundled.values() for dotted in d.data["imports"].values()}
    for name, tree in _generated_modules():
        if name in ("__init__.py", "spec_values.py"):  # no description imports into these
            continue
        for node in tree.body:
            if not isinstance(node, ast.ImportFrom) or node.level:
                continue
            for alias in node.names:
                dotted = f"{node.module}.{alias.name}"
                module_import = any(d.startswith(dotted + ".") for d in described)
                assert (
                    dotted in described
                    or module_import
                    or GENERATOR_IMPORTS.get(alias.asname or alias.name) == dotted
                ), f"{name}: from {node.module} import {alias.name}"


def test_generated_builtins_list_every_builtin_generated_functions_use():
    """Builtins read in the bodies of generated functions (spec_values.py, written by hand in
    its template, aside) are in naming.GENERATED_BUILTINS, which the name checks rely on."""
    import builtins

    used: set[str] = set()
    for name, tree in _generated_modules():
        if name == "spec_values.py":
            continue
        for function in ast.walk(tree):
            if isinstance(function, ast.FunctionDef):
                arguments = function.args
                own = {
                    a.arg for a in (*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs)
                }
                for statement in function.body:
                    used |= {
                        n.id
                        for n in ast.walk(statement)
                        if isinstance(n, ast.Name) and n.id in dir(builtins) and n.id not in own
                    }
    assert used <= GENERATED_BUILTINS, used - GENERATED_BUILTINS
    assert used  # the check sees something


def test_every_schema_pattern_refuses_a_trailing_line_break():
    """jsonschema matches patterns with re.search, where `$` also matches before a final line
    break: each pattern must end the string itself."""
    import re

    schema = json.loads((ROOT / "schemas/slot.schema.json").read_text())
    patterns: list[str] = []
    pending: list[Any] = [schema]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            if isinstance(item.get("pattern"), str):
                patterns.append(item["pattern"])
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    anchored = [p for p in patterns if p.endswith("$(?!\\n)")]
    assert len(anchored) >= 5, patterns
    for pattern in anchored:
        assert not re.search(pattern, "Name\n") and not re.search(pattern, "a.b\n"), pattern
    assert set(patterns) - set(anchored) == {"^__"}  # the identifier's `not` (a prefix)
