"""The FastAPI app of ``qualitylab serve``: the JSON API under ``/api``, the web pages,
and the job runner started and stopped with the app.

Handlers only check input and read files; scoring and extraction run in the job
runner's worker processes. The few computations a page asks for (one video's SHAP
timeline, a predictor's SHAP importance, a paired comparison) run in FastAPI's thread
pool, so the API stays responsive meanwhile.
"""

from __future__ import annotations

import json
import math
import shutil
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
from fastapi import FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ConfigDict, Field

from qualitylab import __version__
from qualitylab.config import home_dir
from qualitylab.serve import library
from qualitylab.serve.jobs import EVALUATION_DIR, Job, JobParams, JobRequest, JobRunner, JobStore
from qualitylab.serve.runs import (
    PredictorRef,
    RunRef,
    find_predictors,
    find_runs,
    history,
    read_scores,
    short_hash,
)
from qualitylab.serve.security import (
    TOKEN_COOKIE,
    AccessError,
    Roots,
    bearer,
    check_binding,
    random_name,
    stored_name,
    token_matches,
)

HERE = Path(__file__).parent
UPLOADS_DIR = "uploads"
SWAGGER_UI = "vendor/swagger-ui-dist-5.35.0"
# Runs are looked for again at most this often (seconds): every page asks for them.
RUNS_TTL = 2.0
CHUNK = 1 << 20
# Signals drawn under a video: those carrying the most SHAP first, then the rest.
MAX_SIGNALS = 12


class ServeSettings(BaseModel):
    """How the service runs: where it listens, what it may read, where it keeps jobs."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    models: list[Path] = Field(default_factory=list)
    roots: list[Path] = Field(default_factory=list)
    token: str | None = None
    data_dir: Path | None = None
    workers: int = Field(1, ge=1)
    max_upload_mb: float = Field(200.0, gt=0)
    max_upload_files: int = Field(100, ge=1)

    def data_path(self) -> Path:
        """The data directory (jobs, uploads): ``data_dir`` or ``QUALITYLAB_HOME/serve``."""
        return Path(self.data_dir) if self.data_dir else home_dir() / "serve"


class Service:
    """The app's state: settings, roots, job store and runner, and small caches."""

    def __init__(self, settings: ServeSettings) -> None:
        check_binding(settings.host, settings.token)
        self.settings = settings
        self.data_dir = settings.data_path().resolve()
        self.store = JobStore(self.data_dir)
        self.input_roots = Roots(settings.roots)
        self.readable = Roots([*settings.roots, self.data_dir])
        self.runner = JobRunner(self.store, settings.workers)
        self.predictors = find_predictors(settings.models, self.input_roots.paths)
        self._lock = threading.Lock()
        self._loaded: dict[str, library.Predictor] = {}
        self._importance: dict[str, pd.DataFrame | None] = {}
        self._runs: tuple[float, dict[str, RunRef]] = (-math.inf, {})

    def refresh_predictors(self) -> dict[str, PredictorRef]:
        """The predictors, looked for again under the roots."""
        self.predictors = find_predictors(self.settings.models, self.input_roots.paths)
        return self.predictors

    def runs(self, fresh: bool = False) -> dict[str, RunRef]:
        """Every scored run, newest first (looked for again after RUNS_TTL seconds, or
        at once when ``fresh``)."""
        with self._lock:
            stamp, runs = self._runs
            if fresh or time.monotonic() - stamp > RUNS_TTL:
                runs = find_runs(self.input_roots.paths, self.data_dir, self.predictors)
                self._runs = (time.monotonic(), runs)
            return runs

    def run(self, run_id: str) -> RunRef:
        """The run ``run_id``; 404 when there is none."""
        runs = self.runs()
        if run_id not in runs:
            runs = self.runs(fresh=True)
        if run_id not in runs:
            raise HTTPException(404, f"no run with id {run_id!r} (see GET /api/runs)")
        return runs[run_id]

    def predictor_ref(self, predictor_id: str) -> PredictorRef:
        """The predictor ``predictor_id``; 404 naming the known ones when there is none."""
        if predictor_id not in self.predictors:
            self.refresh_predictors()
        if predictor_id not in self.predictors:
            known = ", ".join(sorted(self.predictors)) or "none"
            raise HTTPException(404, f"unknown model {predictor_id!r} (known: {known})")
        return self.predictors[predictor_id]

    def _key(self, predictor_id: str) -> str:
        """The predictor's id with the time its files were written: a predictor trained
        again into the same directory is loaded again."""
        ref = self.predictor_ref(predictor_id)
        return f"{predictor_id}@{(ref.path / 'predictor.json').stat().st_mtime_ns}"

    def predictor(self, predictor_id: str) -> library.Predictor:
        """The loaded predictor (loaded once per version of its files)."""
        key = self._key(predictor_id)
        with self._lock:
            if key not in self._loaded:
                path = self.predictor_ref(predictor_id).path
                self._loaded[key] = library.open_predictor(path)
            return self._loaded[key]

    def importance(self, predictor_id: str) -> pd.DataFrame | None:
        """The predictor's mean |SHAP| per feature on its training features (cached)."""
        key = self._key(predictor_id)
        if key not in self._importance:
            self._importance[key] = library.importance(self.predictor(predictor_id))
        return self._importance[key]

    def video_path(self, run: RunRef, video_id: str) -> Path:
        """The file of a video of a run, 404 when the run has no such video, 403 when
        the file lies outside the readable roots."""
        table = read_scores(run)
        rows = table[table["id"].astype(str) == video_id]
        if rows.empty or "video" not in table.columns:
            raise HTTPException(404, f"run {run.id} has no video with id {video_id!r}")
        path = Path(str(rows["video"].iloc[0]))
        if not self.readable.allows(path) or not path.is_file():
            raise HTTPException(403, f"video {video_id!r} is not a file under the service's roots")
        return path.resolve()


