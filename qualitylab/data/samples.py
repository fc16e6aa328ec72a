"""The embedded demo dataset: short clips with known defects and a *synthetic* score.

The project builds this dataset itself, offline, in seconds. Nothing is downloaded.

Clips
    Each clip is a 2–4 s camera move (pan left/right/up/down, zoom in/out) over one of the
    photographs that ship inside scikit-image (``skimage.data``), rendered at 256×192 and
    8, 10 or 12 fps by default; ``height`` (a multiple of 24, width 4/3 of it) and ``fps``
    render the same clips at another size and one frame rate, with the pixel sizes of
    blur, shake, noise grain and compression blocks scaled with the height and flicker
    timed in seconds, so that the content and its defects stay the same. Each clip has a
    prompt that describes the photograph and the camera move.

Plan
    ``demo_specs(n_clips, seed)`` shuffles the first ``n_clips`` (24–400) entries of a
    fixed plan of defects. Any 24 or more have every defect at two or more severities,
    four clean clips and three prompt mismatches; the first 80 also have every defect at
    each severity. Entries 81–400 are eight rounds of 40 clips: two clean, every frame
    defect alone at each severity, and 14 pairs of frame defects (all 28 pairs every two
    rounds). They hold no prompt mismatch, which no classical feature can see.

Defects
    A clip carries no defect, one, or two. Each defect has a severity of 0.3, 0.6 or 1.0.
    Frame defects are pure functions of the frames and their frame rate (see
    :func:`apply_defect`); each covers
    a frame interval ``[start, end)`` of the clip (see *Defect intervals*); at severity
    ``s``:

    ============  ======  ==================================================================
    defect        weight  what it does at severity ``s``
    ============  ======  ==================================================================
    frozen        4.0     its interval, ``max(2, round(s * T / 2))`` frames, repeats its
                          first frame (the video stalls, then jumps ahead)
    flicker       5.0     brightness gain ``1 ± 0.4 s u``, the sign alternating every 1/8 s
                          (a 4 Hz flicker, the same at any frame rate), ``u ~ U(0.5, 1)``
                          per 1/8 s
    blur          5.0     Gaussian blur, sigma ``3 s`` pixels (at height 192)
    noise         4.0     film-like grain, new each frame: white noise smoothed by a
                          Gaussian of sigma 1 pixel (at height 192), scaled to std ``0.1 s``
                          (of full scale); grain that is a share of the height survives a
                          downscale, per-pixel noise would be averaged away
    shake         4.5     random per-frame translation of up to ``8 s`` pixels (at height 192)
    dark          5.0     brightness gain ``1 - 0.7 s``
    overexposed   5.0     gain ``1 + 1.5 s`` plus offset ``0.1 s``, clipped (blown highlights)
    blocks        4.5     JPEG-like DCT quantisation in ``n×n`` blocks, ``n = 8`` at height
                          192 scaled with it (12 at 288), step ``0.3 s (1 + u + v) n / 8``
                          for coefficient ``(u, v)``
    mismatch      7.0     the video is clean but the prompt is wrong: 0.3 = wrong camera
                          move, 0.6 = wrong subject, 1.0 = wrong subject and camera move
    ============  ======  ==================================================================

Defect intervals
    Every frame defect covers the frames ``[start, end)`` of the written video. ``frozen``
    covers ``max(2, round(s * T / 2))`` frames at a random place; each other frame defect
    covers the whole clip (half of them, drawn per clip) or a random stretch of 40–80 % of
    it. ``mismatch`` changes the prompt, not the frames, and has no interval. The manifest
    column ``defect_intervals`` holds them as JSON, in frames and in seconds (``start / fps``,
    ``end / fps``)::

        [{"defect": "blur", "severity": 0.6, "start": 4, "end": 19,
          "start_s": 0.4, "end_s": 1.9}]

    (``[]`` for a clip without frame defects). The intervals are drawn from their own
    random stream, so they leave the rest of the plan as it was.

Synthetic scores
    Each defect ``d`` deducts ``weight_d * severity_d * extent_d``, where ``extent_d`` is 1
    for a frame defect covering the whole clip, for ``frozen`` (whose length already grows
    with severity) and for ``mismatch``, and ``0.5 + 0.5 * share`` for a frame defect
    covering the ``share`` of the clip's frames (a defect seen at all costs at least half).
    Summed over defects::

        synthetic_score = round(clip(10 - sum_d weight_d * severity_d * extent_d, 1, 10), 2)

    over every defect: the overall score. Three aspect scores use the same formula over
    some of the defects: ``synthetic_visual`` (blur, noise, blocks, dark, overexposed),
    ``synthetic_temporal`` (frozen, flicker, shake) and ``synthetic_alignment``
    (mismatch). A clean clip scores 10 on each. The scores are made up from the defects
    by these formulas; they are *synthetic*, not human ratings.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import combinations
from pathlib import Path

import numpy as np
import skimage
import skimage.data
from scipy.fft import dctn, idctn
from scipy.ndimage import gaussian_filter
from skimage.transform import resize

from qualitylab.atomic import write_text
from qualitylab.data.video import write_video

FRAME_HEIGHT = 192
FRAME_WIDTH = 256
MIN_CLIPS = 24
FORMAT_VERSION = 3
# The noise defect's grain: the sigma in pixels (at the default height) of the Gaussian that
# smooths white noise into grain.
GRAIN_SIGMA = 1.0
# The flicker defect's frequency: its light is brighter, then darker, this many times a second.
FLICKER_HZ = 4

# Maximum deduction from the synthetic score (severity 1.0) per defect.
DEFECT_WEIGHTS: dict[str, float] = {
    "frozen": 4.0,
    "flicker": 5.0,
    "blur": 5.0,
    "noise": 4.0,
    "shake": 4.5,
    "dark": 5.0,
    "overexposed": 5.0,
    "blocks": 4.5,
    "mismatch": 7.0,
}
SEVERITIES: tuple[float, ...] = (0.3, 0.6, 1.0)

# Aspect score column -> the defects it deducts; the overall synthetic_score deducts all.
ASPECTS: dict[str, tuple[str, ...]] = {
    "synthetic_visual": ("blur", "noise", "blocks", "dark", "overexposed"),
    "synthetic_temporal": ("frozen", "flicker", "shake"),
    "synthetic_alignment": ("mismatch",),
}
# Share of the clip a part-clip frame defect covers: drawn from this range.
PARTIAL_SHARE = (0.4, 0.8)

# skimage.data photograph -> what a person would write about it.
SOURCES: dict[str, str] = {
    "astronaut": "a smiling astronaut in an orange spacesuit in front of an American flag "
    "and a model space shuttle",
    "coffee": "a cup of espresso on a red saucer with a spoon, on a wooden table",
    "chelsea": "a close-up of a tabby cat with green eyes looking at the camera",
    "rocket": "a rocket on a launch pad between tall towers at dusk",
    "hubble_deep_field": "countless distant galaxies scattered across the black of space",
    "retina": "a fundus photograph of a human retina with red blood vessels",
    "immunohistochemistry": "a microscope image of stained tissue, brown cell clusters on "
    "a pale blue background",
    "stereo_motorcycle": "a red motorcycle parked in a garage with shelves and boxes",
    "camera": "a black-and-white photo of a man with a camera on a tripod in a field",
    "moon": "a grey close-up of the lunar surface with small craters",
    "coins": "a black-and-white photo of rows of old coins on a dark background",
    "grass": "a black-and-white close-up of dry grass blades",
    "gravel": "a black-and-white close-up of a bed of gravel stones",
    "brick": "a black-and-white close-up of a wall of bricks",
}

MOTIONS: dict[str, str] = {
    "pan_left": "the camera pans slowly to the left",
    "pan_right": "the camera pans slowly to the right",
    "pan_up": "the camera pans slowly upward",
    "pan_down": "the camera pans slowly downward",
    "zoom_in": "slow zoom in",
    "zoom_out": "slow zoom out",
}
_OPPOSITE_MOTION = {
    "pan_left": "pan_right",
    "pan_right": "pan_left",
    "pan_up": "pan_down",
    "pan_down": "pan_up",
    "zoom_in": "zoom_out",
    "zoom_out": "zoom_in",
}

Defects = tuple[tuple[str, float], ...]

# Frame defects apply in this order: capture (camera, optics, exposure, sensor), then a
# stall in delivery, then compression.
_PIPELINE_ORDER = (
    "shake",
    "blur",
    "dark",
    "overexposed",
    "flicker",
    "noise",
    "frozen",
    "blocks",
    "mismatch",
)


def _extension_round(index: int) -> tuple[Defects, ...]:
    """Forty clips that extend the plan beyond its first 80: two clean clips, every frame
    defect alone at each severity, and half of the 28 pairs of frame defects (the other
    half in the next round) at severities that rotate from round to round. No prompt
    mismatch: no classical feature can see one, so more of them would only add clips
    whose score the demo's features cannot explain."""
    frame_defects = [name for name in DEFECT_WEIGHTS if name != "mismatch"]
    pairs = list(combinations(frame_defects, 2))
    half = len(pairs) // 2
    chosen = pairs[half:] if index % 2 else pairs[:half]
    return (
        *[()] * 2,
        *[((name, severity),) for severity in SEVERITIES for name in frame_defects],
        *[
            ((first, SEVERITIES[(i + index) % 3]), (second, SEVERITIES[(i + 2 * index + 1) % 3]))
            for i, (first, second) in enumerate(chosen)
        ],
    )


