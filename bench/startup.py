"""How fast does ``ringvault --help`` start? (Goal: under 0.5 s.)

Run: ``.venv/bin/python -m bench.startup [--runs N]``. Prints min/median/max wall time of N fresh processes.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path


def measure(runs: int) -> list[float]:
    exe = Path(sys.executable).with_name("ringvault")
    cmd = [str(exe), "--help"] if exe.exists() else [sys.executable, "-m", "ringvault", "--help"]
    subprocess.run(cmd, capture_output=True, check=True)  # warm the OS file cache once
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    times = measure(args.runs)
    print(
        f"ringvault --help over {args.runs} runs: min {min(times) * 1000:.0f} ms, "
        f"median {statistics.median(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
