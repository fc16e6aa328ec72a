"""`qualitylab serve`: the API (every endpoint, bad input, traversal attempts, the token),
jobs that survive a restart, a small load test on loopback, and the pages in Chromium.

One service is shared by the module: uvicorn in a thread on a free port (its lifespan runs
the job runner, one worker process); the API tests call the same app through TestClient.
Its inputs are copies of the small loop's scored videos: a folder of two videos, and two
"versions" of a benchmark run.
"""

from __future__ import annotations

import json
import shutil
import socket
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pandas as pd
import pytest
import uvicorn
from conftest import make_video
from fastapi.testclient import TestClient
from test_report import CHROMIUM, CHROMIUM_ARGS
from typer.testing import CliRunner

from qualitylab.cli import app as cli_app
from qualitylab.serve.app import ServeSettings, create_app
from qualitylab.serve.jobs import JobParams, JobStore, execute_job

FINAL = {"done", "failed", "cancelled"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _copy_videos(small_loop, folder: Path, count: int, offset: int = 0) -> pd.DataFrame:
    """Copy ``count`` scored demo videos into ``folder/videos`` with a manifest.csv."""
    source = small_loop.out_dir / "score_data"
    manifest = pd.read_csv(source / "manifest.csv").iloc[offset : offset + count]
    (folder / "videos").mkdir(parents=True)
    for video in manifest["video"]:
        shutil.copy(source / video, folder / video)
    manifest[["id", "video", "prompt"]].to_csv(folder / "manifest.csv", index=False)
    return manifest


@pytest.fixture(scope="module")
def inputs(small_loop, tmp_path_factory) -> Path:
    """A root holding: ``two/`` (two videos with prompts.json), ``bench/v1`` and
    ``bench/v2`` (benchmark runs of the same two prompts), and ``escape``, a symlink to a
    directory outside every root."""
    root = tmp_path_factory.mktemp("serve-inputs")
    two = root / "two"
    manifest = _copy_videos(small_loop, two, 2)
    (two / "manifest.csv").unlink()
    prompts = {Path(v).name: p for v, p in zip(manifest["video"], manifest["prompt"])}
    (two / "prompts.json").write_text(json.dumps(prompts))
    for label, offset in (("v1", 0), ("v2", 2)):
        version = root / "bench" / label
        table = _copy_videos(small_loop, version, 2, offset)
        # The same prompt set in both versions: the prompts of v1, the videos of each.
        table = table.assign(prompt=manifest["prompt"].to_numpy())
        table[["id", "video", "prompt"]].to_csv(version / "manifest.csv", index=False)
        record = {"benchmark": {"label": label, "prompt_set": {"name": "bench", "version": "1"}}}
        (version / "run.json").write_text(json.dumps(record))
    rated = _copy_videos(small_loop, root / "rated", 6, 4)
    rated[["id", "video", "prompt", "synthetic_score"]].to_csv(
        root / "rated" / "manifest.csv", index=False
    )
    outside = tmp_path_factory.mktemp("serve-outside")
    (outside / "secret.csv").write_text("id,video,prompt\nx,/etc/passwd,p\n")
    (root / "escape").symlink_to(outside, target_is_directory=True)
    video = small_loop.out_dir / "score_data" / manifest["video"].iloc[0]
    shutil.copy(video, outside / "elsewhere.mp4")
    (root / "pointing-out.csv").write_text(f"id,video,prompt\na,{outside / 'elsewhere.mp4'},p\n")
    return root


@pytest.fixture(scope="module")
def served(small_loop, inputs, tmp_path_factory):
    """The service on a free loopback port; yields (app, base URL)."""
    settings = ServeSettings(
        models=[small_loop.model_dir],
        roots=[small_loop.out_dir, inputs],
        data_dir=tmp_path_factory.mktemp("serve-data"),
        port=_free_port(),
    )
    app = create_app(settings)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=settings.port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield app, f"http://127.0.0.1:{settings.port}"
    server.should_exit = True
    thread.join(60)


@pytest.fixture(scope="module")
def client(served) -> TestClient:
    """TestClient on the served app (the live server's lifespan runs its jobs)."""
    return TestClient(served[0])


def _wait(client, job_id: str, timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["status"] in FINAL:
            return job
        assert time.monotonic() < deadline, f"job still {job['status']}: {job}"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def jobs(client) -> dict[str, dict]:
    """Score jobs on both benchmark versions, run to the end."""
    ids = {}
    for name, path in (("v1", "bench/v1"), ("v2", "bench/v2")):
        answer = client.post(
            "/api/jobs", json={"input": path, "model": "model", "label": f"test-{name}"}
        )
        assert answer.status_code == 201, answer.text
        ids[name] = answer.json()["id"]
    return {name: _wait(client, job_id) for name, job_id in ids.items()}


def _demo_run(client) -> dict:
    runs = client.get("/api/runs").json()
    return next(run for run in runs if run["scores"].endswith("scores.csv") and not run["job"])


# ---- API ----------------------------------------------------------------------------


def test_health_and_docs(client) -> None:
    assert client.get("/api/health").json()["status"] == "ok"
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/jobs", "/api/jobs/{job_id}", "/api/compare", "/api/history"} <= set(paths)


def test_predictors(client, small_loop) -> None:
    listed = client.get("/api/predictors").json()
    assert [p["id"] for p in listed] == ["model"]
    detail = client.get("/api/predictors/model").json()
    assert (
        detail["cv"]["mae"]["ci"][0] <= detail["cv"]["mae"]["oof"] <= detail["cv"]["mae"]["ci"][1]
    )
    assert len(detail["importance"]) > 5
    assert detail["importance"][0]["mean_abs_shap"] >= detail["importance"][-1]["mean_abs_shap"]
    missing = client.get("/api/predictors/nope")
    assert missing.status_code == 404 and "unknown model 'nope'" in missing.json()["detail"]


def test_runs_scores_signals_and_files(client, small_loop) -> None:
    run = _demo_run(client)
    assert run["predictor"] == "model" and run["rows"] == 24 and run["has_signals"]
    detail = client.get(f"/api/runs/{run['id']}").json()
    expected = pd.read_csv(small_loop.scores)
    assert [row["id"] for row in detail["scores"]] == list(expected["id"])
    best = detail["scores"][0]["id"]
    signals = client.get(f"/api/runs/{run['id']}/videos/{best}/signals").json()
    assert signals["frames"] == 8 and signals["signals"] and signals["shap_timeline"]
    assert signals["note"] is None
    assert signals["intervals"] == []  # score --intervals wrote none for this run
    assert any(s["pair"] and len(s["values"]) == 7 for s in signals["signals"])
    video = client.get(f"/api/runs/{run['id']}/videos/{best}/file")
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    assert client.get(f"/api/runs/{run['id']}/videos/nope/file").status_code == 404
    assert client.get("/api/runs/nope").status_code == 404


def test_evaluate_job_and_the_predictor_page(client) -> None:
    answer = client.post(
        "/api/jobs",
        json={"kind": "evaluate", "input": "rated", "model": "model", "target": "synthetic_score"},
    )
    assert answer.status_code == 201, answer.text
    job = _wait(client, answer.json()["id"])
    assert job["status"] == "done", job["error"]
    assert job["result"]["rows"] == 6 and "spearman" in job["result"]["metrics"]
    (evaluation,) = client.get("/api/predictors/model").json()["evaluations"]
    assert evaluation["target"] == "synthetic_score" and evaluation["rows"] == 6
    roles = {row["role"] for row in evaluation["table"]}
    assert {"scorer", "yardstick"} <= roles


def test_score_jobs_and_their_runs(client, jobs) -> None:
    for job in jobs.values():
        assert job["status"] == "done", job
        assert job["done"] == job["total"] == 2 and job["result"]["scored"] == 2
        # One feature store serves every run: videos extracted before are reused.
        assert 0 <= job["computed"] <= 2 and job["run"]
    runs = {run["id"]: run for run in client.get("/api/runs").json()}
    made = runs[jobs["v2"]["run"]]
    assert made["predictor"] == "model" and made["label"] == "test-v2"
    assert made["benchmark"] == {"label": "v2", "prompt_set": "bench", "version": "1"}
    listed = [job["id"] for job in client.get("/api/jobs").json()]
    assert {job["id"] for job in jobs.values()} <= set(listed)


def test_compare(client, jobs) -> None:
    a, b = jobs["v1"]["run"], jobs["v2"]["run"]
    data = client.get(f"/api/compare?a={a}&b={b}&n_boot=500").json()
    main = data["metrics"][0]
    assert main["metric"] == "predicted_score" and main["n_prompts"] == 2
    assert main["ci_low"] <= main["mean_delta"] <= main["ci_high"]
    assert 0 <= main["win_rate"] <= 1 and data["common_prompts"] == 2
    assert {"rank", "error"}.isdisjoint(m["metric"] for m in data["metrics"])
    assert all(p["video_a"] and p["video_b"] for p in data["prompts"])
    assert client.get(f"/api/compare?a={a}").status_code == 422
    assert client.get(f"/api/compare?a={a}&b=nope").status_code == 404


def test_history(client, jobs) -> None:
    groups = client.get("/api/history").json()
    assert len(groups) == 1 and groups[0]["predictor"] == "model"
    labels = [point["label"] for point in groups[0]["runs"]]
    assert labels == ["v1", "v2"]
    score = groups[0]["runs"][0]["predicted_score"]
    assert score["low"] <= score["mean"] <= score["high"]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"model": "model"}, 422, "input"),
        ({"input": "two", "model": "nope"}, 404, "unknown model"),
        ({"input": "two"}, 400, "needs 'model'"),
        ({"input": "two", "kind": "evaluate"}, 400, "needs 'model'"),
        ({"input": "two", "kind": "evaluate", "model": "model", "target": "x"}, 400, "no column"),
        ({"input": "two", "kind": "train"}, 422, "kind"),
        ({"input": "../../etc", "model": "model"}, 403, "not a file or directory under"),
        ({"input": "/etc", "model": "model"}, 403, "not a file or directory under"),
        ({"input": "escape/secret.csv", "model": "model"}, 403, "not a file or directory under"),
        ({"input": "two/..%2F..%2F..%2Fetc", "model": "model"}, 403, "not a file or directory"),
        ({"input": "two/nothing-here", "model": "model"}, 403, "not a file or directory"),
        ({"input": "pointing-out.csv", "model": "model"}, 403, "outside the service's roots"),
        ({"input": "bench", "model": "model"}, 400, "has a prompt"),
        ({"input": "two", "prompts": "../x.json", "model": "model"}, 403, "not a file or"),
    ],
)
def test_bad_job_requests(client, body, status, message) -> None:
    answer = client.post("/api/jobs", json=body)
    assert answer.status_code == status, answer.text
    assert message in json.dumps(answer.json()["detail"])


