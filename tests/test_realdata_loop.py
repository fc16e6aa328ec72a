"""The whole loop on the shared human-rated set: the predictor learns real signal and
the report puts it beside the hand-weighted quality index."""

from __future__ import annotations

from pathlib import Path

import pytest

from qualitylab.experiment_loop import LoopExperiment, run_loop


@pytest.mark.realdata
@pytest.mark.slow
def test_loop_on_the_real_set(real_data_dir: Path, tmp_path: Path) -> None:
    experiment = LoopExperiment(
        name="t2v",
        data=str(real_data_dir / "manifest.csv"),
        target="human_score",
        learned="none",
        sampling={"num_frames": 12, "short_side": 128},
        training={"trials": 10, "group_by": "prompt"},
        score=None,
    )
    result = run_loop(experiment, tmp_path)
    spearman = result.metrics["spearman"]
    assert spearman["ci"][0] > 0, spearman  # real signal, with prompts never split
    page = result.report.read_text()
    assert "Webench quality index" in page and "folds grouped by prompt" in page
