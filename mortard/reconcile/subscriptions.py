"""Which webhook subscriptions a shop needs, and how the ones it has fall short. Pure."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from mortard.ingest.contract import CONSUMED_TOPICS
from mortard.sync.ports import WebhookSubscription


def needed_topics() -> tuple[str, ...]:
    """Every topic `mortard ingest` takes in (ingest/contract.py): subscribing to fewer misses changes."""
    return tuple(sorted(CONSUMED_TOPICS))


@dataclass(frozen=True, slots=True)
class TopicStatus:
    topic: str
    status: str                 # ok | missing | elsewhere | version
    subscriptions: tuple[WebhookSubscription, ...]   # the shop's subscriptions to this topic

    @property
    def needs_creating(self) -> bool:
        return self.status in ("missing", "elsewhere")


@dataclass(frozen=True, slots=True)
class SubscriptionCheck:
    address: str
    api_version: str
    topics: tuple[TopicStatus, ...]

    @property
    def missing(self) -> int:
        """Topics with no subscription delivering to mortard's address at the pinned version."""
        return sum(1 for t in self.topics if t.status != "ok")


def check_subscriptions(have: Iterable[WebhookSubscription], address: str, api_version: str,
                        topics: Iterable[str] | None = None) -> SubscriptionCheck:
    subs = tuple(have)
    out = []
    for topic in topics or needed_topics():
        mine = tuple(s for s in subs if s.topic == topic)
        ours = [s for s in mine if s.address == address]
        if any(s.api_version == api_version for s in ours):
            status = "ok"
        elif ours:
            status = "version"
        elif mine:
            status = "elsewhere"
        else:
            status = "missing"
        out.append(TopicStatus(topic, status, mine))
    return SubscriptionCheck(address, api_version, tuple(out))
