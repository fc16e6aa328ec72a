"""The defect intervals of a scored run on disk: where they go and how they are read.

``score --intervals`` writes ``<scores stem>_intervals.json`` beside the scores CSV::

    {"detector_dir": "...", "detector": "sequence" | "rules",
     "sampling": {...the analysed frames...}, "defects": [...],
     "frames": {"<id>": number of analysed frames, ...},
     "videos": {"<id>": [{"defect": "blur", "start": 3, "end": 12,
                          "start_s": 0.375, "end_s": 1.5}, ...], ...}}

``start``/``end`` are analysed frames ``[start, end)`` at that sampling; ``start_s`` /
``end_s`` are seconds of the video.
"""

from __future__ import annotations

import json
from pathlib import Path


def intervals_path(scores: str | Path) -> Path:
    """Where the defect intervals of a scores file go: ``<scores stem>_intervals.json``
    beside it."""
    scores = Path(scores)
    return scores.with_name(f"{scores.stem}_intervals.json")


def read_run_intervals(path: str | Path) -> dict[str, list[dict[str, object]]]:
    """The intervals per video id of a file :func:`write_run_intervals` wrote; an empty
    mapping when there is no such file."""
    path = Path(path)
    if not path.is_file():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))["videos"]


def video_intervals(scores: str | Path, video_id: str) -> list[dict[str, object]]:
    """The defect intervals of one video of a scores file, each with ``from`` and ``to``:
    where it starts and ends as a fraction of the clip (0–1); empty when none were
    written."""
    path = intervals_path(scores)
    if not path.is_file():
        return []
    record = json.loads(path.read_text(encoding="utf-8"))
    frames = record.get("frames", {}).get(video_id) or 0
    return [
        {**found, "from": found["start"] / frames, "to": found["end"] / frames}
        for found in record["videos"].get(video_id, [])
        if frames
    ]
