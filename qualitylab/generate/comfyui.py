"""The ComfyUI backend: keyframes and clips made by a ComfyUI server through its HTTP API.

The client queues an API-format workflow (``POST /prompt``), polls ``GET
/history/{prompt_id}`` until it has finished, and fetches the files its output nodes saved
(``GET /view?filename=..&subfolder=..&type=..``); images it needs in a workflow (the
keyframe to animate, the last frame of a chained scene) are first uploaded with ``POST
/upload/image``. Only the standard library's ``urllib`` is used.

Workflows are JSON files in ComfyUI's API format ("Save (API Format)"). The client fills
in placeholders, written ``{{name}}``: a string value that is exactly ``"{{name}}"``
becomes the value itself (a number stays a number); inside a longer string the value is
written as text (``"a photo of {{prompt}}"``). Placeholders:

- both workflows: ``prompt``, ``seed``, ``width``, ``height``, ``steps``;
- keyframe workflow: ``negative_prompt``, ``guidance_scale``, and for chained scenes
  ``init_image`` (the uploaded last frame of the previous scene, for a LoadImage node)
  and ``strength`` (the chain strength, for a KSampler's ``denoise``); ``prompt`` is
  required;
- clip workflow: ``keyframe`` (the uploaded keyframe's name, for a LoadImage node;
  required), ``num_frames``, ``fps``, ``motion_bucket_id``, ``noise_aug_strength``,
  ``min_guidance_scale``, ``max_guidance_scale``, ``decode_chunk_size``.

The packaged defaults (``workflows/sdxl_keyframe.json`` and ``workflows/svd_img2vid.json``)
load ``sd_xl_base_1.0.safetensors`` and ``svd_xt.safetensors`` from the server's
``models/checkpoints``. A workflow's results are the files of every output node that
saves (type ``output``), in node order: still images, animated images (each frame) or
videos (decoded with PyAV).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageSequence

from qualitylab.generate.images import fit_image
from qualitylab.generate.models import GenerationError
from qualitylab.generate.settings import GenerateSettings

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
COMMON_PLACEHOLDERS = frozenset({"prompt", "seed", "width", "height", "steps"})
KEYFRAME_PLACEHOLDERS = COMMON_PLACEHOLDERS | {
    "negative_prompt",
    "guidance_scale",
    "init_image",
    "strength",
}
CLIP_PLACEHOLDERS = COMMON_PLACEHOLDERS | {
    "keyframe",
    "num_frames",
    "fps",
    "motion_bucket_id",
    "noise_aug_strength",
    "min_guidance_scale",
    "max_guidance_scale",
    "decode_chunk_size",
}
_VIDEO_SUFFIXES = (".mp4", ".webm", ".mov", ".mkv", ".avi", ".gif")
UPLOAD_SUBFOLDER = "qualitylab"


class ComfyUIError(GenerationError):
    """The ComfyUI server cannot be reached, refused a workflow, failed running it, or did
    not finish in time."""


def default_workflow(name: str) -> Path:
    """The path of a workflow shipped with qualitylab (``svd_img2vid.json``,
    ``sdxl_keyframe.json``)."""
    return Path(str(files("qualitylab.generate") / "workflows" / name))


def load_workflow(path: str | Path) -> dict[str, Any]:
    """An API-format workflow from a JSON file; ComfyUIError naming the file when it is
    unreadable or in the UI format."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ComfyUIError(f"cannot read the ComfyUI workflow {path}: {exc}") from None
    if isinstance(data, dict) and "nodes" in data and "links" in data:
        raise ComfyUIError(
            f"{path} is a ComfyUI workflow in the UI format; export it with "
            "'Save (API Format)' (enable the dev mode options in ComfyUI's settings)"
        )
    if not isinstance(data, dict) or not all(
        isinstance(node, dict) and "class_type" in node for node in data.values()
    ):
        raise ComfyUIError(
            f"{path} is not an API-format ComfyUI workflow (a mapping of node ids to "
            "nodes with 'class_type' and 'inputs')"
        )
    return data


def placeholders(workflow: Any) -> set[str]:
    """The placeholder names a workflow uses."""
    if isinstance(workflow, str):
        return set(_PLACEHOLDER.findall(workflow))
    if isinstance(workflow, dict):
        return set().union(*(placeholders(value) for value in workflow.values()))
    if isinstance(workflow, list):
        return set().union(*(placeholders(value) for value in workflow))
    return set()


