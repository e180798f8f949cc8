"""Extracts the small real inputs in data/real/ from files Debian's python3-sklearn ships.

Run from the repository root:  /usr/bin/python3 data/real/make_real_data.py
Provenance and licences: data/README.md.
"""
import gzip
import os

import matplotlib.image
import numpy as np
import sklearn

here = os.path.dirname(os.path.abspath(__file__))
datasets = os.path.join(os.path.dirname(sklearn.__file__), "datasets")


def save(name, array, fmt="%.6g"):
    np.savetxt(os.path.join(here, name), array, fmt=fmt, delimiter=",")


# Handwritten digits (8 x 8 images, intensities 0..16): the first "3" and the first "8" as
# histograms on the pixel grid, whose points are the pixel centres scaled to [0, 1]^2.
with gzip.open(os.path.join(datasets, "data", "digits.csv.gz"), "rt") as f:
    digits = np.loadtxt(f, delimiter=",")
images, labels = digits[:, :64], digits[:, 64].astype(int)
for label in (3, 8):
    image = images[np.argmax(labels == label)]
    save(f"digit{label}.csv", image / image.sum(), fmt="%.17g")
rows, cols = np.divmod(np.arange(64), 8)
save("grid.csv", np.column_stack([cols, 7 - rows]) / 7.0)

# Colour distributions of two photographs: 400 pixels each (seeded), RGB in [0, 1].
rng = np.random.RandomState(0)
for name in ("china", "flower"):
    pixels = matplotlib.image.imread(os.path.join(datasets, "images", f"{name}.jpg")).reshape(-1, 3)
    save(f"{name}_rgb.csv", pixels[rng.choice(len(pixels), 400, replace=False)] / 255.0, fmt="%.6f")
print("sklearn", sklearn.__version__, "numpy", np.__version__)
