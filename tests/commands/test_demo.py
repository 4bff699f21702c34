"""`headfuse demo`, the README's first command, run as a user runs it: a fresh process, the real
server, the add-on in Blender-as-a-module, a few frames small."""

import os
import subprocess
import sys


def test_demo_runs_the_whole_path_and_writes_every_file(tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "HOME": str(tmp_path / "home")}
    cmd = [sys.executable, "-m", "backend", "demo", "--out", str(out), "--frames", "2", "--mesh-res", "32",
           "--texture-size", "64", "--timeout", "300"]
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=400)
    assert run.returncode == 0, run.stderr[-3000:]
    for name in ("demo.blend", "demo.abc", "demo.usdc", "demo.fbx", "demo_strip.png"):
        assert (out / name).stat().st_size > 1000, name
        assert f"demo: wrote {out / name}" in run.stdout
