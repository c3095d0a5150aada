# Sourced by every build and test script: settings that make a fresh clone build offline.
# node-gyp and prebuildify would otherwise try to download Node's headers. Point them at the
# headers of the Node that runs this script (<prefix>/include/node), and only when they exist,
# so a user whose Node lives elsewhere keeps node-gyp's own behaviour.
if [ -z "${npm_config_nodedir:-}" ]; then
  _pc_prefix="$(node -p 'require("path").resolve(process.execPath, "..", "..")')"
  if [ -f "$_pc_prefix/include/node/node_api.h" ]; then
    export npm_config_nodedir="$_pc_prefix"
  fi
  unset _pc_prefix
fi
