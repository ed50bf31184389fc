# syntax=docker/dockerfile:1
# Store Platform: one image for the portal (default command) and the reconciler worker
# (`python -m provisioning.worker`, set by the Helm chart). Build from the repo root:
#   docker build -t store-platform:dev .
# Pinned base: bump the tag deliberately (and pin the digest too in your registry mirror
# if you need bit-for-bit rebuilds: FROM python:3.11.14-slim-bookworm@sha256:...).
FROM python:3.11.14-slim-bookworm

LABEL org.opencontainers.image.title="store-platform" \
      org.opencontainers.image.description="Self-service portal that provisions WooCommerce stores into Kubernetes namespaces" \
      org.opencontainers.image.source="https://github.com/store-platform/store-platform"

# HOME=/tmp: Streamlit writes under $HOME; in Kubernetes the root filesystem is read-only
# and /tmp is an emptyDir. Bytecode is compiled at build time, never written at run time.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    HOME=/tmp \
    STREAMLIT_SERVER_HEADLESS=true \
    STREAMLIT_BROWSER_GATHER_USAGE_STATS=false \
    DATABASE_URL=sqlite:////data/store_platform.db \
    LOCAL_SECRETS_FILE=/data/secrets.env

# Unprivileged user with a fixed uid/gid (the chart's runAsUser/fsGroup). /data is only for
# `docker run` without an external database (mount a volume there to keep it, e.g.
# -v store-platform-data:/data); the chart always sets DATABASE_URL.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid 10001 --home-dir /tmp --no-create-home \
       --shell /usr/sbin/nologin app \
    && mkdir -p /data \
    && chown 10001:10001 /data

WORKDIR /app

# Dependencies first (pinned in requirements.txt), so code changes reuse this layer.
COPY requirements.txt ./
RUN pip install --no-cache-dir -r requirements.txt

# Application code, owned by root and read-only for the app user.
COPY .streamlit/ ./.streamlit/
COPY provisioning/ ./provisioning/
COPY portal/ ./portal/
COPY pages/ ./pages/
COPY app.py asgi.py ./
COPY docker/healthcheck.py ./docker/healthcheck.py
RUN python -m compileall -q /app

USER 10001:10001

EXPOSE 8501

# Portal: /_stcore/health answers "ok". Worker: healthy while its process runs (it reports
# its state in the database). Kubernetes ignores this and uses the chart's probes.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "/app/docker/healthcheck.py"]

CMD ["streamlit", "run", "asgi.py", "--server.port=8501", "--server.address=0.0.0.0"]
