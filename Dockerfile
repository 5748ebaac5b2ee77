# oceanfed member image: the daemon with the zmq and kafka messengers, the soft and node
# signers and the inflation policies. For PKCS#11 HSMs use Dockerfile.hsm.
#
#   docker build -t oceanfed .
#   docker run -v /srv/alice:/etc/oceanfed:ro -v alice-state:/var/lib/oceanfed \
#       -p 9464:9464 oceanfed
#
# Mount the member's fed.toml (and its key files) read-only at /etc/oceanfed, and point
# [member] state_dir at /var/lib/oceanfed. Keys never go into the image.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY core/ core/
COPY plugins/ plugins/
RUN pip install --no-cache-dir build==1.2.2 \
 && for d in core plugins/messenger_zmq plugins/messenger_kafka plugins/signer_soft \
             plugins/signer_pkcs11 plugins/inflation; do \
      python -m build --wheel --outdir /wheels "$d" || exit 1; \
    done

FROM ${PYTHON_IMAGE}
ARG EXTRAS=zmq,kafka,soft,inflation
ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    OCEANFED_METRICS_LISTEN=0.0.0.0:9464 \
    OCEANFED_HEALTH_URL=http://127.0.0.1:9464/health
COPY --from=build /wheels /wheels
# the core wheel built above, whatever its version (it is set in one place, oceanfed/__init__.py)
RUN pip install --find-links /wheels "$(ls /wheels/oceanfed-[0-9]*.whl)[${EXTRAS}]" \
 && rm -rf /wheels \
 && useradd --system --uid 10001 --home-dir /var/lib/oceanfed --create-home oceanfed
USER 10001
WORKDIR /var/lib/oceanfed
VOLUME ["/var/lib/oceanfed"]
# /metrics, /status and /health: on by default through OCEANFED_METRICS_LISTEN (above),
# which the HEALTHCHECK reads; one port everywhere, 9464
EXPOSE 9464
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ['OCEANFED_HEALTH_URL'], timeout=4)"]
# SIGTERM abandons the current round safely and flushes the state before exiting 0
STOPSIGNAL SIGTERM
ENTRYPOINT ["oceanfed"]
CMD ["run", "--config", "/etc/oceanfed/fed.toml", "--log-format", "json"]
