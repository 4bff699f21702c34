"""The panel's properties are pinned to the job options (`headfuse_wire.options.ReconstructConfig`): every
job option has a property, with the option's default and choices, and the panel's SUBMIT options at their
defaults are the options' defaults."""

import sys
from pathlib import Path

import addon_utils
import pytest

from headfuse_wire.options import ReconstructConfig, option_fields

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def addon(scene):
    sys.path.insert(0, str(ROOT))
    module = addon_utils.enable("blender_addon", default_set=True, handle_error=None)
    yield module
    addon_utils.disable("blender_addon", default_set=True)


def test_every_job_option_has_a_panel_property_with_its_default_and_choices(addon, scene):
    mapping = addon.operators.PANEL_OPTIONS
    props = addon.properties.HeadfuseSceneSettings.bl_rna.properties
    job = option_fields(("job",))
    assert set(mapping) == {f.name for f in job}, "a job option is missing from the panel (PANEL_OPTIONS)"
    for f in job:
        prop = props[mapping[f.name]]
        if f.metadata["choices"]:
            assert tuple(item.identifier for item in prop.enum_items) == f.metadata["choices"], f.name
            assert prop.default == f.default, f.name
        elif f.default is not None and f.name != "start":
            assert prop.default == f.default, f.name
    sent = addon.operators.job_options(scene.headfuse)
    cfg = ReconstructConfig().from_wire({k: v for k, v in sent.items() if k != "name"})
    for f in job:
        assert getattr(cfg, f.name) == f.default, f"the panel sends {f.name}={getattr(cfg, f.name)!r} by default"


def test_the_panel_sends_its_frame_range_reference_frame_and_policy(addon, scene):
    hf = scene.headfuse
    hf.frame_start, hf.frame_end, hf.frame_step = 4, 9, 2
    hf.no_face, hf.mode, hf.reference_mode, hf.reference_frame = "skip", "per-frame", "FRAME", 3
    cfg = ReconstructConfig().from_wire({k: v for k, v in addon.operators.job_options(hf).items() if k != "name"})
    assert (cfg.start, cfg.stop, cfg.stride, cfg.no_face, cfg.mode, cfg.reference_frame) == (
        4, 10, 2, "skip", "per-frame", 3
    )  # fmt: skip


def test_the_panel_lists_shots_and_whether_the_reference_person_is_seen(addon):
    text = ""
    for index, cut, ok in [(0, True, True), (1, False, False), (2, True, False), (3, False, False), (4, True, True)]:
        text = addon.jobs.shots_text(text, index, cut, ok)
    assert text.splitlines() == [
        "0-1: reference person seen", "2-3: reference person not seen", "4-4: reference person seen"]  # fmt: skip
