from pathlib import Path

import pytest

from qualitylab.weights import CATALOGUE, availability, find_model

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
}


@pytest.fixture
def empty_caches(tmp_path, monkeypatch):
    """Hugging Face and torch hub caches that hold nothing."""
    hf_cache = tmp_path / "hf"
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(hf_cache))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return hf_cache, tmp_path / "torch" / "hub" / "checkpoints"


def test_catalogue_covers_the_thesis_models():
    assert {model.key for model in CATALOGUE} == THESIS_MODELS
    with pytest.raises(KeyError, match="unknown pretrained model 'clip'.*clip_b32"):
        find_model("clip")


def test_everything_missing_in_empty_caches(empty_caches):
    for model in CATALOGUE:
        found = availability(model)
        assert not found.present and found.fetch_commands(), model.key
    commands = availability(find_model("clip_b32")).fetch_commands()
    assert commands == [
        "hf download openai/clip-vit-base-patch32 --include '*.json' --include '*.txt' "
        "--include '*.model' --include '*.safetensors'"
    ]
    imagereward = availability(find_model("imagereward")).fetch_commands()
    assert imagereward == [
        "hf download THUDM/ImageReward ImageReward.pt",
        "hf download THUDM/ImageReward med_config.json",
        "hf download google-bert/bert-base-uncased vocab.txt",
    ]


def test_hub_cache_layout_is_recognised(empty_caches):
    hf_cache, _ = empty_caches
    repo = hf_cache / "models--openai--clip-vit-base-patch32"
    commit = "a" * 40
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (snapshot / "model.safetensors").write_bytes(b"weights")
    found = availability(find_model("clip_b32"))
    assert found.present
    assert found.locations == (snapshot / "model.safetensors",)
    assert not availability(find_model("clip_l14")).present


def test_torch_hub_checkpoint_is_recognised(empty_caches):
    _, checkpoints = empty_caches
    raft = find_model("raft_large")
    assert "torch.hub.load_state_dict_from_url" in availability(raft).fetch_commands()[0]
    checkpoints.mkdir(parents=True)
    (checkpoints / "raft_large_C_T_SKHT_V2-ff5fadd5.pth").write_bytes(b"weights")
    assert availability(raft).present


def test_partial_hps_is_missing_its_other_half(empty_caches):
    _, _ = empty_caches
    hps = availability(find_model("hps_v2"))
    assert len(hps.missing) == 2


def test_local_directory_copy_counts_as_present(empty_caches, isolated_home: Path):
    model = find_model("siglip_l16")
    model.local_dir().mkdir(parents=True)
    assert not availability(model).present
    (model.local_dir() / "config.json").write_text("{}")
    found = availability(model)
    assert found.present and found.locations == (isolated_home / "weights" / "siglip_l16",)
