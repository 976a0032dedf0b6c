"""Your own descriptions: `generate --schemas DIR ... --out PACKAGE_DIR` validates them together
with the bundled ones and generates only your package; conflicts name both files; the example in
examples/custom_mlp/ is what the README's command generates, type-checks strictly and runs."""

import importlib
import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from generator.cli import main
from generator.errors import DescriptionErrors
from generator.pipeline import UserDescriptions, validated_catalog
from tests.generator_runs import ROOT, copy_project, tree

EXAMPLE = ROOT / "examples" / "custom_mlp"
README_COMMAND = (
    "python -m generator generate --schemas examples/custom_mlp/schemas "
    "--out examples/custom_mlp/typed"
)


def _example_project(root: Path) -> Path:
    """A project copy with the example's own files (layers and descriptions), not its output."""
    copy_project(root, with_readme=True)
    (root / "examples").mkdir()
    shutil.copyfile(ROOT / "examples" / "__init__.py", root / "examples" / "__init__.py")
    ignore = shutil.ignore_patterns("__pycache__", "typed")
    shutil.copytree(EXAMPLE, root / "examples" / "custom_mlp", ignore=ignore)
    return root


def _run(root: Path, command: str, *extra: str) -> subprocess.CompletedProcess[str]:
    """`command` (as a user types it, from the project root) on the project copy at `root`."""
    words = shlex.split(command)
    assert words[:3] == ["python", "-m", "generator"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # the generator itself; the copy is the cwd
    return subprocess.run(
        [sys.executable, *words[1:], "--root", str(root), *extra],
        cwd=root,
        capture_output=True,
        text=True,
        env=env,
    )


@pytest.fixture(scope="module")
def example_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Path, dict[str, bytes]]]:
    """(project copy, its bundled output before) after the README's command ran in the copy."""
    root = _example_project(tmp_path_factory.mktemp("project"))
    before = tree(root / "generated") | {"README.md": (root / "README.md").read_bytes()}
    result = _run(root, README_COMMAND)
    assert result.returncode == 0, result.stderr
    assert "wrote examples/custom_mlp/typed/ (package examples.custom_mlp.typed" in result.stdout
    yield root, before


def test_the_readme_command_generates_the_committed_example_package(
    example_run: tuple[Path, dict[str, bytes]],
) -> None:
    root, _ = example_run
    assert README_COMMAND in (ROOT / "README.md").read_text()
    generated = tree(root / "examples" / "custom_mlp" / "typed")
    assert sorted(generated) == [
        "__init__.py",
        "custom_layer_specs.py",
        "gated_mlp.py",
        "sdpa_attention.py",
    ]
    assert generated == tree(EXAMPLE / "typed"), "examples/custom_mlp/typed/ is stale: rerun it"


def test_a_user_run_writes_nothing_of_the_bundled_output_or_the_readme(
    example_run: tuple[Path, dict[str, bytes]],
) -> None:
    root, before = example_run
    after = tree(root / "generated") | {"README.md": (root / "README.md").read_bytes()}
    assert after == before


def test_the_user_modules_import_bundled_names_from_the_bundled_package(
    example_run: tuple[Path, dict[str, bytes]],
) -> None:
    root, _ = example_run
    specs = (root / "examples" / "custom_mlp" / "typed" / "custom_layer_specs.py").read_text()
    assert "from generated.megatron_core.transformer_layer import (" in specs
    assert "from .gated_mlp import MlpFromGatedMLP, gated_mlp_submodules" in specs
    # The header names the user's and the bundled descriptions the module was made from.
    assert "#   examples/custom_mlp/schemas/gated_mlp.json" in specs
    assert "#   schemas/megatron_core/transformer_layer.json" in specs


