"""`mortard run` as a real process when what it needs is missing: Postgres or Kafka down, topics absent
and not to be created, a wrong config. Each ends with one line naming the cause and a distinct exit
code, within its bound, and never with a traceback."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid

from aiokafka.admin import AIOKafkaAdminClient

from daemon_proc import write_config
from stack import TOKENS


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]   # nothing listens there once the socket is closed


def _run(config, timeout: float = 60) -> tuple[int, str, str, float]:
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "mortard", "run", "--config", str(config)],
                         capture_output=True, text=True, timeout=timeout, env={**os.environ, **TOKENS})
    return out.returncode, out.stdout, out.stderr, time.monotonic() - started


def _config(tmp_path, *, db_url, bootstrap, topic="t-" + uuid.uuid4().hex[:8], sandbox_url="http://127.0.0.1:9",
            extra_kafka="", **daemon):
    path = write_config(tmp_path / "m.toml", db_url=db_url, bootstrap=bootstrap, topic=topic,
                        sandbox_url=sandbox_url, daemon={"startup_timeout_s": 2.0, **daemon})
    if extra_kafka:
        path.write_text(path.read_text().replace("[kafka]\n", f"[kafka]\n{extra_kafka}\n", 1))
    return path


def test_postgres_down_at_start_retries_then_exits_69_with_one_line_naming_it(tmp_path):
    port = _closed_port()
    cfg = _config(tmp_path, db_url=f"postgresql://postgres@127.0.0.1:{port}/mortard", bootstrap="127.0.0.1:1")
    code, stdout, stderr, took = _run(cfg)
    assert code == 69, (code, stderr)
    assert stderr.strip().splitlines() == [stderr.strip()]          # one line
    assert stderr.startswith(f"mortard: cannot reach Postgres at 127.0.0.1:{port}/mortard after ")
    assert "Traceback" not in stderr + stdout
    assert stdout.count('"startup_waiting"') >= 2                   # it did retry, with backoff
    assert 2.0 <= took < 15


def test_kafka_down_at_start_retries_then_exits_69_naming_the_broker(tmp_path, db_url):
    port = _closed_port()
    cfg = _config(tmp_path, db_url=db_url, bootstrap=f"127.0.0.1:{port}")
    code, stdout, stderr, took = _run(cfg)
    assert code == 69, (code, stderr)
    assert stderr.startswith(f"mortard: cannot reach Kafka at 127.0.0.1:{port} (PLAINTEXT) after ")
    assert len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr + stdout
    assert 2.0 <= took < 20


async def test_topics_missing_with_create_never_exits_78_and_creates_nothing(tmp_path, db_url, kafka_bootstrap):
    topic = "never-" + uuid.uuid4().hex[:8]
    cfg = _config(tmp_path, db_url=db_url, bootstrap=kafka_bootstrap, topic=topic,
                  extra_kafka='create_topics = "never"')
    code, stdout, stderr, _ = _run(cfg)
    assert code == 78, (code, stderr)
    assert topic in stderr and 'create_topics = "never"' in stderr and "Traceback" not in stderr + stdout
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        assert topic not in set(await admin.list_topics())
    finally:
        await admin.close()


def test_a_wrong_config_exits_78_with_one_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[kafka]\nsecurity_protocol = "SASL_SSL"\n')
    code, stdout, stderr, _ = _run(bad)
    assert code == 78
    assert stderr == ("mortard: kafka: security_protocol SASL_SSL needs sasl_username and sasl_password_env or "
                      "sasl_password_file\n")
