"""Scene planning, generation settings and prompts files (no models)."""

import json

import pytest

from qualitylab.generate.benchmark import default_prompts_file, load_prompt_set
from qualitylab.generate.plan import (
    RuleBasedPlanner,
    allocate_frames,
    make_planner,
    register_planner,
    share_duration,
)
from qualitylab.generate.prompts import load_prompts, prompt_id
from qualitylab.generate.settings import GenerateSettings, load_settings

ISSUE_PROMPT = "a cat programmer runs across code while error windows pop up around it"


def prompts_of(plan):
    return [scene.prompt for scene in plan.scenes]


def test_while_splits_into_scenes_that_keep_their_context():
    plan = RuleBasedPlanner().plan(ISSUE_PROMPT)
    assert prompts_of(plan) == [
        "A cat programmer runs across code",
        "Error windows pop up around it, a cat programmer runs across code",
    ]
    assert plan.duration == pytest.approx(10.0)  # 2 scenes x 5 s, at least 10 s
    assert plan.planner == "rules" and plan.style is None


def test_sentences_then_and_semicolons_split_and_pronouns_get_the_subject():
    plan = RuleBasedPlanner().plan(
        "A robot wakes up. It walks to the window, then it looks at the city; finally it smiles."
    )
    assert prompts_of(plan) == [
        "A robot wakes up",
        "A robot walks to the window",
        "A robot looks at the city",
        "A robot smiles",
    ]
    assert plan.duration == pytest.approx(20.0)


def test_a_single_clause_is_padded_with_shots_up_to_the_minimum():
    plan = RuleBasedPlanner(min_scenes=3).plan("a red balloon floats")
    assert prompts_of(plan) == [
        "A red balloon floats, wide establishing shot",
        "A red balloon floats, medium shot",
        "A red balloon floats, close-up",
    ]


def test_commas_split_clauses_only_when_too_few_scenes():
    plan = RuleBasedPlanner().plan(
        "a dog runs across the beach, a wave crashes onto the sand, the dog jumps over the foam"
    )
    assert len(plan.scenes) == 3
    lists = RuleBasedPlanner().plan("a bowl of red, green and yellow apples")
    assert all("red, green and yellow" in prompt for prompt in prompts_of(lists))


def test_too_many_clauses_are_merged_to_the_maximum():
    plan = RuleBasedPlanner(max_scenes=4).plan(
        ". ".join(f"Scene number {i} happens" for i in range(9))
    )
    assert len(plan.scenes) == 4
    joined = " ".join(prompts_of(plan)).lower()
    assert all(f"scene number {i} happens" in joined for i in range(9))


def test_an_opening_style_is_kept_for_every_scene():
    plan = RuleBasedPlanner().plan("In a pixel art style, a knight climbs a tower. Then he sleeps.")
    assert plan.style == "In a pixel art style"
    assert prompts_of(plan)[0] == "A knight climbs a tower"


@pytest.mark.parametrize("total", [10.0, 13.7, 30.0])
def test_durations_sum_to_the_target_and_follow_the_words(total):
    plan = RuleBasedPlanner().plan(
        "A fox naps. Then the fox runs very fast across a wide snowy field under the moon.",
        total,
    )
    durations = [scene.duration for scene in plan.scenes]
    assert sum(durations) == pytest.approx(total, abs=1e-9)
    assert durations[1] > durations[0] > 0


def test_default_duration_stays_within_10_and_30_seconds():
    six = RuleBasedPlanner().plan(". ".join(f"Thing {i} moves" for i in range(6)))
    assert six.duration == pytest.approx(30.0)


def test_share_duration_and_allocate_frames():
    assert share_duration(10.0, [3, 3]) == [5.0, 5.0]
    assert share_duration(9.0, [1, 30]) == [1.8, 7.2]  # word counts clipped to 3..12
    frames = allocate_frames([3.333, 3.333, 3.334], 6)
    assert frames == [20, 20, 20]
    assert sum(allocate_frames([0.4, 0.7, 0.9], 4)) == 8
    assert min(allocate_frames([0.01, 1.99], 4)) >= 1


def test_empty_prompt_and_bad_ranges_are_refused():
    with pytest.raises(ValueError, match="empty"):
        RuleBasedPlanner().plan("   ")
    with pytest.raises(ValueError, match="1 <= min <= max"):
        RuleBasedPlanner(min_scenes=4, max_scenes=2)


def test_planners_are_pluggable_by_name():
    class Single:
        name = "single"

        def plan(self, prompt, duration=None):
            return RuleBasedPlanner(1, 1).plan(prompt, duration)

    register_planner("single", lambda low, high: Single())
    assert make_planner("single", 2, 6).plan(ISSUE_PROMPT).scenes[0].prompt.startswith("A cat")
    with pytest.raises(ValueError, match="unknown scene planner 'nope'"):
        make_planner("nope", 2, 6)


# --- settings ------------------------------------------------------------------------------


