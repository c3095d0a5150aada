#!/usr/bin/env bash
# make-image.sh REF ROOTFS_DIR OUT.tar ENTRYPOINT_JSON [CMD_JSON]
# Packs a folder as a one-layer docker-archive (what `docker save` writes and `ctr images import`
# and K3s's air-gap images folder read), with tar and sha256sum only: no docker, no registry.
# Deterministic: sorted names, owner 0, mtime 0.
set -euo pipefail
REF=$1 ROOT=$2 OUT=$3 EP=$4 CMD=${5:-null}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
tar --numeric-owner --owner=0 --group=0 --sort=name --mtime=@0 -C "$ROOT" -cf "$T/layer.tar" .
DIFF=$(sha256sum "$T/layer.tar" | cut -d' ' -f1)
mkdir "$T/$DIFF"
mv "$T/layer.tar" "$T/$DIFF/layer.tar"
printf '{"architecture":"%s","os":"linux","created":"1970-01-01T00:00:00Z","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Entrypoint":%s,"Cmd":%s,"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created":"1970-01-01T00:00:00Z","created_by":"make-image.sh"}]}' \
  "$(dpkg --print-architecture 2>/dev/null || echo amd64)" "$EP" "$CMD" "$DIFF" > "$T/config.json"
CFG=$(sha256sum "$T/config.json" | cut -d' ' -f1)
mv "$T/config.json" "$T/$CFG.json"
printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["%s/layer.tar"]}]' "$CFG" "$REF" "$DIFF" > "$T/manifest.json"
tar --numeric-owner --owner=0 --group=0 --sort=name --mtime=@0 -C "$T" -cf "$OUT" manifest.json "$CFG.json" "$DIFF"
echo "$OUT: $REF config sha256:$CFG layer sha256:$DIFF"
