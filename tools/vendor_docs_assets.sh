#!/usr/bin/env bash
# Refresh vto/service/docs_assets/ (Swagger UI and ReDoc for offline /docs and /redoc) from the
# npm registry: the pinned releases below, unmodified, with their licence files.
# Usage: tools/vendor_docs_assets.sh   (needs npm; bump the versions here and in README.md there)
set -euo pipefail
SWAGGER_UI=5.35.0   # swagger-ui-dist, Apache-2.0
REDOC=2.5.4         # redoc (2.x: the bundle FastAPI's get_redoc_html is written for), MIT

dest="$(cd "$(dirname "$0")/.." && pwd)/vto/service/docs_assets"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
npm pack --silent "swagger-ui-dist@$SWAGGER_UI" "redoc@$REDOC" >/dev/null
mkdir swagger redoc
tar xzf "swagger-ui-dist-$SWAGGER_UI.tgz" -C swagger
tar xzf "redoc-$REDOC.tgz" -C redoc
mkdir -p "$dest"
cp swagger/package/swagger-ui-bundle.js swagger/package/swagger-ui-bundle.js.LICENSE.txt \
   swagger/package/swagger-ui.css swagger/package/favicon-32x32.png "$dest/"
cp swagger/package/LICENSE "$dest/swagger-ui-LICENSE"
cp swagger/package/NOTICE "$dest/swagger-ui-NOTICE"
cp redoc/package/bundles/redoc.standalone.js redoc/package/bundles/redoc.standalone.js.LICENSE.txt "$dest/"
cp redoc/package/LICENSE "$dest/redoc-LICENSE"
(cd "$dest" && sha256sum swagger-ui-bundle.js swagger-ui.css redoc.standalone.js)
