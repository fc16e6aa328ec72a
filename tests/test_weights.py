import hashlib
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qualitylab.cli import app
from qualitylab.features.learned.runtime import model_directory, weight_file
from qualitylab.weights import (
    CATALOGUE,
    HubFile,
    HubRepo,
    PretrainedModel,
    TorchHubCheckpoint,
    availability,
    download,
    find_model,
    verify,
)

THESIS_MODELS = {
    "clip_b32",
    "clip_l14",
    "siglip_so400m",
    "siglip_l16",
    "jina_clip_v2",
    "hps_v2",
    "imagereward",
    "lpips_alex",
    "raft_large",
    "svd_xt",
    "svd_xt_1_1",
    "sdxl_base",
}

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, ["weights", *args], catch_exceptions=False)


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch):
    """Tables and messages as wide as a real terminal, so that nothing is cut short."""
    monkeypatch.setenv("COLUMNS", "400")


@pytest.fixture
def empty_caches(tmp_path, monkeypatch):
    """Hugging Face and torch hub caches that hold nothing."""
    hf_cache = tmp_path / "hf"
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(hf_cache))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return hf_cache, tmp_path / "torch" / "hub" / "checkpoints"


def cache_hub_file(hf_cache: Path, repo_id: str, revision: str, name: str, data: bytes) -> Path:
    """Put a file into a Hugging Face cache laid out as huggingface_hub lays it out: the
    content in blobs/ under its SHA-256 (weights) or git object id (small files), a link
    to it in snapshots/<revision>/."""
    repo = hf_cache / f"models--{repo_id.replace('/', '--')}"
    if name.endswith((".json", ".txt")):
        blob_name = hashlib.sha1(f"blob {len(data)}\0".encode() + data).hexdigest()
    else:
        blob_name = hashlib.sha256(data).hexdigest()
    blob = repo / "blobs" / blob_name
    blob.parent.mkdir(parents=True, exist_ok=True)
    blob.write_bytes(data)
    link = repo / "snapshots" / revision / name
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(Path("../" * len(Path(name).parts), "..", "blobs", blob_name))
    return link


def cache_model(hf_cache: Path, key: str, files: dict[str, bytes]) -> None:
    """Put files of ``key``'s single hub repository into the cache at its pinned revision."""
    (artifact,) = find_model(key).artifacts
    for name, data in files.items():
        cache_hub_file(hf_cache, artifact.repo_id, artifact.revision, name, data)


