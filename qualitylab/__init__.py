"""qualitylab: learn to predict how people rate AI-generated videos."""

__version__ = "0.1.0"
