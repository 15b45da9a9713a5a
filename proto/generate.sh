#!/usr/bin/env bash
# Regenerates the Go code in proto/gen from the .proto files in proto/.
#
#   bash proto/generate.sh            # write proto/gen
#   bash proto/generate.sh --check    # fail if the committed proto/gen is stale
#
# Pinned generators: protoc 3.21.12 (Debian bookworm's protobuf-compiler),
# protoc-gen-go at the google.golang.org/protobuf version in go.mod, and
# protoc-gen-go-grpc v1.6.0. The script installs the plugins into a private
# directory; protoc itself comes from `apt-get install protobuf-compiler`.
set -euo pipefail

PROTOC_VERSION="libprotoc 3.21.12"
GRPC_PLUGIN_VERSION="v1.6.0"

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

if ! command -v protoc >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get install -y -qq protobuf-compiler >/dev/null 2>&1 ||
      { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq protobuf-compiler >/dev/null; })
  fi
fi
command -v protoc >/dev/null 2>&1 || { echo "generate.sh: protoc not found; apt-get install protobuf-compiler" >&2; exit 1; }
got=$(protoc --version)
if [ "$got" != "$PROTOC_VERSION" ]; then
  echo "generate.sh: need $PROTOC_VERSION, found $got" >&2
  exit 1
fi
include=""
for d in /usr/include /usr/local/include; do
  [ -f "$d/google/protobuf/timestamp.proto" ] && include="$d" && break
done
[ -n "$include" ] || { echo "generate.sh: google/protobuf/*.proto not found" >&2; exit 1; }

bin="$root/bin/protoc-plugins"
mkdir -p "$bin"
GOBIN="$bin" go install google.golang.org/protobuf/cmd/protoc-gen-go
[ -x "$bin/protoc-gen-go-grpc-$GRPC_PLUGIN_VERSION" ] || {
  GOBIN="$bin/tmp" go install "google.golang.org/grpc/cmd/protoc-gen-go-grpc@$GRPC_PLUGIN_VERSION"
  mv "$bin/tmp/protoc-gen-go-grpc" "$bin/protoc-gen-go-grpc-$GRPC_PLUGIN_VERSION"
  rmdir "$bin/tmp"
}

out="$root/proto/gen"
if [ "${1:-}" = "--check" ]; then
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
fi
mkdir -p "$out"

files=$(cd proto && find com -name '*.proto' | sort)
tmp=$(mktemp -d)
(cd proto && protoc -I . -I "$include" \
  --plugin=protoc-gen-go="$bin/protoc-gen-go" \
  --plugin=protoc-gen-go-grpc="$bin/protoc-gen-go-grpc-$GRPC_PLUGIN_VERSION" \
  --go_out="$tmp" --go_opt=module=github.com/cantonx/txhistory/proto/gen \
  --go-grpc_out="$tmp" --go-grpc_opt=module=github.com/cantonx/txhistory/proto/gen \
  $files)
rm -rf "$out/lapiv2" "$out/adminv30"
cp -r "$tmp"/. "$out"/
rm -rf "$tmp"

if [ "${1:-}" = "--check" ]; then
  if ! diff -r "$root/proto/gen" "$out" >/dev/null; then
    diff -r "$root/proto/gen" "$out" | head -40 >&2
    echo "generate.sh: proto/gen is stale; run: bash proto/generate.sh" >&2
    exit 1
  fi
  echo "proto/gen is up to date"
fi
