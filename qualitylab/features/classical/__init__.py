"""Extractors that need no pretrained weights: SSIM, OpenCV optical flow, normalised
motion, technical checks."""
