#!/usr/bin/env bash
# install.sh: the lab's STAND-IN for K3s's installer (https://get.k3s.io), tests only. The real
# installer downloads K3s, which cannot be done on the test machine; this one installs the stand-in
# `k3s` of this folder (real etcd, kube-apiserver, kube-controller-manager, containerd and kubelet:
# see its header) the way the real one installs K3s, as far as pi-controller depends on it:
#   - environment: INSTALL_K3S_SKIP_DOWNLOAD=true (air-gap: the binary is at $INSTALL_K3S_BIN_DIR/k3s
#     already; anything else fails, as there is nothing to download from), INSTALL_K3S_VERSION (checked
#     against the binary's), INSTALL_K3S_EXEC, INSTALL_K3S_BIN_DIR, INSTALL_K3S_SYSTEMD_DIR, K3S_URL,
#     K3S_TOKEN; INSTALL_K3S_EXEC is split into shell words as the real installer splits it (quotes honoured);
#     arguments after the script name are added to it, as with `sh -s - ...`;
#   - server or agent: `server` / `agent` as the first word, else agent when K3S_URL is set;
#   - the service `k3s` (server) or `k3s-agent` with its unit file and its env file (K3S_TOKEN and
#     K3S_URL, mode 600) in the systemd folder; the machine has no systemd, so the unit's ExecStart is
#     started detached with its pid in <data-dir>/lab/service.pid by the `systemctl` shim this writes into
#     the bin dir (start, stop, restart, is-active for this one unit), and a re-run restarts it;
#   - the kubectl, crictl and ctr links, k3s-killall.sh, and k3s-uninstall.sh (server) or
#     k3s-agent-uninstall.sh (agent) that stop every process and remove every file it made;
#   - it returns once the service is up: a server's API answers /readyz and node-token is written, an
#     agent's kubelet runs (bounded by INSTALL_K3S_LAB_WAIT seconds, default 300).
set -euo pipefail
BIN_DIR=${INSTALL_K3S_BIN_DIR:-/usr/local/bin}
SYSTEMD_DIR=${INSTALL_K3S_SYSTEMD_DIR:-/etc/systemd/system}
BIN_DIR=${BIN_DIR%/} SYSTEMD_DIR=${SYSTEMD_DIR%/}
info() { echo "[INFO]  $*"; }
fatal() { echo "[ERROR] $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || fatal "run as root"
# Tests only: the marker file k3s-lab-install-fails in the bin dir makes the install fail on this host, before
# it touches the service (only the binary an air-gap install uploaded first is new); its text is the reason.
if [ -e "$BIN_DIR/k3s-lab-install-fails" ]; then
  fatal "install refused on this host ($BIN_DIR/k3s-lab-install-fails): $(head -c 200 "$BIN_DIR/k3s-lab-install-fails")"
fi
if [ "${INSTALL_K3S_SKIP_DOWNLOAD:-false}" != true ]; then
  fatal "the lab's stand-in installer cannot download k3s${INSTALL_K3S_VERSION:+ $INSTALL_K3S_VERSION}: set INSTALL_K3S_SKIP_DOWNLOAD=true and put the binary at $BIN_DIR/k3s (air-gap install)"
fi
[ -x "$BIN_DIR/k3s" ] || fatal "INSTALL_K3S_SKIP_DOWNLOAD=true but $BIN_DIR/k3s is missing or not executable"
have=$("$BIN_DIR/k3s" --version | awk 'NR == 1 {print $3}')
if [ -n "${INSTALL_K3S_VERSION:-}" ] && [ "$have" != "$INSTALL_K3S_VERSION" ]; then
  fatal "INSTALL_K3S_VERSION is $INSTALL_K3S_VERSION but $BIN_DIR/k3s is $have"
fi
info "Skipping k3s download and verify (INSTALL_K3S_SKIP_DOWNLOAD=true): $have"

# the command: INSTALL_K3S_EXEC plus the arguments, `server` or `agent` first. As the real installer,
# INSTALL_K3S_EXEC is read as shell words (quotes and backslashes honoured), though never run: xargs splits it.
EXEC=()
if [ -n "${INSTALL_K3S_EXEC:-}" ]; then
  mapfile -d '' EXEC < <(printf '%s\n' "$INSTALL_K3S_EXEC" | xargs -r printf '%s\0') ||
    fatal "INSTALL_K3S_EXEC is not a list of shell words: $INSTALL_K3S_EXEC"
fi
EXEC+=("$@")
case "${EXEC[0]:-}" in
  server | agent) ;;
  *) if [ -n "${K3S_URL:-}" ]; then EXEC=(agent "${EXEC[@]}"); else EXEC=(server "${EXEC[@]}"); fi ;;
