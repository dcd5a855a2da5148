#!/usr/bin/env bash
# Build the Linux one-folder app with PyInstaller and pack it as a tarball.
#
#   packaging/build_linux.sh [--venv DIR] [--torch-index URL] [--clean] [--no-tar]
#                            [--no-weights]
#
#   --venv DIR         create (or reuse) a virtual environment in DIR and build there;
#                      default: build with the current Python ($PYTHON or python3).
#   --torch-index URL  install torch/torchvision from this index first, e.g.
#                      https://download.pytorch.org/whl/cpu for a CPU-only bundle (~3 GB
#                      smaller: no nvidia-* CUDA libraries) or .../whl/cu130 for CUDA.
#                      Default: the torch already installed (PyPI's Linux torch is a CUDA build).
#   --clean            drop PyInstaller's cache (build/pyinstaller) first.
#   --no-tar           build the folder only (dist/vision-studio/), skip the tarball.
#   --no-weights       do not fetch and ship the curated pretrained weights
#                      (docs/weights.md; fetched into build/weights, ~180 MB).
#
# Output: dist/vision-studio/ (vision-studio = GUI, vision-studio-cli = command line,
# vision-studio.desktop, vision-studio.png, install-desktop-entry.sh) and
# dist/vision-studio-<version>-linux-x86_64.tar.gz. An AppImage is made too when
# `appimagetool` is on PATH (it is in none of the registries this project can use).
# Builds run under `nice -n 10`; the script prints build time and bundle size.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

PY="${PYTHON:-python3}"
VENV="" TORCH_INDEX="" CLEAN="" TAR=1 WEIGHTS=1
TORCH_PIN="${TORCH_PIN:-torch==2.14.1 torchvision==0.29.1}"
while [ $# -gt 0 ]; do
  case "$1" in
    --venv) VENV="$2"; shift 2 ;;
    --torch-index) TORCH_INDEX="$2"; shift 2 ;;
    --clean) CLEAN=1; shift ;;
    --no-tar) TAR=""; shift ;;
    --no-weights) WEIGHTS=""; shift ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
  esac
done

log() { printf '[build_linux] %s\n' "$*"; }

# 1. Python environment: the package (editable: PyInstaller analyses the checkout) + PyInstaller.
if [ -n "$VENV" ]; then
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
  PY="$VENV/bin/python"
  "$PY" -m pip install -q --upgrade pip
fi
if [ -n "$TORCH_INDEX" ]; then
  # shellcheck disable=SC2086  # the pin is a list of requirements
  "$PY" -m pip install -q $TORCH_PIN --index-url "$TORCH_INDEX"
fi
# Skip pip when this checkout is already importable with PyInstaller (a shared dev env).
if "$PY" - "$ROOT" <<'PYEOF' 2>/dev/null; then
import sys, pathlib, PyInstaller, vision_studio
sys.exit(0 if pathlib.Path(vision_studio.__file__).resolve().is_relative_to(sys.argv[1]) else 1)
PYEOF
  log "vision_studio (this checkout) and PyInstaller already installed"
else
  "$PY" -m pip install -q -e ".[package]"
fi
VERSION="$("$PY" -c 'import vision_studio; print(vision_studio.__version__)')"
log "vision-studio $VERSION, $("$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)')"

# 1b. The curated pretrained weights, shipped as vision_studio/weights by the spec.
if [ -n "$WEIGHTS" ]; then
  "$PY" -m vision_studio.commands.fetch_weights fetch build/weights
fi
# 2. The icon files are generated (Pillow); regenerate if missing.
[ -f vision_studio/resources/icon.png ] || "$PY" packaging/make_icons.py

# 3. PyInstaller one-folder build.
[ -n "$CLEAN" ] && rm -rf build/pyinstaller
rm -rf dist/vision-studio
T0=$(date +%s)
nice -n 10 "$PY" -m PyInstaller --noconfirm --log-level WARN \
  --distpath dist --workpath build/pyinstaller packaging/vision_studio.spec
T1=$(date +%s)
APP="dist/vision-studio"
install -m 644 packaging/vision-studio.desktop "$APP/vision-studio.desktop"
install -m 644 vision_studio/resources/icon.png "$APP/vision-studio.png"
install -m 755 packaging/linux/install-desktop-entry.sh "$APP/install-desktop-entry.sh"
log "build time: $((T1 - T0)) s"
log "bundle size: $(du -sh "$APP" | cut -f1) ($(du -sb "$APP" | cut -f1) bytes)"
NV="$APP/_internal/nvidia"
[ -d "$NV" ] && log "of which CUDA libraries (_internal/nvidia): $(du -sh "$NV" | cut -f1)"

# 4. Tarball: vision-studio-<version>/ at the top.
if [ -n "$TAR" ]; then
  TARBALL="dist/vision-studio-$VERSION-linux-x86_64.tar.gz"
  T2=$(date +%s)
  nice -n 10 tar -C dist --transform "s,^vision-studio,vision-studio-$VERSION," \
    -cf - vision-studio | nice -n 10 gzip -"${VS_GZIP_LEVEL:-6}" > "$TARBALL"
  log "tarball: $TARBALL $(du -sh "$TARBALL" | cut -f1) in $(( $(date +%s) - T2 )) s"
fi

# 5. AppImage, only when appimagetool is available (not packaged by Debian/PyPI/npm).
if command -v appimagetool >/dev/null 2>&1; then
  APPDIR="build/AppDir"
  rm -rf "$APPDIR" && mkdir -p "$APPDIR/usr"
  cp -a "$APP" "$APPDIR/usr/vision-studio"
  cp packaging/vision-studio.desktop "$APPDIR/vision-studio.desktop"
  cp vision_studio/resources/icon.png "$APPDIR/vision-studio.png"
  # shellcheck disable=SC2016  # $0 and $@ are for AppRun to expand, not this script
  printf '#!/bin/sh\nexec "$(dirname "$(readlink -f "$0")")/usr/vision-studio/vision-studio" "$@"\n' \
    > "$APPDIR/AppRun" && chmod 755 "$APPDIR/AppRun"
  ARCH=x86_64 nice -n 10 appimagetool "$APPDIR" "dist/vision-studio-$VERSION-x86_64.AppImage"
else
  log "AppImage skipped: appimagetool is not installed (not available from Debian/PyPI/npm here)"
fi
log "done: $APP/vision-studio (GUI), $APP/vision-studio-cli (command line)"
