"""Start-up time and memory of commands that should answer before doing any work.

Each command runs in a fresh child process (as a user types it) several times; the script
prints its median wall time, its peak resident memory, and the ratio of its time to the
reference: a child Python that only starts (``python -c pass``). Commands measured:
``import qualitylab``, ``qualitylab --help``, ``train`` and ``score`` on a path that does
not exist (they must answer in under 2 s), and ``doctor`` with no weights (under 5 s).

    uv run python benchmarks/startup.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

QUALITYLAB = [sys.executable, "-m", "qualitylab"]
# (label, command, the most seconds a user should wait for its answer; None: no goal)
COMMANDS: list[tuple[str, list[str], float | None]] = [
    ("import qualitylab", [sys.executable, "-c", "import qualitylab"], None),
    ("qualitylab --help", [*QUALITYLAB, "--help"], None),
    (
        "train MISSING",
        [*QUALITYLAB, "train", "missing.parquet", "--target", "x", "--out", "m"],
        2.0,
    ),
    ("score MISSING", [*QUALITYLAB, "score", "missing.csv", "--model", "m", "--out", "s.csv"], 2.0),
    ("doctor (no weights)", [*QUALITYLAB, "doctor"], 5.0),
]


def measure(command: list[str], repeat: int, cwd: Path, env: dict[str, str]) -> tuple[float, int]:
    """Median wall seconds and the largest peak resident memory (bytes) of ``command``."""
    times, peaks = [], []
    for _ in range(repeat):
        started = time.perf_counter()
        child = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        _, _, usage = os.wait4(child.pid, 0)
        times.append(time.perf_counter() - started)
        peaks.append(usage.ru_maxrss * 1024)
    return statistics.median(times), max(peaks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        cwd = Path(scratch)
        env = {**os.environ, "QUALITYLAB_HOME": str(cwd / "home")}
        reference, _ = measure([sys.executable, "-c", "pass"], args.repeat, cwd, env)
        print(f"reference (python -c pass): {reference:.2f} s")
        print(f"{'command':<22} {'seconds':>8} {'x reference':>12} {'peak MB':>8}  goal")
        for label, command, goal in COMMANDS:
            seconds, peak = measure(command, args.repeat, cwd, env)
            verdict = (
                "" if goal is None else ("met" if seconds <= goal else "MISSED") + f" (<{goal:g} s)"
            )
            print(
                f"{label:<22} {seconds:8.2f} {seconds / reference:12.1f} {peak / 2**20:8.0f}  {verdict}"
            )


if __name__ == "__main__":
    main()
