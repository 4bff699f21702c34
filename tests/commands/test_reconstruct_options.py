"""Invalid reconstruct options are refused at the door: one line on stderr, no traceback, exit 1."""

import subprocess
import sys

import pytest

BAD = [
    (["--texture", "-1"], "texture size -1"),
    (["--mesh-res", "50"], "mesh resolution 50"),
    (["--device", "banana"], "device 'banana'"),
    (["--frames", "5:2"], "--frames frame range '5:2'"),
    (["--frames", "abc"], "--frames frame range 'abc'"),
    (["--frames", "0:4:0"], "--frames frame range '0:4:0'"),
]


@pytest.mark.parametrize(("flags", "named"), BAD)
def test_invalid_option_refused_in_one_line(tmp_path, flags, named):
    cmd = [sys.executable, "-m", "backend", "reconstruct", "missing.mp4", "--ref", "missing.png", "-o", str(tmp_path)]
    proc = subprocess.run(cmd + flags, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith("reconstruct: ") and named in lines[0], lines[0]
