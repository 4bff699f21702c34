"""The job options: one declaration (`ReconstructConfig`), refused at the door in one line, and the CLI,
the wire schema and the server's defaults all following it."""

import argparse
import ast
from dataclasses import fields
from pathlib import Path

import pytest

from backend.cli import build_parser
from headfuse_wire import protocol as P
from headfuse_wire.options import (
    OptionError,
    ReconstructConfig,
    option_docs,
    option_fields,
    parse_frame_range,
    wire_option_names,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"texture_size": -1}, "texture_size -1: expected an integer from 0 to 2048"),
        ({"mesh_resolution": 50}, "mesh_resolution 50: expected a multiple of 4 from 8 to 512"),
        ({"device": "banana"}, "device 'banana': expected auto, cpu, cuda[:N]"),
        ({"start": 5, "stop": 2}, "stop 2: expected more than start (5)"),
        ({"mode": "per_frame"}, "mode 'per_frame': expected one of fused, per-frame"),
        ({"no_face": "crash"}, "no_face 'crash': expected one of hold, skip"),
        ({"stride": 0}, "stride 0: expected an integer from 1 to 10000"),
    ],
)
def test_a_bad_value_is_refused_naming_the_option_the_value_and_what_is_allowed(change, message):
    with pytest.raises(OptionError) as err:
        ReconstructConfig(**change).validate()
    assert str(err.value) == message and "\n" not in str(err.value)


def test_good_values_pass_and_the_device_may_name_a_gpu():
    for device in ("auto", "cpu", "cuda", "cuda:1"):
        ReconstructConfig(device=device, mesh_resolution=64, texture_size=0, start=3, stop=4).validate()


def test_from_wire_takes_what_the_client_gave_over_the_servers_defaults_and_refuses_server_options():
    defaults = ReconstructConfig(mesh_resolution=96, weights="lifter.pt")
    cfg = defaults.from_wire({"texture_size": 0, "mode": "per-frame"})
    assert (cfg.mesh_resolution, cfg.texture_size, cfg.mode, cfg.weights) == (96, 0, "per-frame", "lifter.pt")
    assert "weights" not in cfg.to_wire() and set(cfg.to_wire()) == set(wire_option_names())
    with pytest.raises(OptionError, match="weights '/etc/passwd': expected one of the job options"):
        defaults.from_wire({"weights": "/etc/passwd"})
    with pytest.raises(OptionError, match="mesh_resolution 50"):
        defaults.from_wire({"mesh_resolution": 50})


def test_every_field_has_a_docstring_and_a_scope():
    docs = option_docs()
    for f in fields(ReconstructConfig):
        assert docs.get(f.name), f"ReconstructConfig.{f.name} has no docstring"
        assert f.metadata["scope"] in ("job", "worker", "wire")


def test_the_wire_schema_is_the_client_side_options():
    assert set(P.OPTIONS.fields) == set(wire_option_names()) | {"name"}
    for f in option_fields(("job", "wire")):
        schema = P.OPTIONS.fields[f.name]
        assert not schema.required
        if f.metadata["choices"]:
            assert schema.choices == f.metadata["choices"]
        elif f.metadata["lo"] is not None:
            assert (schema.lo, schema.hi) == (f.metadata["lo"], f.metadata["hi"])


def _dests(command: str) -> dict[str, argparse.Action]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
    return {a.dest: a for a in sub._actions}


@pytest.mark.parametrize("command", ["reconstruct", "batch", "serve"])
def test_reconstruct_batch_and_serve_take_every_job_and_worker_option_with_its_help(command):
    dests = _dests(command)
    docs = option_docs()
    for f in option_fields(("job", "worker")):
        if f.name in ("start", "stop", "stride"):
            assert "frames" in dests, f"{command} has no --frames"
            continue
        assert f.name in dests, f"{command} lacks the option {f.name}"
        assert docs[f.name] in dests[f.name].help
        if f.metadata["choices"]:
            assert tuple(dests[f.name].choices) == f.metadata["choices"]
    assert "triplanes" not in dests  # wire-only: what the live preview asks for


def test_modes_are_spelled_one_way_across_the_project():
    """The N x N evaluation's methods include the two job modes, spelled as the option spells them."""
    from backend.models.fusion import METHODS
    from headfuse_wire.options import MODES

    assert set(MODES) <= set(METHODS)


def test_frame_ranges():
    assert parse_frame_range("10:20") == (10, 20, 1)
    assert parse_frame_range(":5") == (0, 5, 1)
    assert parse_frame_range("3::2") == (3, None, 2)
    for bad in ("5:2", "5:5", "a:b", "1:2:0", "7"):
        with pytest.raises(ValueError, match="frame range"):
            parse_frame_range(bad)


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_package_boundaries():
    """The backend never imports the add-on, the add-on never imports the backend, and the wire package
    imports neither (nor bpy or torch)."""
    for path in (ROOT / "backend").rglob("*.py"):
        assert "blender_addon" not in _imports(path), f"{path} imports the add-on"
    for path in (ROOT / "blender_addon").rglob("*.py"):
        assert "backend" not in _imports(path), f"{path} imports the backend"
    for path in (ROOT / "headfuse_wire").rglob("*.py"):
        assert not _imports(path) & {"backend", "blender_addon", "bpy", "torch"}, path


def _backend_imports(path: Path) -> set[str]:
    """`backend.X` modules and packages a file imports (anywhere in it), as `X`."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        mods = [a.name for a in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            mods = [node.module]
        names |= {m.split(".")[1] for m in mods if m.startswith("backend.") and m.count(".") >= 1}
    return names


HIGHER = {
    "pipeline": {"run", "execution", "server", "batch", "commands"},
    "run": {"execution", "server", "batch", "commands"},
    "execution": {"server", "batch", "commands"},
    "server": {"batch", "commands"},
    "batch": {"server", "commands"},
}
"""For each layer of the run path, what it must never import (data flows one way)."""


def test_the_run_path_layers_import_only_downwards():
    for layer, higher in HIGHER.items():
        base = ROOT / "backend" / layer
        for path in [*base.rglob("*.py")] if base.is_dir() else [base.with_suffix(".py")]:
            assert not _backend_imports(path) & higher, f"{path} imports {_backend_imports(path) & higher}"
