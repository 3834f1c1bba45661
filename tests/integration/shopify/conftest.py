"""`make`: a stack on a freshly reset sandbox (the fixture lives in tests/support/stack.py, shared by
the suites that build stacks)."""
from stack import make

__all__ = ["make"]
