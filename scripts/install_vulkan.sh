#!/usr/bin/env bash
# Make a Vulkan device available to SAPIEN.
# - An NVIDIA driver present: use the GPU, install nothing.
# - Debian 12: Mesa's lavapipe (CPU Vulkan) from bookworm-backports; the stock Mesa 22 fails
#   SAPIEN's device creation (ErrorFeatureNotPresent), Mesa 25 works, ray tracing included.
# - Ubuntu / newer Debian: the distribution's mesa-vulkan-drivers.
# Prints the line to export: VK_ICD_FILENAMES=/usr/share/vulkan/icd.d/lvp_icd.json
set -euo pipefail

if [ -e /proc/driver/nvidia/version ] || command -v nvidia-smi >/dev/null 2>&1; then
  echo "vulkan: NVIDIA driver found; SAPIEN will use the GPU"
  exit 0
fi
ICD=/usr/share/vulkan/icd.d/lvp_icd.json
mesa_major() { dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null | sed -E 's/^[0-9]+://; s/\..*//'; }
if [ -f "$ICD" ] && [ "$(mesa_major || echo 0)" -ge 25 ] 2>/dev/null; then
  echo "vulkan: lavapipe (Mesa $(mesa_major)) already installed: $ICD"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "vulkan: no apt-get here; install Mesa >= 25 lavapipe (mesa-vulkan-drivers) or a GPU driver yourself" >&2
  exit 1
fi
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo -E"
. /etc/os-release
if [ "${ID:-}" = debian ] && [ "${VERSION_CODENAME:-}" = bookworm ]; then
  if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
    echo "deb http://deb.debian.org/debian bookworm-backports main" | $SUDO tee /etc/apt/sources.list.d/bookworm-backports.list >/dev/null
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1 >/dev/null
else
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq mesa-vulkan-drivers libvulkan1 >/dev/null
fi
echo "vulkan: installed lavapipe (Mesa $(mesa_major)): export VK_ICD_FILENAMES=$ICD"
