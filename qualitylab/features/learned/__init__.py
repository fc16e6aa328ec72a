"""Extractors built on pretrained models: text–frame similarity, ImageReward, LPIPS, RAFT."""
