"""Figures, explanation files and the self-contained HTML report."""
