# syntax=docker/dockerfile:1
# Multi-stage: build a static binary, ship it alone on a distroless base
# as a non-root user.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
RUN CGO_ENABLED=0 go build -trimpath \
	-ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" \
	-o /out/pgredis ./cmd/pgredis

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/pgredis /usr/local/bin/pgredis
USER 65532:65532
EXPOSE 9187
ENTRYPOINT ["/usr/local/bin/pgredis"]
CMD ["worker"]
