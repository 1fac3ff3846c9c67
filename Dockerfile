# syntax=docker/dockerfile:1
# One image per service, built from the repository root with a target per service:
#
#   docker build --target commissioning -t dhr/commissioning:0.1.0 .
#
# (likewise panel, learning, recommendations, oversight, integration; `docker compose build`
# builds them all).
# Each image holds one service installed from the frozen uv.lock without development tools, not
# editable, in /app/.venv, on a slim Python runtime without compilers or pip, run as a non-root
# user (uid 10001) with a HEALTHCHECK against /healthz. The entry point is the service's command:
# `docker run IMAGE` serves, `docker run IMAGE migrate` applies the database migrations and exits.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: uv installs one workspace package and its locked dependencies into /app/.venv ----
FROM ${PYTHON_IMAGE} AS build
ARG UV_VERSION=0.13.9
RUN python -m pip install --no-cache-dir --root-user-action=ignore "uv==${UV_VERSION}"
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src
# The workspace's manifests first: the dependency layers below are rebuilt only when they change.
COPY pyproject.toml uv.lock ./
COPY contracts/pyproject.toml contracts/
COPY services/platform/pyproject.toml services/platform/
COPY services/commissioning/pyproject.toml services/commissioning/
COPY services/panel/pyproject.toml services/panel/
COPY services/learning/pyproject.toml services/learning/
COPY services/recommendations/pyproject.toml services/recommendations/
COPY services/oversight/pyproject.toml services/oversight/
COPY services/integration/pyproject.toml services/integration/
COPY deploy/local/pyproject.toml deploy/local/

FROM build AS sources
COPY contracts/src contracts/src
COPY services services

FROM build AS build-commissioning
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --no-install-workspace --package dhr-commissioning
COPY --from=sources /src /src
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --package dhr-commissioning

FROM build AS build-panel
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --no-install-workspace --package dhr-panel
COPY --from=sources /src /src
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --package dhr-panel

FROM build AS build-learning
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --no-install-workspace --package dhr-learning
COPY --from=sources /src /src
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --package dhr-learning

FROM build AS build-recommendations
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --no-install-workspace --package dhr-recommendations
COPY --from=sources /src /src
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --package dhr-recommendations

FROM build AS build-oversight
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --no-install-workspace --package dhr-oversight
COPY --from=sources /src /src
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --package dhr-oversight

FROM build AS build-integration
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --no-install-workspace --package dhr-integration
COPY --from=sources /src /src
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --package dhr-integration

# --- runtime: the same Python, no build tools, no pip, a non-root user ------------------------
FROM ${PYTHON_IMAGE} AS runtime
# The venv's interpreter is this image's /usr/local/bin/python3.11, the same as the build's.
RUN python -m pip uninstall --yes --root-user-action=ignore pip setuptools wheel \
    && groupadd --system --gid 10001 dhr \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin dhr \
    && install -d -o 10001 -g 10001 /var/lib/dhr
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DHR_HTTP_HOST=0.0.0.0
WORKDIR /app
USER 10001:10001
# /healthz answers while the process is alive (readiness, /readyz, is the orchestrator's concern).
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ['DHR_HTTP_PORT'] + '/healthz', timeout=2)"
STOPSIGNAL SIGTERM

FROM runtime AS commissioning
LABEL org.opencontainers.image.title="dhr-commissioning"
COPY --from=build-commissioning /app/.venv /app/.venv
ENV DHR_HTTP_PORT=8001
EXPOSE 8001
ENTRYPOINT ["dhr-commissioning"]
CMD ["serve"]

FROM runtime AS panel
LABEL org.opencontainers.image.title="dhr-panel"
COPY --from=build-panel /app/.venv /app/.venv
ENV DHR_HTTP_PORT=8002
EXPOSE 8002
ENTRYPOINT ["dhr-panel"]
CMD ["serve"]

FROM runtime AS learning
LABEL org.opencontainers.image.title="dhr-learning"
COPY --from=build-learning /app/.venv /app/.venv
ENV DHR_HTTP_PORT=8003
EXPOSE 8003
ENTRYPOINT ["dhr-learning"]
CMD ["serve"]

FROM runtime AS recommendations
LABEL org.opencontainers.image.title="dhr-recommendations"
COPY --from=build-recommendations /app/.venv /app/.venv
ENV DHR_HTTP_PORT=8004
EXPOSE 8004
ENTRYPOINT ["dhr-recommendations"]
CMD ["serve"]

FROM runtime AS oversight
LABEL org.opencontainers.image.title="dhr-oversight"
COPY --from=build-oversight /app/.venv /app/.venv
# Where a development signing key is generated when none is configured (never in production).
ENV DHR_HTTP_PORT=8005 \
    DHR_STATE_DIR=/var/lib/dhr
EXPOSE 8005
ENTRYPOINT ["dhr-oversight"]
CMD ["serve"]

FROM runtime AS integration
LABEL org.opencontainers.image.title="dhr-integration"
COPY --from=build-integration /app/.venv /app/.venv
ENV DHR_HTTP_PORT=8006
EXPOSE 8006
ENTRYPOINT ["dhr-integration"]
CMD ["serve"]