def test_settings_round_trip_and_hash(tmp_path):
    settings = GenerateSettings().with_overrides({"clip.fps": 8, "seed": 5})
    path = tmp_path / "settings.json"
    path.write_text(json.dumps(settings.to_dict()))
    assert load_settings(path) == settings
    # a run.json works too: its "settings" are read
    path.write_text(json.dumps({"format": "x", "settings": settings.to_dict()}))
    assert load_settings(path) == settings
    yaml_path = tmp_path / "settings.yaml"
    yaml_path.write_text("clip:\n  fps: 8\nseed: 5\n")
    assert load_settings(yaml_path) == settings
    assert settings.settings_hash() != GenerateSettings().settings_hash()
    # execution-only settings do not change what a run makes
    saver = settings.with_overrides({"runtime.cpu_offload": True, "comfyui.timeout": 5})
    assert saver.settings_hash() == settings.settings_hash()


def test_settings_defaults_are_the_published_svd_xt_setup():
    settings = GenerateSettings()
    assert (settings.clip.width, settings.clip.height, settings.clip.num_frames) == (1024, 576, 25)
    assert settings.clip.model == "svd_xt" and settings.keyframe.model == "sdxl_base"
    assert settings.keyframe_size == (1024, 576)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"clip.width": 1001}, "clip.width: Input should be a multiple of 8"),
        ({"clip.fps": 0}, "clip.fps"),
        ({"plan.min_scenes": 5, "plan.max_scenes": 3}, "above max_scenes"),
        ({"clip.min_guidance_scale": 4.0}, "above max_guidance_scale"),
        ({"clip.colour": 1}, "unknown setting 'clip.colour'"),
        ({"runtime.device": "tpu"}, "runtime.device"),
    ],
)
def test_bad_settings_are_refused_with_the_setting_named(overrides, message):
    with pytest.raises(ValueError, match=message):
        GenerateSettings().with_overrides(overrides)


def test_unreadable_settings_file_names_the_file(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("{nope")
    with pytest.raises(ValueError, match="bad.json"):
        load_settings(path)


# --- prompts files -------------------------------------------------------------------------


def test_prompts_from_text_json_and_csv(tmp_path):
    text = tmp_path / "p.txt"
    text.write_text("# comment\na cat sleeps\n\na dog runs\n")
    assert [(r.id, r.prompt) for r in load_prompts(text)] == [
        ("p001", "a cat sleeps"),
        ("p002", "a dog runs"),
    ]
    as_json = tmp_path / "p.json"
    as_json.write_text(json.dumps([{"id": "cat", "prompt": "a cat", "category": "x"}, "a dog"]))
    requests = load_prompts(as_json)
    assert [r.id for r in requests] == ["cat", "p002"] and requests[0].extra == {"category": "x"}
    as_csv = tmp_path / "p.csv"
    as_csv.write_text("id,prompt,duration\na,a cat,12\nb,a dog,\n")
    requests = load_prompts(as_csv)
    assert requests[0].extra == {"duration": 12.0} and requests[1].extra == {}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            '[{"id": "a", "prompt": "x"}, {"id": "a", "prompt": "y"}]',
            "entry 2: id 'a' is also entry 1",
        ),
        ('[{"id": "a b", "prompt": "x"}]', "entry 1: id 'a b' must be"),
        ('[{"id": "a", "prompt": ""}]', "entry 1: 'prompt' must be a non-empty string"),
        ('["ok", 3]', "entry 2: expected a prompt string"),
        ('[{"prompt": "x", "duration": -1}]', "entry 1: 'duration'"),
        ("[]", "no prompts"),
        ('{"version": "1"}', "'prompts' list"),
        ("{oops", "cannot read it"),
    ],
)
def test_bad_prompts_files_name_the_file_and_entry(tmp_path, content, message):
    path = tmp_path / "prompts.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=message) as raised:
        load_prompts(path)
    assert str(path) in str(raised.value)


def test_prompt_ids_from_prompts():
    assert prompt_id("A cat, programmer!") == "a_cat_programmer"
    assert len(prompt_id(ISSUE_PROMPT)) <= 48
    assert prompt_id("!!!") == "video"


# --- the benchmark prompt set --------------------------------------------------------------


def test_benchmark_prompt_set_is_versioned_and_covers_the_categories():
    prompt_set = load_prompt_set()
    assert prompt_set.file == default_prompts_file()
    assert prompt_set.version == "1"
    assert len(prompt_set.requests) >= 20
    categories = {r.extra["category"] for r in prompt_set.requests}
    assert {"motion", "characters", "scenes", "styles"} <= categories
    for request in prompt_set.requests:
        assert 10 <= request.extra["duration"] <= 30
        plan = RuleBasedPlanner().plan(request.prompt, request.extra["duration"])
        assert 2 <= len(plan.scenes) <= 6, request.id


def test_benchmark_prompt_set_errors_name_the_entry(tmp_path):
    path = tmp_path / "bench.json"
    path.write_text(json.dumps({"version": "1", "prompts": [{"id": "a", "prompt": "x"}]}))
    with pytest.raises(ValueError, match="entry 1: 'category' must be a non-empty string"):
        load_prompt_set(path)
    path.write_text(json.dumps({"prompts": []}))
    with pytest.raises(ValueError, match="needs a 'version' field"):
        load_prompt_set(path)
