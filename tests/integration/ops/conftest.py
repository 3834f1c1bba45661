"""`make`: a stack on a freshly reset sandbox (tests/support/stack.py)."""
from stack import make

__all__ = ["make"]
