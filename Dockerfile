# syntax=docker/dockerfile:1
# Sentinelles API image. Build: docker build -t sentinelles .
# Run against PostgreSQL (see README.md, "Docker"); a secret key is required (production):
#   docker run -p 8000:8000 -e SENTINELLES_SECRET_KEY=... \
#     -e SENTINELLES_DATABASE_URL=postgresql+psycopg://user:pass@db:5432/sentinelles sentinelles

# --- builder: the project and every dependency as wheels; nothing here reaches the final image
FROM python:3.11-slim AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /build
COPY pyproject.toml README.md ./
COPY app ./app
# setuptools and wheel come along so the runtime stage can install the project offline.
RUN pip wheel --no-cache-dir --wheel-dir /wheels . "setuptools>=69" wheel

# --- runtime
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SENTINELLES_ENVIRONMENT=production \
    SENTINELLES_DATABASE_URL=sqlite:////var/lib/sentinelles/sentinelles.db \
    SENTINELLES_MEDIA_DIR=/var/lib/sentinelles/media \
    MPLCONFIGDIR=/tmp/matplotlib
# MPLCONFIGDIR: matplotlib (the charts) keeps its font cache there; its default, under the
# home directory, is not writable by the service user, and every worker failed to create it.
RUN groupadd --system sentinelles \
    && useradd --system --gid sentinelles --home-dir /srv/sentinelles --no-create-home \
       --shell /usr/sbin/nologin sentinelles \
    && mkdir -p /var/lib/sentinelles/media \
    && chown -R sentinelles:sentinelles /var/lib/sentinelles

# The migrations are found beside the `app` package (app/core/migrations.py), so the source tree
# stays in /srv/sentinelles and is installed in place (editable), from the builder's wheels only.
WORKDIR /srv/sentinelles
COPY pyproject.toml README.md alembic.ini ./
COPY migrations ./migrations
COPY app ./app
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels -e . \
    && sentinelles --version

USER sentinelles
# Build matplotlib's font cache now, as the service user, rather than in each worker's first chart.
RUN python -c "import matplotlib.font_manager"
VOLUME ["/var/lib/sentinelles"]
EXPOSE 8000
# Docker's own check. OCI image builders (buildah, kaniko...) drop HEALTHCHECK and Kubernetes
# ignores it: orchestrators probe /healthz (liveness) and /readyz (readiness), README.md
# "Deployment".
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
CMD ["sh", "-c", "sentinelles migrate && exec sentinelles serve --host 0.0.0.0 --port 8000 --workers ${WORKERS:-2}"]
