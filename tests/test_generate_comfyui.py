"""The ComfyUI backend against a fake ComfyUI server (stdlib http.server in a thread)
that speaks the endpoints the client uses: /system_stats, /upload/image, /prompt,
/history/{id} and /view."""

import email.parser
import email.policy
import io
import json
import socket
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import qualitylab.cli.generate  # noqa: F401  (registers generate and benchmark)
from qualitylab.cli import app
from qualitylab.data.video import decode, probe
from qualitylab.generate.comfyui import (
    CLIP_PLACEHOLDERS,
    KEYFRAME_PLACEHOLDERS,
    ComfyUIBackend,
    ComfyUIClient,
    ComfyUIError,
    default_workflow,
    fill_placeholders,
    load_workflow,
    placeholders,
)
from qualitylab.generate.settings import GenerateSettings

runner = CliRunner()
PROMPT = "A robot wakes up. Then it dances."


def png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


class FakeComfyUI:
    """State of the fake server: uploaded images, queued workflows, saved outputs.

    ``mode``: ``ok`` (workflows finish after one empty poll), ``error`` (they fail with an
    execution error), ``hang`` (they never finish)."""

    def __init__(self):
        self.mode = "ok"
        self.inputs: dict[str, bytes] = {}
        self.outputs: dict[tuple[str, str], bytes] = {}
        self.prompts: list[dict] = []
        self.history: dict[str, dict] = {}
        self.polls: dict[str, int] = {}

    def queue(self, workflow: dict) -> tuple[int, dict]:
        broken = [node for node, spec in workflow.items() if spec["class_type"] == "Broken"]
        if broken:
            return 400, {
                "error": {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation"},
                "node_errors": {
                    broken[0]: {
                        "class_type": "Broken",
                        "errors": [{"message": "Value not in list", "details": "ckpt_name: 'x'"}],
                    }
                },
            }  # fmt: skip
        prompt_id = uuid.uuid4().hex
        self.prompts.append(workflow)
        self.polls[prompt_id] = 0
        if self.mode == "ok":
            self.history[prompt_id] = self.execute(prompt_id, workflow)
        elif self.mode == "error":
            self.history[prompt_id] = {
                "outputs": {},
                "status": {
                    "status_str": "error",
                    "completed": False,
                    "messages": [
                        ["execution_start", {"prompt_id": prompt_id}],
                        ["execution_error", {"prompt_id": prompt_id, "node_id": "5",
                                             "node_type": "KSampler",
                                             "exception_type": "torch.OutOfMemoryError",
                                             "exception_message": "CUDA out of memory"}],
                    ],
                },
            }  # fmt: skip
        return 200, {"prompt_id": prompt_id, "number": len(self.prompts), "node_errors": {}}

    def execute(self, prompt_id: str, workflow: dict) -> dict:
        nodes = {spec["class_type"]: spec["inputs"] for spec in workflow.values()}
        seed = nodes["KSampler"]["seed"]
        assert isinstance(seed, int)
        files = []
        if "SVD_img2vid_Conditioning" in nodes:
            conditioning = nodes["SVD_img2vid_Conditioning"]
            start = np.asarray(Image.open(io.BytesIO(self.inputs[nodes["LoadImage"]["image"]])))
            assert start.shape == (conditioning["height"], conditioning["width"], 3)
            for t in range(conditioning["video_frames"]):
                files.append(np.clip(start.astype(int) + 10 * t, 0, 255).astype(np.uint8))
        else:
            latent = nodes["EmptyLatentImage"]
            files.append(np.full((latent["height"], latent["width"], 3), seed % 256, np.uint8))
        saved = []
        for index, image in enumerate(files):
            name = f"frame_{prompt_id[:8]}_{index:05d}_.png"
            self.outputs[("qualitylab", name)] = png(image)
            saved.append({"filename": name, "subfolder": "qualitylab", "type": "output"})
        return {
            "outputs": {"7": {"images": saved}},
            "status": {"status_str": "success", "completed": True, "messages": []},
        }


def make_handler(state: FakeComfyUI):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def reply(self, code: int, body: bytes, kind: str = "application/json"):
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            url = urlparse(self.path)
            if url.path == "/system_stats":
                stats = {"system": {"comfyui_version": "0.3.fake", "python_version": "3.12"},
                         "devices": [{"name": "cuda:0 Fake GPU"}]}  # fmt: skip
                return self.reply(200, json.dumps(stats).encode())
            if url.path.startswith("/history/"):
                prompt_id = url.path.removeprefix("/history/")
                state.polls[prompt_id] = state.polls.get(prompt_id, 0) + 1
                done = prompt_id in state.history and state.polls[prompt_id] > 1
                body = {prompt_id: state.history[prompt_id]} if done else {}
                return self.reply(200, json.dumps(body).encode())
            if url.path == "/view":
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                data = state.outputs.get((query.get("subfolder", ""), query["filename"]))
                if data is None or query.get("type") != "output":
                    return self.reply(404, b"not found", "text/plain")
                return self.reply(200, data, "image/png")
            self.reply(404, b"not found", "text/plain")

        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.path == "/prompt":
                payload = json.loads(body)
                assert payload["client_id"]
                code, answer = state.queue(payload["prompt"])
                return self.reply(code, json.dumps(answer).encode())
            if self.path == "/upload/image":
                header = f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode()
                message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                    header + body
                )
                fields, image, name = {}, None, None
                for part in message.iter_parts():
                    if part.get_filename():
                        image, name = part.get_payload(decode=True), part.get_filename()
                    else:
                        fields[part.get_param("name", header="content-disposition")] = (
                            part.get_payload(decode=True).decode()
                        )
                assert fields["type"] == "input" and image is not None
                state.inputs[f"{fields['subfolder']}/{name}"] = image
                answer = {"name": name, "subfolder": fields["subfolder"], "type": "input"}
                return self.reply(200, json.dumps(answer).encode())
            self.reply(404, b"not found", "text/plain")

    return Handler


