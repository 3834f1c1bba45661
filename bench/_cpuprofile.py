"""Run a mortard command under cProfile timed by CPU, not wall clock: `python bench/_cpuprofile.py OUT
-- run -c cfg.toml`. Wall-clock samplers (py-spy) charge a process for the time it waits to run
after waking another one on a busy 2-core box, which made Postgres writes look several times
dearer than they are. Stats are written to OUT when the command returns (SIGTERM drains first)."""
from __future__ import annotations

import cProfile
import sys
import time


def main() -> int:
    out, sep, *argv = sys.argv[1:]
    assert sep == "--", "usage: _cpuprofile.py OUT -- <mortard args>"
    from mortard.cli import main as mortard_main
    prof = cProfile.Profile(time.process_time)
    try:
        return prof.runcall(mortard_main, argv)
    finally:
        prof.dump_stats(out)


if __name__ == "__main__":
    sys.exit(main())
