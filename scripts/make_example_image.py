"""Draw the synthetic chest radiograph used by the UI's image examples.

    .venv/bin/python scripts/make_example_image.py   # writes assets/examples/chest-xray-synthetic.png

It is a drawing, not a patient image: ellipses and arcs shaped like a frontal chest film,
blurred, with a little noise, and marked SYNTHETIC. Released as CC0 (assets/README.md).
The output is deterministic (fixed noise seed).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SIZE = 512
OUT = Path(__file__).resolve().parents[1] / "assets" / "examples" / "chest-xray-synthetic.png"


def draw_chest() -> Image.Image:
    image = Image.new("L", (SIZE, SIZE), 12)
    draw = ImageDraw.Draw(image)
    draw.ellipse((40, 60, 472, 560), fill=120)  # soft tissue of the thorax
    draw.ellipse((95, 110, 245, 430), fill=45)  # right lung (viewer's left)
    draw.ellipse((275, 110, 425, 430), fill=45)  # left lung
    draw.ellipse((235, 250, 370, 430), fill=150)  # heart shadow, to the patient's left
    draw.rectangle((238, 60, 274, 512), fill=175)  # spine
    for index in range(9):  # ribs: arcs over each lung
        top = 120 + index * 34
        draw.arc((80, top, 262, top + 80), 200, 340, fill=185, width=7)
        draw.arc((250, top, 432, top + 80), 200, 340, fill=185, width=7)
    draw.line((120, 105, 245, 125), fill=200, width=10)  # clavicles
    draw.line((267, 125, 392, 105), fill=200, width=10)
    draw.ellipse((100, 440, 420, 520), fill=140)  # diaphragm domes
    image = image.filter(ImageFilter.GaussianBlur(4))
    noise = np.random.default_rng(0).normal(0, 6, (SIZE, SIZE))
    pixels = np.clip(np.asarray(image, dtype=np.float64) + noise, 0, 255).astype(np.uint8)
    image = Image.fromarray(pixels, mode="L")
    ImageDraw.Draw(image).text((12, SIZE - 22), "SYNTHETIC - NOT A PATIENT", fill=230)
    return image


def main() -> None:
    OUT.parent.mkdir(parents=True, exist_ok=True)
    draw_chest().save(OUT, optimize=True)
    print(OUT)


if __name__ == "__main__":
    main()
