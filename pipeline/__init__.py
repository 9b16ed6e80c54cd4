"""capcode: pre-coding of Dutch interview transcripts on three axes of administrative capacity."""

__version__ = "0.1.0"