# The clip plan in priority order: any prefix of MIN_CLIPS or more entries has every
# defect at two or more severities, four clean clips and three prompt mismatches.
_PLAN: tuple[Defects, ...] = (
    *[()] * 4,
    *[((name, severity),) for severity in (0.3, 1.0) for name in DEFECT_WEIGHTS],
    (("blur", 0.6), ("noise", 0.3)),
    (("mismatch", 1.0), ("shake", 0.3)),
    (("blur", 0.6),),
    (("dark", 0.6), ("noise", 0.6)),
    (("mismatch", 0.6),),
    (("blocks", 0.6), ("frozen", 0.3)),
    (("flicker", 0.6),),
    (("shake", 0.6), ("blur", 0.3)),
    (("overexposed", 0.6),),
    (("flicker", 0.3), ("overexposed", 0.3)),
    (("noise", 0.6),),
    (("frozen", 0.6), ("mismatch", 0.3)),
    (("shake", 0.6),),
    (("noise", 1.0), ("blocks", 0.3)),
    (("frozen", 0.6),),
    (("flicker", 0.6), ("dark", 0.3)),
    (("dark", 0.6),),
    (("blocks", 0.6),),
    # Clips 41-80: two more clean clips, every defect once more at each severity, and
    # eleven more pairs.
    *[()] * 2,
    *[((name, severity),) for severity in SEVERITIES for name in DEFECT_WEIGHTS],
    (("blur", 0.3), ("flicker", 0.3)),
    (("noise", 0.3), ("shake", 0.3)),
    (("dark", 0.3), ("frozen", 0.6)),
    (("overexposed", 0.6), ("blocks", 0.3)),
    (("frozen", 0.3), ("noise", 0.6)),
    (("shake", 0.3), ("dark", 0.3)),
    (("flicker", 1.0), ("blur", 0.3)),
    (("blocks", 1.0), ("overexposed", 0.3)),
    (("blur", 1.0), ("frozen", 0.3)),
    (("noise", 1.0), ("flicker", 0.6)),
    (("shake", 1.0), ("blocks", 0.6)),
    # Clips 81-400: eight rounds of _extension_round.
    *[entry for index in range(8) for entry in _extension_round(index)],
)
MAX_CLIPS = len(_PLAN)


