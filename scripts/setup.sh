#!/usr/bin/env bash
# The one set-up step: npm ci, the build, and a WebGPU adapter for Dawn.
# Without any adapter on a machine with no GPU, it installs Mesa's lavapipe (Vulkan on the CPU) when it may
# (root with apt-get), from bookworm-backports on Debian 12 whose own Mesa is too old for Dawn; otherwise it
# prints exactly what to run. With an NVIDIA or AMD GPU whose driver does not load it names what is missing
# instead, since a software driver would hide a broken GPU set-up behind a 100x slower one.
#
# For tests, these replace parts of the machine: CGH_SETUP_ROOT (a folder standing for /, read for
# /etc/os-release, /proc/driver/nvidia, /sys/class/drm, /sys/bus/pci, the library folders and Vulkan ICD files, and written
# for the apt source), CGH_SETUP_APT_GET and CGH_SETUP_NPM (commands run instead of apt-get and npm),
# CGH_SETUP_UID (the user id deciding whether packages may be installed).
set -euo pipefail
cd "$(dirname "$0")/.."

ROOT=${CGH_SETUP_ROOT:-}
APT_GET=${CGH_SETUP_APT_GET:-apt-get}
NPM=${CGH_SETUP_NPM:-npm}
USER_ID=${CGH_SETUP_UID:-$(id -u)}
BACKPORTS_LINE='deb http://deb.debian.org/debian bookworm-backports main'
BACKPORTS_FILE=/etc/apt/sources.list.d/bookworm-backports.list

say() { printf 'setup: %s\n' "$*"; }
fail() { printf 'setup: %s\n' "$*" >&2; exit 1; }

probe() { node scripts/probe-adapter.mjs; }

os_field() { # a field of os-release, empty when absent
  local file="$ROOT/etc/os-release"
  [ -r "$file" ] || return 0
  sed -n "s/^$1=//p" "$file" | tr -d '"' | head -n 1
}

# GPU vendors present, from the loaded NVIDIA kernel driver, the DRM devices, the PCI display controllers and (on the
# real machine) lspci.
gpu_vendors() {
  local found="" v
  [ -e "$ROOT/proc/driver/nvidia" ] && found="nvidia"
  for v in "$ROOT"/sys/class/drm/*/device/vendor; do
    [ -r "$v" ] || continue
    case "$(cat "$v")" in
      0x10de) found="$found nvidia" ;;
      0x1002) found="$found amd" ;;
    esac
  done
  for v in "$ROOT"/sys/bus/pci/devices/*; do # display controllers (class 0x03...), listed even without a driver
    case "$(cat "$v/class" 2>/dev/null)" in
      0x03*) case "$(cat "$v/vendor" 2>/dev/null)" in 0x10de) found="$found nvidia" ;; 0x1002) found="$found amd" ;; esac ;;
    esac
  done
  if [ -z "$ROOT" ] && command -v lspci >/dev/null 2>&1; then
    local vga
    vga=$(lspci 2>/dev/null | grep -Ei 'vga|3d controller|display controller' || true)
    echo "$vga" | grep -qi nvidia && found="$found nvidia"
    echo "$vga" | grep -Eqi 'amd|ati technologies|radeon' && found="$found amd"
  fi
  echo "$found" | tr ' ' '\n' | sort -u | tr '\n' ' ' | sed 's/ *$//; s/^ *//'
}

