from __future__ import annotations

import pytest

from mortard.config import ConfigError, config_from_dict
from mortard.ops import eventloop


def test_auto_runs_on_uvloop_when_it_is_installed():
    pytest.importorskip("uvloop")   # a dependency on Linux; asyncio's loop elsewhere

    async def which() -> str:
        return eventloop.loop_name()

    assert eventloop.run(which(), "auto") == "uvloop"
    assert eventloop.run(which(), "asyncio") == "asyncio"


def test_an_unknown_loop_is_refused_by_the_config_and_by_the_runner():
    with pytest.raises(ConfigError, match="daemon.event_loop: expected one of auto, uvloop, asyncio"):
        config_from_dict({"daemon": {"event_loop": "tokio"}})
    with pytest.raises(ValueError, match="event loop must be one of"):
        eventloop.loop_factory("tokio")