def fill_placeholders(workflow: Any, values: dict[str, Any]) -> Any:
    """A copy of ``workflow`` with its placeholders replaced by ``values`` (see the
    module); ComfyUIError naming a placeholder that has no value."""
    if isinstance(workflow, dict):
        return {key: fill_placeholders(value, values) for key, value in workflow.items()}
    if isinstance(workflow, list):
        return [fill_placeholders(value, values) for value in workflow]
    if not isinstance(workflow, str):
        return workflow
    whole = _PLACEHOLDER.fullmatch(workflow.strip())
    if whole:
        return _value(whole.group(1), values)
    return _PLACEHOLDER.sub(lambda m: str(_value(m.group(1), values)), workflow)


def _value(name: str, values: dict[str, Any]) -> Any:
    if name not in values:
        raise ComfyUIError(
            f"the workflow's placeholder {{{{{name}}}}} has no value here; "
            f"available: {', '.join(sorted(values))}"
        )
    return values[name]


class ComfyUIClient:
    """A client of one ComfyUI server's HTTP API."""

    def __init__(self, url: str, timeout: float = 1800.0, poll_interval: float = 1.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.poll_interval = poll_interval
        self.client_id = uuid.uuid4().hex

    def _request(self, path: str, data: bytes | None = None, content_type: str = "") -> bytes:
        request = urllib.request.Request(f"{self.url}{path}", data=data)
        if content_type:
            request.add_header("Content-Type", content_type)
        method = "POST" if data is not None else "GET"
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.read()
        except urllib.error.HTTPError as exc:
            body = exc.read().decode("utf-8", "replace")
            raise ComfyUIError(
                f"ComfyUI at {self.url} answered HTTP {exc.code} to {method} {path}: "
                f"{_describe_refusal(body)}"
            ) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ComfyUIError(
                f"cannot reach the ComfyUI server at {self.url} ({reason}); start ComfyUI "
                "(e.g. `python main.py --listen`) or pass its address with --comfyui-url"
            ) from None

    def _json(self, path: str, payload: Any = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        body = self._request(path, data, "application/json" if data is not None else "")
        try:
            return json.loads(body)
        except json.JSONDecodeError:
            raise ComfyUIError(
                f"ComfyUI at {self.url} answered {path} with something other than JSON: "
                f"{body[:200]!r}"
            ) from None

    def system_stats(self) -> dict[str, Any]:
        """The server's ``/system_stats`` (versions, devices); also checks it is there."""
        stats = self._json("/system_stats")
        return stats if isinstance(stats, dict) else {}

    def upload_image(self, image: np.ndarray) -> str:
        """Upload an RGB image as PNG into the server's input folder; the name a
        LoadImage node reads it by."""
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="PNG")
        png = buffer.getvalue()
        name = f"qualitylab_{hashlib.sha256(png).hexdigest()[:20]}.png"
        boundary = uuid.uuid4().hex
        fields = {"overwrite": "true", "type": "input", "subfolder": UPLOAD_SUBFOLDER}
        body = b"".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode()
            for key, value in fields.items()
        )
        body += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; '
            f'filename="{name}"\r\nContent-Type: image/png\r\n\r\n'
        ).encode()
        body += png + f"\r\n--{boundary}--\r\n".encode()
        answer = json.loads(
            self._request("/upload/image", body, f"multipart/form-data; boundary={boundary}")
        )
        uploaded, subfolder = answer.get("name", name), answer.get("subfolder", "")
        return f"{subfolder}/{uploaded}" if subfolder else uploaded

    def queue(self, workflow: dict[str, Any]) -> str:
        """Queue a filled-in workflow; its prompt id. ComfyUIError when it is refused."""
        answer = self._json("/prompt", {"prompt": workflow, "client_id": self.client_id})
        if answer.get("node_errors"):
            raise ComfyUIError(f"ComfyUI refused the workflow: {_describe_refusal(answer)}")
        if "prompt_id" not in answer:
            raise ComfyUIError(f"ComfyUI did not queue the workflow: {answer}")
        return str(answer["prompt_id"])

    def wait(self, prompt_id: str) -> dict[str, Any]:
        """The history entry of a queued prompt once it has finished; ComfyUIError when it
        failed or took longer than the timeout."""
        deadline = time.monotonic() + self.timeout
        while True:
            history = self._json(f"/history/{urllib.parse.quote(prompt_id)}")
            entry = history.get(prompt_id) if isinstance(history, dict) else None
            if entry is not None:
                status = entry.get("status", {})
                if status.get("status_str") == "error":
                    raise ComfyUIError(
                        f"ComfyUI failed running prompt {prompt_id}: {_execution_error(status)}"
                    )
                if status.get("completed", True):
                    return entry
            if time.monotonic() >= deadline:
                raise ComfyUIError(
                    f"ComfyUI did not finish prompt {prompt_id} within {self.timeout:g} s "
                    "(raise --comfyui-timeout, or check the server's queue)"
                )
            time.sleep(self.poll_interval)

    def view(self, filename: str, subfolder: str = "", kind: str = "output") -> bytes:
        """The bytes of a file the server saved."""
        query = urllib.parse.urlencode({"filename": filename, "subfolder": subfolder, "type": kind})
        return self._request(f"/view?{query}")

    def run(self, workflow: dict[str, Any]) -> list[tuple[str, bytes]]:
        """Queue a workflow, wait for it, and fetch the files its saving output nodes wrote
        (``(filename, bytes)`` in node order); ComfyUIError when it wrote none."""
        prompt_id = self.queue(workflow)
        entry = self.wait(prompt_id)
        found = []
        outputs = entry.get("outputs", {})
        for node in sorted(outputs, key=_node_order):
            for items in outputs[node].values():
                if isinstance(items, list):
                    found += [
                        item for item in items if isinstance(item, dict) and "filename" in item
                    ]
        saved = [item for item in found if item.get("type", "output") == "output"] or found
        if not saved:
            raise ComfyUIError(
                f"ComfyUI prompt {prompt_id} finished without output files; the workflow "
                "needs a node that saves its images (e.g. SaveImage)"
            )
        return [
            (
                item["filename"],
                self.view(item["filename"], item.get("subfolder", ""), item.get("type", "output")),
            )
            for item in saved
        ]