esac
TYPE=${EXEC[0]}
[ "$TYPE" = agent ] && [ -z "${K3S_TOKEN:-}" ] && fatal "an agent needs K3S_TOKEN"
if [ "$TYPE" = agent ] && [ -z "${K3S_URL:-}" ]; then
  for a in "${EXEC[@]}"; do case "$a" in --server | -s | --server=*) K3S_URL=set-by-flag ;; esac; done
  [ -n "${K3S_URL:-}" ] || fatal "an agent needs K3S_URL or --server"
  [ "$K3S_URL" = set-by-flag ] && K3S_URL=''
fi
DATA=/var/lib/rancher/k3s KC=/etc/rancher/k3s/k3s.yaml
for ((i = 1; i < ${#EXEC[@]}; i++)); do
  case "${EXEC[$i]}" in
    --data-dir | -d) DATA=${EXEC[$((i + 1))]} ;;
    --data-dir=*) DATA=${EXEC[$i]#*=} ;;
    --write-kubeconfig | -o) KC=${EXEC[$((i + 1))]} ;;
    --write-kubeconfig=*) KC=${EXEC[$i]#*=} ;;
  esac
done
DATA=${DATA%/}
if [ "$TYPE" = server ]; then SERVICE=k3s UNINSTALL=k3s-uninstall.sh; else SERVICE=k3s-agent UNINSTALL=k3s-agent-uninstall.sh; fi
q() { printf '%q' "$1"; }

mkdir -p "$SYSTEMD_DIR" "$DATA/lab"
# the env file and unit, as the real installer writes them
umask 077
{
  [ -n "${K3S_TOKEN:-}" ] && echo "K3S_TOKEN=$(q "$K3S_TOKEN")"
  [ -n "${K3S_URL:-}" ] && echo "K3S_URL=$(q "$K3S_URL")"
  true
} > "$SYSTEMD_DIR/$SERVICE.service.env"
umask 022
EXECLINE=$(printf '%q ' "$BIN_DIR/k3s" "${EXEC[@]}")
cat > "$SYSTEMD_DIR/$SERVICE.service" << UNIT
[Unit]
Description=Lightweight Kubernetes (lab stand-in)
After=network-online.target

[Service]
Type=exec
EnvironmentFile=-$SYSTEMD_DIR/$SERVICE.service.env
ExecStart=$EXECLINE
KillMode=process
Restart=always

[Install]
WantedBy=multi-user.target
UNIT
printf 'KUBECONFIG=%s\nDATA=%s\n' "$(q "$KC")" "$(q "$DATA")" > "$BIN_DIR/k3s-lab.env"
for l in kubectl crictl ctr; do
  if [ ! -e "$BIN_DIR/$l" ]; then ln -s k3s "$BIN_DIR/$l" && info "Creating $BIN_DIR/$l symlink to k3s"; fi
done

# journalctl: a SHIM, not systemd's. The lab hosts run no systemd or journald, so this serves the one journal
# there is: the k3s / k3s-agent service's output, which the stand-in writes with a time stamp per line to
# <data-dir>/lab/<unit>.log (every component's output, as in K3s's journal). It takes what pi-controller sends:
# -u UNIT, -n N, --no-pager, -o short-iso, -f; lines come out as short-iso does: `TIME HOST UNIT[PID]: MESSAGE`.
cat > "$BIN_DIR/journalctl" << 'SHIM'
#!/usr/bin/env bash
set -euo pipefail
conf="$(dirname "$(readlink -f "$0")")/k3s-lab.env"
DATA=/var/lib/rancher/k3s
# shellcheck disable=SC1090
[ -r "$conf" ] && . "$conf"
unit='' n=10 follow=0
while [ $# -gt 0 ]; do
  case "$1" in
    -u | --unit) unit=$2; shift 2 ;;
    --unit=*) unit=${1#*=}; shift ;;
    -n | --lines) n=$2; shift 2 ;;
    --lines=*) n=${1#*=}; shift ;;
    -o | --output) [ "$2" = short-iso ] || { echo "journalctl (lab shim): only -o short-iso" >&2; exit 1; }; shift 2 ;;
    --no-pager) shift ;;
    -f | --follow) follow=1; shift ;;
    *) echo "journalctl (lab shim): unsupported argument $1" >&2; exit 1 ;;
  esac
