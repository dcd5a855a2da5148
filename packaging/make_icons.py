"""Draw the app icon: ``vision_studio/resources/icon.{svg,png,ico}``.

A rounded dark-blue tile with an orange bounding box (four corner brackets) around a
white lens aperture: labelling + vision in one glyph. The PNG and ICO are drawn with
Pillow at 4x and downsampled (anti-aliasing); the SVG has the same geometry on a
256-unit canvas. Run ``python packaging/make_icons.py`` after changing the design.
"""
from __future__ import annotations

import math
from pathlib import Path

from PIL import Image, ImageDraw

OUT = Path(__file__).resolve().parent.parent / "vision_studio" / "resources"
BG, BOX, LENS, PUPIL = "#1c3f66", "#f5a623", "#ffffff", "#1c3f66"
SIZE = 256


def _geometry() -> dict:
    """All shapes on a 256-unit canvas."""
    return {
        "tile": (8, 8, 248, 248, 44),                # x0, y0, x1, y1, corner radius
        "brackets": (52, 52, 204, 204, 44, 14),      # box x0, y0, x1, y1, arm length, width
        "lens": (128, 128, 50, 12),                  # cx, cy, radius, ring width
        "pupil": (128, 128, 22),                     # cx, cy, radius
    }


def _bracket_lines(x0: float, y0: float, x1: float, y1: float, arm: float) -> list:
    return [((x0, y0 + arm), (x0, y0), (x0 + arm, y0)), ((x1 - arm, y0), (x1, y0), (x1, y0 + arm)),
            ((x1, y1 - arm), (x1, y1), (x1 - arm, y1)), ((x0 + arm, y1), (x0, y1), (x0, y1 - arm))]


def draw_png(size: int = SIZE) -> Image.Image:
    """The icon as an RGBA image of ``size`` x ``size`` pixels."""
    s = 4 * size / SIZE  # draw at 4x, then downsample
    g = _geometry()
    img = Image.new("RGBA", (round(SIZE * s), round(SIZE * s)), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    x0, y0, x1, y1, r = g["tile"]
    d.rounded_rectangle([x0 * s, y0 * s, x1 * s, y1 * s], radius=r * s, fill=BG)
    bx0, by0, bx1, by1, arm, w = g["brackets"]
    for line in _bracket_lines(bx0, by0, bx1, by1, arm):
        d.line([(px * s, py * s) for px, py in line], fill=BOX, width=round(w * s), joint="curve")
    cx, cy, rad, ring = g["lens"]
    d.ellipse([(cx - rad) * s, (cy - rad) * s, (cx + rad) * s, (cy + rad) * s],
              outline=LENS, width=round(ring * s))
    for k in range(6):  # aperture blades: six short chords inside the ring
        a = math.radians(60 * k + 15)
        p = (cx + (rad - ring) * math.cos(a), cy + (rad - ring) * math.sin(a))
        q = (cx + 22 * math.cos(a + math.radians(75)), cy + 22 * math.sin(a + math.radians(75)))
        d.line([(p[0] * s, p[1] * s), (q[0] * s, q[1] * s)], fill=LENS, width=round(5 * s))
    px, py, pr = g["pupil"]
    d.ellipse([(px - pr) * s, (py - pr) * s, (px + pr) * s, (py + pr) * s], fill=PUPIL,
              outline=LENS, width=round(5 * s))
    return img.resize((size, size), Image.Resampling.LANCZOS)


def svg_text() -> str:
    """The same icon as an SVG document (256 x 256 user units)."""
    g = _geometry()
    x0, y0, x1, y1, r = g["tile"]
    bx0, by0, bx1, by1, arm, w = g["brackets"]
    cx, cy, rad, ring = g["lens"]
    px, py, pr = g["pupil"]
    paths = "".join(
        f'<polyline points="{" ".join(f"{a:g},{b:g}" for a, b in line)}"/>'
        for line in _bracket_lines(bx0, by0, bx1, by1, arm))
    blades = []
    for k in range(6):
        a = math.radians(60 * k + 15)
        p = (cx + (rad - ring) * math.cos(a), cy + (rad - ring) * math.sin(a))
        q = (cx + 22 * math.cos(a + math.radians(75)), cy + 22 * math.sin(a + math.radians(75)))
        blades.append(f'<line x1="{p[0]:.1f}" y1="{p[1]:.1f}" x2="{q[0]:.1f}" y2="{q[1]:.1f}"/>')
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256" viewBox="0 0 256 256">\n'
        '  <title>Vision Studio</title>\n'
        f'  <rect x="{x0}" y="{y0}" width="{x1 - x0}" height="{y1 - y0}" rx="{r}" fill="{BG}"/>\n'
        f'  <g fill="none" stroke="{BOX}" stroke-width="{w}" stroke-linecap="round" '
        f'stroke-linejoin="round">{paths}</g>\n'
        f'  <circle cx="{cx}" cy="{cy}" r="{rad - ring / 2:g}" fill="none" stroke="{LENS}" '
        f'stroke-width="{ring}"/>\n'
        f'  <g stroke="{LENS}" stroke-width="5" stroke-linecap="round">{"".join(blades)}</g>\n'
        f'  <circle cx="{px}" cy="{py}" r="{pr - 2.5:g}" fill="{PUPIL}" stroke="{LENS}" '
        'stroke-width="5"/>\n'
        '</svg>\n')


def main() -> None:
    """Write icon.svg, icon.png (256 px) and icon.ico (16-256 px) into the resources."""
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "icon.svg").write_text(svg_text(), encoding="utf-8")
    png = draw_png(SIZE)
    png.save(OUT / "icon.png", optimize=True)
    png.save(OUT / "icon.ico", sizes=[(n, n) for n in (16, 24, 32, 48, 64, 128, 256)])
    print(f"wrote {OUT}/icon.svg, icon.png, icon.ico")


if __name__ == "__main__":
    main()
