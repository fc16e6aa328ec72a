"""Prompt files for ``qualitylab generate --prompts``: what a run generates, one video per
entry, each with an id that names its files.

- ``.txt``: one prompt a line; blank lines and lines starting with ``#`` are skipped; ids
  ``p001``, ``p002``, ... in order.
- ``.json``: a list of prompts (strings, or objects with ``prompt`` and optionally ``id``
  and other fields such as ``category``), or an object whose ``prompts`` field is that list
  (the benchmark file's form).
- ``.csv``: a ``prompt`` column and optionally an ``id`` column.

An entry's ``duration`` (seconds) sets its video's length unless the run's settings set
one for all. Ids must be unique and made of letters, digits, ``.``, ``_`` and ``-``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass(frozen=True)
class VideoRequest:
    """One video to generate: its id, its story prompt, and fields carried into its
    record (e.g. the benchmark category)."""

    id: str
    prompt: str
    extra: dict[str, Any] = field(default_factory=dict)


def prompt_id(prompt: str, max_length: int = 48) -> str:
    """An id made from a prompt's first words: lower case, underscores, at most
    ``max_length`` characters (``video`` when nothing is left)."""
    words = re.findall(r"[a-z0-9]+", prompt.lower())
    slug = ""
    for word in words:
        candidate = f"{slug}_{word}" if slug else word
        if len(candidate) > max_length:
            break
        slug = candidate
    return slug or "video"


def load_prompts(path: str | Path) -> list[VideoRequest]:
    """The videos a prompts file asks for; ValueError naming the file and the entry when
    it is unreadable, empty, or has a bad or duplicate id or an empty prompt."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"prompts file {path} does not exist")
    suffix = path.suffix.lower()
    try:
        if suffix == ".txt":
            entries: list[Any] = _text_entries(path.read_text(encoding="utf-8"))
        elif suffix == ".json":
            entries = _json_entries(path, json.loads(path.read_text(encoding="utf-8")))
        elif suffix == ".csv":
            entries = _csv_entries(path)
        else:
            raise ValueError("unsupported format; use .txt, .json or .csv")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"prompts file {path}: cannot read it: {exc}") from None
    except ValueError as exc:
        raise ValueError(f"prompts file {path}: {exc}") from None
    return requests_from_entries(entries, str(path))


def _text_entries(text: str) -> list[Any]:
    lines = (line.strip() for line in text.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def _json_entries(path: Path, data: Any) -> list[Any]:
    if isinstance(data, dict):
        if "prompts" not in data:
            raise ValueError("a JSON object needs a 'prompts' list")
        data = data["prompts"]
    if not isinstance(data, list):
        raise ValueError("expected a list of prompts")
    return data


def _csv_entries(path: Path) -> list[Any]:
    import pandas as pd

    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    if "prompt" not in table.columns:
        raise ValueError(f"no 'prompt' column (columns: {', '.join(table.columns)})")
    entries = table.to_dict(orient="records")
    for entry in entries:
        if "duration" in entry:
            text = entry.pop("duration").strip()
            if text:
                try:
                    entry["duration"] = float(text)
                except ValueError:
                    entry["duration"] = text  # reported with its entry number
    return entries


def requests_from_entries(entries: list[Any], source: str) -> list[VideoRequest]:
    """Video requests from prompt entries (strings or mappings with ``prompt``, ``id``
    and extra fields); ValueError naming ``source`` and the entry (counted from 1)."""
    if not entries:
        raise ValueError(f"prompts file {source}: no prompts")
    requests: list[VideoRequest] = []
    seen: dict[str, int] = {}
    for number, entry in enumerate(entries, start=1):
        where = f"prompts file {source}, entry {number}"
        if isinstance(entry, str):
            entry = {"prompt": entry}
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: expected a prompt string or an object, got {entry!r}")
        prompt = entry.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValueError(f"{where}: 'prompt' must be a non-empty string")
        raw_id = entry.get("id") or f"p{number:03d}"
        video_id = str(raw_id)
        if not _ID.match(video_id):
            raise ValueError(
                f"{where}: id {video_id!r} must be letters, digits, '.', '_' or '-' "
                "(it names the video file)"
            )
        if video_id in seen:
            raise ValueError(f"{where}: id {video_id!r} is also entry {seen[video_id]}")
        seen[video_id] = number
        duration = entry.get("duration")
        if duration is not None and (
            isinstance(duration, bool)
            or not isinstance(duration, int | float)
            or not 0 < duration <= 300
        ):
            raise ValueError(f"{where}: 'duration' must be seconds in (0, 300], got {duration!r}")
        extra = {k: v for k, v in entry.items() if k not in ("id", "prompt")}
        requests.append(VideoRequest(video_id, " ".join(prompt.split()), extra))
    return requests
