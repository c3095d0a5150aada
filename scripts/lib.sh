# Shared shell helpers for the setup, build and test scripts. Sourced, never run.

# apt_need PKG...: install the Debian packages that are missing. Needs root; says so plainly.
apt_need() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "pi-controller test setup: the Debian packages ${missing[*]} are missing and installing them needs root." >&2
    echo "Run 'npm test' as root once (or: sudo apt-get install ${missing[*]})." >&2
    return 1
  fi
  echo "setup: apt-get install ${missing[*]}" >&2
  if [ -z "${_PC_APT_UPDATED:-}" ]; then
    apt-get -o DPkg::Lock::Timeout=600 update -qq >&2
    export _PC_APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# cache_dir: where test rigs keep what they download or build (outside the repo).
cache_dir() {
  local d="${PI_CONTROLLER_CACHE:-/var/cache/pi-controller}"
  if ! mkdir -p "$d" 2>/dev/null; then d="${XDG_CACHE_HOME:-$HOME/.cache}/pi-controller"; mkdir -p "$d"; fi
  echo "$d"
}
