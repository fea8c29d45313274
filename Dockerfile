# The tools image: cachectl and the backup program (`python -m cachectl.backup_cli backup`, run by
# the RedisBackups CronJob), with redis-cli, which takes the RDB snapshots; and the invalidation
# service (`python -m invalidator`, run by the InvalidationService Deployment).
#   docker build -t ghcr.io/acme/cache-platform-tools:<version> .
FROM python:3.11.13-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# redis-cli and redis-server of the cluster's own image (7.2): `--rdb` streams a primary's
# snapshot, and `load` needs a server that reads 7.2 RDB files (Debian 12 ships 7.0, which cannot).
# Keep this tag equal to cache-platform:redis.image.
COPY --from=redis:7.2.6 /usr/local/bin/redis-server /usr/local/bin/redis-cli /usr/local/bin/

WORKDIR /opt/cache-platform

# The ops tools' runtime libraries only (not the Pulumi SDKs or test tools), at the versions
# requirements.txt pins (pip takes no extras in a constraints file, hence the sed); a layer that
# changes only when the pins do. The service kit (cachekit), which cachectl and the invalidator
# import, needs opentelemetry-api and prometheus-client (msgpack for its MessagePack values).
COPY requirements.txt ./
RUN sed -E 's/\[[^]]*\]//' requirements.txt > constraints.txt \
    && pip install --constraint constraints.txt boto3 cloudflare msgpack opentelemetry-api prometheus-client PyYAML redis requests rich typer \
    && rm constraints.txt

COPY pyproject.toml ./
# cachectl and the invalidator need only the service kit (key convention, event schema) and the
# ADR's numbers: no Pulumi components.
COPY cachectl/ cachectl/
COPY invalidator/ invalidator/
COPY cachekit/ cachekit/
COPY stackconfig/ stackconfig/
RUN pip install --no-deps . && rm -rf build ./*.egg-info

# Numeric, so Kubernetes can verify runAsNonRoot; the CronJob runs as the same UID.
RUN useradd --uid 10001 --user-group --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin cachectl
USER 10001:10001
WORKDIR /tmp

ENTRYPOINT ["python", "-m", "cachectl.backup_cli"]
CMD ["--help"]
