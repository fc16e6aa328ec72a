"""`qualitylab report`: one self-contained HTML file, rendered in headless Chromium."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from qualitylab.cli import app
from qualitylab.evaluate import EvaluationConfig, evaluate, write_evaluation
from qualitylab.report.html import SECTIONS

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Chromium on a machine without network access: no background connections, no sandbox
# (tests run as root in CI), no GPU.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def report(small_loop, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report") / "report.html"
    grid = tmp_path_factory.mktemp("grid")
    (grid / "tables").mkdir()
    (grid / "tables" / "regression_agg.csv").write_text("model,ONLY,S\nnone,-,0.81 ± 0.10\n")
    evaluation = tmp_path_factory.mktemp("evaluation")
    config = EvaluationConfig(
        target="synthetic_score", scorers=(str(small_loop.model_dir),), n_resamples=100
    )
    write_evaluation(evaluate(small_loop.out_dir / "features", config), evaluation)
    _report_with_scores(
        small_loop, small_loop.scores, out, "--grid", str(grid), "--evaluation", str(evaluation)
    )
    return out


def test_report_is_self_contained(report: Path) -> None:
    page = report.read_text()
    for section in SECTIONS:
        assert f">{section}</h2>" in page
    assert ">Grid</h2>" in page and ">Scored runs</h2>" in page
    assert ">Evaluation against synthetic_score</h2>" in page and "best single feature" in page
    sources = re.findall(r'src="([^"]*)"', page)
    assert len(sources) >= 10  # scatter, bar, beeswarm, six frame strips, evaluation
    assert all(source.startswith("data:image/png;base64,") for source in sources)
    assert "http://" not in page and "https://" not in page
    assert "learned predictor, out-of-fold" in page
    # The demo's features hold only the index's technical checks: it is shown as no baseline.
    assert "Webench quality index" not in page and "is not a quality baseline" in page
    assert "constant predictor (training mean or majority)" in page  # the yardstick


def test_report_errors(small_loop, tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(
        app,
        [
            "report",
            "--model",
            str(small_loop.model_dir),
            "--scores",
            str(tmp_path / "none.csv"),
            "--out",
            str(tmp_path / "r.html"),
        ],
    )
    assert missing.exit_code == 1 and "none.csv" in missing.output
    gone = runner.invoke(
        app,
        [
            "report",
            "--model",
            str(small_loop.model_dir),
            "--features",
            str(tmp_path / "gone"),
            "--out",
            str(tmp_path / "r.html"),
        ],
    )
    assert gone.exit_code == 1 and "no such feature table" in gone.output


@pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)"
)
def test_report_renders_in_chromium(report: Path, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.on("requestfailed", lambda request: problems.append(f"failed: {request.url}"))
        page.goto(report.as_uri())
        headings = page.locator("h2").all_inner_texts()
        images_loaded = page.evaluate(
            "Array.from(document.images).map(i => i.complete && i.naturalWidth > 0)"
        )
        screenshot = tmp_path / "report.png"
        page.screenshot(path=str(screenshot), full_page=True)
        browser.close()
    assert problems == []
    assert headings[: len(SECTIONS)] == list(SECTIONS)
    assert {"Grid", "Scored runs", "Evaluation against synthetic_score"} <= set(headings)
    assert images_loaded and all(images_loaded)
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image

    with Image.open(screenshot) as image:
        assert image.height > 3000  # the whole page, not just the first screen


def _report_with_scores(small_loop, scores: Path, out: Path, *options: str) -> str:
    """The page `qualitylab report` writes for the small loop's model and ``scores``, with
    any further ``options``."""
    result = CliRunner().invoke(
        app,
        [
            "report",
            "--model",
            str(small_loop.model_dir),
            "--scores",
            str(scores),
            *options,
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    return out.read_text()


def test_report_lists_the_videos_outside_the_training_distribution(
    small_loop, tmp_path: Path
) -> None:
    scores = pd.read_csv(small_loop.scores)
    scores["ood"] = ""
    scores.loc[1, "ood"] = "resolution 1280x720 outside 64x64..96x64"
    path = tmp_path / "scores.csv"
    scores.to_csv(path, index=False)
    page = _report_with_scores(small_loop, path, tmp_path / "report.html")
    assert "Outside the training distribution" in page
    assert f"{scores.loc[1, 'id']}: resolution 1280x720 outside 64x64..96x64" in page
    assert "1 of 24 videos lie outside" in page


def test_report_shows_where_quality_breaks(small_loop, tmp_path: Path) -> None:
    scores = pd.read_csv(small_loop.scores)
    path = tmp_path / "scores.csv"
    scores.to_csv(path, index=False)
    first, second = scores["id"].iloc[:2]
    found = [{"defect": "blur", "start": 2, "end": 6, "start_s": 0.25, "end_s": 0.75}]
    record = {"frames": {first: 8, second: 8}, "videos": {first: found, second: []}}
    (tmp_path / "scores_intervals.json").write_text(json.dumps(record))
    page = _report_with_scores(small_loop, path, tmp_path / "report.html")
    assert "Where quality breaks" in page
    assert "found intervals in 1 of 2 videos" in page
    assert 'alt="detected defect intervals per video"' in page