done
case "$n" in '' | *[!0-9]*) echo "journalctl (lab shim): bad -n $n" >&2; exit 1 ;; esac
u=${unit%.service}
case "$u" in k3s | k3s-agent) ;; *) u='' ;; esac
log=${DATA%/}/lab/$u.log
if [ -z "$u" ] || [ ! -f "$log" ]; then
  echo "-- No entries --"
  exit 0
fi
pid=$(cat "${DATA%/}/lab/service.pid" 2> /dev/null || echo 0)
# (mawk reads a pipe in blocks unless -W interactive: a followed line would wait for the next few KiB.)
AWK=(awk)
awk -W version 2> /dev/null | grep -q mawk && AWK=(awk -W interactive)
fmt() {
  "${AWK[@]}" -v host="$(hostname)" -v unit="$u" -v pid="$pid" '{
    ts = "-"
    if ($1 ~ /^[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T/) { ts = $1; sub(/^[^ ]* ?/, "") }
    printf "%s %s %s[%s]: %s\n", ts, host, unit, pid, $0
    fflush()
  }'
}
if [ "$follow" = 1 ]; then tail -n "$n" -F "$log" 2> /dev/null | fmt; else tail -n "$n" "$log" | fmt; fi
SHIM
chmod 755 "$BIN_DIR/journalctl"

# systemctl: a SHIM, not systemd's. The lab hosts run no systemd, so this serves the one unit this install made
# ($SERVICE) as far as pi-controller drives it: `start` runs the unit's ExecStart (read from its unit file, with its
# env file) detached, its pid in <data-dir>/lab/service.pid and its output appended to <data-dir>/lab/$SERVICE.log
# (the journal the journalctl shim serves), and returns once it is started (Type=exec); `stop` runs k3s-killall.sh
# (the service's processes and its pods); `restart`; `is-active [--quiet]` (0 and `active` while its pid lives,
# else 3 and `inactive`). `daemon-reload` does nothing (the unit files are read at each start).
# Any other unit with a unit file in the systemd folder (pi-controller's agent unit): start, stop, restart,
# is-active, enable and disable (the multi-user.target.wants link; `--now` starts or stops it too), reading of its
# file: ExecStart (split at spaces: no quoting), RootDirectory (the command runs chrooted there, in a mount
# namespace of its own, as systemd runs it), MountAPIVFS=yes (the host's /proc, /sys and /dev bound into the
# root), BindPaths and BindReadOnlyPaths (SRC[:DST], `-` before an optional source); its pid in
# <data-dir>/lab/units/UNIT.pid, its output in UNIT.log there. Not emulated: Restart=, the other keys.
# A unit with no file: `Unit X.service not found.` and 5, as systemctl says it.
{
  echo '#!/usr/bin/env bash'
  echo "# systemctl (lab shim for the $SERVICE unit, written by the stand-in's install.sh): see install.sh"
  printf 'SERVICE=%s UNIT=%s ENVF=%s L=%s KILLALL=%s SD=%s\n' "$(q "$SERVICE")" "$(q "$SYSTEMD_DIR/$SERVICE.service")" \
    "$(q "$SYSTEMD_DIR/$SERVICE.service.env")" "$(q "$DATA/lab")" "$(q "$BIN_DIR/k3s-killall.sh")" "$(q "$SYSTEMD_DIR")"
  cat << 'SHIM'
set -uo pipefail
op='' unit='' quiet=0 now=0
for a in "$@"; do
  case "$a" in
    -q | --quiet) quiet=1 ;;
    --now) now=1 ;;
    --no-pager | --no-block) ;;
    -*) echo "systemctl (lab shim): unsupported option $a" >&2; exit 1 ;;
    *) if [ -z "$op" ]; then op=$a; elif [ -z "$unit" ]; then unit=$a; else echo "systemctl (lab shim): one unit only" >&2; exit 1; fi ;;
  esac
