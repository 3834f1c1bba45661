"""`python -m mortard.ops.probe`: the container health check, right for both commands.

One container runs either `mortard run` (ops port [daemon] ops_port, 9464) or `mortard ingest` (ops
port [ingest] ops_port, 9465); whichever listens answers `/healthz`. Healthy (exit 0) when one of them
answers 200; exit 1 otherwise, with the reason on stderr (shown by `docker inspect`). Ports follow the
same MORTARD_* overrides as the config (a port moved in the TOML file needs MORTARD_HEALTH_URLS).
Standard library only, so each probe starts in milliseconds.
"""
from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence


def probe_urls(env: Mapping[str, str]) -> list[str]:
    if env.get("MORTARD_HEALTH_URLS"):
        return [u.strip() for u in env["MORTARD_HEALTH_URLS"].split(",") if u.strip()]
    daemon = env.get("MORTARD_DAEMON__OPS_PORT", "9464")
    ingest = env.get("MORTARD_INGEST__OPS_PORT", "9465")
    return [f"http://127.0.0.1:{daemon}/healthz", f"http://127.0.0.1:{ingest}/healthz"]


def probe(urls: Sequence[str], timeout: float = 3.0) -> tuple[bool, str]:
    reasons = []
    for url in urls:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp:
                if resp.status == 200:
                    return True, f"{url}: 200"
                reasons.append(f"{url}: {resp.status}")
        except urllib.error.HTTPError as exc:
            reasons.append(f"{url}: {exc.code}")
        except (OSError, ValueError) as exc:
            reasons.append(f"{url}: {getattr(exc, 'reason', exc)}")
    return False, "; ".join(reasons)


def main() -> int:
    ok, why = probe(probe_urls(os.environ))
    print(why, file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
