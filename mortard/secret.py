"""A secret value that never shows itself: not in repr, str, logs or error messages."""
from __future__ import annotations

import hmac


class Secret:
    """Prints as `Secret('**********')`; the value comes out only through `.reveal()`."""

    __slots__ = ("_value",)
    __mortard_secret__ = True   # the log redactor recognises it

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and hmac.compare_digest(self._value, other._value)

    def __hash__(self) -> int:
        return hash(self._value)