done
unit=${unit%.service}
[ "$op" = daemon-reload ] && exit 0
[ -n "$op" ] && [ -n "$unit" ] || { echo "systemctl (lab shim): usage: systemctl start|stop|restart|is-active UNIT" >&2; exit 1; }

# Another unit of the systemd folder (see the header).
other() {
  local U="$SD/$unit.service" PF="$L/units/$unit.pid" W="$SD/multi-user.target.wants/$unit.service"
  [ -f "$U" ] || { echo "Unit $unit.service not found." >&2; exit 5; }
  key() { sed -n "s/^$1=//p" "$U" | tail -1; }
  local root
  root=$(key RootDirectory)
  # its pid while that process runs (in its root, when it has one: a reused pid is not taken for it)
  pid() {
    local p
    p=$(cat "$PF" 2> /dev/null) && kill -0 "$p" 2> /dev/null || return 1
    [ -z "$root" ] || [ "$(readlink "/proc/$p/root")" = "$root" ] || return 1
    echo "$p"
  }
  ustart() {
    pid > /dev/null && return 0
    local line specs=() b
    line=$(key ExecStart)
    [ -n "$line" ] || { echo "systemctl (lab shim): no ExecStart in $U" >&2; exit 1; }
    [ "$(key MountAPIVFS)" = yes ] && specs+=(api)
    for b in $(key BindPaths); do specs+=("rw:$b"); done
    for b in $(key BindReadOnlyPaths); do specs+=("ro:$b"); done
    mkdir -p "$L/units"
    rm -f "$PF"
    # shellcheck disable=SC2016 # run by the service's own bash
    local inner='R=$1; shift
      while [ "$1" != -- ]; do
        s=$1; shift
        case $s in
          api) for d in proc sys dev; do mkdir -p "$R/$d" && mount --rbind "/$d" "$R/$d" || exit 1; done ;;
          *) m=${s%%:*} b=${s#*:} opt=0
            case $b in -*) opt=1 b=${b#-} ;; esac
            src=${b%%:*} dst=${b#*:}
            if [ ! -e "$src" ]; then [ "$opt" = 1 ] && continue; echo "bind source $src is missing" >&2; exit 1; fi
            if [ -d "$src" ]; then mkdir -p "$R$dst"; else mkdir -p "$(dirname "$R$dst")" && touch "$R$dst"; fi
            mount --bind "$src" "$R$dst" || exit 1
            if [ "$m" = ro ]; then mount -o remount,bind,ro "$R$dst" || exit 1; fi ;;
        esac
      done
      shift
      exec chroot "$R" "$@"'
    # shellcheck disable=SC2086 # ExecStart split at spaces
    if [ -n "$root" ]; then
      setsid -f bash -c 'echo $$ > "$1"; shift; exec "$@"' svc "$PF" unshare --mount --propagation private \
        bash -c "$inner" inner "$root" "${specs[@]}" -- $line < /dev/null >> "$L/units/$unit.log" 2>&1
    else
      setsid -f bash -c 'echo $$ > "$1"; shift; exec "$@"' svc "$PF" $line < /dev/null >> "$L/units/$unit.log" 2>&1
    fi
    for _ in $(seq 1 100); do [ -s "$PF" ] && return 0; sleep 0.1; done
    echo "systemctl (lab shim): $unit did not start" >&2
    exit 1
  }
  ustop() {
    local p
    if p=$(pid); then
      kill -TERM "$p" 2> /dev/null
      for _ in $(seq 1 50); do kill -0 "$p" 2> /dev/null || break; sleep 0.1; done
      kill -KILL "$p" 2> /dev/null
    fi
    rm -f "$PF"
  }
  case "$op" in
    start) ustart ;;
    stop) ustop ;;
    restart) ustop && ustart ;;
    enable) mkdir -p "$(dirname "$W")" && ln -sfn "$U" "$W" && { [ "$now" = 0 ] || ustart; } ;;
    disable) rm -f "$W" && { [ "$now" = 0 ] || ustop; } ;;
    is-active)
      if pid > /dev/null; then [ "$quiet" = 1 ] || echo active; exit 0; fi
      [ "$quiet" = 1 ] || echo inactive
      exit 3
      ;;
    *) echo "systemctl (lab shim): unsupported command $op" >&2; exit 1 ;;
  esac
  exit 0
}
[ "$unit" = "$SERVICE" ] || other
running() { [ -f "$L/service.pid" ] && kill -0 "$(cat "$L/service.pid" 2> /dev/null)" 2> /dev/null; }
start() {
  running && return 0
  local line
  line=$(sed -n 's/^ExecStart=//p' "$UNIT" | head -1)
  [ -n "$line" ] || { echo "systemctl (lab shim): no ExecStart in $UNIT" >&2; exit 1; }
  # the installer wrote the line with printf %q, as words the shell reads back
  eval "set -- $line"
  rm -f "$L/service.pid"
  mkdir -p "$L"
  set -a
  # shellcheck disable=SC1090
  [ -r "$ENVF" ] && . "$ENVF"
  set +a
  # Detached from the caller's session (setsid -f forks: the service is no child of this shim, the installer or the
  # SSH session that ran them), as systemd runs a unit: a dropped SSH connection that takes its caller down leaves it running.
  setsid -f bash -c 'echo $$ > "$1"; shift; exec "$@"' svc "$L/service.pid" "$@" < /dev/null >> "$L/$SERVICE.log" 2>&1
  for _ in $(seq 1 100); do [ -s "$L/service.pid" ] && return 0; sleep 0.1; done
  echo "systemctl (lab shim): $SERVICE did not start" >&2
  exit 1
}
case "$op" in
  start) start ;;
  stop) "$KILLALL" ;;
  restart) "$KILLALL" && start ;;
  is-active)
    if running; then [ "$quiet" = 1 ] || echo active; exit 0; fi
    [ "$quiet" = 1 ] || echo inactive
    exit 3
    ;;
  *) echo "systemctl (lab shim): unsupported command $op" >&2; exit 1 ;;