@pytest.fixture
def comfyui():
    state = FakeComfyUI()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()


SMALL = ["--width", "16", "--height", "16", "--num-frames", "3", "--fps", "4", "--duration", "2",
         "--seed", "3", "--set", "comfyui.poll_interval=0.01"]  # fmt: skip


def invoke(*args):
    return runner.invoke(app, [str(arg) for arg in args], catch_exceptions=False)


def generate(comfyui, out, *extra):
    return invoke("generate", PROMPT, "--out", out, "--backend", "comfyui",
                  "--comfyui-url", comfyui.url, *SMALL, *extra)  # fmt: skip


# --- placeholders and workflows ------------------------------------------------------------


def test_placeholders_keep_types_when_whole_and_become_text_inside_strings():
    workflow = {"1": {"class_type": "X", "inputs": {
        "seed": "{{seed}}", "text": "a photo of {{ prompt }}, {{seed}}", "link": ["2", 0],
        "cfg": 7.5}}}  # fmt: skip
    filled = fill_placeholders(workflow, {"seed": 42, "prompt": "a cat"})
    assert filled["1"]["inputs"] == {
        "seed": 42, "text": "a photo of a cat, 42", "link": ["2", 0], "cfg": 7.5}  # fmt: skip
    assert placeholders(workflow) == {"seed", "prompt"}
    assert workflow["1"]["inputs"]["seed"] == "{{seed}}"  # the original is untouched
    with pytest.raises(ComfyUIError, match=r"placeholder \{\{prompt\}\} has no value"):
        fill_placeholders(workflow, {"seed": 1})


def test_packaged_workflows_use_known_placeholders():
    keyframe = load_workflow(default_workflow("sdxl_keyframe.json"))
    clip = load_workflow(default_workflow("svd_img2vid.json"))
    assert {"prompt", "seed", "width", "height"} <= placeholders(keyframe) <= KEYFRAME_PLACEHOLDERS
    assert {"keyframe", "seed", "num_frames", "fps", "motion_bucket_id"} <= placeholders(clip)
    assert placeholders(clip) <= CLIP_PLACEHOLDERS


def test_ui_format_and_malformed_workflows_are_refused(tmp_path):
    ui = tmp_path / "ui.json"
    ui.write_text(json.dumps({"nodes": [], "links": []}))
    with pytest.raises(ComfyUIError, match="UI format.*Save \\(API Format\\)"):
        load_workflow(ui)
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    with pytest.raises(ComfyUIError, match="not an API-format ComfyUI workflow"):
        load_workflow(bad)


def test_workflows_missing_required_or_using_unknown_placeholders_are_refused(tmp_path):
    clip = json.loads(default_workflow("svd_img2vid.json").read_text())
    clip["2"]["inputs"]["image"] = "start.png"
    no_keyframe = tmp_path / "clip.json"
    no_keyframe.write_text(json.dumps(clip))
    settings = GenerateSettings(backend="comfyui").with_overrides(
        {"comfyui.workflow": str(no_keyframe)}
    )
    with pytest.raises(ComfyUIError, match=r"lacks the placeholder \{\{keyframe\}\}"):
        ComfyUIBackend(settings).prepare()
    clip["2"]["inputs"]["image"] = "{{keyframe}}"
    clip["5"]["inputs"]["sampler_name"] = "{{sampler}}"
    no_keyframe.write_text(json.dumps(clip))
    with pytest.raises(ComfyUIError, match=r"unknown placeholders \{\{sampler\}\}"):
        ComfyUIBackend(settings).prepare()
    chained = GenerateSettings(backend="comfyui").with_overrides({"clip.chain_scenes": True})
    with pytest.raises(ComfyUIError, match=r"no \{\{init_image\}\} placeholder"):
        ComfyUIBackend(chained).prepare()


# --- generation through the fake server -----------------------------------------------------


