"""A folder of videos with their prompts, read as a manifest (for scoring new runs).

The prompts come from a file given by the user or found in the folder, in one of three
forms:

- JSON: an object ``{"<video file name or stem>": "prompt", ...}`` or a list of objects
  ``{"video": "<file name>", "prompt": "..."}``;
- CSV: columns ``video`` and ``prompt``;
- one ``<stem>.txt`` per video, next to it, holding the prompt (when no file is given
  and the folder has neither ``prompts.json`` nor ``prompts.csv``).

A folder holding a ``manifest.csv`` (as ``qualitylab generate`` writes) is read as that
manifest instead. Videos without a prompt are returned separately, with the reason, so
that the others can still be scored, unless prompts are not needed (no extractor that
reads one will run): then they keep an empty prompt.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from qualitylab.data.manifest import ColumnMapping, Manifest, ManifestError, load_manifest

VIDEO_EXTENSIONS = (".mp4", ".webm", ".mov", ".mkv", ".avi", ".gif")
PROMPT_FILES = ("prompts.json", "prompts.csv")
FOLDER_MANIFEST = "manifest.csv"


def find_videos(folder: Path) -> list[Path]:
    """The video files in ``folder`` and its sub-folders, sorted by path."""
    return sorted(
        path
        for path in folder.rglob("*")
        if path.is_file() and path.suffix.lower() in VIDEO_EXTENSIONS
    )


PROMPT_WAYS = (
    "--prompts FILE (a .json {video: prompt} or a .csv with columns video, prompt), a "
    "prompts.json or prompts.csv in the folder, a <name>.txt next to each video, or a "
    "manifest.csv in the folder (as `qualitylab generate` writes)"
)


def read_input(
    source: str | Path, prompts: str | Path | None = None, *, prompts_needed: bool = True
) -> tuple[Manifest, pd.DataFrame]:
    """The manifest of ``source`` (a manifest file, or a folder of videos with prompts),
    and the videos left out because they have no prompt (columns ``id, video, error``).
    Without ``prompts_needed`` no video is left out: one without a prompt keeps an empty
    one.

    ManifestError on an empty folder, an unreadable prompts file, or no usable video (the
    message names every way to give prompts).
    """
    source = Path(source)
    if not source.is_dir():
        if prompts is not None:
            raise ManifestError(f"--prompts is for a folder of videos; {source} is a manifest")
        return load_manifest(source), _left_out([])
    if prompts is None and (source / FOLDER_MANIFEST).is_file():
        return load_manifest(source / FOLDER_MANIFEST), _left_out([])
    videos = find_videos(source)
    if not videos:
        raise ManifestError(
            f"{source}: no videos found (looked for {', '.join(VIDEO_EXTENSIONS)} files)"
        )
    ids = [video.relative_to(source).with_suffix("").as_posix() for video in videos]
    prompt_file = Path(prompts) if prompts is not None else _prompt_file(source)
    if prompt_file is None:
        found = {i: _text_prompt(video) for i, video in zip(ids, videos)}
        where = "a <name>.txt next to the video"
    else:
        found = _read_prompts(prompt_file, source, videos, ids)
        where = str(prompt_file)
    rows = [
        (i, str(v), found.get(i, ""))
        for i, v in zip(ids, videos)
        if found.get(i) or not prompts_needed
    ]
    missing = [
        (i, str(v), f"no prompt for this video in {where}")
        for i, v in zip(ids, videos)
        if not (found.get(i) or not prompts_needed)
    ]
    if not rows:
        raise ManifestError(
            f"{source}: none of its {len(videos)} videos has a prompt in {where} (e.g. "
            f"{ids[0]!r}); give prompts with {PROMPT_WAYS}"
        )
    table = pd.DataFrame(rows, columns=["id", "video", "prompt"])
    manifest = Manifest(table, str(source), "folder", source, ColumnMapping(), ())
    return manifest, _left_out(missing)


def _left_out(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["id", "video", "error"])


def _prompt_file(folder: Path) -> Path | None:
    return next((folder / name for name in PROMPT_FILES if (folder / name).is_file()), None)


def _text_prompt(video: Path) -> str:
    text = video.with_suffix(".txt")
    return text.read_text(encoding="utf-8").strip() if text.is_file() else ""


def _read_prompts(path: Path, folder: Path, videos: list[Path], ids: list[str]) -> dict[str, str]:
    """``{video id: prompt}`` from a JSON or CSV prompts file, matching entries by file
    name, stem, or path relative to the folder."""
    if not path.is_file():
        raise ManifestError(f"{path}: no such prompts file")
    try:
        if path.suffix.lower() == ".json":
            entries = _json_entries(json.loads(path.read_text(encoding="utf-8")), path)
        elif path.suffix.lower() == ".csv":
            table = pd.read_csv(path, dtype=str, keep_default_na=False)
            if not {"video", "prompt"} <= set(table.columns):
                raise ManifestError(
                    f"{path}: needs the columns 'video' and 'prompt'; it has "
                    f"{', '.join(map(repr, table.columns))}"
                )
            entries = list(zip(table["video"], table["prompt"]))
        else:
            raise ManifestError(f"{path}: prompts must be a .json or .csv file")
    except (json.JSONDecodeError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise ManifestError(f"{path}: cannot read prompts: {exc}") from None
    by_key: dict[str, str] = {}
    for key, prompt in entries:
        by_key[str(key).strip()] = str(prompt).strip()
    found = {}
    for video_id, video in zip(ids, videos):
        relative = video.relative_to(folder).as_posix()
        for key in (relative, video_id, video.name, video.stem):
            if key in by_key:
                found[video_id] = by_key[key]
                break
    return found


def _json_entries(data: object, path: Path) -> list[tuple[str, str]]:
    if isinstance(data, dict):
        return [(key, value) for key, value in data.items()]
    if isinstance(data, list) and all(
        isinstance(item, dict) and "video" in item and "prompt" in item for item in data
    ):
        return [(item["video"], item["prompt"]) for item in data]
    raise ManifestError(
        f"{path}: expected an object {{video: prompt}} or a list of "
        '{"video": ..., "prompt": ...} objects'
    )
