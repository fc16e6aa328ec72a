"""Extractors that need no pretrained weights: SSIM, OpenCV optical flow, technical checks."""
