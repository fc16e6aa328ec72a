"""Scene-cut detection: precision and recall of cut frames on synthetic joined clips.

Each video joins 1-4 demo clips (camera moves over different photographs; half of the
scenes carry flicker, shake, noise, blur or a frozen stretch, which must not read as
cuts), is encoded to H.264 and decoded again, and goes through the ``scenes`` extractor
in the engine's chunks; both cut rules at their default settings (PySceneDetect's) are
scored against the true cut frames, exactly (tolerance 0 frames) and within 1 frame,
and the share of one-scene videos given a cut is printed.

    uv run python benchmarks/scene_cuts.py                 # 40 videos, 192 px, 8 fps
    uv run python benchmarks/scene_cuts.py --videos 100 --height 96
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from qualitylab.data.joined import cut_matches, joined_video
from qualitylab.data.video import Sampling, iter_frames, write_video
from qualitylab.features.base import Chunk
from qualitylab.features.classical.scenes import ScenesConfig, detect_cuts
from qualitylab.features.registry import create

CHUNK = 32
RULES = ("adaptive", "content")
TOLERANCES = (0, 1)


def main() -> None:
    """Print the cut precision and recall of each rule over the synthetic videos."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=40)
    parser.add_argument("--height", type=int, default=192)
    parser.add_argument("--seed", type=int, default=1000, help="first video's seed")
    args = parser.parse_args()
    extractor = create("scenes")
    counts = {(rule, tol): np.zeros(3, int) for rule in RULES for tol in TOLERANCES}
    started = time.perf_counter()
    cuts_total = 0
    single = {rule: 0 for rule in RULES}
    singles = 0
    with tempfile.TemporaryDirectory() as folder:
        for seed in range(args.seed, args.seed + args.videos):
            video = joined_video(1 + seed % 4, seed, height=args.height)
            path = write_video(Path(folder) / f"{seed}.mp4", list(video.frames), video.fps)
            frames = np.stack([frame.image for frame in iter_frames(path, Sampling())])
            scores, previous = [], None
            for start in range(0, len(frames), CHUNK):
                part = frames[start : start + CHUNK]
                scores.append(
                    extractor.process(Chunk(part, previous, "", str(seed)))["content_val"]
                )
                previous = part[-1]
            truth = np.array(video.cuts)
            cuts_total += len(truth)
            singles += not len(truth)
            for rule in RULES:
                found = detect_cuts(
                    np.concatenate(scores), video.timestamps, ScenesConfig(detector=rule)
                )
                single[rule] += bool(len(found)) and not len(truth)
                for tol in TOLERANCES:
                    counts[rule, tol] += cut_matches(found, truth, tol)
    seconds = time.perf_counter() - started
    print(f"{args.videos} videos, {cuts_total} true cuts, {args.height} px, 8 fps, {seconds:.1f} s")
    for (rule, tol), (hits, false, missed) in counts.items():
        precision = hits / max(hits + false, 1)
        recall = hits / max(hits + missed, 1)
        print(
            f"{rule:9s} tolerance {tol} frame(s): precision {precision:.3f}  recall {recall:.3f}"
            f"  (hits {hits}, false {false}, missed {missed})"
        )
    for rule in RULES:
        print(f"{rule:9s} one-scene videos given a cut: {single[rule]} of {singles}")


if __name__ == "__main__":
    main()
