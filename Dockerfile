# One image with the three service binaries and onestop-token; docker-compose.yml picks the binary per service.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p onestop-catalogue -p onestop-intake -p onestop-aggregation -p onestop-auth

FROM debian:bookworm-slim
RUN useradd --system --no-create-home onestop
COPY --from=build /src/target/release/onestop-catalogue \
                  /src/target/release/onestop-intake \
                  /src/target/release/onestop-aggregation \
                  /src/target/release/onestop-token /usr/local/bin/
USER onestop