def defect_extent(name: str, share: float) -> float:
    """How much of its full deduction a defect covering ``share`` (0–1] of the clip costs."""
    if name in ("frozen", "mismatch") or share >= 1:
        return 1.0
    return 0.5 + 0.5 * share


def synthetic_score(
    defects: Sequence[tuple[str, float]],
    shares: Sequence[float] | None = None,
    aspect: str | None = None,
) -> float:
    """The synthetic score in [1, 10] of a clip with these ``(defect, severity)`` pairs,
    each covering its ``shares`` of the clip (default: all of it); with ``aspect`` (a key
    of :data:`ASPECTS`), the aspect score from that aspect's defects only."""
    if aspect is not None and aspect not in ASPECTS:
        raise ValueError(f"unknown aspect {aspect!r}; use one of {', '.join(ASPECTS)}")
    counted = DEFECT_WEIGHTS if aspect is None else ASPECTS[aspect]
    shares = [1.0] * len(defects) if shares is None else list(shares)
    penalty = sum(
        DEFECT_WEIGHTS[name] * severity * defect_extent(name, share)
        for (name, severity), share in zip(defects, shares, strict=True)
        if name in counted
    )
    return round(min(10.0, max(1.0, 10.0 - penalty)), 2)


def defect_interval(
    name: str, severity: float, share: float, position: float, n_frames: int
) -> tuple[int, int]:
    """The frames ``[start, end)`` a defect covers in a clip of ``n_frames``: ``share`` of
    them (``frozen``: ``severity / 2``, at least 2), starting at ``position`` (0–1) of the
    room left."""
    if name == "frozen":
        share = severity / 2
    minimum = 2 if name == "frozen" else 1
    length = min(n_frames, max(minimum, round(share * n_frames)))
    start = min(n_frames - length, int(position * (n_frames - length + 1)))
    return start, start + length


@dataclass(frozen=True)
class DefectInterval:
    """Where one frame defect of a clip is: frames ``[start, end)`` at ``fps``."""

    defect: str
    severity: float
    start: int
    end: int
    fps: float

    def to_dict(self) -> dict[str, object]:
        """The interval as the manifest's JSON records it (frames and seconds)."""
        return {
            "defect": self.defect,
            "severity": self.severity,
            "start": self.start,
            "end": self.end,
            "start_s": round(self.start / self.fps, 4),
            "end_s": round(self.end / self.fps, 4),
        }


@dataclass(frozen=True)
class DemoClip:
    """The recipe of one demo clip: photograph, camera move, prompt, defects, timing.

    ``placements`` holds per defect ``(share, position)``: the share of the clip it
    covers and where its stretch starts (0–1 of the room left); empty means every frame
    defect covers the whole clip (``frozen``: its own length, in the middle)."""

    id: str
    source: str
    motion: str
    prompt: str
    defects: Defects
    duration_s: float
    fps: int
    seed: int
    height: int = FRAME_HEIGHT
    placements: tuple[tuple[float, float], ...] = ()

    @property
    def width(self) -> int:
        """Frame width in pixels: 4/3 of the height."""
        return self.height * 4 // 3

    @property
    def n_frames(self) -> int:
        """Number of frames of the rendered clip."""
        return round(self.duration_s * self.fps)

    @property
    def intervals(self) -> tuple[DefectInterval, ...]:
        """The frame interval of each frame defect (not ``mismatch``), in plan order."""
        placements = self.placements or tuple((1.0, 0.5) for _ in self.defects)
        return tuple(
            DefectInterval(
                name, severity, *defect_interval(name, severity, *place, self.n_frames), self.fps
            )
            for (name, severity), place in zip(self.defects, placements, strict=True)
            if name != "mismatch"
        )

    def _shares(self) -> list[float]:
        covered = {i.defect: (i.end - i.start) / self.n_frames for i in self.intervals}
        return [covered.get(name, 1.0) for name, _ in self.defects]

    @property
    def synthetic_score(self) -> float:
        """The clip's synthetic (formula-made, not human) overall score in [1, 10]."""
        return synthetic_score(self.defects, self._shares())

    @property
    def aspect_scores(self) -> dict[str, float]:
        """The clip's synthetic aspect scores in [1, 10], by column name (see ASPECTS)."""
        return {aspect: synthetic_score(self.defects, self._shares(), aspect) for aspect in ASPECTS}

    @property
    def defects_label(self) -> str:
        """The defects as ``"blur:0.6;noise:0.3"``, or ``"none"`` for a clean clip."""
        return ";".join(f"{name}:{severity:.1f}" for name, severity in self.defects) or "none"