def _check(root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """The README's command with --check, in this process (quicker than a new interpreter)."""
    monkeypatch.chdir(root)
    monkeypatch.setattr(sys, "path", list(sys.path))  # generate adds the package's import root
    status = main([*shlex.split(README_COMMAND)[3:], "--check", "--root", str(root)])
    return status, capsys.readouterr()


def test_check_on_user_output_passes_when_fresh_and_names_stale_and_hand_edited_modules(
    example_run: tuple[Path, dict[str, bytes]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fresh_root, _ = example_run
    status, output = _check(fresh_root, monkeypatch, capsys)
    assert status == 0, output.err
    assert "examples/custom_mlp/typed/ up to date (0 of 4 files rendered)." in output.out

    root = tmp_path / "project"
    shutil.copytree(fresh_root, root, ignore=shutil.ignore_patterns("__pycache__", "generated"))
    schemas, typed = root / "examples/custom_mlp/schemas", root / "examples/custom_mlp/typed"
    description = json.loads((schemas / "gated_mlp.json").read_text())
    description["doc"] = "Changed."
    (schemas / "gated_mlp.json").write_text(json.dumps(description))
    edited = typed / "sdpa_attention.py"
    edited.write_text(
        edited.read_text().replace("softmax_scale=softmax_scale", "softmax_scale=1.0")
    )
    before = tree(typed)
    status, output = _check(root, monkeypatch, capsys)
    assert status == 1
    assert (
        "stale: examples/custom_mlp/typed/gated_mlp.py: its descriptions or the generator changed"
        in output.err
    )
    assert "stale: examples/custom_mlp/typed/sdpa_attention.py: edited by hand" in output.err
    assert f"run `{README_COMMAND} --root {root}` and commit the result" in output.err
    assert "+++ b/examples/custom_mlp/typed/gated_mlp.py" in output.out
    assert tree(typed) == before


def test_pyright_strict_passes_on_the_example_and_rejects_its_adapters_in_wrong_slots(
    example_run: tuple[Path, dict[str, bytes]],
) -> None:
    root, _ = example_run
    (root / "wrong_slots.py").write_text(WRONG_SLOTS)
    config = {
        "include": ["examples", "wrong_slots.py"],
        "typeCheckingMode": "strict",
        "reportMissingTypeStubs": False,
        "pythonVersion": "3.12",
        "venvPath": str(ROOT),
        "venv": ".venv",
        "extraPaths": [str(ROOT)],  # tests/ (run.py uses the CPU harness)
    }
    (root / "pyrightconfig.json").write_text(json.dumps(config))
    completed = subprocess.run(
        [sys.executable, "-m", "pyright", "--outputjson"], cwd=root, capture_output=True, text=True
    )
    report = json.loads(completed.stdout)
    errors = [
        (Path(d["file"]).relative_to(root).as_posix(), d["range"]["start"]["line"] + 1, d["rule"])
        for d in report["generalDiagnostics"]
        if d["severity"] == "error"
    ]
    lines = WRONG_SLOTS.splitlines()
    expected = [
        ("wrong_slots.py", lines.index(line) + 1, "reportArgumentType")
        for line in lines
        if line.endswith("# error")
    ]
    assert sorted(errors) == sorted(expected), report["generalDiagnostics"]
    assert report["summary"]["filesAnalyzed"] >= 8  # the example's modules were checked


WRONG_SLOTS = """\
from examples.custom_mlp.typed import (
    CoreAttentionFromSDPACoreAttention,
    MlpFromGatedMLP,
    gated_mlp_submodules,
)
from generated.megatron_core.attention import (
    LinearProjFromRowParallelLinear,
    LinearQkvFromColumnParallelLinear,
    self_attention_submodules,
)
from generated.megatron_core.mlp import (
    LinearFc1FromColumnParallelLinear,
    LinearFc2FromRowParallelLinear,
)
from generated.megatron_core.transformer_layer import transformer_layer_submodules

fc1, fc2 = LinearFc1FromColumnParallelLinear(), LinearFc2FromRowParallelLinear()
mlp = MlpFromGatedMLP(submodules=gated_mlp_submodules(linear_fc1=fc1, linear_fc2=fc2))
transformer_layer_submodules(mlp=mlp)
transformer_layer_submodules(self_attention=mlp)  # error
gated_mlp_submodules(linear_fc1=fc2, linear_fc2=fc2)  # error
self_attention_submodules(
    linear_qkv=LinearQkvFromColumnParallelLinear(),
    core_attention=CoreAttentionFromSDPACoreAttention(),
    linear_proj=LinearProjFromRowParallelLinear(),
)
transformer_layer_submodules(mlp=CoreAttentionFromSDPACoreAttention())  # error
"""


# -- the example runs ------------------------------------------------------------------------


def _layers(model: torch.nn.Module) -> list[Any]:
    return list(model.decoder.layers)  # pyright: ignore


def test_the_example_builds_a_gpt_model_with_its_own_modules_and_runs_a_forward_pass(
    megatron_parallel_state: None,
) -> None:
    from megatron.core.tensor_parallel.layers import ColumnParallelLinear, RowParallelLinear

    from examples.custom_mlp.layers import GatedMLP, SDPACoreAttention
    from examples.custom_mlp.run import build_model, forward, make_config
    from examples.custom_mlp.typed import get_gpt_layer_with_gated_mlp_spec
    from tests.megatron_cpu import cpu_shims

    with cpu_shims():
        torch.manual_seed(0)
        model = build_model(get_gpt_layer_with_gated_mlp_spec(activation="relu2"), make_config())
        logits = forward(model)
    assert len(_layers(model)) == 2
    for layer in _layers(model):
        assert type(layer.mlp) is GatedMLP and layer.mlp.activation == "relu2"
        assert type(layer.mlp.linear_fc1) is ColumnParallelLinear
        assert type(layer.mlp.linear_fc2) is RowParallelLinear
        assert type(layer.self_attention.core_attention) is SDPACoreAttention
    assert logits.shape == (2, 32, 256)
    assert torch.isfinite(logits).all()


def test_the_examples_modules_compute_what_megatrons_own_modules_compute(
    megatron_parallel_state: None,
) -> None:
    """SDPACoreAttention equals DotProductAttention, and GatedMLP with silu equals megatron's MLP
    with a gated linear unit and silu, on the same weights (same seed, same shapes and order)."""
    import dataclasses

    from examples.custom_mlp.run import build_model, forward, make_config
    from examples.custom_mlp.typed import get_gpt_layer_with_gated_mlp_spec
    from generated.megatron_core.gpt_specs import get_gpt_layer_local_spec
    from tests.megatron_cpu import cpu_shims

    def logits(spec: Any, **config: Any) -> torch.Tensor:
        with cpu_shims():
            torch.manual_seed(0)
            model = build_model(spec, dataclasses.replace(make_config(), **config))
            return forward(model).detach()

    sdpa = logits(get_gpt_layer_with_gated_mlp_spec(activation="silu", sdpa=True))
    dot_product = logits(get_gpt_layer_with_gated_mlp_spec(activation="silu", sdpa=False))
    megatron = logits(get_gpt_layer_local_spec(), gated_linear_unit=True, activation_func=F.silu)
    torch.testing.assert_close(sdpa, dot_product)
    torch.testing.assert_close(dot_product, megatron)
    relu2 = logits(get_gpt_layer_with_gated_mlp_spec(activation="relu2", sdpa=False))
    assert not torch.allclose(relu2, dot_product)  # the spec's activation reaches the module


# -- conflicts -------------------------------------------------------------------------------

INTERFACE = {
    "name": "MlpInterface",
    "doc": "x",
    "methods": [{"name": "forward", "doc": "x", "parameters": [], "returns": "None"}],
}
BUILDER = {
    "name": "MyBuilder",
    "doc": "x",
    "construction": "call",
    "parameters": [],
    "returns": "MlpInterface",
    "implementations": [],
}
MLP_ARGUMENTS = {
    "config": "pass",
    "pg_collection": {"derive": {"tp_group": "pg_collection.tp"}},
    "is_mtp_layer": "drop",
    "name": "pass",
}
MLP_IMPORTS = {
    "MLP": "megatron.core.transformer.mlp.MLP",
    "MLPSubmodules": "megatron.core.transformer.mlp.MLPSubmodules",
}


def _contribution(builder: str) -> dict[str, Any]:
    return {
        "builder": builder,
        "object": "MLP",
        "construction": "class",
        "doc": "x",
        "arguments": MLP_ARGUMENTS,
        "submodules": {"argument": "submodules", "type": "MLPSubmodules"},
    }


def _description(module: str, imports: dict[str, str] | None = None, **parts: Any) -> str:
    data = {"module": module, "doc": "x", "imports": imports or {}, **parts}
    return json.dumps(data, indent=2)


def _errors(root: Path, folders: dict[str, dict[str, str]]) -> list[str]:
    """Validates the project copy's descriptions with the user's `folders` (name -> files)."""
    files: list[Path] = []
    for folder, contents in folders.items():
        for name, text in contents.items():
            path = root / folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            files.append(path)
    user = UserDescriptions(tuple(files), "mypkg.typed")
    with pytest.raises(DescriptionErrors) as raised:
        validated_catalog(root / "schemas", root, user)
    return [error.render() for error in raised.value.errors]


@pytest.fixture(scope="module")
def contract_errors(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """One validation of two user folders with every contract-level conflict at once."""
    root = copy_project(tmp_path_factory.mktemp("conflicts"), with_generated=False)
    return _errors(
        root,
        {
            "mine": {
                "protocols.json": _description(
                    "protocols", interfaces=[INTERFACE], builders=[BUILDER]
                ),
                "adapters.json": _description(
                    "adapters",
                    MLP_IMPORTS,
                    implementations=[_contribution("MlpBuilder"), _contribution("MlpBulder")],
                ),
                "mlp.json": _description("mlp", interfaces=[{**INTERFACE, "name": "Other"}]),
                "foreign.json": _description(
                    "foreign",
                    {"run": "subprocess.run", "Mine": "mypkg.layers.Mine"},
                    interfaces=[{**INTERFACE, "name": "Foreign"}],
                ),
            },
            "theirs": {"more.json": _description("more", builders=[BUILDER])},
        },
    )


@pytest.fixture(scope="module")
def spec_errors(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """One validation of a user folder whose contracts are fine and whose specs conflict."""
    root = copy_project(tmp_path_factory.mktemp("spec-conflicts"), with_generated=False)
    layer = {
        "parent": "TransformerLayer",
        "slots": {"mlpp": {"adapter": "MlpFromMLP", "submodules": {"parent": "MLP", "slots": {}}}},
    }
    spec = {"name": "get_gpt_layer_local_spec", "doc": "x", "parameters": []}
    specs = [
        {**spec, "returns": "TransformerLayerSubmodules", "body": layer},
    ]
    imports = {
        **MLP_IMPORTS,
        "TransformerLayer": "megatron.core.transformer.transformer_layer.TransformerLayer",
        "TransformerLayerSubmodules": (
            "megatron.core.transformer.transformer_layer.TransformerLayerSubmodules"
        ),
    }
    return _errors(root, {"mine": {"specs.json": _description("my_specs", imports, specs=specs)}})


def _one(errors: list[str], *parts: str) -> str:
    found = [e for e in errors if all(part in e for part in parts)]
    assert len(found) == 1, errors
    return found[0]


def test_a_protocol_named_like_a_bundled_one_is_refused_naming_both_files(
    contract_errors: list[str],
) -> None:
    error = _one(contract_errors, "'MlpInterface'")
    assert error.startswith("error: mine/protocols.json: /interfaces/0: duplicate generated name")
    assert (
        "the Interface Protocol described in schemas/megatron_core/transformer_layer.json" in error
    )
    assert "at /interfaces/" in error
    assert "fix: rename one of them: generated names are unique across all descriptions" in error


def test_the_same_builder_in_two_description_folders_is_refused_naming_both_files(
    contract_errors: list[str],
) -> None:
    error = _one(contract_errors, "'MyBuilder'")
    assert error.startswith("error: theirs/more.json: /builders/0: duplicate generated name")
    assert "the Builder Protocol described in mine/protocols.json at /builders/0" in error


def test_an_implementation_that_makes_an_existing_adapter_is_refused_naming_both_files(
    contract_errors: list[str],
) -> None:
    error = _one(contract_errors, "'MlpFromMLP'")
    assert error.startswith("error: mine/adapters.json: /implementations/0: duplicate generated")
    assert "this adapter of MLP for MlpBuilder and the adapter of MLP for MlpBuilder" in error
    assert "described in schemas/megatron_core/transformer_layer.json at /builders/" in error
    assert "fix: describe each implementation of a Builder once" in error


def test_an_implementation_for_an_unknown_builder_is_refused_with_the_close_names(
    contract_errors: list[str],
) -> None:
    error = _one(contract_errors, "'MlpBulder'")
    assert error.startswith("error: mine/adapters.json: /implementations/1/builder: ")
    assert "implementation 'MLP' is added to unknown builder 'MlpBulder'" in error
    assert "did you mean MlpBuilder" in error


def test_a_module_named_like_a_bundled_module_is_refused_naming_both_files(
    contract_errors: list[str],
) -> None:
    error = _one(contract_errors, "module 'mlp'")
    assert error.startswith("error: mine/mlp.json: /module: ")
    assert "is also generated from schemas/megatron_core/mlp.json: /module" in error


def test_a_user_description_imports_from_its_own_top_package_but_not_from_others(
    contract_errors: list[str],
) -> None:
    error = _one(contract_errors, "'subprocess.run'")
    assert error.startswith("error: mine/foreign.json: /imports/run: import 'subprocess.run' is ")
    assert "outside the packages a description imports from" in error
    assert "generated.megatron_core, mypkg:" in error  # the user's own top-level package
    # mypkg.layers is allowed, so it is only looked up (and does not exist here).
    assert _one(contract_errors, "'mypkg.layers.Mine' does not resolve")


def test_a_factory_named_like_a_bundled_one_is_refused_naming_both_files(
    spec_errors: list[str],
) -> None:
    error = _one(spec_errors, "'get_gpt_layer_local_spec'")
    assert error.startswith("error: mine/specs.json: /specs/0: duplicate generated name")
    assert "the spec factory described in schemas/megatron_core/gpt_specs.json at /specs/" in error


def test_an_adapter_for_an_unknown_slot_is_refused_naming_where_the_parent_is_described(
    spec_errors: list[str],
) -> None:
    error = _one(spec_errors, "no slot 'mlpp'")
    assert error.startswith("error: mine/specs.json: /specs/0/body: ")
    assert "TransformerLayerSubmodules has no slot 'mlpp' (its slots are described in" in error
    assert "schemas/megatron_core/transformer_layer.json at /parent)" in error
    assert "fix: use one of [" in error and "'mlp'" in error


# -- the command line ------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project copy with one valid description folder of the user's (`mine/`)."""
    root = copy_project(tmp_path / "project", with_generated=False)
    (root / "mine").mkdir()
    (root / "mine" / "attention.json").write_text(
        _description(
            "my_attention",
            {
                "MyDotProductAttention": "megatron.core.transformer.dot_product_attention.DotProductAttention"
            },
            implementations=[
                {
                    "builder": "CoreAttentionBuilder",
                    "object": "MyDotProductAttention",
                    "construction": "class",
                    "doc": "megatron's DotProductAttention, once more under another name.",
                    "arguments": dict.fromkeys(
                        [
                            "config",
                            "layer_number",
                            "attn_mask_type",
                            "attention_type",
                            "cp_comm_type",
                            "softmax_scale",
                            "pg_collection",
                        ],
                        "pass",
                    ),
                }
            ],
        )
    )
    return root


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--out", "typed"], "--out needs --schemas"),
        (["--schemas", "mine"], "--schemas needs --out"),
        (["--package", "x.typed"], "--package needs --out"),
        (["--schemas", "nowhere", "--out", "typed"], "--schemas {root}/nowhere: no such folder"),
        (["--schemas", "schemas", "--out", "typed"], "holds the bundled descriptions"),
        (["--schemas", ".", "--out", "typed"], "holds the bundled descriptions"),
        (["--schemas", "mine", "--out", "generated/mine"], "overlaps the bundled output"),
        (["--schemas", "mine", "--out", "."], "overlaps the bundled output"),
        (["--schemas", "mine", "--out", "mine"], "contains {root}/mine"),
        (
            ["--schemas", "mine", "--out", "my-pkg/typed"],
            "package name 'my-pkg.typed' (from its path relative to {root}) is not a dotted "
            "Python name: 'my-pkg' is not an identifier",
        ),
        (
            ["--schemas", "mine", "--out", "pkg/typed", "--package", "pkg.class"],
            "package name 'pkg.class' (from --package) is not a dotted Python name",
        ),
        (
            ["--schemas", "mine", "--out", "pkg/typed", "--package", "pkg.types"],
            "--package pkg.types does not match the folder {root}/pkg/typed",
        ),
        (
            ["--schemas", "mine", "--out", "{outside}/mypkg/typed"],
            "is outside the project root {root}, so its import name cannot be derived",
        ),
        (
            [
                "--schemas",
                "mine",
                "--out",
                "{outside}/generated/typed",
                "--package",
                "generated.typed",
            ],
            "package name 'generated.typed' is inside the bundled package 'generated'",
        ),
    ],
)
def test_a_bad_option_is_a_usage_error_that_changes_nothing(
    project: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    arguments: list[str],
    message: str,
) -> None:
    monkeypatch.chdir(project)
    outside = tmp_path / "outside"
    before = tree(tmp_path)
    places = {"root": str(project), "outside": str(outside)}
    status = main(["generate", *[a.format(**places) for a in arguments], "--root", str(project)])
    assert status == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message.format(**places) in err, err
    assert "\n  fix: " in err
    assert tree(tmp_path) == before


def test_an_output_folder_with_files_the_generator_did_not_write_is_refused(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(project)
    (project / "pkg").mkdir()
    (project / "pkg" / "model.py").write_text("MODEL = 1\n")
    status = main(["generate", "--schemas", "mine", "--out", "pkg", "--root", str(project)])
    assert status == 2
    err = capsys.readouterr().err
    assert f"--out {project}/pkg holds files the generator did not write (model.py)" in err
    assert (project / "pkg" / "model.py").read_text() == "MODEL = 1\n"
    assert sorted(p.name for p in (project / "pkg").iterdir()) == ["model.py"]


def test_repeatable_schemas_generate_one_package_outside_the_root_that_imports(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two folders, one package named with --package outside the project root: the second
    folder's factory uses the first folder's adapter (a relative import) and the bundled ones."""
    (project / "theirs").mkdir()
    (project / "theirs" / "specs.json").write_text(
        _description(
            "my_specs",
            {
                "SelfAttention": "megatron.core.transformer.attention.SelfAttention",
                "SelfAttentionSubmodules": "megatron.core.transformer.attention.SelfAttentionSubmodules",
            },
            specs=[
                {
                    "name": "get_my_self_attention_submodules",
                    "doc": "Self-attention submodules with the renamed core attention.",
                    "parameters": [],
                    "returns": "SelfAttentionSubmodules",
                    "body": {
                        "parent": "SelfAttention",
                        "slots": {
                            "linear_qkv": {"adapter": "LinearQkvFromColumnParallelLinear"},
                            "core_attention": {"adapter": "CoreAttentionFromMyDotProductAttention"},
                            "linear_proj": {"adapter": "LinearProjFromRowParallelLinear"},
                        },
                    },
                }
            ],
        )
    )
    out = tmp_path / "elsewhere" / "mypkg" / "typed"
    monkeypatch.chdir(project)
    monkeypatch.setattr(sys, "path", list(sys.path))  # generate adds the package's import root
    arguments = ["--schemas", "mine", "--schemas", "theirs", "--out", str(out)]
    arguments += ["--package", "mypkg.typed", "--root", str(project)]
    assert main(["generate", *arguments]) == 0
    assert sorted(tree(out)) == ["__init__.py", "my_attention.py", "my_specs.py"]
    assert sorted(p.name for p in out.parent.iterdir()) == ["typed"]  # no staging, no lock left
    assert (
        "from .my_attention import CoreAttentionFromMyDotProductAttention"
        in (out / "my_specs.py").read_text()
    )
    assert main(["generate", "--check", *arguments]) == 0
    assert not (project / "generated").exists()  # the bundled output is not written

    monkeypatch.setattr(sys, "path", [str(tmp_path / "elsewhere"), *sys.path])
    from megatron.core.transformer.attention import SelfAttentionSubmodules

    importlib.invalidate_caches()  # the package was written after this process looked there
    try:
        specs = importlib.import_module("mypkg.typed.my_specs")
        submodules = specs.get_my_self_attention_submodules()
        assert type(submodules) is SelfAttentionSubmodules
        adapter = type(submodules.core_attention)
        assert adapter.__name__ == "CoreAttentionFromMyDotProductAttention"
        assert adapter.__module__ == "mypkg.typed.my_attention"
    finally:
        for name in [m for m in sys.modules if m == "mypkg" or m.startswith("mypkg.")]:
            del sys.modules[name]