def write_files(directory: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_bytes(data)
    return directory


IMAGEREWARD_FILES = {
    "ImageReward.pt": b"reward weights",
    "med_config.json": b"{}",
    "vocab.txt": b"[PAD]\n",
    "tokenizer_config.json": b"{}",
}


def test_catalogue_covers_the_thesis_models():
    assert {model.key for model in CATALOGUE} == THESIS_MODELS
    with pytest.raises(KeyError, match="unknown pretrained model 'clip'.*clip_b32"):
        find_model("clip")


def test_every_hub_artifact_is_pinned_to_a_commit():
    for model in CATALOGUE:
        for artifact in model.artifacts:
            if isinstance(artifact, HubFile | HubRepo):
                assert re.fullmatch(r"[0-9a-f]{40}", artifact.revision), model.key
        assert model.unpinned_repos() == ()


def test_hps_and_imagereward_need_their_checkpoints_and_tokenizer():
    assert find_model("hps_v2").artifacts == (
        HubFile("xswu/HPSv2", "HPS_v2_compressed.pt", "697403c78157020a1ae59d23f111aa58ced35b0a"),
    )
    files = [(a.repo_id, a.filename) for a in find_model("imagereward").artifacts]
    assert files == [
        ("THUDM/ImageReward", "ImageReward.pt"),
        ("THUDM/ImageReward", "med_config.json"),
        ("google-bert/bert-base-uncased", "vocab.txt"),
        ("google-bert/bert-base-uncased", "tokenizer_config.json"),
    ]


def test_everything_missing_in_empty_caches(empty_caches):
    for model in CATALOGUE:
        found = availability(model)
        assert not found.present and found.fetch_commands(), model.key
    commands = availability(find_model("clip_b32")).fetch_commands()
    assert commands == [
        "hf download openai/clip-vit-base-patch32 --include '*.json' --include '*.txt' "
        "--include 'pytorch_model.bin' --revision 3d74acf9a28c67741b2f4f2ea7635f0aaf6f0268"
    ]
    assert availability(find_model("hps_v2")).fetch_commands() == [
        "hf download xswu/HPSv2 HPS_v2_compressed.pt "
        "--revision 697403c78157020a1ae59d23f111aa58ced35b0a"
    ]


def test_hub_cache_layout_is_recognised_at_the_pinned_revision(empty_caches):
    hf_cache, _ = empty_caches
    cache_model(hf_cache, "clip_l14", {"config.json": b"{}", "model.safetensors": b"weights"})
    found = availability(find_model("clip_l14"))
    snapshot = hf_cache / "models--openai--clip-vit-large-patch14" / "snapshots"
    snapshot = snapshot / "32bd64288804d66eefd0ccbe215aa642df71cc41"
    assert found.present and found.where == "Hugging Face cache"
    assert found.locations == (snapshot / "model.safetensors",)
    assert model_directory("clip_l14") == snapshot
    assert not availability(find_model("clip_b32")).present


def test_hub_repo_without_its_config_is_missing(empty_caches):
    hf_cache, _ = empty_caches
    cache_model(hf_cache, "clip_l14", {"model.safetensors": b"weights"})
    assert not availability(find_model("clip_l14")).present


def test_another_revision_in_the_cache_does_not_count(empty_caches):
    hf_cache, _ = empty_caches
    cache_hub_file(hf_cache, "xswu/HPSv2", "b" * 40, "HPS_v2_compressed.pt", b"weights")
    assert not availability(find_model("hps_v2")).present


def test_torch_hub_checkpoint_is_recognised(empty_caches):
    _, checkpoints = empty_caches
    raft = find_model("raft_large")
    assert "torch.hub.load_state_dict_from_url" in availability(raft).fetch_commands()[0]
    checkpoints.mkdir(parents=True)
    (checkpoints / "raft_large_C_T_SKHT_V2-ff5fadd5.pth").write_bytes(b"weights")
    found = availability(raft)
    assert found.present and found.where == "torch hub cache"


def test_local_directory_counts_only_when_complete(empty_caches, isolated_home: Path):
    model = find_model("siglip_l16")
    local = isolated_home / "weights" / "siglip_l16"
    local.mkdir(parents=True)
    (local / "config.json").write_text("{}")
    found = availability(model)
    assert not found.present
    assert found.local_lacks == ("model.safetensors or pytorch_model.bin",)
    (local / "model.safetensors").write_bytes(b"")
    assert availability(model).local_lacks == ("model.safetensors or pytorch_model.bin (empty)",)
    (local / "model.safetensors").write_bytes(b"weights")
    found = availability(model)
    assert found.present and found.locations == (local,) and found.local_lacks == ()
    assert found.where == "local copy" and model_directory("siglip_l16") == local


def test_local_copy_may_hold_the_other_weights_format(empty_caches, isolated_home: Path):
    local = write_files(
        isolated_home / "weights" / "clip_b32", {"config.json": b"{}", "model.safetensors": b"w"}
    )
    assert availability(find_model("clip_b32")).locations == (local,)


def test_partial_local_copy_is_reported_and_the_cache_used(empty_caches, isolated_home: Path):
    hf_cache, _ = empty_caches
    write_files(isolated_home / "weights" / "imagereward", {"ImageReward.pt": b"weights"})
    found = availability(find_model("imagereward"))
    assert not found.present and len(found.missing) == 4
    assert found.local_lacks == ("med_config.json", "vocab.txt", "tokenizer_config.json")
    for artifact in find_model("imagereward").artifacts:
        data = IMAGEREWARD_FILES[artifact.filename]
        cache_hub_file(hf_cache, artifact.repo_id, artifact.revision, artifact.filename, data)
    found = availability(find_model("imagereward"))
    assert found.present and found.where == "Hugging Face cache" and found.local_lacks
    assert weight_file("imagereward", "vocab.txt").parent.parent.parent.name == (
        "models--google-bert--bert-base-uncased"
    )
    result = invoke("list")
    assert "imagereward: the local copy" in result.output
    assert "lacks med_config.json, vocab.txt, tokenizer_config.json" in result.output


def test_list_on_an_empty_home_shows_every_model_missing_with_its_commands(empty_caches):
    result = invoke("list")
    assert result.exit_code == 0, result.output
    assert len(re.findall(r"│ missing\s+│", result.output)) == len(CATALOGUE)
    for model in CATALOGUE:
        assert f"    qualitylab weights download {model.key}\n" in result.output
        commands = availability(model).fetch_commands()
        if len(commands) == 1:
            assert f"    or: {commands[0]}\n" in result.output
        else:  # every file is needed: listed under one heading, not as alternatives
            assert all(f"\n      {command}\n" in result.output for command in commands)
    imagereward = result.output.split("  imagereward  (")[1].split("\n  lpips_alex")[0]
    assert "or all of:" in imagereward and "or: " not in imagereward
    assert "qualitylab weights import KEY DIR" in result.output
    assert "revision not pinned" not in result.output


def test_list_shows_where_a_present_model_is_and_its_size(empty_caches):
    _, checkpoints = empty_caches
    checkpoints.mkdir(parents=True)
    (checkpoints / "raft_large_C_T_SKHT_V2-ff5fadd5.pth").write_bytes(b"w" * 2500)
    result = invoke("list")
    row = next(line for line in result.output.splitlines() if "raft_large" in line)
    assert re.search(r"│ present\s+│.*│ torch hub cache\s+│ 2\.5 kB", row)
    assert str(checkpoints) in result.output
    assert "qualitylab weights download raft_large" not in result.output


def test_list_says_when_a_revision_is_not_pinned(empty_caches, monkeypatch):
    unpinned = PretrainedModel("tiny", "a test model", (HubFile("someone/tiny", "w.pt"),))
    monkeypatch.setattr("qualitylab.weights.catalogue.CATALOGUE", (*CATALOGUE, unpinned))
    result = invoke("list")
    assert "tiny: revision not pinned for someone/tiny (its main branch is used)" in result.output
    assert "    or: hf download someone/tiny w.pt\n" in result.output


def test_import_copies_a_complete_directory(empty_caches, isolated_home: Path, tmp_path: Path):
    source = write_files(
        tmp_path / "elsewhere", {**IMAGEREWARD_FILES, "notes.md": b"x", ".git/HEAD": b"ref"}
    )
    result = invoke("import", "imagereward", str(source))
    assert result.exit_code == 0, result.output
    local = isolated_home / "weights" / "imagereward"
    assert "imagereward: imported into" in result.output
    assert sorted(path.name for path in local.iterdir()) == sorted(IMAGEREWARD_FILES)
    assert (local / "ImageReward.pt").read_bytes() == b"reward weights"
    assert [path.name for path in local.parent.iterdir()] == ["imagereward"]
    assert availability(find_model("imagereward")).locations == (local,)


def test_import_of_a_snapshot_copies_the_linked_files_in_one_format(
    empty_caches, isolated_home: Path
):
    hf_cache, _ = empty_caches
    cache_model(
        hf_cache,
        "clip_l14",
        {
            "config.json": b"{}",
            "model.safetensors": b"weights",
            "pytorch_model.bin": b"the same weights",
            "flax_model.msgpack": b"other framework",
        },
    )
    snapshot = model_directory("clip_l14")
    assert invoke("import", "clip_l14", str(snapshot)).exit_code == 0
    local = isolated_home / "weights" / "clip_l14"
    assert sorted(path.name for path in local.iterdir()) == ["config.json", "model.safetensors"]
    assert not (local / "model.safetensors").is_symlink()


def test_import_of_an_incomplete_directory_lists_what_is_missing(
    empty_caches, isolated_home: Path, tmp_path: Path
):
    source = write_files(tmp_path / "partial", {"ImageReward.pt": b"w", "vocab.txt": b""})
    result = invoke("import", "imagereward", str(source))
    assert result.exit_code == 1
    assert "lacks med_config.json, vocab.txt (empty), tokenizer_config.json" in result.output
    assert not (isolated_home / "weights").exists()
    assert invoke("import", "imagereward", str(tmp_path / "nowhere")).exit_code == 1


def test_import_refuses_a_damaged_checkpoint(empty_caches, isolated_home: Path, tmp_path: Path):
    source = write_files(tmp_path / "raft", {"raft_large_C_T_SKHT_V2-ff5fadd5.pth": b"damaged"})
    result = invoke("import", "raft_large", str(source))
    assert result.exit_code == 1
    assert "not ff5fadd5 as its name says" in result.output
    assert not (isolated_home / "weights").exists()


def test_import_replaces_an_existing_copy_only_when_asked(
    empty_caches, isolated_home: Path, tmp_path: Path
):
    first = write_files(tmp_path / "first", IMAGEREWARD_FILES)
    second = write_files(tmp_path / "second", {**IMAGEREWARD_FILES, "ImageReward.pt": b"newer"})
    assert invoke("import", "imagereward", str(first)).exit_code == 0
    refused = invoke("import", "imagereward", str(second))
    assert refused.exit_code == 1 and "--replace" in refused.output
    local = isolated_home / "weights" / "imagereward"
    assert (local / "ImageReward.pt").read_bytes() == b"reward weights"
    assert invoke("import", "imagereward", str(second), "--replace").exit_code == 0
    assert (local / "ImageReward.pt").read_bytes() == b"newer"
    assert [path.name for path in local.parent.iterdir()] == ["imagereward"]


def test_verify_passes_whole_files_and_skips_missing_models(empty_caches):
    hf_cache, _ = empty_caches
    cache_model(hf_cache, "hps_v2", {"HPS_v2_compressed.pt": b"weights"})
    cache_model(hf_cache, "clip_l14", {"config.json": b"{}", "model.safetensors": b"weights"})
    result = invoke("verify")
    assert result.exit_code == 0, result.output
    assert "hps_v2: ok (1 files)" in result.output
    assert "clip_l14: ok (2 files)" in result.output
    assert "raft_large: missing, not checked" in result.output


def test_verify_finds_a_truncated_hub_file(empty_caches):
    hf_cache, _ = empty_caches
    link = cache_hub_file(
        hf_cache,
        "openai/clip-vit-large-patch14",
        "32bd64288804d66eefd0ccbe215aa642df71cc41",
        "model.safetensors",
        b"weights",
    )
    config = cache_hub_file(
        hf_cache,
        "openai/clip-vit-large-patch14",
        "32bd64288804d66eefd0ccbe215aa642df71cc41",
        "config.json",
        b'{"a": 1}',
    )
    link.resolve().write_bytes(b"weig")
    config.resolve().write_bytes(b'{"a": 2}')
    result = invoke("verify", "clip_l14")
    assert result.exit_code == 1
    assert "clip_l14: 2 problem(s)" in result.output
    assert "model.safetensors: content does not match its SHA-256" in result.output
    assert "config.json: content does not match its git object id" in result.output


def test_verify_checks_the_hash_prefix_of_a_checkpoint(empty_caches, tmp_path: Path):
    _, checkpoints = empty_caches
    checkpoints.mkdir(parents=True)
    (checkpoints / "raft_large_C_T_SKHT_V2-ff5fadd5.pth").write_bytes(b"not the real weights")
    result = invoke("verify", "raft_large")
    assert result.exit_code == 1
    assert re.search(r"SHA-256 starts [0-9a-f]{8}, not ff5fadd5 as its name says", result.output)
    data = b"tiny checkpoint"
    name = f"tiny-{hashlib.sha256(data).hexdigest()[:8]}.pth"
    (checkpoints / name).write_bytes(data)
    tiny = PretrainedModel("tiny", "a test model", (TorchHubCheckpoint(f"file:///x/{name}"),))
    assert verify(tiny).ok and verify(tiny).files == 1


def test_verify_reports_a_missing_named_model_and_a_partial_local_copy(
    empty_caches, isolated_home: Path
):
    write_files(isolated_home / "weights" / "hps_v2", {"HPS_v2_compressed.pt": b""})
    result = invoke("verify", "hps_v2", "lpips_alex")
    assert result.exit_code == 1
    assert "lacks HPS_v2_compressed.pt (empty)" in result.output
    assert "missing: fetch it with `qualitylab weights download lpips_alex`" in result.output


def test_download_offline_fails_with_one_clear_message(empty_caches, no_network, monkeypatch):
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    result = invoke("download", "--all")
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert (
        "cannot reach the Hugging Face Hub at https://huggingface.co (HF_HUB_OFFLINE is set)"
        in (result.output)
    )
    assert (
        "cannot reach download.pytorch.org (network access attempted in an offline test)"
        in result.output
    )
    for model in CATALOGUE:
        assert re.search(rf"^{model.key}: (failed|skipped): cannot reach", result.output, re.M)
    assert result.output.count("`qualitylab weights import KEY DIR`") == 2
    assert "set HF_ENDPOINT to a reachable mirror" in result.output
    assert f"error: {len(CATALOGUE)} of {len(CATALOGUE)} model(s) not fetched" in result.output


def test_download_without_network_names_the_cause(empty_caches, monkeypatch):
    from huggingface_hub.errors import LocalEntryNotFoundError

    def unreachable(*args, **kwargs):
        raise LocalEntryNotFoundError("cannot find the requested files in the local cache")

    monkeypatch.setattr("huggingface_hub.hf_hub_download", unreachable)
    result = invoke("download", "hps_v2", "imagereward")
    assert result.exit_code == 1
    assert "hps_v2: failed: cannot reach the Hugging Face Hub" in result.output
    assert "(no network connection)" in result.output
    assert "imagereward: skipped: cannot reach the Hugging Face Hub" in result.output


def test_download_needs_models_named_or_all():
    assert "name at least one model" in invoke("download").output
    assert "not both" in invoke("download", "hps_v2", "--all").output
    assert "known models: clip_b32" in invoke("download", "nope").output


def test_download_fetches_a_checkpoint_with_torch_hub(empty_caches, no_network, tmp_path):
    _, checkpoints = empty_caches
    data = b"tiny checkpoint"
    good = tmp_path / f"tiny-{hashlib.sha256(data).hexdigest()[:8]}.pth"
    bad = tmp_path / "tiny-00000000.pth"
    for path in (good, bad):
        path.write_bytes(data)
    models = [
        PretrainedModel(name, "a test model", (TorchHubCheckpoint(path.as_uri()),))
        for name, path in (("good", good), ("bad", bad))
    ]
    fetched, corrupt = download(models)
    assert fetched.status == "downloaded" and "into the torch hub cache" in fetched.message
    assert (checkpoints / good.name).read_bytes() == data
    assert corrupt.status == "failed" and "the download is corrupt" in corrupt.message
    assert not (checkpoints / bad.name).exists()
    (present,) = download(models[:1])
    assert present.status == "present" and present.message == "already in the torch hub cache"


@pytest.mark.network
def test_download_fetches_a_pinned_hub_file(empty_caches):
    bert = find_model("imagereward").artifacts[3]
    tiny = PretrainedModel("bert_tokenizer", "the BERT tokenizer config", (bert,))
    (result,) = download([tiny])
    assert result.status == "downloaded", result.message
    assert verify(tiny).ok
