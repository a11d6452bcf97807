"""The README's Python example runs, unchanged, against the simulator's full catalogue (an ONVIF camera included)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import ringvault
from ringvault.sim.server import SimServer

README = Path(ringvault.__file__).resolve().parents[2] / "README.md"


def test_the_python_example_runs(logged_in: Path, cloud_env: SimServer, tmp_path: Path) -> None:
    match = re.search(r"## Python API\n\n```python\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)
    assert match, "README.md has a Python API example"
    code = match.group(1)
    assert "~/.config/ringvault/token.json" in code
    home = tmp_path / "home"
    token = home / ".config" / "ringvault" / "token.json"
    token.parent.mkdir(parents=True, mode=0o700)
    shutil.copy2(logged_in, token)  # the example reads the login from the default place under $HOME
    world = cloud_env.state.world
    assert any(d.kind == "onvif_camera" for d in world.devices.values())  # the camera that made it crash
    env = {**os.environ, "HOME": str(home)}  # RINGVAULT_CLOUD_URL (the simulator) comes from cloud_env
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Backyard ONVIF" in proc.stdout  # listed, and its missing history skipped
    assert "bytes captured at" in proc.stdout
