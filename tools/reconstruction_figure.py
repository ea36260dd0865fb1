"""The docs figure: for each simulated subject, its 50 test stimuli beside their
reconstructions, ten trials to a block of four rows (seen | 4-step student from fMRI, as the
demo draws it | low-level path | 50-step teacher from fMRI). Reads the grids tools/reconstruction_report.sh
had `brainclip reconstruct` draw (ten images to a row, 2-pixel gaps).

    python3 tools/reconstruction_figure.py REPORT_DIR WORLD_DIR OUT_DIR
"""
import json
import sys
from pathlib import Path

from PIL import Image, ImageDraw

SIZE, GAP, PER_ROW = 64, 2, 10
ROWS = [("seen", None), ("4 steps", "student-4"), ("low-level", "low-level"), ("teacher", "teacher-50")]
LABEL_WIDTH = 70


def grid_row(grid, row):
    """Row `row` (ten images) of a brainclip reconstruct grid."""
    top = GAP + row * (SIZE + GAP)
    return grid.crop((0, top - GAP, grid.width, top + SIZE + GAP))


def seen_row(world, ids):
    strip = Image.new("RGB", (GAP + PER_ROW * (SIZE + GAP), SIZE + 2 * GAP), "white")
    for i, stimulus in enumerate(ids):
        image = Image.open(world / "stimuli" / f"{stimulus}.png").convert("RGB")
        strip.paste(image, (GAP + i * (SIZE + GAP), GAP))
    return strip


def main(report, world, out):
    ids = json.loads((world / "test_stimulus_ids.json").read_text())
    subjects = sorted({p.name.split("-student-4.png")[0] for p in report.glob("sub-*-student-4.png")})
    for subject in subjects:
        grids = {key: Image.open(report / f"{subject}-{key}.png").convert("RGB") for _, key in ROWS if key}
        blocks = len(ids) // PER_ROW
        strip_height = SIZE + 2 * GAP
        width = LABEL_WIDTH + grids["student-4"].width
        height = blocks * (len(ROWS) * strip_height + 8)
        figure = Image.new("RGB", (width, height), "white")
        draw = ImageDraw.Draw(figure)
        y = 0
        for block in range(blocks):
            for label, key in ROWS:
                strip = seen_row(world, ids[block * PER_ROW:(block + 1) * PER_ROW]) if key is None else grid_row(grids[key], block)
                figure.paste(strip, (LABEL_WIDTH, y))
                draw.text((4, y + strip_height // 2 - 6), label, fill="black")
                y += strip_height
            y += 8
        figure.save(out / f"{subject}.png", optimize=True)
        print(f"{out / (subject + '.png')}: {figure.width} × {figure.height}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
