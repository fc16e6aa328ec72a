"""Datasets, video decoding and the embedded demo data."""