def test_generate_with_the_comfyui_backend(comfyui, tmp_path):
    result = generate(comfyui, tmp_path / "run")
    assert result.exit_code == 0, result.output
    video = tmp_path / "run" / "videos" / "a_robot_wakes_up_then_it_dances.mp4"
    info = probe(video)
    assert (info.num_frames, info.fps, info.width, info.height) == (8, 4.0, 16, 16)
    keyframes = [
        w for w in comfyui.prompts if any(n["class_type"] == "EmptyLatentImage" for n in w.values())
    ]
    clips = [w for w in comfyui.prompts if w not in keyframes]
    assert [w["5"]["inputs"]["seed"] for w in keyframes] == [3, 1003]
    assert keyframes[0]["2"]["inputs"]["text"].startswith("A robot wakes up, cartoon style")
    assert keyframes[1]["4"]["inputs"] == {"width": 16, "height": 16, "batch_size": 1}
    # scene 1: 5 frames = a clip of 3 + an extension; scene 2: 3 frames = one clip
    assert [w["5"]["inputs"]["seed"] for w in clips] == [4, 5, 1004]
    conditioning = clips[0]["3"]["inputs"]
    assert conditioning["video_frames"] == 3 and conditioning["fps"] == 4
    assert conditioning["motion_bucket_id"] == 127 and conditioning["augmentation_level"] == 0.02
    assert clips[0]["2"]["inputs"]["image"].startswith("qualitylab/qualitylab_")
    assert clips[0]["2"]["inputs"]["image"] in comfyui.inputs
    # frames: the keyframe (seed 3) brightening by 10 a frame, the extension continuing it
    brightness = decode(video).frames.astype(float).mean(axis=(1, 2, 3))
    assert np.allclose(brightness, [3, 13, 23, 33, 43, 235, 245, 255], atol=3)
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    backend = run["backend"]
    assert backend["backend"] == "comfyui" and backend["url"] == comfyui.url
    assert backend["server"]["comfyui_version"] == "0.3.fake"
    assert backend["clip_workflow"]["file"].endswith("svd_img2vid.json")
    assert len(backend["clip_workflow"]["sha256"]) == 64
    assert run["settings"]["backend"] == "comfyui"


def test_unreachable_server_is_a_clear_error(tmp_path):
    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        port = probe_socket.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    result = invoke("generate", PROMPT, "--out", tmp_path / "run", "--backend", "comfyui",
                    "--comfyui-url", url)  # fmt: skip
    output = " ".join(result.output.split())
    assert result.exit_code == 1
    assert f"cannot reach the ComfyUI server at {url}" in output and "--comfyui-url" in output
    assert "Traceback" not in output
    assert not (tmp_path / "run" / "run.json").exists()


def test_a_failed_prompt_is_recorded_with_the_servers_error(comfyui, tmp_path):
    comfyui.mode = "error"
    result = generate(comfyui, tmp_path / "run")
    output = " ".join(result.output.split())
    assert result.exit_code == 1
    assert "0 generated, 0 already complete, 1 failed" in output
    assert "ComfyUI failed running prompt" in output
    assert "node 5 (KSampler): torch.OutOfMemoryError: CUDA out of memory" in output
    record = json.loads((tmp_path / "run" / "run.json").read_text())["videos"][0]
    assert record["status"] == "failed" and "CUDA out of memory" in record["error"]
    comfyui.mode = "ok"  # the next run retries it
    assert generate(comfyui, tmp_path / "run").exit_code == 0


def test_a_refused_workflow_names_the_node_and_its_problem(comfyui, tmp_path):
    workflow = json.loads(default_workflow("sdxl_keyframe.json").read_text())
    workflow["1"]["class_type"] = "Broken"
    path = tmp_path / "keyframe.json"
    path.write_text(json.dumps(workflow))
    result = generate(comfyui, tmp_path / "run", "--comfyui-keyframe-workflow", path)
    output = " ".join(result.output.split())
    assert result.exit_code == 1
    assert "HTTP 400" in output and "node 1 (Broken): Value not in list ckpt_name: 'x'" in output


def test_a_workflow_that_does_not_finish_times_out(comfyui, tmp_path):
    comfyui.mode = "hang"
    result = generate(comfyui, tmp_path / "run", "--comfyui-timeout", "0.2")
    output = " ".join(result.output.split())
    assert result.exit_code == 1
    assert "did not finish prompt" in output and "within 0.2 s" in output


def test_client_uploads_and_fetches(comfyui):
    client = ComfyUIClient(comfyui.url, timeout=5, poll_interval=0.01)
    image = np.full((8, 8, 3), 77, np.uint8)
    name = client.upload_image(image)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(comfyui.inputs[name]))), image)
    assert client.system_stats()["system"]["comfyui_version"] == "0.3.fake"
    with pytest.raises(ComfyUIError, match="HTTP 404"):
        client.view("missing.png")