def test_traversal_in_file_urls(client) -> None:
    run = _demo_run(client)
    for video in ("..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd", "..", "%2e%2e"):
        answer = client.get(f"/api/runs/{run['id']}/videos/{video}/file")
        assert answer.status_code == 404, (video, answer.status_code)
    assert client.get("/static/..%2F..%2Fapp.py").status_code == 404
    # The escape symlink's scores file is never discovered as a run.
    assert not any("secret" in r["scores"] for r in client.get("/api/runs").json())


def test_job_not_found_and_cancel(client, jobs) -> None:
    assert client.get("/api/jobs/nope").status_code == 404
    assert client.post("/api/jobs/nope/cancel").status_code == 404
    done = client.post(f"/api/jobs/{jobs['v1']['id']}/cancel")
    assert done.status_code == 409 and "already ended" in done.json()["detail"]


@pytest.fixture(scope="module")
def uploaded(client, small_loop, tmp_path_factory) -> dict:
    """A score job on two uploads: a demo MP4 and a GIF, run to the end."""
    mp4 = small_loop.out_dir / "score_data" / "videos" / "demo_000.mp4"
    gif = make_video(tmp_path_factory.mktemp("gif") / "clip.gif", num_frames=8)
    files = [
        ("files", ("my clip.mp4", mp4.read_bytes(), "video/mp4")),
        ("files", ("a.gif", gif.read_bytes(), "image/gif")),
    ]
    data = {"prompts": ["a cat", "a dog"], "model": "model", "label": "uploads"}
    answer = client.post("/api/jobs/upload", files=files, data=data)
    assert answer.status_code == 201, answer.text
    return _wait(client, answer.json()["id"])


