"""A weights file that is not a headfuse checkpoint is named in a one-line error, before any work."""

import pytest

from backend.cli import main


@pytest.mark.parametrize(
    "argv",
    [
        ["eval", "--protocol", "nxn", "--fusion-weights", "{bad}"],
        ["eval", "--weights", "{bad}"],
        ["reconstruct", "missing.mp4", "--ref", "missing.png", "-o", "{tmp}/out", "--weights", "{bad}"],
        ["train", "--stage", "fusion", "--init", "{bad}", "--out", "{tmp}/run"],
    ],
)
def test_a_foreign_weights_file_is_named_in_a_clear_error(tmp_path, argv):
    bad = tmp_path / "weights.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(SystemExit) as err:
        main([a.format(bad=bad, tmp=tmp_path) for a in argv])
    message = str(err.value)
    assert str(bad) in message and "is not a headfuse checkpoint" in message
    assert "weights_only=False" not in message  # torch's advice to unpickle is never passed on
    assert not (tmp_path / "run").exists()  # failed before the clip cache was started
    assert not (tmp_path / "out" / "manifest.json").exists()
