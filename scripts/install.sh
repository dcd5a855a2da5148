#!/usr/bin/env bash
# Set up Vision Studio from this checkout in a virtual environment (PEP 668 safe).
#
#   bash scripts/install.sh [--venv DIR] [--upgrade] [--torch-index URL] [--no-system-libs]
#                           [--no-weights]
#
#   PYTHON=/usr/bin/python3   interpreter that creates the environment (default: python3)
#   VENV=DIR / --venv DIR     where (default: .venv in the checkout)
#   --upgrade                 update the dependencies to the newest allowed versions
#   --torch-index URL         take torch/torchvision from this index (e.g. a CUDA one)
#   --no-system-libs          skip the Debian libraries step
#   --no-weights              skip the pretrained weights step
#   WEIGHTS_DIR=DIR           where the weights go (default: <user data folder>/weights)
#
# Steps: (1) the Debian libraries Qt needs (skipped with a note when neither root nor
# sudo is available), (2) the virtual environment, (3) the pinned torch/torchvision pair,
# (4) this package, editable, with its dev extras, (5) the curated ImageNet weights
# (docs/weights.md, ~180 MB; offline this step only warns). A second run with nothing changed
# only checks and exits (a stamp in the environment records what was installed).
# Afterwards, nothing needs activating: .venv/bin/vision-studio, .venv/bin/python.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SCRIPT="$ROOT/scripts/install.sh"
cd "$ROOT"

TORCH_PIN="torch==2.14.1"
TORCHVISION_PIN="torchvision==0.29.1"
SAHI_PIN="sahi==0.12.8"  # sliced inference (installed with --no-deps: see pyproject.toml)
CPU_INDEX="https://download.pytorch.org/whl/cpu"
DEBIAN_PACKAGES=(libgl1 libegl1 libglib2.0-0 libfontconfig1 libdbus-1-3 libxkbcommon0
  libxkbcommon-x11-0 libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0 libxcb-image0
  libxcb-render-util0 libxcb-shape0 libxcb-randr0 libxcb-xinerama0 fonts-dejavu-core
  xvfb xauth)

PY="${PYTHON:-python3}"
VENV="${VENV:-$ROOT/.venv}"
UPGRADE=0
TORCH_INDEX=""
SYSTEM_LIBS=1
WEIGHTS=1
export PIP_DISABLE_PIP_VERSION_CHECK=1

say() { printf '[install] %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

while [ $# -gt 0 ]; do
  case "$1" in
    --venv) [ $# -ge 2 ] || die "--venv needs a folder"; VENV="$2"; shift 2 ;;
    --venv=*) VENV="${1#--venv=}"; shift ;;
    --upgrade) UPGRADE=1; shift ;;
    --torch-index) [ $# -ge 2 ] || die "--torch-index needs a URL"; TORCH_INDEX="$2"; shift 2 ;;
    --no-system-libs) SYSTEM_LIBS=0; shift ;;
    --no-weights) WEIGHTS=0; shift ;;
    -h|--help) sed -n '2,20p' "$SCRIPT" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done
