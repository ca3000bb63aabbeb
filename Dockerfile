# autochain: one binary, every role (node, registry). Built by scripts/docker/build-image.sh
# (`make image`) FROM a base it makes itself from the binary's shared libraries, so nothing is
# pulled from any registry. Run as: node (default), `registry --provider docker`, `health`.
ARG BASE=autochain-base:latest
FROM ${BASE}
COPY autochain /usr/local/bin/autochain
# Defaults for a node in a container; every one can be overridden with -e / compose environment.
ENV DATA_DIR=/data \
    API_ADDR=0.0.0.0:8080 \
    P2P_ADDR=0.0.0.0:6000 \
    LOG_LEVEL=info
USER 10001:10001
WORKDIR /data
VOLUME /data
EXPOSE 8080 6000 9090
# A node hands over leadership and its mempool on SIGTERM: give it the time (docker stop -t).
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=5s --timeout=3s --start-period=20s --retries=3 CMD ["/usr/local/bin/autochain", "health"]
ENTRYPOINT ["/usr/local/bin/autochain"]
CMD ["node"]
