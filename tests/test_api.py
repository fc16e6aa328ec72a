"""The public Python API: cheap to import, and the README's example runs as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def test_import_is_cheap_and_names_load_on_first_use():
    probe = (
        "import sys, qualitylab as ql; heavy = [m for m in ('pandas', 'torch', 'sklearn') "
        "if m in sys.modules]; ql.Sampling; print(heavy, 'qualitylab.data.video' in sys.modules)"
    )
    printed = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert printed.strip() == "[] True"
    import qualitylab

    assert set(qualitylab.__all__) <= set(dir(qualitylab))
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        qualitylab.nothing  # noqa: B018


def test_the_readme_example_runs(capsys):
    text = README.read_text(encoding="utf-8").split("## Python API", 1)[1]
    example = re.search(r"```python\n(.*?)```", text, flags=re.S).group(1)
    exec(compile(example, "README.md (Python API)", "exec"), {})
    printed = capsys.readouterr().out
    assert "cross-validated Spearman:" in printed and "predicted_score" in printed


def test_commands_answer_bad_input_before_loading_the_heavy_libraries(tmp_path):
    """A missing path or a mistyped column is answered without importing scikit-learn,
    optuna or torch (what makes a command take seconds; benchmarks/startup.py times it)."""
    table = tmp_path / "table.csv"
    table.write_text("id,prompt,human_score,ssim.adjacent.mean\na,p,3,0.9\n")
    probe = (
        "import sys; from typer.testing import CliRunner; from qualitylab.cli import app; "
        "r = CliRunner().invoke(app, sys.argv[1:]); "
        "print(r.exit_code, [m for m in ('sklearn', 'optuna', 'torch') if m in sys.modules]); "
        "print(r.output)"
    )

    def run(*args: str) -> str:
        return subprocess.run(
            [sys.executable, "-c", probe, *args], capture_output=True, text=True, check=True
        ).stdout

    missing = run("train", str(tmp_path / "nope.parquet"), "--target", "x", "--out", "m")
    assert missing.startswith("1 []") and "no such file or directory" in missing
    mistyped = run("train", str(table), "--target", "humen_score", "--out", "m")
    assert mistyped.startswith("1 []") and "did you mean 'human_score'" in mistyped
    scored = run("score", str(tmp_path / "run"), "--model", str(tmp_path / "m"), "--out", "s.csv")
    assert scored.startswith("1 []") and "no such file or directory" in scored