def _node_order(node_id: str) -> tuple[int, str]:
    return (int(node_id), "") if node_id.isdigit() else (1 << 30, node_id)


def _describe_refusal(body: Any) -> str:
    """A readable summary of ComfyUI's refusal of a workflow (its error and node errors)."""
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except json.JSONDecodeError:
            return body.strip()[:500] or "(no details)"
    if not isinstance(body, dict):
        return str(body)[:500]
    parts = []
    error = body.get("error")
    if isinstance(error, dict):
        parts.append(str(error.get("message") or error.get("type") or error))
        if error.get("details"):
            parts.append(str(error["details"]))
    elif error:
        parts.append(str(error))
    for node, problem in (body.get("node_errors") or {}).items():
        errors = problem.get("errors", []) if isinstance(problem, dict) else []
        text = "; ".join(
            f"{e.get('message', '')} {e.get('details', '')}".strip() for e in errors
        ) or str(problem)
        kind = problem.get("class_type", "") if isinstance(problem, dict) else ""
        parts.append(f"node {node} ({kind}): {text}")
    return "; ".join(parts) or json.dumps(body)[:500]


def _execution_error(status: dict[str, Any]) -> str:
    for message in status.get("messages", []):
        if isinstance(message, list) and len(message) == 2 and message[0] == "execution_error":
            details = message[1]
            return (
                f"node {details.get('node_id')} ({details.get('node_type')}): "
                f"{details.get('exception_type', 'error')}: {details.get('exception_message', '')}"
            ).strip()
    return "the server reported an error (see its log)"


def frames_from_files(files: list[tuple[str, bytes]]) -> list[np.ndarray]:
    """RGB frames from the files a workflow saved: each frame of every image (animated
    ones too), and every frame of every video, in order."""
    frames: list[np.ndarray] = []
    for name, data in files:
        if Path(name).suffix.lower() in _VIDEO_SUFFIXES:
            frames.extend(_video_frames(name, data))
            continue
        try:
            with Image.open(io.BytesIO(data)) as image:
                frames += [np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(image)]
        except OSError as exc:
            raise ComfyUIError(f"ComfyUI output {name} is not a readable image: {exc}") from None
    return frames


def _video_frames(name: str, data: bytes) -> list[np.ndarray]:
    from qualitylab.data.video import VideoDecodeError, decode

    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / Path(name).name
        path.write_bytes(data)
        try:
            return list(decode(path).frames)
        except VideoDecodeError as exc:
            raise ComfyUIError(f"ComfyUI output {name}: {exc.reason}") from None