def test_upload(uploaded) -> None:
    assert uploaded["status"] == "done" and uploaded["result"]["scored"] == 2, uploaded
    folder = Path(uploaded["params"]["input"])
    stored = sorted(path.name for path in folder.iterdir())
    assert "my clip.mp4" not in stored and "a.gif" not in stored and len(stored) == 3
    prompts = json.loads((folder / "prompts.json").read_text())
    assert sorted(prompts.values()) == ["a cat", "a dog"]
    assert {Path(name).suffix for name in prompts} == {".mp4", ".gif"}


@pytest.mark.parametrize(
    ("name", "content", "fields", "status", "message"),
    [
        ("notes.mp4", b"not a video at all", {"prompts": ["p"]}, 400, "not a readable video"),
        ("notes.txt", b"text", {"prompts": ["p"]}, 400, "not a video file name"),
        ("clip.mp4", b"x", {"prompts": ["p", "q"]}, 400, "one prompt per file"),
        ("clip.mp4", b"x", {"prompts": ["p"], "model": "nope"}, 404, "unknown model"),
        ("clip.mp4", b"x", {}, 422, "prompts"),
    ],
)
def test_bad_uploads(client, served, uploaded, name, content, fields, status, message) -> None:
    data = {"model": "model", **fields}
    answer = client.post("/api/jobs/upload", files=[("files", (name, content))], data=data)
    assert answer.status_code == status, answer.text
    assert message in json.dumps(answer.json()["detail"])
    uploads = served[0].state.service.data_dir / "uploads"
    # Nothing of a refused upload is kept (an accepted upload's folder holds a prompts.json).
    assert all((folder / "prompts.json").is_file() for folder in uploads.glob("*"))


