"""Scene planning: a story prompt becomes a few scene prompts with durations.

:class:`ScenePlanner` is the protocol; :class:`RuleBasedPlanner` is the default:

- a style the prompt opens with ("In a pixel art style, ...") is kept for every scene;
- the story is split on sentence ends, semicolons and "then"; a "while" clause becomes a
  scene of its own that keeps the clause it happens during as context; when that gives
  too few scenes, commas split too where the pieces look like clauses (3+ words, each
  later one opening with a determiner or pronoun), not like a list;
- with too many parts, the shortest neighbouring pair is merged until they fit;
- a later scene that opens with a pronoun ("It", "They") gets the first scene's subject
  instead, so that each scene prompt stands alone;
- a story with too few parts is padded with other shots of it (wide, medium, close-up);
- durations are shared in proportion to each scene's number of words (clipped to 3-12
  words, so that no scene is a flash or takes the whole video) and sum to the target
  exactly; without a target, 5 s a scene within 10-30 s.

Other planners (e.g. a language model) are registered by name with
:func:`register_planner` and chosen with the ``plan.planner`` setting.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

DEFAULT_SECONDS_PER_SCENE = 5.0
MIN_TOTAL_SECONDS = 10.0
MAX_TOTAL_SECONDS = 30.0
SHOTS = ("wide establishing shot", "medium shot", "close-up", "low-angle shot", "aerial view")

_SENTENCE = re.compile(r"(?<=[.!?;])\s+|;\s*")
_THEN = re.compile(r",?\s+(?:and\s+)?then\s+|,?\s+after that,?\s+|,?\s+afterwards,?\s+", re.I)
_WHILE = re.compile(r",?\s+while\s+", re.I)
_STYLE = re.compile(r"^\s*(in (?:a|an|the) [^,.;]{1,40}? style)\s*[,:]\s*", re.I)
_LEADING_THEN = re.compile(r"^(?:and\s+)?(?:then|after that|afterwards|finally)[,\s]+", re.I)
_MIN_COMMA_WORDS = 3


@dataclass(frozen=True)
class Scene:
    """One scene: its position, the prompt that describes it, and its length in seconds."""

    index: int
    prompt: str
    duration: float


@dataclass(frozen=True)
class ScenePlan:
    """The scenes of one story prompt, in order, the planner that made them, and the
    visual style the prompt names for all of them (None when it names none)."""

    prompt: str
    scenes: tuple[Scene, ...]
    planner: str
    style: str | None = None

    @property
    def duration(self) -> float:
        """The total length of the scenes in seconds."""
        return sum(scene.duration for scene in self.scenes)

    def to_dict(self) -> dict[str, Any]:
        """The plan as JSON-ready data."""
        return {
            "prompt": self.prompt,
            "planner": self.planner,
            "style": self.style,
            "duration": round(self.duration, 6),
            "scenes": [asdict(scene) for scene in self.scenes],
        }


class ScenePlanner(Protocol):
    """Turns a story prompt into a scene plan."""

    name: str

    def plan(self, prompt: str, duration: float | None = None) -> ScenePlan:
        """The scenes of ``prompt`` whose durations sum to ``duration`` seconds (None: the
        planner's default)."""
        ...


@dataclass(frozen=True)
class RuleBasedPlanner:
    """The default planner: splits the prompt on its clauses (see the module)."""

    min_scenes: int = 2
    max_scenes: int = 6
    name: str = "rules"

    def __post_init__(self) -> None:
        if not 1 <= self.min_scenes <= self.max_scenes:
            raise ValueError(
                f"scene range {self.min_scenes}-{self.max_scenes}: need 1 <= min <= max"
            )

    def plan(self, prompt: str, duration: float | None = None) -> ScenePlan:
        """The scenes of ``prompt``; ValueError for an empty prompt or a duration that is
        not positive."""
        text = " ".join(prompt.split())
        if not text:
            raise ValueError("the prompt is empty")
        style, story = split_style(text)
        parts = split_clauses(story)
        if len(parts) < self.min_scenes:
            parts = _split_commas(parts)
        parts = _merge_shortest(parts, self.max_scenes)
        parts = _pad_with_shots(name_pronouns(parts), self.min_scenes)
        total = default_duration(len(parts)) if duration is None else float(duration)
        if total <= 0:
            raise ValueError(f"the duration must be positive, got {duration}")
        durations = share_duration(total, [len(part.split()) for part in parts])
        scenes = tuple(
            Scene(index, part, seconds)
            for index, (part, seconds) in enumerate(zip(parts, durations))
        )
        return ScenePlan(text, scenes, self.name, style)


def default_duration(scenes: int) -> float:
    """The total seconds of a story with this many scenes when none is asked for:
    5 s a scene, kept within 10-30 s."""
    return min(MAX_TOTAL_SECONDS, max(MIN_TOTAL_SECONDS, DEFAULT_SECONDS_PER_SCENE * scenes))


def split_style(text: str) -> tuple[str | None, str]:
    """A style the prompt opens with ("In a pixel art style, ...") and the rest; the
    style is None when there is none."""
    found = _STYLE.match(text)
    if not found:
        return None, text
    return found.group(1).strip(), text[found.end() :]


def split_clauses(text: str) -> list[str]:
    """The clauses of ``text`` split on sentence ends, semicolons and "then"; a "while"
    clause becomes a scene of its own that keeps the clause it happens during as context
    ("A dog barks while the cat sleeps" → "A dog barks", "The cat sleeps, a dog barks")."""
    parts = [text]
    for pattern in (_SENTENCE, _THEN):
        parts = [piece for part in parts for piece in pattern.split(part)]
    clauses = []
    for part in parts:
        main, *during = [_clean(piece) for piece in _WHILE.split(part)]
        clauses += [main, *(f"{clause}, {_lower_first(main)}" for clause in during if main)]
    return [clause for clause in clauses if clause]


def _clean(part: str) -> str:
    part = _LEADING_THEN.sub("", part.strip()).strip(" ,.;:!?")
    return part[:1].upper() + part[1:] if part else ""


def _split_commas(parts: list[str]) -> list[str]:
    """Split on commas where the pieces look like clauses, not a list: each has a few
    words, and each after the first opens with a determiner or a pronoun ("a wave
    crashes", "the dog jumps"; not "green and yellow apples")."""
    result = []
    for part in parts:
        pieces = [piece.strip() for piece in part.split(",")]
        if (
            len(pieces) > 1
            and all(_clause_like(piece) for piece in pieces[1:])
            and (len(pieces[0].split()) >= _MIN_COMMA_WORDS)
        ):
            result.extend(_clean(piece) for piece in pieces)
        else:
            result.append(part)
    return result


def _clause_like(piece: str) -> bool:
    words = piece.lower().split()
    return len(words) >= _MIN_COMMA_WORDS and (
        words[0] in _DETERMINERS or _LEADING_PRONOUN.match(words[0]) is not None
    )


def _merge_shortest(parts: list[str], limit: int) -> list[str]:
    """Join the shortest neighbouring pair until at most ``limit`` parts remain."""
    parts = list(parts)
    while len(parts) > limit:
        lengths = [len(parts[i].split()) + len(parts[i + 1].split()) for i in range(len(parts) - 1)]
        i = lengths.index(min(lengths))
        parts[i : i + 2] = [f"{parts[i]}, {parts[i + 1][:1].lower()}{parts[i + 1][1:]}"]
    return parts


def _pad_with_shots(parts: list[str], minimum: int) -> list[str]:
    """Add shots of the whole story (wide, medium, close-up, ...) up to ``minimum`` parts."""
    if len(parts) >= minimum:
        return parts
    story = ", ".join(_lower_first(part) for part in parts)
    story = story[:1].upper() + story[1:]
    if len(parts) == 1:
        return [f"{story}, {SHOTS[i % len(SHOTS)]}" for i in range(minimum)]
    extra = minimum - len(parts)
    return [*parts, *(f"{story}, {SHOTS[(2 + i) % len(SHOTS)]}" for i in range(extra))]


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def name_pronouns(parts: list[str]) -> list[str]:
    """Later scenes that open with a third-person pronoun get the first scene's subject
    instead ("It walks away" after "A robot wakes up" becomes "A robot walks away"), so
    that each scene prompt stands alone; unchanged when no subject is recognised."""
    subject = _subject(parts[0]) if parts else None
    if subject is None:
        return parts
    named = [parts[0]]
    for part in parts[1:]:
        found = _LEADING_PRONOUN.match(part)
        if found:
            word = found.group(1).lower()
            replacement = f"{subject}'s" if word in _POSSESSIVE else subject
            part = replacement[:1].upper() + replacement[1:] + part[found.end() :]
        named.append(part)
    return named


_LEADING_PRONOUN = re.compile(r"^(it|its|he|his|she|they|their)\b", re.I)
_POSSESSIVE = frozenset({"its", "his", "their"})
_DETERMINERS = frozenset(
    "a an the one two three four five some several many this that these those my our".split()
)
_VERBS = frozenset("is are was were has have sits stands walks runs flies".split())


def _subject(clause: str) -> str | None:
    """The noun phrase a clause starts with, e.g. "a cat programmer" in "A cat programmer
    runs across code": the words before the first likely verb (a known verb, or a word
    ending in -s/-ed/-ing after a determiner and a noun). None when it is not clear."""
    words = clause.split()
    if len(words) < 3 or words[0].lower() not in _DETERMINERS:
        return None
    for i in range(2, len(words)):
        word = words[i].lower().strip(",")
        verb_like = word.endswith(("ed", "ing")) or (word.endswith("s") and not word.endswith("ss"))
        if word in _VERBS or verb_like:
            return _lower_first(" ".join(words[:i]))
    return None


def share_duration(total: float, words: list[int]) -> list[float]:
    """``total`` seconds shared in proportion to each scene's words (clipped to 3-12),
    rounded to milliseconds, summing to ``total`` exactly."""
    weights = [min(12, max(3, count)) for count in words]
    raw = [total * weight / sum(weights) for weight in weights]
    shares = [round(value, 3) for value in raw[:-1]]
    return [*shares, round(total - sum(shares), 3)]


def allocate_frames(durations: list[float], fps: float) -> list[int]:
    """Frames per scene at ``fps``: the rounded total shared by the largest remainders, so
    that the scenes add up to the whole video's frame count; at least one frame each."""
    total = max(len(durations), round(sum(durations) * fps))
    exact = [duration * fps for duration in durations]
    frames = [max(1, int(value)) for value in exact]
    order = sorted(range(len(exact)), key=lambda i: exact[i] - int(exact[i]), reverse=True)
    i = 0
    while sum(frames) < total:
        frames[order[i % len(order)]] += 1
        i += 1
    while sum(frames) > total:
        j = max(range(len(frames)), key=lambda k: frames[k])
        frames[j] -= 1
    return frames


PlannerFactory = Callable[[int, int], ScenePlanner]
_PLANNERS: dict[str, PlannerFactory] = {
    "rules": lambda low, high: RuleBasedPlanner(low, high),
}


def register_planner(name: str, factory: PlannerFactory) -> None:
    """Make a planner selectable by ``name`` (settings ``plan.planner``); ``factory`` takes
    the minimum and maximum number of scenes."""
    _PLANNERS[name] = factory


def make_planner(name: str, min_scenes: int, max_scenes: int) -> ScenePlanner:
    """The planner registered as ``name``; ValueError naming the known ones."""
    try:
        factory = _PLANNERS[name]
    except KeyError:
        known = ", ".join(sorted(_PLANNERS))
        raise ValueError(f"unknown scene planner {name!r}; known: {known}") from None
    return factory(min_scenes, max_scenes)
