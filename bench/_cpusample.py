"""Run a mortard command under a CPU-time sampler: `python bench/_cpusample.py OUT -- run -c cfg.toml`.
SIGPROF fires every 1 ms of the process's CPU time (ITIMER_PROF) and the handler counts the Python
stack it interrupted, so what is charged is CPU, not waiting, and the daemon runs at nearly its own
speed (cProfile's per-call cost inflates small functions several times). OUT gets collapsed stacks
(`frame;frame;frame count`, for flamegraph tools); read it with `bench/_cpusample.py --top OUT`."""
from __future__ import annotations

import collections
import signal
import sys


def _label(code) -> str:  # type: ignore[no-untyped-def]
    f = code.co_filename
    for cut in ("site-packages/", "/mortard/", "/lib/python3"):
        if cut in f:
            f = f.split(cut, 1)[1]
            break
    return f"{f}:{code.co_name}"


def main() -> int:
    if sys.argv[1] == "--top":
        return top(sys.argv[2])
    out, sep, *argv = sys.argv[1:]
    assert sep == "--", "usage: _cpusample.py OUT -- <mortard args>"
    stacks: collections.Counter[tuple[str, ...]] = collections.Counter()

    def on_prof(_sig, frame) -> None:  # type: ignore[no-untyped-def]
        names = []
        while frame is not None:
            names.append(_label(frame.f_code))
            frame = frame.f_back
        stacks[tuple(reversed(names))] += 1

    signal.signal(signal.SIGPROF, on_prof)
    signal.setitimer(signal.ITIMER_PROF, 0.001, 0.001)
    from mortard.cli import main as mortard_main
    try:
        return mortard_main(argv)
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0, 0)
        with open(out, "w") as fh:
            for stack, n in stacks.items():
                fh.write(";".join(stack) + f" {n}\n")


def top(path: str, n: int = 60) -> int:
    own: collections.Counter[str] = collections.Counter()
    cum: collections.Counter[str] = collections.Counter()
    total = 0
    for line in open(path):
        stack, count = line.rsplit(" ", 1)
        frames, c = stack.split(";"), int(count)
        total += c
        own[frames[-1]] += c
        for f in set(frames):
            cum[f] += c
    print(f"{total} samples")
    print("self %  function")
    for f, c in own.most_common(n):
        print(f"{100 * c / total:6.2f} {f}")
    print("cumulative %  function")
    for f, c in cum.most_common(n):
        print(f"{100 * c / total:6.2f} {f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
