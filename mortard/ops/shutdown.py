"""The last guard of a bounded shutdown: once a stop is asked for, the process ends within the drain
budget plus a grace, even if some client library waits for ever on a broker or database that does
not answer. A daemon thread, so it works while the event loop is blocked too. Armed only by the
`mortard run` process (never inside a test runner)."""
from __future__ import annotations

import os
import sys
import threading

STOP_GRACE_S = 10.0   # past [daemon] drain_timeout_s: room for the final commit and leaving the group
EXIT_STOP_TIMED_OUT = 75   # sysexits EX_TEMPFAIL: stopped, but not cleanly; uncommitted work is replayed


def arm_exit_deadline(seconds: float) -> threading.Timer:
    """After `seconds`, write one line to stderr and end the process, unless cancelled first."""
    timer = threading.Timer(seconds, _exit, args=(seconds,))
    timer.daemon = True
    timer.start()
    return timer


def _exit(seconds: float) -> None:
    sys.stderr.write(f"mortard: shutdown did not finish within {seconds:g}s; exiting anyway "
                     "(what was not committed is replayed by the next owner)\n")
    sys.stderr.flush()
    os._exit(EXIT_STOP_TIMED_OUT)
