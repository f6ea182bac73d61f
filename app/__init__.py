"""Sentinelles: the backend of a citizen-science biodiversity survey."""

__version__ = "0.1.0"
