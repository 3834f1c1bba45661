"""Long property run: the hypothesis tests (planner, money, model) over many seeds and many examples.

`./scripts/test` runs each property once, with a new random seed and its usual example count. This
runs them again and again: one pytest per seed (`--hypothesis-seed=N`, so any failure is replayable
with that seed), under the `long` profile (20 times the usual examples) unless told `--profile dev`.
It needs no servers. Prints, per seed, pass or fail and the examples run; then per test, the examples
run over all seeds.

    .venv/bin/python bench/properties.py                       # seeds 1-10, long profile (~15 min)
    .venv/bin/python bench/properties.py --seeds 1-30 --profile dev   # the usual counts, 30 seeds
    .venv/bin/python bench/properties.py --seeds 7 tests/unit/sync/test_sync_changes.py
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_TEST = re.compile(r"^(tests/\S+::\S+):\s*$")
_COUNTS = re.compile(r"- (\d+) passing, (\d+) failing, and (\d+) invalid test cases")
_SUMMARY = re.compile(r"=+ (.*(?:passed|failed|error).*) in [\d.]+s")


def seeds(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


def run(seed: int, profile: str, paths: list[str]) -> tuple[bool, Counter, str, float]:
    """One pytest over the hypothesis tests: passed?, passing examples per test, pytest's summary."""
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-m", "hypothesis", "-x",
         f"--hypothesis-profile={profile}", f"--hypothesis-seed={seed}", "--hypothesis-show-statistics",
         *paths], cwd=ROOT, capture_output=True, text=True)
    examples: Counter = Counter()
    test = None
    for line in proc.stdout.splitlines():
        if m := _TEST.match(line.strip()):
            test = m.group(1)
        elif (m := _COUNTS.search(line)) and test is not None:
            examples[test] += int(m.group(1)) + int(m.group(2))   # generate phase, and shrinking if any
    summary = next((m.group(1) for line in proc.stdout.splitlines()[::-1] if (m := _SUMMARY.search(line))),
                   proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr.strip()[-200:])
    if proc.returncode != 0:
        failed = [ln for ln in proc.stdout.splitlines() if ln.startswith(("FAILED", "ERROR"))]
        summary += "  " + "; ".join(failed)
    return proc.returncode == 0, examples, summary, time.monotonic() - started


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", default="1-10", help="seeds to run, e.g. 1-30 or 3,7,29 (default 1-10)")
    ap.add_argument("--profile", default="long", choices=("long", "dev", "ci"),
                    help="hypothesis profile (tests/conftest.py); long = 20x the usual examples")
    ap.add_argument("paths", nargs="*", default=["tests/unit"], help="test paths (default tests/unit)")
    args = ap.parse_args()
    total: Counter = Counter()
    failures: list[int] = []
    todo = seeds(args.seeds)
    print(f"{'seed':>5}  {'result':<6} {'examples':>9} {'seconds':>8}  pytest")
    for seed in todo:
        ok, examples, summary, seconds = run(seed, args.profile, args.paths)
        total.update(examples)
        if not ok:
            failures.append(seed)
        print(f"{seed:>5}  {'pass' if ok else 'FAIL':<6} {sum(examples.values()):>9} {seconds:>8.1f}  {summary}",
              flush=True)
    print(f"\nexamples per property over {len(todo)} seeds ({args.profile} profile):")
    for test, n in sorted(total.items()):
        print(f"  {n:>8}  {test}")
    print(f"\n{len(todo) - len(failures)} of {len(todo)} seeds passed"
          + (f"; failed: {', '.join(map(str, failures))} (replay: --hypothesis-seed=N)" if failures else ""))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
