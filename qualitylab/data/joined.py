"""Synthetic multi-scene videos with known cuts: demo clips (camera moves over scikit-image
photographs, see :mod:`qualitylab.data.samples`) joined end to end, some with a defect
that changes frames without a cut (flicker, shake, noise, blur, a frozen stretch), so that
a cut detector's precision and recall can be measured against the true cut frames."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qualitylab.data.samples import MOTIONS, SOURCES, DemoClip, render_clip

# Defects within a scene that a cut detector must not mistake for a cut.
CONFUSERS: tuple[str, ...] = ("flicker", "shake", "noise", "blur", "frozen")
SCENE_SECONDS: tuple[float, ...] = (1.5, 2.0, 3.0)


@dataclass(frozen=True)
class JoinedVideo:
    """Frames ``uint8`` ``[T, H, W, 3]`` at ``fps``, and the frame where each scene starts
    (0 first)."""

    frames: np.ndarray
    starts: tuple[int, ...]
    fps: int

    @property
    def cuts(self) -> tuple[int, ...]:
        """The frames that start a scene after the first."""
        return self.starts[1:]

    @property
    def timestamps(self) -> np.ndarray:
        """Each frame's time in seconds."""
        return np.arange(len(self.frames)) / self.fps


def joined_video(
    n_scenes: int,
    seed: int,
    *,
    fps: int = 8,
    height: int = 96,
    defect_share: float = 0.5,
) -> JoinedVideo:
    """A video of ``n_scenes`` demo clips joined, drawn from ``seed``: each scene shows a
    different photograph than the one before, with a random camera move and length, and
    with a random confusing defect (severity 0.3-1.0) with probability ``defect_share``."""
    if n_scenes < 1:
        raise ValueError(f"n_scenes must be at least 1, got {n_scenes}")
    rng = np.random.default_rng(seed)
    parts: list[np.ndarray] = []
    starts: list[int] = []
    source = None
    for index in range(n_scenes):
        source = str(rng.choice([name for name in SOURCES if name != source]))
        defects: tuple[tuple[str, float], ...] = ()
        if rng.random() < defect_share:
            defects = ((str(rng.choice(CONFUSERS)), float(rng.choice([0.3, 0.6, 1.0]))),)
        clip = DemoClip(
            id=f"scene_{index}",
            source=source,
            motion=str(rng.choice(list(MOTIONS))),
            prompt="",
            defects=defects,
            duration_s=float(rng.choice(SCENE_SECONDS)),
            fps=fps,
            seed=int(rng.integers(2**31)),
            height=height,
        )
        starts.append(sum(len(part) for part in parts))
        parts.append(render_clip(clip))
    return JoinedVideo(np.concatenate(parts), tuple(starts), fps)


def cut_matches(found: np.ndarray, truth: np.ndarray, tolerance: int = 0) -> tuple[int, int, int]:
    """True positives, false positives and false negatives of detected cut frames against
    true ones: a detected cut matches at most one unmatched true cut within ``tolerance``
    frames (nearest first)."""
    unmatched = sorted(int(cut) for cut in truth)
    hits = 0
    for cut in sorted(int(cut) for cut in found):
        near = [true for true in unmatched if abs(true - cut) <= tolerance]
        if near:
            unmatched.remove(min(near, key=lambda true: abs(true - cut)))
            hits += 1
    return hits, len(found) - hits, len(unmatched)
