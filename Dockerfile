# One image for every command: `docker run IMAGE agent --config /etc/slawatch/agent.yaml`.
# The base is pinned to an exact release (Python 3.12.8 on Debian 12 "bookworm"): a rebuild gets
# the same base until this line is changed on purpose.
FROM python:3.12.8-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY slawatch slawatch
COPY agent agent
COPY collector collector
COPY config config
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.12.8-slim-bookworm
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/slawatch --create-home slawatch
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
ENV PYTHONUNBUFFERED=1
# slawatch:slawatch, by number: Kubernetes' runAsNonRoot can check it.
USER 10001:10001
WORKDIR /var/lib/slawatch
# Databases and spools: keep them on a volume, or a new container starts from nothing.
VOLUME /var/lib/slawatch
EXPOSE 8480 9480
# The collector's /healthz on its default port (503 while its store cannot write): `slawatch
# probe` exits 0 when it answers 200, 1 otherwise. An agent's container replaces it with
# `slawatch agent --config FILE --check` (see contrib/docker-compose.yml).
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
  CMD ["slawatch", "probe", "--timeout", "5s", "http://127.0.0.1:8480/healthz"]
ENTRYPOINT ["slawatch"]
CMD ["--help"]
