"""Per-frame signals, their storage, and the feature tables built from them."""
