# syntax=docker/dockerfile:1
#
# mortard container image: a venv built in one stage, copied into a slim runtime as a non-root user.
#
#   docker build -t mortard .
#   docker run --init --read-only --tmpfs /tmp --stop-timeout 45 \
#       -v /etc/mortard:/etc/mortard:ro -p 9464:9464 mortard               # the daemon
#   docker run --init --read-only ... -p 8080:8080 -p 9465:9465 mortard ingest --config /etc/mortard/mortard.toml
#
# --init (tini) reaps children and forwards signals; mortard also handles SIGTERM itself.
# `docker stop` waits 10 s before SIGKILL: give it more than the 30 s drain budget
# (--stop-timeout 45, or `stop_grace_period: 45s` in Compose, `terminationGracePeriodSeconds` in k8s).
# Secrets: mount files (Docker/Compose secrets land in /run/secrets/) and name them in the TOML's
# *_file settings, or pass them as environment variables named by *_env settings.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---------------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PATH=/opt/venv/bin:$PATH

# Same path as in the runtime stage: console scripts hard-code the venv's interpreter.
RUN python -m venv /opt/venv

WORKDIR /src

# Dependency layer: only pyproject.toml, so editing code does not reinstall dependencies.
# (README* is copied here because pyproject.toml names it as the package readme.)
COPY pyproject.toml README* ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt

# Code layer.
COPY mortard ./mortard
RUN pip install --no-deps . \
 && python -m compileall -q -j 0 /opt/venv

# ---------------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="mortard" \
      org.opencontainers.image.description="Shopify -> Heartland Retail order-sync daemon" \
      org.opencontainers.image.licenses="Apache-2.0"

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONFAULTHANDLER=1 \
    MORTARD_DAEMON__OPS_HOST=0.0.0.0 \
    MORTARD_INGEST__HOST=0.0.0.0 \
    MORTARD_INGEST__OPS_HOST=0.0.0.0

RUN groupadd --system --gid 10001 mortard \
 && useradd --system --uid 10001 --gid mortard --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin mortard

COPY --from=build /opt/venv /opt/venv
# The runbook and architecture the units' and the image's Documentation point at.
COPY LICENSE docs/*.md /usr/share/doc/mortard/

# Fail the build if a C extension does not load (aiokafka #514: a pure-Python fallback or a broken
# wheel only shows up at run time otherwise).
RUN python -c "import aiokafka.record._crecords, asyncpg" \
 && python -c "import mortard.ops"

USER 10001:10001
WORKDIR /tmp

# 9464: /metrics, /healthz, /readyz (daemon); 8080: Shopify webhooks and 9465: its /metrics,
# /healthz, /readyz (`mortard ingest`).
EXPOSE 9464 8080 9465

STOPSIGNAL SIGTERM

# curl-free, right for both commands: healthy when the daemon's ops port (9464) or ingest's (9465)
# answers /healthz with 200 (mortard/ops/probe.py; MORTARD_HEALTH_URLS overrides the URLs).
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-m", "mortard.ops.probe"]

ENTRYPOINT ["mortard"]
CMD ["run", "--config", "/etc/mortard/mortard.toml"]