case "$VENV" in /*) ;; *) VENV="$PWD/$VENV" ;; esac

# How to run a command as root: "" when we are root, "sudo" when it works without a
# prompt or can ask on a terminal, "none" otherwise.
root_cmd() {
  if [ "$(id -u)" -eq 0 ]; then echo ""
  elif command -v sudo >/dev/null 2>&1 && { sudo -n true 2>/dev/null || [ -t 0 ]; }; then echo "sudo"
  else echo "none"; fi
}

apt_install() {  # apt_install WHY PACKAGE...: install with apt-get, or explain and return 1
  local why="$1"; shift
  local line="apt-get update && apt-get install -y $*"
  local as; as="$(root_cmd)"
  if [ "$as" = "none" ]; then
    say "$why: missing $*; without root or sudo this step is skipped. Run as root:"
    say "  $line"
    return 1
  fi
  say "$why: installing $* ($as apt-get)"
  $as env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $as env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

system_libs() {
  if [ "$SYSTEM_LIBS" -eq 0 ]; then say "system libraries: skipped (--no-system-libs)"; return; fi
  if ! command -v dpkg >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
    say "system libraries: not a Debian/Ubuntu system; make sure Qt's xcb/EGL libraries are installed"
    return
  fi
  local need=() p
  for p in "${DEBIAN_PACKAGES[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
  done
  if [ ${#need[@]} -eq 0 ]; then say "system libraries: all ${#DEBIAN_PACKAGES[@]} present"; return; fi
  apt_install "system libraries" "${need[@]}" || say "(the app may not start until they are installed)"
}

make_venv() {
  command -v "$PY" >/dev/null 2>&1 || die "PYTHON=$PY: no such interpreter"
  "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
    || die "PYTHON=$PY is Python $("$PY" -c 'import platform; print(platform.python_version())'); Vision Studio needs 3.10 or newer"
  local base; base="$("$PY" -c 'import os, sys; print(os.path.realpath(sys.executable))')"
  if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import pip' >/dev/null 2>&1; then
    local made_with; made_with="$("$VENV/bin/python" -c 'import os, sys; print(os.path.realpath(getattr(sys, "_base_executable", sys.executable)))')"
    if [ -n "${PYTHON:-}" ] && [ "$made_with" != "$base" ]; then
      die "$VENV was made with $made_with, not PYTHON=$PYTHON ($base): remove it (rm -rf '$VENV') or pass --venv DIR"
    fi
    say "virtual environment: $VENV (exists, made with $made_with)"
    return
  fi
  if ! "$PY" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    local ver pkg; ver="$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
    pkg="python$ver-venv"
    case "$base" in
      /usr/bin/*) apt_install "venv support for $base" "$pkg" \
                    || die "$base cannot create virtual environments without $pkg (see the apt-get line above)" ;;
      *) die "$base cannot create virtual environments (no venv/ensurepip module); use another PYTHON=" ;;
    esac
  fi
  say "virtual environment: creating $VENV with $base"
  rm -rf "$VENV"
  "$PY" -m venv "$VENV" || die "'$PY -m venv $VENV' failed"
}

# What the stamp certifies: the project's metadata, the pins, the checkout and this script.
stamp_value() {
  { cat pyproject.toml "$SCRIPT"; echo "$TORCH_PIN $TORCHVISION_PIN $TORCH_INDEX $ROOT"; } \
    | "$VENV/bin/python" -c 'import hashlib, sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())'
}

# Exit 0 when the environment holds the pinned pair and this checkout's package.
installed_ok() {
  "$VENV/bin/python" -I - "$ROOT" "$TORCH_PIN" "$TORCHVISION_PIN" <<'EOF' >/dev/null 2>&1
import importlib.metadata as md, importlib.util, os, sys
root, *pins = sys.argv[1:]
for pin in pins:
    name, want = pin.split("==")
    if md.version(name).split("+")[0] != want:
        sys.exit(1)
spec = importlib.util.find_spec("vision_studio")
sys.exit(0 if spec and os.path.realpath(spec.origin).startswith(os.path.realpath(root) + os.sep) else 1)
EOF
}

torch_pair_installed() {
  "$VENV/bin/python" -I - "$TORCH_PIN" "$TORCHVISION_PIN" <<'EOF' >/dev/null 2>&1
import importlib.metadata as md, sys
sys.exit(any(md.version(p.split("==")[0]).split("+")[0] != p.split("==")[1] for p in sys.argv[1:]))
EOF
}

install_torch() {
  local pip=("$VENV/bin/python" -m pip install -q)
  if torch_pair_installed; then say "torch pair: $TORCH_PIN $TORCHVISION_PIN already installed"; return; fi
  if [ -n "$TORCH_INDEX" ]; then
    say "torch pair: from $TORCH_INDEX"
    "${pip[@]}" --index-url "$TORCH_INDEX" "$TORCH_PIN" "$TORCHVISION_PIN" \
      || die "pip could not install $TORCH_PIN $TORCHVISION_PIN from $TORCH_INDEX"
    return
  fi
  if ! command -v nvidia-smi >/dev/null 2>&1; then
    # No NVIDIA GPU: the CPU wheels are far smaller (~0.2 GB, not ~4 GB with CUDA). Probe the index first (5 s at
    # most, 10 s with a slow DNS) so an unreachable index costs seconds, not pip's retries.
    local probe=("$VENV/bin/python" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + "/torch/", timeout=5)' "$CPU_INDEX")
    command -v timeout >/dev/null 2>&1 && probe=(timeout 10 "${probe[@]}")  # a slow DNS too
    if "${probe[@]}" >/dev/null 2>&1; then
      say "torch pair: no NVIDIA GPU, trying the CPU wheels ($CPU_INDEX)"
      if "${pip[@]}" --timeout 15 --index-url "$CPU_INDEX" "$TORCH_PIN" "$TORCHVISION_PIN"; then return; fi
      say "torch pair: the CPU index failed; falling back to PyPI"
    else
      say "torch pair: no NVIDIA GPU, but $CPU_INDEX is unreachable; using PyPI's wheels"
    fi
  fi
  # PyPI's pair (its torchvision only imports with the torch it was built for).
  say "torch pair: $TORCH_PIN $TORCHVISION_PIN from PyPI"
  "${pip[@]}" "$TORCH_PIN" "$TORCHVISION_PIN" || die "pip could not install $TORCH_PIN $TORCHVISION_PIN"
}

install_package() {
  local constraints="$VENV/.vision-studio-torch-pins.txt"
  printf '%s\n%s\n' "$TORCH_PIN" "$TORCHVISION_PIN" >"$constraints"
  local up=()
  [ "$UPGRADE" -eq 1 ] && up=(--upgrade --upgrade-strategy eager)
  say "package: vision-studio (editable, with dev extras)${up:+, upgrading dependencies}"
  "$VENV/bin/python" -m pip install -q "${up[@]}" -c "$constraints" -e "$ROOT[dev]" \
    || die "pip could not install this package (see pip's messages above)"
  # sliced inference: sahi without its declared opencv-python (see pyproject.toml)
  "$VENV/bin/python" -m pip install -q --no-deps "$SAHI_PIN" || die "pip could not install $SAHI_PIN"
}

fetch_weights() {
  # The curated pretrained weights (docs/weights.md), so that transfer learning works
  # offline from the first run; the app finds them by itself. Offline: a warning only.
  [ "$WEIGHTS" -eq 1 ] || { say "weights: skipped (--no-weights)"; return 0; }
  say "weights: the curated ImageNet set (docs/weights.md)"
  "$VENV/bin/python" -m vision_studio.commands.fetch_weights fetch ${WEIGHTS_DIR:+"$WEIGHTS_DIR"} \
    || say "warning: some pretrained weights could not be fetched (offline?); rerun this script later, or train with weights files of your own"
}

report() {
  "$VENV/bin/python" -I - <<'EOF'
import importlib.util, torch, torchvision
print(f"[install] torch {torch.__version__} / torchvision {torchvision.__version__}; "
      f"CUDA usable: {torch.cuda.is_available()}"
      + (f" ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else "")
      + f"; CUDA build: {torch.version.cuda or 'none (CPU build)'}")
print(f"[install] vision_studio from {importlib.util.find_spec('vision_studio').origin}")
EOF
}

main() {
  local t0=$SECONDS
  system_libs
  make_venv
  local stamp="$VENV/.vision-studio-install"
  if [ "$UPGRADE" -eq 0 ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$(stamp_value)" ] && installed_ok; then
    say "up to date: nothing to install (--upgrade updates the dependencies)"
  else
    rm -f "$stamp"
    "$VENV/bin/python" -m pip --version >/dev/null || die "pip does not run in $VENV"
    install_torch
    install_package
    installed_ok || die "the installed environment does not hold the pinned torch pair and this checkout's package"
    stamp_value >"$stamp"
  fi
  fetch_weights
  report
  local rel="$VENV"; case "$VENV" in "$PWD"/*) rel="${VENV#"$PWD"/}" ;; esac
  say "done in $((SECONDS - t0)) s. Nothing to activate: $rel/bin/vision-studio demo, $rel/bin/python -m pytest -q"
}

main
