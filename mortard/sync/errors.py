"""Errors the sync core's edges raise into it."""
from __future__ import annotations


class LeaseLost(Exception):
    """Another daemon owns this order now (our lease expired); stop working on it."""
