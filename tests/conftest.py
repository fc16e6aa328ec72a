"""Shared fixtures: an isolated cache root, tiny videos, and the shared real dataset."""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from qualitylab.data.video import write_video
from qualitylab.features import extract

REAL_DATA_DIR = (
    Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "t2v-human-5models"
)


@pytest.fixture(autouse=True)
def isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Point QUALITYLAB_HOME at a fresh directory so tests never touch the user's cache, and
    empty the engine's per-process cache of loaded extractors, so that no test runs the
    models another test loaded from its own weights."""
    home = tmp_path_factory.mktemp("qualitylab-home")
    monkeypatch.setenv("QUALITYLAB_HOME", str(home))
    monkeypatch.setattr(extract, "_LOADED", {})
    return home


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any attempt to open a network connection fail."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("network access attempted in an offline test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


@pytest.fixture
def real_data_dir() -> Path:
    """The shared human-rated dataset; the test is skipped when it is absent."""
    if not (REAL_DATA_DIR / "manifest.csv").is_file():
        pytest.skip(f"shared real dataset not found at {REAL_DATA_DIR}")
    return REAL_DATA_DIR


def make_video(
    path: Path, num_frames: int = 6, size: tuple[int, int] = (48, 64), fps: float = 8
) -> Path:
    """Write a small video whose frames get brighter one by one."""
    height, width = size
    frames = [np.full((height, width, 3), 30 + 30 * i, np.uint8) for i in range(num_frames)]
    return write_video(path, frames, fps)


def rated_feature_table(rows: int = 80, seed: int = 0) -> pd.DataFrame:
    """Scores driven by two of four features; four videos per prompt."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 4))
    score = 5.5 + 1.5 * x[:, 0] - 1.0 * x[:, 1] + 0.3 * rng.normal(size=rows)
    table = pd.DataFrame(
        {
            "id": [f"v{i:03d}" for i in range(rows)],
            "prompt": [f"p{i // 4:02d}" for i in range(rows)],
            "human_score": np.clip(score, 1, 10),
        }
    )
    for j in range(4):
        table[f"fam.sig{j}.mean"] = x[:, j]
    return table


SMALL_LOOP = {
    "name": "small",
    "data": {"demo_clips": 24, "seed": 0},
    "learned": "none",
    "protocol": "thesis",
    "features": None,  # the thesis protocol's offline extractors
    "sampling": {"num_frames": 8, "short_side": 64},
    "training": {"trials": 5, "cv": 3},
    "score": {"demo_clips": 24, "seed": 1},
    "workers": 1,
}


@pytest.fixture(scope="session")
def small_loop(tmp_path_factory: pytest.TempPathFactory):
    """One pass of the whole loop on a small demo (24 clips, 8 frames each, 5 trials),
    shared by the tests of scoring, explanations and reports; they must not change it."""
    from qualitylab.experiment_loop import LoopExperiment, run_loop

    out = tmp_path_factory.mktemp("small-loop")
    # Session fixtures start before the per-test isolated_home: give this one its own.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("QUALITYLAB_HOME", str(tmp_path_factory.mktemp("small-loop-home")))
        return run_loop(LoopExperiment.model_validate(SMALL_LOOP), out)
