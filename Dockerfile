# One image with every onestop binary a container runs; docker-compose.yml picks the binary per container.
#
# Dependencies build in a layer of their own, rebuilt only when a manifest or Cargo.lock changes, not when a
# source file does. The `skeleton` stage keeps the manifests, the lock file and, for each target cargo metadata
# lists, an empty stub at its path: its output stays the same while only sources change, so the `build` stage's
# dependency layer, which starts from it, comes from the cache. The same idea as cargo-chef, with nothing but cargo.

FROM rust:1-bookworm AS skeleton
WORKDIR /src
COPY . .
RUN set -eu; \
    mkdir /skeleton; \
    cp Cargo.toml Cargo.lock /skeleton/; \
    find . -name Cargo.toml -not -path './target/*' -exec cp --parents {} /skeleton/ \; ; \
    cargo metadata --offline --no-deps --format-version 1 \
        | grep -o '"src_path":"[^"]*"' | cut -d'"' -f4 | sort -u \
        | while read -r path; do \
            stub="/skeleton/${path#/src/}"; \
            mkdir -p "$(dirname "$stub")"; \
            printf '#![allow(dead_code)]\nfn main() {}\n' > "$stub"; \
          done

FROM rust:1-bookworm AS build
WORKDIR /src
ARG BINARIES="--bin onestop-catalogue --bin onestop-intake --bin onestop-aggregation --bin onestop-token --bin onestop-health --bin onestop-demo --bin onestop-dashboard"
COPY --from=skeleton /skeleton/ ./
# Every dependency, against stub sources of our own crates.
RUN cargo build --release --locked $BINARIES
COPY . .
# Newer than the stubs' build, so cargo rebuilds each of our crates from its real sources (copied files keep the
# times they had, which may be older).
RUN find . -name '*.rs' -not -path './target/*' -exec touch {} + \
    && cargo build --release --locked $BINARIES

FROM debian:bookworm-slim
# /var/lib/onestop belongs to the service user, so a volume mounted there (the operator's token) is writable.
RUN useradd --system --no-create-home onestop \
    && install -d -o onestop -g onestop -m 700 /var/lib/onestop
COPY --from=build /src/target/release/onestop-catalogue \
                  /src/target/release/onestop-intake \
                  /src/target/release/onestop-aggregation \
                  /src/target/release/onestop-token \
                  /src/target/release/onestop-health \
                  /src/target/release/onestop-demo \
                  /src/target/release/onestop-dashboard /usr/local/bin/
USER onestop