esac
SHIM
} > "$BIN_DIR/systemctl"
chmod 755 "$BIN_DIR/systemctl"

cat > "$BIN_DIR/k3s-killall.sh" << KILL
#!/usr/bin/env bash
# Stops every process of the k3s service (lab stand-in), its pods, and removes its cgroups and cni0.
[ "\$(id -u)" -eq 0 ] || exec sudo "\$0" "\$@"
for D in $(q "$DATA"); do
  L=\$D/lab
  # Pid files and the namespace number outlive what they name, and both numbers are reused (pids wrap at
  # 32768 on a busy machine; a freed mount namespace's number goes to the next one made): a number is only
  # taken as this service's while its process runs this install's files (its data dir or its k3s binary in
  # the command line), so that a stale file never makes this kill another host's sshd or another lab's service.
  # (The binary as a whole word: this script's own path, and the uninstall scripts', begin with it.)
  mine() {
    [ "\$1" != "\$\$" ] && [ "\$1" != "\$PPID" ] && tr '\\0' ' ' < "/proc/\$1/cmdline" 2> /dev/null | grep -qF -e "\$D" -e $(q "$BIN_DIR/k3s ")
  }
  p=\$(cat "\$L/supervisor.pid" 2> /dev/null) && mine "\$p" && kill -TERM "\$p" 2> /dev/null
  ns=\$(cat "\$L/mntns" 2> /dev/null) cg=\$(cat "\$L/cgroup" 2> /dev/null)
  # the service's processes: those in its mount namespace, and the pods' in its cgroups (one scan each)
  ours() {
    if [ -n "\$ns" ]; then
      in_ns=\$(stat -L -c '%n %i' /proc/[0-9]*/ns/mnt 2> /dev/null | awk -v i="\$ns" '\$2 == i {split(\$1, a, "/"); print a[3]}')
      for p in \$in_ns; do if mine "\$p"; then echo "\$in_ns"; break; fi; done
    fi
    [ -n "\$cg" ] && grep -l -E ":\$cg(/|\$)" /proc/[0-9]*/cgroup 2> /dev/null | cut -d/ -f3
    p=\$(cat "\$L/service.pid" 2> /dev/null) && mine "\$p" && echo "\$p"
    true
  }
  for i in \$(seq 1 60); do [ -z "\$(ours)" ] && break; sleep 0.25; done
  for p in \$(ours); do kill -KILL "\$p" 2> /dev/null; done
  for i in \$(seq 1 40); do [ -z "\$(ours)" ] && break; sleep 0.25; done
  if [ -n "\$cg" ]; then
    unshare --mount --propagation private sh -c '
      mount -t tmpfs cgroup /sys/fs/cgroup
      awk "\\\$3 == \\"cgroup\\" {print \\\$2, \\\$4}" /proc/1/mounts | while read -r p o; do mkdir -p "\$p"; mount -t cgroup -o "\$o" cgroup "\$p"; done
      for h in /sys/fs/cgroup/*"\$1"; do [ -d "\$h" ] && find "\$h" -depth -type d -exec rmdir {} \; 2> /dev/null; done
      true' sh "\$cg"
  fi
  rm -f "\$L/service.pid" "\$L/supervisor.pid" "\$L/mntns"
done
ip link del cni0 2> /dev/null
true
KILL
chmod 755 "$BIN_DIR/k3s-killall.sh"

cat > "$BIN_DIR/$UNINSTALL" << UN
#!/usr/bin/env bash
# Uninstalls the k3s service (lab stand-in): stops everything, then removes its files.
[ "\$(id -u)" -eq 0 ] || exec sudo "\$0" "\$@"
$(q "$BIN_DIR/k3s-killall.sh")
rm -f $(q "$SYSTEMD_DIR/$SERVICE.service") $(q "$SYSTEMD_DIR/$SERVICE.service.env")
for l in kubectl crictl ctr; do [ "\$(readlink $(q "$BIN_DIR")/\$l)" = k3s ] && rm -f $(q "$BIN_DIR")/\$l; done
rm -rf $(q "$DATA") $(q "$(dirname "$KC")")
rm -f $(q "$BIN_DIR/k3s") $(q "$BIN_DIR/journalctl") $(q "$BIN_DIR/systemctl") $(q "$BIN_DIR/k3s-lab.env") $(q "$BIN_DIR/k3s-killall.sh") $(q "$BIN_DIR/$UNINSTALL")
echo "k3s uninstalled"
UN
chmod 755 "$BIN_DIR/$UNINSTALL"

# (re)start the service
if [ -f "$DATA/lab/service.pid" ] && kill -0 "$(cat "$DATA/lab/service.pid")" 2> /dev/null; then
  info "Restarting $SERVICE"
  "$BIN_DIR/k3s-killall.sh"
fi
info "Starting $SERVICE"
rm -f "$DATA/lab/service.pid"
"$BIN_DIR/systemctl" start "$SERVICE"
deadline=$(($(date +%s) + ${INSTALL_K3S_LAB_WAIT:-300}))
up() {
  if [ "$TYPE" = server ]; then
    [ -s "$DATA/server/node-token" ] && [ -s "$KC" ] && /usr/bin/kubectl --kubeconfig "$KC" --request-timeout=5s get --raw /readyz > /dev/null 2>&1
  else
    [ -f "$DATA/lab/pids/kubelet.pid" ] && kill -0 "$(cat "$DATA/lab/pids/kubelet.pid")" 2> /dev/null
  fi
}
until up; do
  if ! { [ -f "$DATA/lab/service.pid" ] && kill -0 "$(cat "$DATA/lab/service.pid")" 2> /dev/null; }; then
    tail -20 "$DATA/lab/$SERVICE.log" >&2
    fatal "$SERVICE exited"
  fi
  if [ "$(date +%s)" -ge "$deadline" ]; then
    tail -20 "$DATA/lab/$SERVICE.log" >&2
    fatal "$SERVICE not up within ${INSTALL_K3S_LAB_WAIT:-300} s"
  fi
  sleep 1
done
info "$SERVICE is up"
