"""Invalid job options are refused at the door by every command that takes them: one line on stderr naming
the flag, the value and what is allowed; no traceback, exit 1, before any input is read."""

import subprocess
import sys

import pytest

BAD = [
    (["--texture-size", "-1"], "--texture-size -1: expected an integer from 0 to 2048"),
    (["--mesh-res", "50"], "--mesh-res 50: expected a multiple of 4 from 8 to 512"),
    (["--mesh-res", "-5"], "--mesh-res -5: expected a multiple of 4 from 8 to 512"),
    (["--device", "banana"], "--device banana: expected auto, cpu, cuda[:N]"),
    (["--frames", "5:2"], "--frames frame range '5:2'"),
    (["--frames", "abc"], "--frames frame range 'abc'"),
    (["--frames", "0:4:0"], "--frames frame range '0:4:0'"),
]
COMMANDS = {
    "reconstruct": ["reconstruct", "missing.mp4", "--ref", "missing.png", "-o", "{tmp}"],
    "batch": ["batch", "missing.mp4", "-o", "{tmp}"],
    "serve": ["serve", "--store", "{tmp}", "--workers", "0"],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize(("flags", "named"), BAD)
def test_invalid_option_refused_in_one_line(tmp_path, command, flags, named):
    args = [a.replace("{tmp}", str(tmp_path)) for a in COMMANDS[command]]
    proc = subprocess.run([sys.executable, "-m", "backend", *args, *flags], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith(f"{command}: ") and named in lines[0], lines[0]