def demo_specs(
    n_clips: int = 32, seed: int = 0, height: int = FRAME_HEIGHT, fps: int | None = None
) -> list[DemoClip]:
    """The plan of the demo dataset: ``n_clips`` (24–400) clip recipes, fixed by ``seed``,
    rendered ``height`` pixels high, at ``fps`` (else 8, 10 or 12 fps, drawn per clip)."""
    if not MIN_CLIPS <= n_clips <= MAX_CLIPS:
        raise ValueError(f"n_clips must be between {MIN_CLIPS} and {MAX_CLIPS}, got {n_clips}")
    if height < 48 or height % 24:
        raise ValueError(f"height must be a multiple of 24 and at least 48, got {height}")
    if fps is not None and not 1 <= fps <= 60:
        raise ValueError(f"fps must be between 1 and 60, got {fps}")
    rng = np.random.default_rng(seed)
    plan = [_PLAN[i] for i in rng.permutation(n_clips)]
    sources = _shuffled_cycle(list(SOURCES), n_clips, rng)
    motions = _shuffled_cycle(list(MOTIONS), n_clips, rng)
    specs = []
    for index, (defects, source, motion) in enumerate(zip(plan, sources, motions, strict=True)):
        prompt = _prompt(source, motion, dict(defects).get("mismatch"), rng)
        duration = float(rng.choice([2.0, 3.0, 4.0]))
        drawn_fps = int(rng.choice([8, 10, 12]))  # drawn always, so fps leaves the rest alone
        clip_seed = np.random.SeedSequence([seed, index])
        specs.append(
            DemoClip(
                id=f"demo_{index:03d}",
                source=source,
                motion=motion,
                prompt=prompt,
                defects=defects,
                duration_s=duration,
                fps=drawn_fps if fps is None else fps,
                seed=int(clip_seed.generate_state(1)[0]),
                height=height,
                placements=_placements(defects, np.random.default_rng([seed, index, 1])),
            )
        )
    return specs


def _placements(defects: Defects, rng: np.random.Generator) -> tuple[tuple[float, float], ...]:
    """Per defect ``(share, position)``: a frame defect other than ``frozen`` covers the
    whole clip or, half of the time, a stretch of PARTIAL_SHARE of it."""
    placements = []
    for name, _ in defects:
        partial, share, position = rng.random() < 0.5, rng.uniform(*PARTIAL_SHARE), rng.random()
        if name == "frozen":
            placements.append((1.0, position))  # its share follows its severity
        elif name == "mismatch" or not partial:
            placements.append((1.0, 0.0))
        else:
            placements.append((share, position))
    return tuple(placements)


