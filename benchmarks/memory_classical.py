"""Peak memory of classical extraction on a long full-HD video.

Writes a synthetic 30 s, 1920x1080, 30 fps video (a slow pan over a scikit-image
photograph), then runs ``qualitylab extract-features`` with every classical extractor at
the full frame rate in a child process, one worker, and prints the child's peak resident
memory. The engine streams frames in chunks, so the peak stays far below the 5.6 GB the
decoded video would take; the target is under 2 GB.

    uv run python benchmarks/memory_classical.py [--seconds 30] [--fps 30]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import skimage.data
from skimage.transform import resize

from qualitylab.data.video import write_video

WIDTH, HEIGHT = 1920, 1080
TARGET_BYTES = 2 * 2**30


def panning_frames(count: int) -> Iterator[np.ndarray]:
    """Full-HD frames of a steady pan across an enlarged photograph."""
    photo = resize(skimage.data.astronaut(), (HEIGHT + 200, WIDTH + 600), anti_aliasing=True)
    photo = (photo * 255).astype(np.uint8)
    for index in range(count):
        left = round(600 * index / max(count - 1, 1))
        top = round(100 + 60 * np.sin(index / 40))
        yield np.ascontiguousarray(photo[top : top + HEIGHT, left : left + WIDTH])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--fps", type=int, default=30)
    args = parser.parse_args()
    frames = round(args.seconds * args.fps)

    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        started = time.perf_counter()
        video = write_video(
            root / "long.mp4",
            panning_frames(frames),
            args.fps,
            encoder_options={"preset": "ultrafast"},
        )
        print(f"wrote {frames} frames of {WIDTH}x{HEIGHT} in {time.perf_counter() - started:.0f} s")
        pd.DataFrame([{"video": video.name, "prompt": "a slow pan over a photograph"}]).to_csv(
            root / "manifest.csv", index=False
        )
        command = [
            sys.executable, "-m", "qualitylab", "extract-features", str(root / "manifest.csv"),
            "--features", "ssim,flow,technical", "--out", str(root / "features"), "--workers", "1",
        ]  # fmt: skip
        started = time.perf_counter()
        subprocess.run(command, check=True)
        seconds = time.perf_counter() - started

    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # Linux: kilobytes
    verdict = "under" if peak < TARGET_BYTES else "OVER"
    print(f"extraction: {seconds:.0f} s, {frames / seconds:.1f} frames/s")
    print(
        f"peak RSS of the extraction process: {peak / 2**20:.0f} MiB ({verdict} the 2 GiB target)"
    )
    if peak >= TARGET_BYTES:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
