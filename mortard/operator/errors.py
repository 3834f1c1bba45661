"""The operator commands' one error: a failure the user can fix, printed as one line, exit 1."""
from __future__ import annotations


class UserError(Exception):
    """A failure the user can fix; printed as one line, exit 1."""
