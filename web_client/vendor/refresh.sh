#!/usr/bin/env bash
# Re-fetch the vendored @msgpack/msgpack ESM build into web_client/vendor/msgpack/.
#
#   web_client/vendor/refresh.sh            # the version pinned below
#   web_client/vendor/refresh.sh 3.1.3      # another version
#
# It runs `npm pack` in a temporary directory (nothing is installed, no node_modules), then
# copies only the ES module build (*.mjs) and the licence, and writes index.d.mts: the types
# of the two functions the client uses, for the checkJs type check (the package's own .d.ts
# files import ".ts" paths, which a plain checkJs project cannot follow). The client
# imports vendor/msgpack/index.mjs.
set -euo pipefail

VERSION="${1:-3.1.3}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DEST="$HERE/msgpack"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

cd "$WORK"
npm pack --silent "@msgpack/msgpack@$VERSION" >/dev/null
tar -xzf msgpack-msgpack-"$VERSION".tgz

rm -rf "$DEST"
mkdir -p "$DEST"
(cd package/dist.esm && find . -name '*.mjs' -print0 | xargs -0 -I{} cp --parents {} "$DEST/")
cp package/LICENSE "$DEST/LICENSE"
cat >"$DEST/index.d.mts" <<'TYPES'
// Written by vendor/refresh.sh: the part of @msgpack/msgpack's API that Hearth's client uses.
export function encode(value: unknown, options?: object): Uint8Array;
export function decode(buffer: ArrayLike<number> | ArrayBufferView | ArrayBufferLike, options?: object): unknown;
TYPES
printf '@msgpack/msgpack %s (dist.esm), from the npm registry; refresh with vendor/refresh.sh\n' \
    "$VERSION" >"$DEST/VERSION"
echo "vendored @msgpack/msgpack $VERSION into $DEST"
