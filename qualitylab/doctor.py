"""What works on this machine: the core libraries, accelerators and caches (the pretrained
weights are reported by :func:`qualitylab.weights.report`)."""

from __future__ import annotations

import importlib
import platform
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from qualitylab.config import home_dir, weights_dir


@dataclass(frozen=True)
class Check:
    """One line of the doctor's report; a failed ``required`` check means the core is broken."""

    name: str
    ok: bool
    detail: str
    required: bool = True


def environment_checks() -> list[Check]:
    """Check Python, torch, torchvision, accelerators, PyAV/ffmpeg and the cache paths.

    torchvision is looked up, not imported: importing it costs seconds (it loads torch's
    compiler), and only the learned extractors that use it (LPIPS, RAFT) need it."""
    checks = [
        Check(
            "python", sys.version_info >= (3, 11), f"{platform.python_version()} ({sys.executable})"
        )
    ]
    torch = _import_check("torch", checks)
    checks.append(_installed_check("torchvision"))
    if torch is not None:
        checks.append(_cuda_check(torch))
        mps = getattr(torch.backends, "mps", None)
        mps_ok = bool(mps and mps.is_available())
        checks.append(
            Check("mps", mps_ok, "available" if mps_ok else "not available", required=False)
        )
    av = _import_check("av", checks)
    if av is not None:
        checks.append(_decode_check())
    ffmpeg = shutil.which("ffmpeg")
    checks.append(
        Check(
            "ffmpeg binary",
            ffmpeg is not None,
            ffmpeg or "not on PATH (not needed: PyAV bundles its own FFmpeg libraries)",
            required=False,
        )
    )
    checks.append(_writable_check("cache root", home_dir()))
    checks.append(Check("weights dir", True, str(weights_dir()), required=False))
    checks.extend(_hub_checks(torch))
    return checks


def extractor_checks() -> list[Check]:
    """Per extractor family, which extractors can run here: the classical ones always, the
    learned ones when their pretrained weights are on disk."""
    from qualitylab.features.learned.runtime import learned_with_weights
    from qualitylab.features.registry import REGISTRY

    ready = set(learned_with_weights())
    families: dict[str, tuple[list[str], list[str]]] = {}
    for name, spec in REGISTRY.items():
        runs, lacking = families.setdefault(spec.family, ([], []))
        (runs if not spec.learned or name in ready else lacking).append(name)
    checks = []
    for family, (runs, lacking) in families.items():
        detail = ", ".join(runs) or "none"
        if lacking:
            detail += f" (without weights: {', '.join(lacking)})"
        checks.append(Check(family, bool(runs), detail, required=False))
    return checks


def _import_check(module: str, checks: list[Check]):
    try:
        imported = importlib.import_module(module)
    except Exception as exc:  # a broken binary raises OSError/RuntimeError, not only ImportError
        checks.append(Check(module, False, f"cannot import: {exc}"))
        return None
    detail = getattr(imported, "__version__", "imported")
    if module == "av":
        libs = getattr(imported, "library_versions", {})
        codec = libs.get("libavcodec")
        detail += f" (libavcodec {'.'.join(map(str, codec))})" if codec else ""
    checks.append(Check(module, True, detail))
    return imported


def _installed_check(distribution: str) -> Check:
    """Whether ``distribution`` is installed, with its version, without importing it."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return Check(distribution, True, f"{version(distribution)} (installed; not imported)")
    except PackageNotFoundError:
        return Check(distribution, False, "not installed")


def _cuda_check(torch) -> Check:
    if not torch.cuda.is_available():
        return Check("cuda", False, "not available (CPU only)", required=False)
    names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return Check("cuda", True, f"{len(names)} device(s): {', '.join(names)}", required=False)


def _decode_check() -> Check:
    import numpy as np

    from qualitylab.data.video import decode, write_video

    with tempfile.TemporaryDirectory() as tmp:
        frames = [np.full((32, 32, 3), 40 * i, np.uint8) for i in range(4)]
        try:
            clip = decode(write_video(Path(tmp) / "check.mp4", frames, fps=4))
        except Exception as exc:
            return Check("video encode/decode", False, f"failed: {exc}")
    ok = clip.frames.shape == (4, 32, 32, 3)
    return Check("video encode/decode", ok, f"H.264 round trip: {clip.frames.shape[0]} of 4 frames")


def _writable_check(name: str, path: Path) -> Check:
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path):
            pass
    except OSError as exc:
        return Check(name, False, f"{path}: not writable ({exc}); set QUALITYLAB_HOME")
    return Check(name, True, f"{path} (set QUALITYLAB_HOME to move it)")


def _hub_checks(torch) -> list[Check]:
    from huggingface_hub import constants

    offline = " (HF_HUB_OFFLINE is set)" if constants.HF_HUB_OFFLINE else ""
    checks = [
        Check("hugging face cache", True, f"{constants.HF_HUB_CACHE}{offline}", required=False)
    ]
    if torch is not None:
        hub = Path(torch.hub.get_dir()) / "checkpoints"
        checks.append(Check("torch hub cache", True, str(hub), required=False))
    return checks