def create_app(settings: ServeSettings) -> FastAPI:
    """The service's app; ValueError when the settings cannot be served (a public host
    without a token, a root or model that is not a directory)."""
    service = Service(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        service.runner.start()
        yield
        service.runner.stop()

    app = FastAPI(
        title="qualitylab",
        version=__version__,
        description="Score generation runs, follow the jobs, look at the results.",
        lifespan=lifespan,
        docs_url=None,  # served below from the vendored Swagger UI, not from a CDN
        redoc_url=None,
    )
    app.state.service = service
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    @app.middleware("http")
    async def require_token(request: Request, call_next):
        expected = settings.token
        if not expected:
            return await call_next(request)
        query = request.query_params.get("token")
        offered = (
            bearer(request.headers.get("authorization"))
            or request.headers.get("x-qualitylab-token")
            or query
            or request.cookies.get(TOKEN_COOKIE)
        )
        if not token_matches(expected, offered):
            return JSONResponse(
                {"detail": "a valid token is required (Authorization: Bearer TOKEN)"}, 401
            )
        response = await call_next(request)
        if query and token_matches(expected, query):
            response.set_cookie(TOKEN_COOKIE, query, httponly=True, samesite="strict")
        return response

    @app.exception_handler(AccessError)
    async def access_denied(_: Request, exc: AccessError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, 403)

    _api(app, service)
    _pages(app, service, templates)
    return app


def run_service(settings: ServeSettings) -> None:
    """Serve the app with uvicorn until interrupted (the API docs are at ``/docs``);
    ValueError when the settings cannot be served."""
    import uvicorn

    app = create_app(settings)
    # uvicorn's info log says where it listens; the access log would drown it.
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info", access_log=False)


def _job_json(job: Job) -> dict[str, Any]:
    """A job as the API returns it, with the id of the run a finished score job made."""
    out = job.to_json()
    scores = (job.result or {}).get("scores")
    out["run"] = short_hash(Path(scores).resolve()) if scores else None
    return out


def _known_job_json(lookup: Callable[[str], Job], job_id: str) -> dict[str, Any]:
    """The JSON of the job ``lookup`` (the store's get or cancel) returns for ``job_id``;
    404 for a job the store does not know."""
    try:
        return _job_json(lookup(job_id))
    except KeyError:
        raise HTTPException(404, f"no job with id {job_id!r}") from None


def _bad(exc: Exception) -> HTTPException:
    return HTTPException(400, str(exc))


def _api(app: FastAPI, service: Service) -> None:
    """The JSON endpoints."""

    @app.get("/api/health", tags=["service"])
    def health() -> dict[str, Any]:
        """Whether the service is up, and its version."""
        return {"status": "ok", "version": __version__}

    @app.get("/api/predictors", tags=["predictors"])
    def predictors() -> list[dict[str, Any]]:
        """The predictors the service can score with."""
        return [ref.summary() for ref in service.refresh_predictors().values()]

    @app.get("/api/predictors/{predictor_id}", tags=["predictors"])
    def predictor(predictor_id: str) -> dict[str, Any]:
        """A predictor: its description, CV metrics with intervals, SHAP importance (on
        its training features, when they are still there) and evaluation results."""
        return _predictor_detail(service, predictor_id)

    @app.get("/api/runs", tags=["runs"])
    def runs() -> list[dict[str, Any]]:
        """Every scored run, newest first."""
        return [run.summary() for run in service.runs().values()]

    @app.get("/api/runs/{run_id}", tags=["runs"])
    def run(run_id: str) -> dict[str, Any]:
        """A run and its ranked scores."""
        ref = service.run(run_id)
        table = read_scores(ref)
        return {**ref.summary(), "scores": _records(table)}

    @app.get("/api/runs/{run_id}/videos/{video_id}/file", tags=["runs"])
    def video_file(run_id: str, video_id: str) -> FileResponse:
        """The video file (MP4/WebM play in a browser, GIF shows as an image)."""
        return FileResponse(service.video_path(service.run(run_id), video_id))

    @app.get("/api/runs/{run_id}/videos/{video_id}/signals", tags=["runs"])
    def video_signals(run_id: str, video_id: str) -> dict[str, Any]:
        """One video's per-frame signals and, when the run's predictor is known, its
        SHAP timeline (each feature's SHAP spread over the frames it depends on); and
        the defect intervals ``score --intervals`` found in it, if any."""
        return _signals(service, service.run(run_id), video_id)

    @app.get("/api/compare", tags=["runs"])
    def compare(a: str, b: str, n_boot: int = 2000) -> dict[str, Any]:
        """Run B against run A, paired by prompt: per metric the mean delta with its 95%
        bootstrap interval and B's win rate; per prompt both scores and videos."""
        if not 1 <= n_boot <= 20000:
            raise HTTPException(400, "n_boot must lie between 1 and 20000")
        return _compare(service, service.run(a), service.run(b), n_boot)

    @app.get("/api/history", tags=["runs"])
    def benchmark_history() -> list[dict[str, Any]]:
        """The benchmark runs by prompt set and predictor, with per-metric means and
        bootstrap intervals, in the order the runs were made."""
        return _clean(history(service.runs()))

    @app.get("/api/jobs", tags=["jobs"])
    def jobs(limit: int = 100) -> list[dict[str, Any]]:
        """The latest jobs, newest first."""
        return [_job_json(job) for job in service.store.list(limit)]

    @app.post("/api/jobs", status_code=201, tags=["jobs"])
    def submit(request: JobRequest) -> dict[str, Any]:
        """Queue a job on a manifest or a folder of videos under one of the roots."""
        params = _job_params(service, request)
        job = service.store.create(request.kind, params)
        service.runner.submit(job.id)
        return _job_json(job)

    @app.post("/api/jobs/upload", status_code=201, tags=["jobs"])
    async def upload(
        files: Annotated[list[UploadFile], File(description="Video files.")],
        prompts: Annotated[list[str], Form(description="One prompt per file, in order.")],
        model: Annotated[str, Form(description="Predictor id.")],
        label: Annotated[str | None, Form()] = None,
    ) -> dict[str, Any]:
        """Score uploaded videos with their prompts. Each file is checked by decoding
        before it is kept, and stored under a generated name."""
        service.predictor_ref(model)
        if len(files) != len(prompts):
            raise HTTPException(
                400, f"{len(files)} files but {len(prompts)} prompts: give one prompt per file"
            )
        if len(files) > service.settings.max_upload_files:
            raise HTTPException(
                413, f"at most {service.settings.max_upload_files} files per upload"
            )
        folder = await _store_uploads(service, files, prompts)
        params = JobParams(
            input=str(folder),
            model=model,
            model_dir=str(service.predictor_ref(model).path),
            label=label or "upload",
        )
        job = service.store.create("score", params)
        service.runner.submit(job.id)
        return _job_json(job)

    @app.get("/api/jobs/{job_id}", tags=["jobs"])
    def job(job_id: str) -> dict[str, Any]:
        """A job: status, stage, videos done/total, ETA, result or error."""
        return _known_job_json(service.store.get, job_id)

    @app.post("/api/jobs/{job_id}/cancel", tags=["jobs"])
    def cancel(job_id: str) -> dict[str, Any]:
        """Cancel a queued job, or stop a running one after its current video."""
        try:
            return _known_job_json(service.store.cancel, job_id)
        except ValueError as exc:
            raise HTTPException(409, str(exc)) from None


def _job_params(service: Service, request: JobRequest) -> JobParams:
    """The request's paths resolved inside the roots and its model checked; 4xx otherwise."""
    if request.kind == "evaluate" and not (request.model and request.target):
        raise HTTPException(
            400, "an evaluate job needs 'model' (see GET /api/predictors) and 'target'"
        )
    source = service.input_roots.resolve(request.input)
    prompts = service.input_roots.resolve(request.prompts) if request.prompts else None
    try:
        manifest, _ = library.open_input(source, prompts)
    except library.INPUT_ERRORS as exc:
        raise _bad(exc) from None
    outside = [
        video for video in manifest.table["video"] if not service.input_roots.allows(Path(video))
    ]
    if outside:
        raise AccessError(
            f"{request.input}: {len(outside)} of its videos lie outside the service's roots "
            f"(e.g. {outside[0]})"
        )
    if request.kind == "evaluate" and request.target not in manifest.table.columns:
        raise HTTPException(
            400, f"{request.input}: no column {request.target!r} to evaluate against"
        )
    model_dir = None
    if request.kind in ("score", "evaluate"):
        if not request.model:
            raise HTTPException(400, "a score job needs 'model' (see GET /api/predictors)")
        model_dir = str(service.predictor_ref(request.model).path)
    # What the job is to do (extractors, label, evaluation columns) passes through as asked.
    asked = request.model_dump(exclude={"kind", "input", "prompts", "model"})
    return JobParams(
        input=str(source),
        prompts=str(prompts) if prompts else None,
        model=request.model if model_dir else None,
        model_dir=model_dir,
        **asked,
    )


async def _store_uploads(service: Service, files: list[UploadFile], prompts: list[str]) -> Path:
    """Save the uploads under generated names with a ``prompts.json``, each checked for
    size and by decoding; nothing is kept when one of them fails."""
    limit = int(service.settings.max_upload_mb * 1024 * 1024)
    folder = service.data_dir / UPLOADS_DIR / random_name()
    folder.mkdir(parents=True)
    kept: dict[str, str] = {}
    try:
        for upload, prompt in zip(files, prompts):
            if not prompt.strip():
                raise HTTPException(400, f"{upload.filename!r}: empty prompt")
            try:
                name = stored_name(upload.filename, library.VIDEO_EXTENSIONS)
            except ValueError as exc:
                raise _bad(exc) from None
            target = folder / name
            size = 0
            with target.open("wb") as out:
                while chunk := await upload.read(CHUNK):
                    size += len(chunk)
                    if size > limit:
                        raise HTTPException(
                            413,
                            f"{upload.filename!r} is larger than the upload limit of "
                            f"{service.settings.max_upload_mb:g} MB",
                        )
                    out.write(chunk)
            try:
                library.probe_video(target)
            except library.INPUT_ERRORS as exc:
                raise HTTPException(
                    400, f"{upload.filename!r} is not a readable video: {exc}"
                ) from None
            kept[name] = prompt.strip()
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    (folder / "prompts.json").write_text(json.dumps(kept, indent=2), encoding="utf-8")
    return folder


def _records(table: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of a table as JSON-ready dicts (NaN as None)."""
    return _clean(table.astype(object).where(table.notna(), None).to_dict("records"))


def _clean(value: Any) -> Any:
    """``value`` with NaN and infinities replaced by None, recursively."""
    if isinstance(value, dict):
        return {key: _clean(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _predictor_detail(service: Service, predictor_id: str) -> dict[str, Any]:
    """What the predictor page shows."""
    ref = service.predictor_ref(predictor_id)
    try:
        importance = service.importance(predictor_id)
    except library.INPUT_ERRORS as exc:
        raise _bad(exc) from None
    evaluated = [
        service.store.job_dir(job.id) / EVALUATION_DIR
        for job in service.store.list()
        if job.kind == "evaluate"
        and job.status == "done"
        and job.params.get("model") == predictor_id
    ]
    return _clean(
        {
            **ref.summary(),
            "cv": {
                name: {k: values.get(k) for k in ("mean", "std", "oof", "ci")}
                for name, values in (ref.info.get("cv") or {}).items()
                if isinstance(values, dict)
            },
            "params": ref.info.get("params"),
            "importance": None if importance is None else _records(importance.head(30)),
            "importance_note": None
            if importance is not None
            else f"training features not found at {ref.info.get('features_source')}",
            "evaluations": library.evaluation_summaries(evaluated),
        }
    )


def _signals(service: Service, run: RunRef, video_id: str) -> dict[str, Any]:
    """One video's signals, SHAP timeline and defect intervals, for the player page."""
    if run.features_dir is None:
        note = f"run {run.id} keeps no per-frame signals (no feature store beside its scores)"
        return {
            "run": run.id,
            "video": video_id,
            "frames": 0,
            "signals": [],
            "shap_timeline": [],
            "intervals": library.defect_intervals(run.scores, video_id),
            "top_shap": [],
            "note": note,
        }
    try:
        signals = library.signals_of(run.features_dir, video_id)
    except KeyError as exc:
        raise HTTPException(404, str(exc.args[0])) from None
    except (FileNotFoundError, *library.INPUT_ERRORS) as exc:
        raise HTTPException(404, f"run {run.id}: no readable feature store: {exc}") from None
    timeline, shap_values, note = pd.DataFrame(), {}, None
    if run.predictor and run.predictor in service.predictors:
        try:
            timeline, shap_values = library.shap_timeline(
                service.predictor(run.predictor), run.features_dir, video_id
            )
        except (KeyError, FileNotFoundError, *library.INPUT_ERRORS) as exc:
            note = f"no SHAP timeline: {exc}"
    else:
        note = "no SHAP timeline: the run's predictor is not known to the service"
    weight = (
        timeline.assign(a=timeline["shap"].abs()).groupby("signal")["a"].sum()
        if not timeline.empty
        else pd.Series(dtype=float)
    )
    names = sorted(signals, key=lambda name: (-float(weight.get(name, 0.0)), name))[:MAX_SIGNALS]
    pair = {name: library.is_pair_signal(name) for name in signals}
    n_frames = max((len(values) + pair[name] for name, values in signals.items()), default=0)
    shap_per_frame = (
        timeline.groupby("frame")["shap"].sum().reset_index().to_dict("records")
        if not timeline.empty
        else []
    )
    top = sorted(shap_values.items(), key=lambda item: -abs(item[1]))[:10]
    return _clean(
        {
            "run": run.id,
            "video": video_id,
            "frames": n_frames,
            "signals": [
                {
                    "name": name,
                    "values": [float(v) for v in signals[name]],
                    "pair": pair[name],
                    "shap": float(weight.get(name, 0.0)),
                }
                for name in names
            ],
            "shap_timeline": shap_per_frame,
            "intervals": library.defect_intervals(run.scores, video_id),
            "top_shap": [{"feature": k, "shap": float(v)} for k, v in top],
            "note": note,
        }
    )


def _compare(service: Service, run_a: RunRef, run_b: RunRef, n_boot: int) -> dict[str, Any]:
    """What the A/B page shows."""
    try:
        comparison = library.compare_runs(
            run_a.scores, run_b.scores, (run_a.label, run_b.label), n_boot=n_boot
        )
    except library.INPUT_ERRORS as exc:
        raise _bad(exc) from None
    summary = comparison.summary()
    scores_a, scores_b = read_scores(run_a), read_scores(run_b)
    main = comparison.deltas[comparison.deltas["metric"] == "predicted_score"]
    prompts = []
    for row in main.itertuples():
        first_a = scores_a[scores_a["prompt"] == row.prompt]
        first_b = scores_b[scores_b["prompt"] == row.prompt]
        prompts.append(
            {
                "prompt": row.prompt,
                "a": row.a,
                "b": row.b,
                "delta": row.delta,
                "video_a": str(first_a["id"].iloc[0]) if len(first_a) else None,
                "video_b": str(first_b["id"].iloc[0]) if len(first_b) else None,
                "file_a": Path(str(first_a["video"].iloc[0])).name if len(first_a) else None,
                "file_b": Path(str(first_b["video"].iloc[0])).name if len(first_b) else None,
            }
        )
    prompts.sort(key=lambda item: -(item["delta"] if item["delta"] == item["delta"] else -1e9))
    return _clean(
        {
            "a": run_a.summary(),
            "b": run_b.summary(),
            "common_prompts": len(comparison.common_prompts),
            "only_a": list(comparison.only_a),
            "only_b": list(comparison.only_b),
            "n_boot": comparison.n_boot,
            "confidence": comparison.confidence,
            "metrics": _records(summary.head(25)),
            "prompts": prompts,
        }
    )


def _pages(app: FastAPI, service: Service, templates: Jinja2Templates) -> None:
    """The web pages; each is a template that fills itself from the API."""

    def page(request: Request, name: str, **context: Any) -> HTMLResponse:
        return templates.TemplateResponse(
            request, name, {"version": __version__, "page": name, **context}
        )

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def runs_page(request: Request) -> HTMLResponse:
        return page(request, "runs.html")

    @app.get("/runs/{run_id}", response_class=HTMLResponse, include_in_schema=False)
    def run_page(request: Request, run_id: str) -> HTMLResponse:
        return page(request, "run.html", run=service.run(run_id).summary())

    @app.get("/compare", response_class=HTMLResponse, include_in_schema=False)
    def compare_page(request: Request, a: str = "", b: str = "") -> HTMLResponse:
        return page(request, "compare.html", a=a, b=b)

    @app.get("/predictors", response_class=HTMLResponse, include_in_schema=False)
    def predictors_page(request: Request) -> HTMLResponse:
        return page(request, "predictors.html")

    @app.get("/predictors/{predictor_id}", response_class=HTMLResponse, include_in_schema=False)
    def predictor_page(request: Request, predictor_id: str) -> HTMLResponse:
        return page(
            request, "predictor.html", predictor=service.predictor_ref(predictor_id).summary()
        )

    @app.get("/history", response_class=HTMLResponse, include_in_schema=False)
    def history_page(request: Request) -> HTMLResponse:
        return page(request, "history.html")

    @app.get("/jobs", response_class=HTMLResponse, include_in_schema=False)
    def jobs_page(request: Request) -> HTMLResponse:
        return page(request, "jobs.html", roots=[str(root) for root in service.input_roots.paths])

    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="qualitylab API",
            swagger_js_url=f"/static/{SWAGGER_UI}/swagger-ui-bundle.js",
            swagger_css_url=f"/static/{SWAGGER_UI}/swagger-ui.css",
            swagger_favicon_url="/favicon.ico",
        )

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)