def test_oversized_upload(small_loop, tmp_path) -> None:
    settings = ServeSettings(
        models=[small_loop.model_dir], data_dir=tmp_path / "data", max_upload_mb=0.01
    )
    app = create_app(settings)
    client = TestClient(app)  # no lifespan: nothing runs, the upload is refused first
    video = small_loop.out_dir / "score_data" / "videos" / "demo_000.mp4"
    assert video.stat().st_size > 0.01 * 1024 * 1024
    answer = client.post(
        "/api/jobs/upload",
        files=[("files", ("big.mp4", video.read_bytes()))],
        data={"prompts": ["p"], "model": "model"},
    )
    assert answer.status_code == 413 and "upload limit" in answer.json()["detail"]
    assert list((tmp_path / "data" / "uploads").glob("*")) == []


def test_token(small_loop, tmp_path) -> None:
    with pytest.raises(ValueError, match="--token or QUALITYLAB_TOKEN"):
        create_app(ServeSettings(host="0.0.0.0", data_dir=tmp_path))
    app = create_app(ServeSettings(host="0.0.0.0", token="s3cret", data_dir=tmp_path))
    client = TestClient(app)
    assert client.get("/api/health").status_code == 401
    assert client.get("/", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/api/health", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert client.get("/api/jobs", headers={"X-Qualitylab-Token": "s3cret"}).status_code == 200
    page = client.get("/?token=s3cret")
    assert page.status_code == 200 and "qualitylab_token" in page.headers["set-cookie"]
    assert client.get("/api/runs").status_code == 200  # the cookie the page set


def test_cli_refuses_public_host_without_token(tmp_path) -> None:
    result = CliRunner().invoke(
        cli_app, ["serve", "--host", "0.0.0.0", "--data-dir", str(tmp_path)], env={}
    )
    assert result.exit_code == 1 and "QUALITYLAB_TOKEN" in result.output
    gone = CliRunner().invoke(cli_app, ["serve", "--root", str(tmp_path / "gone")])
    assert gone.exit_code == 1 and "not a directory" in gone.output


def _crashed_service(small_loop, inputs, data_dir: Path) -> tuple[str, str]:
    """A data directory as a service leaves it when it dies: one job ran to its last
    video but its row still says running, another is still queued."""
    store = JobStore(data_dir)
    params = JobParams(
        input=str(inputs / "two"), model="model", model_dir=str(small_loop.model_dir)
    )
    running, queued = store.create("score", params), store.create("score", params)
    execute_job(str(data_dir), running.id)  # in this process, as a worker would
    assert store.get(running.id).computed == 2
    with sqlite3.connect(data_dir / "jobs.sqlite") as db:
        db.execute("UPDATE jobs SET status = 'running' WHERE id = ?", (running.id,))
    return running.id, queued.id


def test_jobs_survive_a_restart(small_loop, inputs, tmp_path) -> None:
    """What the runner does when the service starts again, run in this process: both
    jobs end, and the one that was running takes every video from the store."""
    running, queued = _crashed_service(small_loop, inputs, tmp_path)
    store = JobStore(tmp_path)
    assert store.requeue_unfinished() == [running]
    assert store.queued() == [running, queued]
    for job_id in store.queued():
        execute_job(str(tmp_path), job_id)
    resumed, waited = store.get(running), store.get(queued)
    assert resumed.status == waited.status == "done"
    assert resumed.done == 2 and resumed.computed == 0  # both videos from the store
    assert waited.computed == 0  # the store is shared: the same videos are not redone


@pytest.mark.slow
def test_restarted_service_resumes_jobs(small_loop, inputs, tmp_path) -> None:
    """The same through a new app and its worker process (slow: a fresh worker imports
    the library)."""
    running, queued = _crashed_service(small_loop, inputs, tmp_path)
    settings = ServeSettings(models=[small_loop.model_dir], roots=[inputs], data_dir=tmp_path)
    with TestClient(create_app(settings)) as client:
        resumed, waited = _wait(client, running), _wait(client, queued)
        listed = [job["id"] for job in client.get("/api/jobs").json()]
    assert resumed["status"] == waited["status"] == "done"
    assert resumed["done"] == 2 and resumed["computed"] == 0
    assert waited["computed"] == 0  # the store is shared: the same videos are not redone
    assert sorted(listed) == sorted([running, queued])


def test_load_on_loopback(served, inputs) -> None:
    _, base = served
    with httpx.Client(base_url=base, timeout=60) as http:
        request = {"kind": "extract", "input": "two", "extractors": ["technical"]}
        ids = [http.post("/api/jobs", json=request).json()["id"] for _ in range(3)]
        last = http.post("/api/jobs", json=request).json()["id"]  # queued behind the three
        cancelled = http.post(f"/api/jobs/{last}/cancel").json()
        assert cancelled["status"] == "cancelled"

        def status(i: int) -> int:
            return http.get(f"/api/jobs/{ids[i % 3]}").status_code

        with ThreadPoolExecutor(50) as pool:
            answers = list(pool.map(status, range(50)))
        assert answers == [200] * 50
        for job_id in ids:
            job = _wait(http, job_id)
            assert job["status"] == "done" and job["result"]["rows"] == 2, job
        listed = {job["id"] for job in http.get("/api/jobs").json()}
        assert {*ids, last} <= listed
        never_ran = http.get(f"/api/jobs/{last}").json()
        assert never_ran["status"] == "cancelled" and never_ran["started"] is None


def test_cancel_stops_a_running_job_after_its_current_video(small_loop, inputs, tmp_path) -> None:
    store = JobStore(tmp_path)
    params = JobParams(input=str(inputs / "two"), extractors=["technical"])
    job = store.create("extract", params)
    with sqlite3.connect(tmp_path / "jobs.sqlite") as db:  # asked while it starts
        db.execute("UPDATE jobs SET cancel = 1 WHERE id = ?", (job.id,))
    execute_job(str(tmp_path), job.id)
    stopped = store.get(job.id)
    assert stopped.status == "cancelled" and stopped.done == 1 and stopped.total == 2
    assert "stay in the store" in stopped.error


# ---- pages in Chromium --------------------------------------------------------------

needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)"
)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("serve-screenshots")