def _shuffled_cycle(items: list[str], length: int, rng: np.random.Generator) -> list[str]:
    """``length`` items: shuffled rounds of ``items``, so each is used about equally often."""
    rounds = -(-length // len(items))
    return [str(item) for _ in range(rounds) for item in rng.permutation(items)][:length]


def _prompt(source: str, motion: str, mismatch: float | None, rng: np.random.Generator) -> str:
    """The prompt of a clip; a mismatch changes the camera move (0.3), subject (0.6) or both."""
    subject = SOURCES[source]
    if mismatch is not None and mismatch >= 0.6:
        subject = SOURCES[str(rng.choice([name for name in SOURCES if name != source]))]
    if mismatch is not None and mismatch != 0.6:
        motion = _OPPOSITE_MOTION[motion]
    return f"{subject}, {MOTIONS[motion]}"


def render_clip(spec: DemoClip) -> np.ndarray:
    """The clip's frames with its defects, ``uint8`` ``[T, height, width, 3]``."""
    frames = _camera_move(spec.source, spec.motion, spec.n_frames, spec.height)
    for index, interval in enumerate(sorted(spec.intervals, key=_pipeline_position)):
        rng = np.random.default_rng([spec.seed, index])
        frames = _apply(
            frames,
            interval.defect,
            interval.severity,
            rng,
            (interval.start, interval.end),
            spec.fps,
        )
    return _to_uint8(frames)


def apply_defect(
    frames: np.ndarray,
    name: str,
    severity: float,
    seed: int = 0,
    interval: tuple[int, int] | None = None,
    fps: float = 8.0,
) -> np.ndarray:
    """``frames`` (``uint8`` ``[T, H, W, 3]``, at ``fps``) with one frame defect at
    ``severity`` in (0, 1] over the frames ``interval`` ``[start, end)`` (default: the whole
    clip; ``frozen``: its own length at a place drawn from ``seed``). ``fps`` times the
    flicker in seconds.

    ``name`` is any defect but ``mismatch``, which changes the prompt, not the frames.
    """
    if name not in _FRAME_DEFECTS:
        raise ValueError(f"unknown frame defect {name!r}; use one of {', '.join(_FRAME_DEFECTS)}")
    if not 0 < severity <= 1:
        raise ValueError(f"severity must be in (0, 1], got {severity}")
    rng = np.random.default_rng(seed)
    if interval is None:
        interval = defect_interval(name, severity, 1.0, rng.random(), len(frames))
    start, end = interval
    if not 0 <= start < end <= len(frames):
        raise ValueError(f"interval {interval} is not inside the clip's {len(frames)} frames")
    return _to_uint8(_apply(frames.astype(np.float32) / 255, name, severity, rng, interval, fps))


def _apply(
    frames: np.ndarray,
    name: str,
    severity: float,
    rng: np.random.Generator,
    interval: tuple[int, int],
    fps: float,
) -> np.ndarray:
    start, end = interval
    out = frames.copy()
    out[start:end] = _FRAME_DEFECTS[name](frames[start:end], severity, rng, fps)
    return out


def _to_uint8(frames: np.ndarray) -> np.ndarray:
    scaled = np.clip(frames, 0, 1)
    scaled *= 255
    scaled += 0.5
    return scaled.astype(np.uint8)


def _pipeline_position(interval: DefectInterval) -> int:
    return _PIPELINE_ORDER.index(interval.defect)


# --- camera -------------------------------------------------------------------------------

# The working copy of a photograph is scaled so that the largest 4:3 window that fits in it
# is this many times the output size; frames then sample it at 1.0–1.6 source pixels per
# output pixel, which keeps detail without visible aliasing.
_WORKING_SCALE = 1.6
_PAN_WINDOW = 0.8
_ZOOM_WINDOWS = (1.0, 0.625)
# Where a zoom closes in, as fractions of the photograph's width and height (default: centre).
_ZOOM_FOCUS: dict[str, tuple[float, float]] = {
    "astronaut": (0.33, 0.2),
    "camera": (0.35, 0.3),
    "chelsea": (0.55, 0.4),
    "coffee": (0.45, 0.35),
    "stereo_motorcycle": (0.6, 0.6),
}


@lru_cache(maxsize=2 * len(SOURCES))
def _working_image(source: str, out_height: int = FRAME_HEIGHT) -> np.ndarray:
    """The photograph as float32 RGB in [0, 1], scaled for rendering frames
    ``out_height`` pixels high (read-only)."""
    image = getattr(skimage.data, source)()
    if isinstance(image, tuple):  # stereo_motorcycle: (left, right, disparity)
        image = image[0]
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    height, width = image.shape[:2]
    fit_height = min(height, width * FRAME_HEIGHT / FRAME_WIDTH)
    scale = _WORKING_SCALE * out_height / fit_height
    shape = (round(height * scale), round(width * scale))
    working = resize(image, shape, anti_aliasing=True).astype(np.float32)
    working.flags.writeable = False
    return working


def _camera_move(
    source: str, motion: str, n_frames: int, out_height: int = FRAME_HEIGHT
) -> np.ndarray:
    """Frames ``[T, H, W, 3]`` float32 of a smooth camera move over the photograph, with
    H = ``out_height`` and W = 4/3 H."""
    out_width = out_height * 4 // 3
    image = _working_image(source, out_height)
    height, width = image.shape[:2]
    fit_height = min(height, width * FRAME_HEIGHT / FRAME_WIDTH)
    progress = np.linspace(0.0, 1.0, n_frames)
    centre_x = np.full(n_frames, width / 2)
    centre_y = np.full(n_frames, height / 2)
    if motion.startswith("zoom"):
        closeness = progress if motion == "zoom_in" else progress[::-1]
        window = _ZOOM_WINDOWS[0] * (_ZOOM_WINDOWS[1] / _ZOOM_WINDOWS[0]) ** closeness
        focus_x, focus_y = _ZOOM_FOCUS.get(source, (0.5, 0.5))
        half_w = window * fit_height * FRAME_WIDTH / FRAME_HEIGHT / 2
        half_h = window * fit_height / 2
        centre_x = np.clip(
            centre_x + (focus_x * width - centre_x) * closeness, half_w, width - half_w
        )
        centre_y = np.clip(
            centre_y + (focus_y * height - centre_y) * closeness, half_h, height - half_h
        )
    else:
        window = np.full(n_frames, _PAN_WINDOW)
        half_w = _PAN_WINDOW * fit_height * FRAME_WIDTH / FRAME_HEIGHT / 2
        half_h = _PAN_WINDOW * fit_height / 2
        if motion in ("pan_left", "pan_right"):
            sweep = np.linspace(width - half_w, half_w, n_frames)
            centre_x = sweep if motion == "pan_left" else sweep[::-1]
        else:
            sweep = np.linspace(height - half_h, half_h, n_frames)
            centre_y = sweep if motion == "pan_up" else sweep[::-1]
    step = window * fit_height / out_height  # source pixels per output pixel
    frames = np.empty((n_frames, out_height, out_width, 3), np.float32)
    for t in range(n_frames):
        xs = centre_x[t] + (np.arange(out_width) + 0.5 - out_width / 2) * step[t] - 0.5
        ys = centre_y[t] + (np.arange(out_height) + 0.5 - out_height / 2) * step[t] - 0.5
        frames[t] = _bilinear(image, xs, ys)
    return frames


def _bilinear(image: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """``image`` ``[H, W, C]`` sampled at columns ``xs`` × rows ``ys`` (edges extended)."""
    height, width, channels = image.shape
    xs = np.clip(xs, 0, width - 1)
    ys = np.clip(ys, 0, height - 1)
    x0 = np.minimum(np.floor(xs).astype(np.intp), width - 2)
    y0 = np.minimum(np.floor(ys).astype(np.intp), height - 2)
    fx = np.repeat((xs - x0).astype(np.float32), channels)
    fy = (ys - y0).astype(np.float32)[:, None]
    # Rows first, on the needed columns only, each row flattened to (column, channel) values.
    first, last = x0[0], x0[-1] + 2
    top = image[y0, first:last].reshape(len(ys), -1)
    bottom = image[y0 + 1, first:last].reshape(len(ys), -1)
    rows = top + (bottom - top) * fy
    columns = ((x0 - first) * channels)[:, None] + np.arange(channels)
    left, right = rows[:, columns.ravel()], rows[:, columns.ravel() + channels]
    return (left + (right - left) * fx).reshape(len(ys), len(xs), channels)


# --- defects: float32 frames [T, H, W, 3] in [0, 1] at fps -> same ---------------------------


def _frozen(
    frames: np.ndarray, severity: float, rng: np.random.Generator, fps: float
) -> np.ndarray:
    return np.broadcast_to(frames[:1], frames.shape)


def _flicker(
    frames: np.ndarray, severity: float, rng: np.random.Generator, fps: float
) -> np.ndarray:
    # Timed in seconds, not frames: a flicker timed by frame parity would vanish when a
    # 16-fps clip is analysed at 8 fps (every other frame, all of one sign).
    half_periods = np.floor(np.arange(len(frames)) / fps * 2 * FLICKER_HZ + 1e-9).astype(int)
    amplitudes = rng.uniform(0.5, 1.0, half_periods[-1] + 1)
    signs = np.where(half_periods % 2 == 0, 1.0, -1.0)
    gains = 1 + 0.4 * severity * signs * amplitudes[half_periods]
    return frames * gains.astype(np.float32)[:, None, None, None]


def _pixel_scale(frames: np.ndarray) -> float:
    """Pixel sizes of defects are given at the default height; this scales them."""
    return frames.shape[1] / FRAME_HEIGHT


def block_size(height: int) -> int:
    """The side in pixels of the ``blocks`` defect's blocks in frames ``height`` high: 8 at
    the default height, scaled with it (12 at 288)."""
    return max(1, round(8 * height / FRAME_HEIGHT))


def _blur(frames: np.ndarray, severity: float, rng: np.random.Generator, fps: float) -> np.ndarray:
    sigma = 3.0 * severity * _pixel_scale(frames)
    return gaussian_filter(frames, sigma=(0, sigma, sigma, 0), mode="nearest")


def _noise(frames: np.ndarray, severity: float, rng: np.random.Generator, fps: float) -> np.ndarray:
    # A grain whose size follows the height, not per-pixel noise: downscaling would average
    # per-pixel noise away, so the same clip at a higher resolution would look cleaner.
    sigma = GRAIN_SIGMA * _pixel_scale(frames)
    grain = gaussian_filter(rng.standard_normal(frames.shape, np.float32), (0, sigma, sigma, 0))
    return frames + grain * np.float32(0.1 * severity / grain.std())


def _shake(frames: np.ndarray, severity: float, rng: np.random.Generator, fps: float) -> np.ndarray:
    height, width = frames.shape[1:3]
    amplitude = 8.0 * severity * _pixel_scale(frames)
    # Sample a window inset by the amplitude so that shifted frames never show an edge.
    scale_x = (width - 2 * amplitude) / width
    scale_y = (height - 2 * amplitude) / height
    offsets = rng.uniform(-amplitude, amplitude, (len(frames), 2))
    out = np.empty_like(frames)
    for t, (dx, dy) in enumerate(offsets):
        xs = amplitude + dx + (np.arange(width) + 0.5) * scale_x - 0.5
        ys = amplitude + dy + (np.arange(height) + 0.5) * scale_y - 0.5
        out[t] = _bilinear(frames[t], xs, ys)
    return out


def _dark(frames: np.ndarray, severity: float, rng: np.random.Generator, fps: float) -> np.ndarray:
    return frames * (1 - 0.7 * severity)


def _overexposed(
    frames: np.ndarray, severity: float, rng: np.random.Generator, fps: float
) -> np.ndarray:
    return np.minimum(frames * (1 + 1.5 * severity) + 0.1 * severity, 1.0)


def _blocks(
    frames: np.ndarray, severity: float, rng: np.random.Generator, fps: float
) -> np.ndarray:
    n_frames, height, width, channels = frames.shape
    size = block_size(height)
    if height % size or width % size:
        raise ValueError(
            f"blocks needs frame sides that are multiples of {size}, got {width}×{height}"
        )
    blocks = frames.reshape(n_frames, height // size, size, width // size, size, channels)
    coefficients = dctn(blocks, axes=(2, 4), norm="ortho")
    u = np.arange(size)
    # Orthonormal DCT coefficients of the same picture grow with the block side, so the
    # steps do too: a larger block then quantises the same content the same way.
    steps = 0.3 * severity * (1 + u[:, None, None] + u[None, None, :]) * size / 8
    quantised = np.round(coefficients / steps[:, :, :, None]) * steps[:, :, :, None]
    return idctn(quantised, axes=(2, 4), norm="ortho").astype(np.float32).reshape(frames.shape)


_FRAME_DEFECTS: dict[str, Callable[[np.ndarray, float, np.random.Generator, float], np.ndarray]] = {
    "frozen": _frozen,
    "flicker": _flicker,
    "blur": _blur,
    "noise": _noise,
    "shake": _shake,
    "dark": _dark,
    "overexposed": _overexposed,
    "blocks": _blocks,
}


# --- the dataset on disk ----------------------------------------------------------------------

_MANIFEST_COLUMNS = (
    "id",
    "video",
    "prompt",
    "synthetic_score",
    *ASPECTS,
    "defects",
    "defect_intervals",
    "source_image",
    "motion",
    "fps",
    "duration_s",
)
_VIDEO_QUALITY = 20


def build_demo_dataset(
    out_dir: str | Path,
    n_clips: int = 32,
    seed: int = 0,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
    height: int = FRAME_HEIGHT,
    fps: int | None = None,
) -> Path:
    """Write the demo dataset to ``out_dir`` and return the path of its ``manifest.csv``.

    ``out_dir`` gets ``videos/<id>.mp4``, ``manifest.csv`` (``id, video, prompt,
    synthetic_score, synthetic_visual, synthetic_temporal, synthetic_alignment, defects,
    defect_intervals, source_image, motion, fps, duration_s``), ``README.md`` and
    ``dataset.json``. A complete dataset already there with the same ``n_clips`` and
    ``seed`` is kept as it is unless ``overwrite``; an interrupted build is redone. Any
    other content in a non-empty ``out_dir`` is an error unless ``overwrite``, which
    replaces the dataset's own files and leaves other files alone. ``progress(done,
    total)`` is called after each clip. ``height`` and ``fps`` render the clips at
    another size and one frame rate (see :func:`demo_specs`).
    """
    out_dir = Path(out_dir)
    specs = demo_specs(n_clips, seed, height, fps)
    identity = {"format_version": FORMAT_VERSION, "n_clips": n_clips, "seed": seed}
    if height != FRAME_HEIGHT or fps is not None:
        identity |= {"height": height, "fps": fps}
    recorded = _read_dataset_json(out_dir)
    ours = recorded is not None and all(recorded.get(k) == v for k, v in identity.items())
    manifest = out_dir / "manifest.csv"
    if not overwrite:
        if ours and recorded.get("complete") is True and _videos_present(out_dir, specs):
            return manifest
        if not ours and _has_content(out_dir):
            raise FileExistsError(_occupied_message(out_dir, recorded))
    write_text(out_dir / "dataset.json", _dataset_json(identity, complete=False))
    _remove_dataset_files(out_dir)
    for done, spec in enumerate(specs, start=1):
        video = out_dir / "videos" / f"{spec.id}.mp4"
        partial = video.with_name(f"{spec.id}.partial.mp4")
        write_video(partial, render_clip(spec), spec.fps, quality=_VIDEO_QUALITY)
        os.replace(partial, video)
        if progress is not None:
            progress(done, len(specs))
    write_text(manifest, _manifest_csv(specs))
    write_text(out_dir / "README.md", _readme(specs, seed))
    write_text(out_dir / "dataset.json", _dataset_json(identity, complete=True))
    return manifest


def _read_dataset_json(out_dir: Path) -> dict[str, object] | None:
    try:
        record = json.loads((out_dir / "dataset.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _dataset_json(identity: dict[str, int | None], complete: bool) -> str:
    record = {
        **identity,
        "complete": complete,
        "generator": __name__,
        "scikit_image": skimage.__version__,
        "score": "synthetic_score (synthetic, made from the defects; not human ratings)",
    }
    return json.dumps(record, indent=2) + "\n"


def _videos_present(out_dir: Path, specs: Sequence[DemoClip]) -> bool:
    return (out_dir / "manifest.csv").is_file() and all(
        (out_dir / "videos" / f"{spec.id}.mp4").is_file() for spec in specs
    )


def _has_content(out_dir: Path) -> bool:
    return out_dir.is_dir() and any(out_dir.iterdir())


def _occupied_message(out_dir: Path, recorded: dict[str, object] | None) -> str:
    if recorded is not None and "n_clips" in recorded:
        held = (
            f"a demo dataset built with n_clips={recorded.get('n_clips')}, "
            f"seed={recorded.get('seed')}"
        )
    else:
        held = "other files"
    return f"{out_dir} is not empty (it holds {held}); pass overwrite=True (--overwrite on the command line) to replace it"


def _remove_dataset_files(out_dir: Path) -> None:
    """Delete what an earlier build wrote (but not dataset.json), leaving other files."""
    for name in ("manifest.csv", "README.md"):
        (out_dir / name).unlink(missing_ok=True)
    videos = out_dir / "videos"
    if videos.is_dir():
        for video in videos.glob("demo_*.mp4"):
            video.unlink()


def _manifest_csv(specs: Sequence[DemoClip]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(_MANIFEST_COLUMNS)
    for spec in specs:
        writer.writerow(
            [
                spec.id,
                f"videos/{spec.id}.mp4",
                spec.prompt,
                f"{spec.synthetic_score:.2f}",
                *[f"{score:.2f}" for score in spec.aspect_scores.values()],
                spec.defects_label,
                json.dumps([interval.to_dict() for interval in spec.intervals]),
                spec.source,
                spec.motion,
                spec.fps,
                f"{spec.duration_s:.1f}",
            ]
        )
    return buffer.getvalue()


_DEFECT_EFFECTS: dict[str, str] = {
    "frozen": "its interval of max(2, round(s × T / 2)) frames repeats its first frame "
    "(the video stalls, then jumps ahead)",
    "flicker": "brightness gain 1 ± 0.4·s·u, the sign alternating every 1/8 s (4 Hz at any "
    "frame rate), u ~ U(0.5, 1) per 1/8 s",
    "blur": "Gaussian blur with sigma 3·s pixels (at height 192, scaled with the height)",
    "noise": "grain, new in every frame: white noise smoothed by a Gaussian of sigma 1 pixel "
    "(at height 192, scaled with the height), std 0.1·s of full scale",
    "shake": "random per-frame translation of up to 8·s pixels (at height 192, scaled with "
    "the height)",
    "dark": "brightness gain 1 − 0.7·s",
    "overexposed": "brightness gain 1 + 1.5·s plus offset 0.1·s, clipped (blown highlights)",
    "blocks": "JPEG-like DCT quantisation in n×n blocks (n = 8 at height 192, scaled with the "
    "height), step 0.3·s·(1 + u + v)·n/8 for coefficient (u, v)",
    "mismatch": "the video is clean but the prompt is wrong: 0.3 = wrong camera move, "
    "0.6 = wrong subject, 1.0 = wrong subject and wrong camera move",
}


def _readme(specs: Sequence[DemoClip], seed: int) -> str:
    scores = np.array([spec.synthetic_score for spec in specs])
    lines = [
        "# qualitylab demo dataset (synthetic scores)",
        "",
        f"{len(specs)} short videos made by `qualitylab.data.samples.build_demo_dataset("
        f"out_dir, n_clips={len(specs)}, seed={seed})` from photographs that ship inside "
        f"scikit-image {skimage.__version__} (`skimage.data`). Nothing was downloaded.",
        "",
        "**The scores are synthetic.** `synthetic_score` and the aspect scores "
        "`synthetic_visual`, `synthetic_temporal` and `synthetic_alignment` are computed "
        "from each clip's planted defects by the formula below. No person rated these videos; use the "
        "dataset to try the pipeline end to end, not to measure how well a model predicts "
        "human ratings.",
        "",
        "## Files",
        "",
        "- `videos/<id>.mp4`: H.264 (yuv420p, CRF "
        f"{_VIDEO_QUALITY}), {specs[0].width}×{specs[0].height}, "
        f"{', '.join(map(str, sorted({spec.fps for spec in specs})))} fps, 2–4 s.",
        "- `manifest.csv`: one row per clip: `" + ", ".join(_MANIFEST_COLUMNS) + "`. "
        "`video` is relative to the manifest; `defects` reads `name:severity;…` or `none`; "
        "`defect_intervals` is a JSON list of `{defect, severity, start, end, start_s, "
        "end_s}`: the frames `[start, end)` of the video each frame defect covers, and the "
        "same in seconds.",
        "- `dataset.json`: format version, `n_clips`, `seed`, and whether the build completed.",
        "",
        "## How a clip is made",
        "",
        "1. A photograph is seen through a 4:3 camera window that moves smoothly (sub-pixel, "
        "bilinear): a window 80 % the size of the picture pans left, right, up or down from "
        "one edge to the other, or the camera zooms in or out between the whole picture and "
        "62.5 % of it.",
        "2. The clip's frame defects are applied in this order: "
        + ", ".join(name for name in _PIPELINE_ORDER if name != "mismatch")
        + ".",
        "3. The prompt describes the photograph and the camera move, except where the "
        "`mismatch` defect makes it wrong.",
        "",
        "## Defects",
        "",
        "Each defect has a severity `s` of 0.3, 0.6 or 1.0; a clip has no defect, one, or two.",
        "`frozen` covers max(2, round(s × T / 2)) frames at a random place; every other "
        "frame defect covers the whole clip or (half of them) a random stretch of "
        f"{PARTIAL_SHARE[0]:.0%}–{PARTIAL_SHARE[1]:.0%} of it; `mismatch` has no interval.",
        "",
        "| defect | weight | effect at severity s | clips |",
        "|---|---|---|---|",
    ]
    for name, weight in DEFECT_WEIGHTS.items():
        used = [severity for spec in specs for defect, severity in spec.defects if defect == name]
        lines.append(f"| {name} | {weight:.1f} | {_DEFECT_EFFECTS[name]} | {len(used)} |")
    lines += [
        "",
        "## Synthetic scores",
        "",
        "```",
        "synthetic_score = round(clip(10 - sum_d weight_d * severity_d * extent_d, 1, 10), 2)",
        "```",
        "",
        "summed over the clip's defects `d`, with the weights in the table above; "
        "`extent_d` is 1 for a defect over the whole clip, for `frozen` and for `mismatch`, "
        "and 0.5 + 0.5 × share for a frame defect covering that share of the frames. "
        "The aspect scores use the same formula over some defects only: "
        + "; ".join(f"`{aspect}`: {', '.join(names)}" for aspect, names in ASPECTS.items())
        + ". A clean clip scores 10 on each. In this build: "
        f"min {scores.min():.2f}, mean {scores.mean():.2f}, max {scores.max():.2f}; "
        f"{sum(not spec.defects for spec in specs)} clean clips.",
        "",
        "## Photographs and prompts",
        "",
        "| `skimage.data` | description |",
        "|---|---|",
        *[f"| {name} | {subject} |" for name, subject in SOURCES.items()],
        "",
        "## Clips",
        "",
        "| id | photograph | motion | defects | synthetic_score | frames | prompt |",
        "|---|---|---|---|---|---|---|",
        *[
            f"| {spec.id} | {spec.source} | {spec.motion} | {spec.defects_label} | "
            f"{spec.synthetic_score:.2f} | {spec.n_frames} | {spec.prompt} |"
            for spec in specs
        ],
        "",
        "## Rebuilding",
        "",
        "```python",
        "from qualitylab.data.samples import build_demo_dataset",
        f"build_demo_dataset(out_dir, n_clips={len(specs)}, seed={seed}, overwrite=True)",
        "```",
        "",
        "The same `n_clips` and `seed` give the same manifest and the same frames.",
        "",
    ]
    return "\n".join(lines)
