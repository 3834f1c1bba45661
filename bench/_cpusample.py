"""Run a mortard command under a CPU-time sampler: `python bench/_cpusample.py OUT -- run -c cfg.toml`.
SIGPROF fires every 1 ms of the process's CPU time (ITIMER_PROF) and the handler counts the Python
stack it interrupted, so what is charged is CPU, not waiting, and the daemon runs at nearly its own
speed (cProfile's per-call cost inflates small functions several times). OUT gets collapsed stacks
(`frame;frame;frame count`, for flamegraph tools); read it with `bench/_cpusample.py --top OUT`.

`--calls OUT RESULT [OUT2 RESULT2]` (several runs of a command: OUT,OUT… RESULT,RESULT…) splits the
samples by where they fell: in a Heartland read (GET, with a folded read's filter and rows), in a
write (POST/PUT/DELETE), in aiohttp's loop callbacks (bodies written, answers parsed), or elsewhere;
with each run's `pipeline.py --json-out` RESULT it gives CPU ms per call of each kind and the rest
per order, and with two commands their ratios. It tells a run that makes more calls from one whose
calls, or whose orders, cost more; the planner (pure code, the same work for the same orders) is an
in-run yardstick of how much slower the box ran each command."""
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
    if sys.argv[1] == "--calls":
        return calls(sys.argv[2:])
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


# Where a sample fell, by the innermost transport verb on its stack (transport._get is a read). What
# runs outside a pipeline.py window is counted apart: imports, the daemon's start and its token check,
# the benchmark's /readyz and /metrics requests (before and after), the stop.
_KINDS = (("token_check.py:", "outside"), ("app.py:start", "outside"), ("app.py:stop", "outside"),
          ("ops/health.py:_handle_", "outside"), ("transport.py:_get", "read"),
          ("transport.py:_create", "write"), ("transport.py:_put", "write"), ("transport.py:_delete", "write"))


def split(path: str) -> tuple[collections.Counter[str], int]:
    by: collections.Counter[str] = collections.Counter()
    total = 0
    for line in open(path):
        stack, count = line.rsplit(" ", 1)
        c = int(count)
        total += c
        kind = "outside" if "asyncio/runners.py:run" not in stack else \
            next((k for marker, k in _KINDS if marker in stack), None)
        if kind is None and ("coalesce.py:_run" in stack or "catalog.py:_load" in stack):
            kind = "read"   # a folded read or the catalog's, outside the request itself (its filter, its rows)
        if kind is None:   # aiohttp's loop callbacks (a request's body written, its answer parsed) carry no
            # frame of the call that made them; nor does a request being built in the client
            kind = "http" if "aiohttp/" in stack or "heartland/client.py:" in stack else "elsewhere"
        by[kind] += c
        if kind == "elsewhere" and "sync/plan/workflow.py:plan" in stack:
            by["planner"] += c
    return by, total


def calls(argv: list[str]) -> int:
    """Each side is `SAMPLES[,SAMPLES…] RESULT[,RESULT…]` (several runs of one command are summed)."""
    import json
    sides = []
    for samples, results in zip(argv[::2], argv[1::2]):
        t: collections.Counter[str] = collections.Counter()
        for path, result in zip(samples.split(","), results.split(","), strict=True):
            r = json.loads(open(result).read())
            by, total = split(path)
            n = max(1, r["invoiced"])
            t["orders"] += n
            t["window ms"] += r["daemon_ms"] * n
            t["samples"] += total
            t["window samples"] += total - by["outside"]
            for kind in ("read", "write", "http", "elsewhere", "planner"):
                t[kind] += by[kind]
            t["reads"] += n * sum(v for k, v in r["calls_by_route"].items() if k.startswith("GET "))
            t["writes"] += n * sum(v for k, v in r["calls_by_route"].items() if not k.startswith("GET "))
        ms = t["window ms"] / max(1, t["window samples"])   # the window's CPU per sample
        n = t["orders"]
        sides.append({"runs": len(samples.split(",")), "samples in the window": t["window samples"],
                      "reads per order": t["reads"] / n, "writes per order": t["writes"] / n,
                      "ms per read": t["read"] * ms / max(1e-9, t["reads"]),
                      "ms per write": t["write"] * ms / max(1e-9, t["writes"]),
                      "ms per call, with aiohttp's callbacks": (t["read"] + t["write"] + t["http"]) * ms
                      / max(1e-9, t["reads"] + t["writes"]),
                      "ms per order elsewhere": t["elsewhere"] * ms / n,
                      # pure code doing the same work for the same orders whatever the accounts: how much
                      # slower the box ran this command (another process's load, caches), an in-run yardstick
                      "  of which the planner": t["planner"] * ms / n,
                      "daemon ms per order": t["window ms"] / n})
    two = len(sides) == 2
    print(f"{'':40s}{'A':>10s}" + (f"{'B':>10s}{'A ÷ B':>10s}" if two else ""))
    for key in sides[0]:
        vals = [side[key] for side in sides]
        print(f"{key:40s}" + "".join(f"{v:10.3f}" for v in vals) + (f"{vals[0] / vals[1]:10.3f}" if two else ""))
    for name, (samples, results) in zip("AB", zip(argv[::2], argv[1::2])):
        print(f"{name}: {samples} with {results}")
    return 0

if __name__ == "__main__":
    sys.exit(main())