def _open(browser, url: str):
    """A new page at ``url`` and the list its problems go into: console errors, page
    errors, failed requests and any request to another host (the UI needs no internet)."""
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    problems: list[str] = []
    origin = url.split("/", 3)[:3]
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    # Chromium aborts media requests once it has what it wants (and at page.close()).
    page.on(
        "requestfailed",
        lambda r: (
            None
            if r.failure == "net::ERR_ABORTED"
            else problems.append(f"failed: {r.url}: {r.failure}")
        ),
    )
    page.on(
        "request",
        lambda r: None if r.url.split("/", 3)[:3] == origin else problems.append(r.url),
    )
    page.goto(url)
    return page, problems


@needs_chromium
def test_pages_load_without_errors(browser, served, jobs, screenshots, client) -> None:
    _, base = served
    run = jobs["v1"]["run"]
    pages = {
        "runs": ("/", "#runs a"),
        "run": (f"/runs/{run}", "#timeline svg"),
        "predictors": ("/predictors", "#predictors a"),
        "predictor": ("/predictors/model", "#importance-bars"),
        "history": ("/history", "svg.chart"),
        "jobs": ("/jobs", "#jobs tr[data-job]"),
        "docs": ("/docs", ".swagger-ui .info"),
    }
    for name, (path, ready) in pages.items():
        page, problems = _open(browser, base + path)
        page.wait_for_selector(ready, timeout=30000)
        page.screenshot(path=str(screenshots / f"{name}.png"), full_page=True)
        page.close()
        assert problems == [], (name, problems)


