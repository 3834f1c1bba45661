"""`python -m mortard.sandbox [--host --port --fixture --dialect --faults]`."""
from __future__ import annotations

from mortard.sandbox.server import main

raise SystemExit(main())
