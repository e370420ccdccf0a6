# tierctl serve in a container: the hosted survey form, unsubscribe page and webhooks.
#   docker build -t tierctl .
#   docker run -p 8080:8080 -v "$PWD:/srv/tiers" -e TIERCTL_SERVE_SECRET tierctl
# The config folder (tierctl.yaml, sources, .tierctl/ ledger) is mounted at /srv/tiers.
FROM python:3.12-slim

RUN useradd --create-home --uid 10001 tierctl
WORKDIR /opt/tierctl
COPY pyproject.toml README.md ./
COPY core ./core
COPY plugins ./plugins
COPY templates ./templates
RUN pip install --no-cache-dir . && rm -rf /opt/tierctl

USER tierctl
WORKDIR /srv/tiers
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz').status != 200)"
# 0.0.0.0 inside the container; publish the port only to the reverse proxy.
CMD ["tierctl", "-c", "tierctl.yaml", "serve", "--host", "0.0.0.0", "--port", "8080", "--workers", "2", \
     "--forwarded-allow-ips", "*"]
