#!/usr/bin/env bash
# Add Vision Studio to the desktop's application menu for the current user.
# Run from the unpacked folder: ./install-desktop-entry.sh   (undo: --remove)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
APPS="${XDG_DATA_HOME:-$HOME/.local/share}/applications"
ICONS="${XDG_DATA_HOME:-$HOME/.local/share}/icons/hicolor/256x256/apps"
if [ "${1:-}" = "--remove" ]; then
  rm -f "$APPS/vision-studio.desktop" "$ICONS/vision-studio.png"
  echo "removed the menu entry"; exit 0
fi
mkdir -p "$APPS" "$ICONS"
install -m 644 "$HERE/vision-studio.png" "$ICONS/vision-studio.png"
# Desktop files need absolute paths: point Exec/TryExec at this folder.
sed -e "s|^Exec=vision-studio|Exec=\"$HERE/vision-studio\"|" \
    -e "s|^TryExec=vision-studio|TryExec=$HERE/vision-studio|" \
    "$HERE/vision-studio.desktop" > "$APPS/vision-studio.desktop"
if command -v update-desktop-database >/dev/null 2>&1; then
  update-desktop-database -q "$APPS" || true  # a menu cache refresh failing is harmless
fi
echo "installed $APPS/vision-studio.desktop"