has_lib() { # a shared library in one of the usual folders
  local d
  for d in "$ROOT"/usr/lib "$ROOT"/usr/lib64 "$ROOT"/lib "$ROOT"/lib64 "$ROOT"/usr/lib/*-linux-gnu "$ROOT"/lib/*-linux-gnu; do
    [ -e "$d/$1" ] && return 0
  done
  return 1
}

has_icd() { # a Vulkan driver manifest whose name matches
  local f
  for f in "$ROOT"/usr/share/vulkan/icd.d/* "$ROOT"/etc/vulkan/icd.d/*; do
    [ -e "$f" ] && case "$(basename "$f")" in $1) return 0 ;; esac
  done
  return 1
}

# On a GPU machine: say what keeps its Vulkan driver from loading, and stop.
explain_gpu() {
  local vendors=$1 missing=()
  has_lib libvulkan.so.1 || missing+=("the Vulkan loader (Debian: apt-get install libvulkan1)")
  if [[ $vendors == *nvidia* ]]; then
    has_lib libGLdispatch.so.0 || missing+=("libglvnd, which NVIDIA's driver needs (Debian: apt-get install libglvnd0)")
    has_lib libEGL.so.1 || missing+=("libEGL from libglvnd (Debian: apt-get install libegl1)")
    has_lib libGLX.so.0 || missing+=("libGLX from libglvnd (Debian: apt-get install libglx0)")
    has_icd 'nvidia_icd*.json' || missing+=("NVIDIA's Vulkan manifest nvidia_icd.json (install the NVIDIA driver's Vulkan part, Debian: nvidia-vulkan-icd)")
    [ -e "$ROOT/proc/driver/nvidia" ] || missing+=("the NVIDIA kernel driver (no /proc/driver/nvidia: install it and reboot, or load it with modprobe nvidia)")
  fi
  if [[ $vendors == *amd* ]]; then
    has_icd 'radeon_icd*.json' || missing+=("the AMD Vulkan driver RADV (Debian: apt-get install mesa-vulkan-drivers)")
  fi
  local what=${vendors// / and }
  if [ ${#missing[@]} -eq 0 ]; then
    fail "this machine has a GPU ($what) but Dawn finds no WebGPU adapter, though the Vulkan loader and driver files are present; run vulkaninfo --summary (Debian: vulkan-tools) to see why the driver does not load"
  fi
  printf 'setup: this machine has a GPU (%s) but Dawn finds no WebGPU adapter; missing:\n' "$what" >&2
  printf '  - %s\n' "${missing[@]}" >&2
  exit 1
}

# On a machine without a GPU: Mesa's lavapipe, installed here when allowed, else the commands to run.
install_lavapipe() {
  local id version commands=()
  id=$(os_field ID)
  version=$(os_field VERSION_ID)
  local sudo=''
  [ "$USER_ID" = 0 ] || sudo='sudo '
  if [ "$id" = debian ] && [ "$version" = 12 ]; then
    commands=("echo '$BACKPORTS_LINE' | ${sudo}tee $BACKPORTS_FILE" "${sudo}apt-get update" "${sudo}apt-get install -y -t bookworm-backports mesa-vulkan-drivers")
  elif [ "$id" = debian ] || [ "$id" = ubuntu ]; then
    commands=("${sudo}apt-get update" "${sudo}apt-get install -y mesa-vulkan-drivers")
  else
    fail "no WebGPU adapter and no GPU found; install Mesa's Vulkan software driver lavapipe (Mesa 24 or later; often packaged as mesa-vulkan-drivers or vulkan-swrast), then run this script again"
  fi
  if [ "$USER_ID" != 0 ] || ! command -v "$APT_GET" >/dev/null 2>&1; then
    echo "setup: no WebGPU adapter and no GPU found, and this script installs packages only as root with apt-get; run these, then bash scripts/setup.sh again:" >&2
    printf '  %s\n' "${commands[@]}" >&2
    exit 1
  fi
  say "no WebGPU adapter and no GPU found; installing Mesa's lavapipe (software Vulkan) with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  if [ "$id" = debian ] && [ "$version" = 12 ]; then
    mkdir -p "$ROOT$(dirname "$BACKPORTS_FILE")"
    grep -qsF "$BACKPORTS_LINE" "$ROOT$BACKPORTS_FILE" || echo "$BACKPORTS_LINE" > "$ROOT$BACKPORTS_FILE"
    "$APT_GET" update -q
    "$APT_GET" install -y -q --no-install-recommends -t bookworm-backports mesa-vulkan-drivers
  else
    "$APT_GET" update -q
    "$APT_GET" install -y -q --no-install-recommends mesa-vulkan-drivers
  fi
}

say "installing the npm dependencies (npm ci)"
"$NPM" ci --no-audit --no-fund
say "building (npm run build)"
"$NPM" run build

if probe; then say "ready"; exit 0; fi
vendors=$(gpu_vendors)
[ -n "$vendors" ] && explain_gpu "$vendors"
install_lavapipe
probe || fail "Mesa's lavapipe is installed but Dawn still finds no WebGPU adapter; run vulkaninfo --summary (Debian: vulkan-tools) to see why"
say "ready"
