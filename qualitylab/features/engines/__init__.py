"""Engines that run an extraction's videos elsewhere than the local process pool of
:func:`qualitylab.features.extract.run_tasks`, with the same contract."""
