# syntax=docker/dockerfile:1
# ClassCord image: the server compiled by `deno task compile` (scripts/compile.ts) into one
# binary, on distroless cc (glibc and libgcc, which denort links against), as a non-root user.
#
#   docker build -t classcord .
#   docker run -d -p 12345:12345 -p 8080:8080 -e TZ=Europe/Paris -v classcord-data:/data classcord
#   (/metrics stays on the container's loopback; add -e CLASSCORD_METRICS_HOST=0.0.0.0
#   -p 9091:9091 to scrape it from outside)
#
# Multi-platform builds (docker buildx build --platform linux/amd64,linux/arm64) run the builder
# on the build machine and cross-compile: deno compile --target fetches the target's denort.

# Pinned like .ci/run and the README: the compiler and the embedded runtime are this version.
ARG DENO_VERSION=2.9.6

FROM --platform=$BUILDPLATFORM denoland/deno:${DENO_VERSION} AS builder
WORKDIR /app

# Dependencies first: this layer is rebuilt only when deno.json or deno.lock change (the lock
# covers the workspace, so the web app's deno.json comes with them).
COPY deno.json deno.lock ./
COPY web/deno.json web/
RUN deno install --frozen

# Then what the compile task reads: src/ (the program), scripts/ (compile.ts and cli.ts) and web/
# (the web app, built into dist/web and embedded).
COPY src/ src/
COPY scripts/ scripts/
COPY web/ web/

# The image's architecture only. TARGETARCH is Docker's name (amd64, arm64); compile.ts wants
# Deno's (x86_64, aarch64). The binary goes to /out with an empty /data owned by "nonroot"
# (65532 in distroless), which a new named volume copies, ownership included.
ARG TARGETARCH
RUN case "${TARGETARCH:-$(uname -m)}" in \
      amd64 | x86_64) arch=x86_64 ;; \
      arm64 | aarch64) arch=aarch64 ;; \
      *) echo "Unsupported architecture: ${TARGETARCH}" >&2; exit 1 ;; \
    esac \
  && deno task compile --target "$arch" \
  && mkdir -p /out/data \
  && cp "dist/classcord-$arch" /out/classcord

FROM gcr.io/distroless/cc-debian12:nonroot

COPY --from=builder /out/classcord /classcord
COPY --from=builder --chown=65532:65532 /out/data /data

# The KV file lives in the volume; everything else has working defaults (see --help).
ENV CLASSCORD_DB=/data/classcord.kv
# The allocator gives large blocks back when they are freed (scripts/compile.ts, SERVER_ENV).
ENV MALLOC_MMAP_THRESHOLD_=131072
# No TZ: the image runs in UTC like any container, and message timestamps are the server's local
# time, so the class's zone comes with the container (compose.yaml passes TZ from .env; docker run
# -e TZ=Europe/Paris). V8 reads the zone from the ICU data inside the binary, not from
# /usr/share/zoneinfo (checked with that folder emptied); distroless carries tzdata anyway.
VOLUME /data

# 12345: chat (TCP, JSON lines); 8080: the web app and /ws; 9091: /metrics, /healthz, /readyz.
EXPOSE 12345 8080 9091

# distroless has no shell or curl: the binary checks its own /healthz.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/classcord", "healthcheck"]

# 65532 is "nonroot" in distroless' /etc/passwd.
USER 65532:65532

# Exec form: the server is PID 1 and receives SIGTERM from `docker stop` itself.
ENTRYPOINT ["/classcord"]
