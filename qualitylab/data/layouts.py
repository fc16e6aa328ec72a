"""Named column layouts of published multi-aspect rating sets.

A layout says which source columns hold the video, the prompt and the id, and renames
each rated aspect to qualitylab's aspect name, so that sets rated on the same aspects
train and evaluate under the same names (``visual``, ``temporal``, ``alignment``...).

- ``videofeedback``: VideoScore's VideoFeedback (TIGER-Lab/VideoFeedback on the Hugging
  Face hub; column names from its dataset card): ``id``, ``text prompt``, ``video link``
  and five aspects rated 1-4.
- ``fetv``: FETV's manual evaluation (llyx97/FETV-EVAL, ``manual_eval_results/``: per
  rater and generator ``video_id``, ``static_quality``, ``temporal_quality``,
  ``alignment`` rated 1-5; prompts from FETV's ``fetv_data.json``), flattened to one row
  per generated video with its ``video`` path, ``prompt`` and the raters' mean.
"""

from __future__ import annotations

from dataclasses import dataclass

from qualitylab.data.manifest import ColumnMapping


@dataclass(frozen=True)
class Layout:
    """A rating set's column names: video, prompt, id (None: derived from the video
    path) and its aspect columns mapped to qualitylab's aspect names, on ``scale``."""

    name: str
    video: str
    prompt: str
    id: str | None
    aspects: dict[str, str]
    scale: tuple[float, float]

    def mapping(
        self, video: str | None = None, prompt: str | None = None, id: str | None = None
    ) -> ColumnMapping:
        """The column mapping of this layout; ``video``, ``prompt`` and ``id`` replace
        the layout's own columns when given."""
        return ColumnMapping(
            video=video or self.video,
            prompt=prompt or self.prompt,
            id=id or self.id,
            targets=tuple(self.aspects.values()),
            renames=tuple(self.aspects.items()),
        )


LAYOUTS: dict[str, Layout] = {
    "videofeedback": Layout(
        name="videofeedback",
        video="video link",
        prompt="text prompt",
        id="id",
        aspects={
            "visual quality": "visual",
            "temporal consistency": "temporal",
            "dynamic degree": "dynamic",
            "text-to-video alignment": "alignment",
            "factual consistency": "factual",
        },
        scale=(1, 4),
    ),
    "fetv": Layout(
        name="fetv",
        video="video",
        prompt="prompt",
        id=None,
        aspects={
            "static_quality": "visual",
            "temporal_quality": "temporal",
            "alignment": "alignment",
        },
        scale=(1, 5),
    ),
}


def get_layout(name: str) -> Layout:
    """The layout called ``name``; ValueError listing the known ones otherwise."""
    try:
        return LAYOUTS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown layout {name!r}; known layouts: {', '.join(LAYOUTS)}") from None
