"""Where in a video quality breaks: per-frame defect probabilities from stored signals,
turned into frame intervals, measured against ground-truth intervals.

- :mod:`~qualitylab.intervals.core`: probabilities → intervals; frame F1 and interval IoU;
- :mod:`~qualitylab.intervals.inputs`: what the detectors read (signals, frame times) and
  the labels they are taught;
- :mod:`~qualitylab.intervals.rules`: the rule-based detector;
- :mod:`~qualitylab.intervals.model`: the sequence model (torch);
- :mod:`~qualitylab.intervals.detect`: both as detectors: detect, measure, save, load;
- :mod:`~qualitylab.intervals.data`: labelled clips from the demo data and feature runs;
- :mod:`~qualitylab.intervals.experiment`: train and measure both, and detect on a run.
"""