class ComfyUIBackend:
    """Keyframes and clips made by a ComfyUI server from two workflows."""

    name = "comfyui"

    def __init__(self, settings: GenerateSettings) -> None:
        self.settings = settings
        options = settings.comfyui
        self.client = ComfyUIClient(options.url, options.timeout, options.poll_interval)
        self.keyframe_file = options.keyframe_workflow or default_workflow("sdxl_keyframe.json")
        self.clip_file = options.workflow or default_workflow("svd_img2vid.json")
        self.keyframe_workflow: dict[str, Any] | None = None
        self.clip_workflow: dict[str, Any] | None = None
        self.server: dict[str, Any] = {}

    def prepare(self) -> None:
        """Read and check both workflows, then check that the server answers."""
        if self.clip_workflow is not None:
            return
        keyframe = load_workflow(self.keyframe_file)
        clip = load_workflow(self.clip_file)
        _check_placeholders(self.keyframe_file, keyframe, KEYFRAME_PLACEHOLDERS, {"prompt"})
        _check_placeholders(self.clip_file, clip, CLIP_PLACEHOLDERS, {"keyframe"})
        if self.settings.clip.chain_scenes and "init_image" not in placeholders(keyframe):
            raise ComfyUIError(
                f"chained scenes need a keyframe workflow that redraws an image: "
                f"{self.keyframe_file} has no {{{{init_image}}}} placeholder (a LoadImage "
                "node's image) — pass one with --comfyui-keyframe-workflow, or drop --chain-scenes"
            )
        self.server = self.client.system_stats()
        self.keyframe_workflow, self.clip_workflow = keyframe, clip

    def describe(self) -> dict[str, Any]:
        """The server (address, version, devices) and both workflows (file, SHA-256 and
        content), for ``run.json``."""
        system = self.server.get("system", {}) if isinstance(self.server, dict) else {}
        return {
            "backend": self.name,
            "url": self.client.url,
            "server": {
                "comfyui_version": system.get("comfyui_version"),
                "python_version": system.get("python_version"),
                "devices": [
                    d.get("name") for d in self.server.get("devices", []) if isinstance(d, dict)
                ],
            },
            "keyframe_workflow": _workflow_record(self.keyframe_file, self.keyframe_workflow),
            "clip_workflow": _workflow_record(self.clip_file, self.clip_workflow),
        }

    def keyframe(self, prompt: str, seed: int, init_image: np.ndarray | None = None) -> np.ndarray:
        """A keyframe drawn by the keyframe workflow (see the module for its placeholders)."""
        self.prepare()
        settings = self.settings.keyframe
        width, height = self.settings.keyframe_size
        values: dict[str, Any] = {
            "prompt": prompt,
            "negative_prompt": settings.negative_prompt,
            "seed": seed,
            "width": width,
            "height": height,
            "steps": settings.steps,
            "guidance_scale": settings.guidance_scale,
            "strength": settings.chain_strength,
        }
        if init_image is not None:
            values["init_image"] = self.client.upload_image(fit_image(init_image, width, height))
        assert self.keyframe_workflow is not None
        frames = frames_from_files(
            self.client.run(fill_placeholders(self.keyframe_workflow, values))
        )
        if not frames:
            raise ComfyUIError("the keyframe workflow produced no image")
        return fit_image(frames[0], width, height)

    def clip(self, image: np.ndarray, seed: int, prompt: str = "") -> np.ndarray:
        """The frames the clip workflow makes from ``image`` (see the module)."""
        self.prepare()
        clip = self.settings.clip
        values: dict[str, Any] = {
            "keyframe": self.client.upload_image(fit_image(image, clip.width, clip.height)),
            "prompt": prompt,
            "seed": seed,
            "width": clip.width,
            "height": clip.height,
            "steps": clip.steps,
            "num_frames": clip.num_frames,
            "fps": clip.fps,
            "motion_bucket_id": clip.motion_bucket_id,
            "noise_aug_strength": clip.noise_aug_strength,
            "min_guidance_scale": clip.min_guidance_scale,
            "max_guidance_scale": clip.max_guidance_scale,
            "decode_chunk_size": clip.decode_chunk_size or clip.num_frames,
        }
        assert self.clip_workflow is not None
        frames = frames_from_files(self.client.run(fill_placeholders(self.clip_workflow, values)))
        if not frames:
            raise ComfyUIError("the clip workflow produced no frames")
        return np.stack([fit_image(frame, clip.width, clip.height) for frame in frames])


def _check_placeholders(
    path: Path, workflow: dict[str, Any], known: frozenset[str] | set[str], required: set[str]
) -> None:
    used = placeholders(workflow)
    unknown = used - set(known)
    if unknown:
        raise ComfyUIError(
            f"the workflow {path} uses unknown placeholders "
            f"{', '.join(f'{{{{{name}}}}}' for name in sorted(unknown))}; known here: "
            f"{', '.join(sorted(known))}"
        )
    missing = required - used
    if missing:
        raise ComfyUIError(
            f"the workflow {path} lacks the placeholder "
            f"{', '.join(f'{{{{{name}}}}}' for name in sorted(missing))}"
        )


def _workflow_record(path: Path, workflow: dict[str, Any] | None) -> dict[str, Any]:
    text = json.dumps(workflow, sort_keys=True) if workflow is not None else ""
    return {
        "file": str(path),
        "sha256": hashlib.sha256(text.encode()).hexdigest() if workflow is not None else None,
        "workflow": workflow,
    }
