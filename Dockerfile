# pixelmill container image: a Release build on Debian bookworm, run as a non-root user.
#
#   docker build -t pixelmill .            (podman: add --format docker to keep HEALTHCHECK)
#   docker run --rm -p 127.0.0.1:8080:8080 -v pixelmill-data:/data --read-only \
#              --tmpfs /tmp pixelmill
#
# Every setting can be changed with PIXELMILL_<SECTION>_<KEY> environment variables
# (see config/pixelmill.toml and `pixelmill --help`).

# ---------------------------------------------------------------------------- build
FROM debian:bookworm-slim AS build

# Compilers and -dev packages from the project's one dependency script. Only that
# script is copied first, so this layer is rebuilt only when the package list changes.
COPY .ci/install-deps /src/.ci/install-deps
RUN /src/.ci/install-deps build \
 && apt-get install -y -qq --no-install-recommends ccache \
 && apt-get clean && rm -rf /var/lib/apt/lists/*

# Only what the build reads (tests are off; bench/ is configured, never built).
WORKDIR /src
COPY CMakeLists.txt ./
COPY cmake/ cmake/
COPY docs/openapi.yaml docs/
COPY config/ config/
COPY runtime/ runtime/
COPY imaging/ imaging/
COPY storage/ storage/
COPY bench/ bench/
COPY server/ server/

# The ccache directory is a build-cache mount: a rebuild after a source change
# recompiles only what changed (BuildKit and buildah both keep it between builds).
ENV CCACHE_DIR=/ccache
RUN --mount=type=cache,target=/ccache \
    cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release -DPIXELMILL_BUILD_TESTS=OFF \
          -DCMAKE_CXX_COMPILER_LAUNCHER=ccache \
 && cmake --build /build -j"$(nproc)" --target pixelmill \
 && strip /build/server/pixelmill \
 && /build/server/pixelmill --version

# -------------------------------------------------------------------------- runtime
FROM debian:bookworm-slim AS runtime

# As Debian's official slim images do: no docs (copyright files stay), man pages or
# translations; apt keeps no downloaded .debs.
# Also left out, ~180 MB: Mesa's OpenGL drivers with the LLVM and Z3 libraries they
# JIT with (libopencv-core406 -> libglx0 -> libglx-mesa0 -> libgl1-mesa-dri ->
# libllvm15 -> libz3-4) and PROJ's datum grids (libgdal32 -> proj-data). They are
# never loaded: no GL context is ever created and GDAL never sees a request (only
# JPEG/PNG/WebP/TIFF/BMP reach OpenCV); `ldd` below checks the binary's libraries.
RUN printf '%s\n' \
      'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' \
      'path-exclude /usr/share/man/*' 'path-exclude /usr/share/info/*' \
      'path-exclude /usr/share/locale/*' 'path-include /usr/share/locale/locale.alias' \
      'path-exclude /usr/share/lintian/*' \
      'path-exclude /usr/lib/*/libLLVM-*' \
      'path-exclude /usr/lib/*/libz3.so*' \
      'path-exclude /usr/lib/*/dri/*' \
      'path-exclude /usr/share/proj/*' > /etc/dpkg/dpkg.cfg.d/slim \
 && printf '%s\n' 'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb || true"; };' \
      'APT::Keep-Downloaded-Packages "false";' > /etc/apt/apt.conf.d/docker-clean \
 && printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
# Shared libraries only (no compilers, no -dev packages), and curl for HEALTHCHECK.
COPY .ci/install-deps /tmp/install-deps
RUN /tmp/install-deps runtime \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/log/apt /var/log/dpkg.log /tmp/install-deps \
 && groupadd --system --gid 10001 pixelmill \
 && useradd --system --uid 10001 --gid pixelmill --home-dir /data --no-create-home \
            --shell /usr/sbin/nologin pixelmill \
 && mkdir -p /data /etc/pixelmill \
 && chown pixelmill:pixelmill /data

COPY --from=build /build/server/pixelmill /usr/local/bin/pixelmill
COPY config/pixelmill.toml /etc/pixelmill/pixelmill.toml
# Every library the binary needs is there (none of the files left out above).
RUN ! ldd /usr/local/bin/pixelmill | grep 'not found' \
 && pixelmill --version

# The shipped config file keeps the built-in defaults; the container's own choices are
# environment variables, so `docker run -e ...` overrides them one by one.
# Drain: 7 s for in-flight requests + at most 2 s of cancellation = 9 s, inside the
# 10 s that `docker stop` waits before SIGKILL.
ENV PIXELMILL_CONFIG=/etc/pixelmill/pixelmill.toml \
    PIXELMILL_SERVER_LISTEN=0.0.0.0:8080 \
    PIXELMILL_STORAGE_DATA_DIR=/data \
    PIXELMILL_SERVER_DRAIN_TIMEOUT=7s

# docker build --build-arg REVISION=$(git rev-parse HEAD) --build-arg CREATED=$(date -Iseconds)
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="pixelmill" \
      org.opencontainers.image.description="HTTP image service: upload images, fetch resized variants, Prometheus metrics" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.base.name="docker.io/library/debian:bookworm-slim"

USER 10001:10001
WORKDIR /data
VOLUME /data
EXPOSE 8080
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["curl", "-fsS", "-o", "/dev/null", "--max-time", "2", "http://127.0.0.1:8080/healthz"]
# Logs go to stdout (spdlog); PIXELMILL_LOG_FORMAT=json for log collectors.
ENTRYPOINT ["/usr/local/bin/pixelmill"]