@needs_chromium
def test_ab_page_shows_interval(browser, served, jobs, screenshots) -> None:
    _, base = served
    page, problems = _open(browser, f"{base}/compare?a={jobs['v1']['run']}&b={jobs['v2']['run']}")
    page.wait_for_selector("#ab-ci", timeout=30000)
    text = page.inner_text("#ab-headline")
    assert "95% CI [" in text and "B wins" in text and "mean Δ" in text
    assert page.locator("#ab-prompts video").count() == 4
    page.screenshot(path=str(screenshots / "compare.png"), full_page=True)
    page.close()
    assert problems == []


@needs_chromium
def test_video_plays_and_moves_cursor(browser, served, client, screenshots) -> None:
    _, base = served
    run = _demo_run(client)
    page, problems = _open(browser, f"{base}/runs/{run['id']}")
    page.wait_for_selector("#cursor", state="attached", timeout=30000)
    start = float(page.get_attribute("#cursor", "x1"))
    page.evaluate("document.querySelector('#media video').play()")
    page.wait_for_function(
        "document.querySelector('#media video').currentTime > 0.3", timeout=20000
    )
    page.evaluate("document.querySelector('#media video').pause()")
    page.wait_for_timeout(100)
    moved = float(page.get_attribute("#cursor", "x1"))
    page.screenshot(path=str(screenshots / "video.png"), full_page=True)
    page.close()
    assert moved > start
    assert problems == []


@needs_chromium
def test_job_from_the_ui_reaches_done(browser, served, jobs, screenshots) -> None:
    _, base = served
    page, problems = _open(browser, f"{base}/jobs")
    page.wait_for_selector("select.models option", state="attached", timeout=30000)
    page.fill("#job-form input[name=input]", "bench/v1")
    page.fill("#job-form input[name=label]", "from-the-ui")
    page.evaluate(
        """window.seen = [];
        new MutationObserver(() => document.querySelectorAll('#jobs tr[data-job]').forEach(
            (row) => window.seen.push([row.dataset.job, row.dataset.status,
                                       row.querySelector('progress').value])))
          .observe(document.querySelector('#jobs tbody'), {childList: true});"""
    )
    page.click("#job-form button")
    page.wait_for_selector("#job-message:has-text('queued')", timeout=10000)
    job_id = page.inner_text("#job-message").split()[1]
    row = f"#jobs tr[data-job='{job_id}']"
    page.wait_for_selector(f"{row}[data-status='done']", timeout=180000)
    assert "2/2" in page.inner_text(row) and "from-the-ui" in page.inner_text(row)
    seen = [(status, value) for job, status, value in page.evaluate("window.seen") if job == job_id]
    assert seen[0][0] in ("queued", "running") and seen[-1] == ("done", 1)
    assert page.locator(f"{row} a.run-link").count() == 1
    page.screenshot(path=str(screenshots / "jobs.png"), full_page=True)
    page.close()
    assert problems == []


@needs_chromium
def test_gif_shows_as_an_image(browser, served, client, uploaded, screenshots) -> None:
    _, base = served
    scores = client.get(f"/api/runs/{uploaded['run']}").json()["scores"]
    gif = next(row["id"] for row in scores if row["video"].endswith(".gif"))
    page, problems = _open(browser, f"{base}/runs/{uploaded['run']}")
    page.click(f"#scores tr[data-id='{gif}']")
    page.wait_for_selector("#media img.media", timeout=30000)
    page.wait_for_selector("#timeline svg", timeout=30000)
    loaded = page.evaluate("document.querySelector('#media img').naturalWidth")
    page.screenshot(path=str(screenshots / "gif.png"), full_page=True)
    page.close()
    assert loaded == 64 and problems == []
