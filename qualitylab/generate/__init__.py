"""Generation: story prompt → scene plan → keyframes (text-to-image) → clips (Stable Video
Diffusion) → one multi-scene MP4, in process with diffusers or on a ComfyUI server, with
the records that make a run reproducible; and the regression benchmark.

- :mod:`~qualitylab.generate.plan`: scene planners (rule-based by default);
- :mod:`~qualitylab.generate.settings`: every setting, validated (pydantic);
- :mod:`~qualitylab.generate.models`: where a model's files are (never downloading);
- :mod:`~qualitylab.generate.diffusers_backend`, :mod:`~qualitylab.generate.comfyui`: the
  two backends;
- :mod:`~qualitylab.generate.generation_run`: a run over prompts, its directory and records;
- :mod:`~qualitylab.generate.prompts`: prompts files;
- :mod:`~qualitylab.generate.benchmark`: the versioned benchmark prompt set and its runs.
"""
