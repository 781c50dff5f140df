#!/usr/bin/env bash
# Re-vendors the WASI 0.2.12 WIT that wasmtime 48 ships into wit/deps and reports drift.
# Run after `cargo fetch` so the crate source is in the registry.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/wasmtime-wasi-http-48.0.8/wit/deps | head -n 1)
for f in "$src"/*.wit; do
  if ! cmp -s "$f" "$here/deps/$(basename "$f")"; then
    echo "updating deps/$(basename "$f")"
    cp "$f" "$here/deps/"
  fi
done
