# One image for every command: `docker run slawatch agent --config /etc/slawatch/agent.yaml`.
FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY slawatch slawatch
COPY agent agent
COPY collector collector
COPY config config
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.12-slim
RUN useradd --system --uid 10001 --home-dir /var/lib/slawatch --create-home slawatch
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER slawatch
WORKDIR /var/lib/slawatch
EXPOSE 8480 9480
ENTRYPOINT ["slawatch"]
CMD ["--help"]
