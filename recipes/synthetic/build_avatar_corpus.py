"""Build the small real-vs-synthetic face image set from what packages ship.

    nice -n 19 python recipes/synthetic/build_avatar_corpus.py --out out/synthetic/avatar

Real: scikit-image's `lfw_subset` faces (100, 25x25 greyscale) and crops of the
colour photos scikit-image and matplotlib ship (astronaut, coffee, chelsea,
rocket, grace_hopper). Synthetic, one generator each so evaluation can hold
one out:
  cartoon   flat-shaded drawn faces (a stylised virtual presenter)
  shaded    ray-cast 3D heads with Phong shading (a CG avatar)
  morph     two real faces blended with a smooth warp (a face-morphing attack)

To keep greyscale/resolution from becoming the label (LFW is tiny and grey),
half of every synthetic generator's images go through the same "tiny grey"
path, and half of the real colour crops too. Output: `real/*.png`,
`fake/<generator>/*.png` (the real/fake folder layout). A few hundred images:
a smoke test of the method, not evidence that it finds commercial avatars.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SIZE = 224


def _tiny_grey(image: Image.Image, rng: random.Random) -> Image.Image:
    side = rng.randint(25, 48)
    return image.convert("L").resize((side, side), Image.Resampling.BILINEAR).convert("RGB").resize(
        (SIZE, SIZE), Image.Resampling.BICUBIC)


def real_images(rng: random.Random) -> list[Image.Image]:
    import matplotlib
    from skimage import data

    faces = data.lfw_subset()[:100]
    out = [Image.fromarray((f * 255).astype(np.uint8)).convert("RGB").resize((SIZE, SIZE),
                                                                             Image.Resampling.BICUBIC)
           for f in faces]
    photos = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket()]
    hopper = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    photos.append(np.asarray(Image.open(hopper).convert("RGB")))
    for k in range(100):
        photo = Image.fromarray(photos[k % len(photos)])
        side = rng.randint(min(photo.size) // 3, min(photo.size))
        x, y = rng.randint(0, photo.width - side), rng.randint(0, photo.height - side)
        crop = photo.crop((x, y, x + side, y + side)).resize((SIZE, SIZE), Image.Resampling.BICUBIC)
        out.append(_tiny_grey(crop, rng) if k % 2 else crop)
    return out


def cartoon(rng: random.Random) -> Image.Image:
    bg = tuple(rng.randint(60, 230) for _ in range(3))
    image = Image.new("RGB", (SIZE, SIZE), bg)
    draw = ImageDraw.Draw(image)
    skin = (rng.randint(180, 255), rng.randint(140, 210), rng.randint(110, 180))
    cx, cy = SIZE // 2 + rng.randint(-15, 15), SIZE // 2 + rng.randint(-10, 10)
    rx, ry = rng.randint(55, 75), rng.randint(70, 90)
    hair = tuple(rng.randint(0, 120) for _ in range(3))
    draw.ellipse((cx - rx - 6, cy - ry - 10, cx + rx + 6, cy + ry // 3), fill=hair)
    draw.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=skin)
    for side in (-1, 1):
        ex, ey = cx + side * rx // 2, cy - ry // 5
        draw.ellipse((ex - 12, ey - 8, ex + 12, ey + 8), fill=(255, 255, 255))
        draw.ellipse((ex - 5, ey - 5, ex + 5, ey + 5), fill=(rng.randint(0, 90),) * 3)
    draw.arc((cx - rx // 2, cy + ry // 5, cx + rx // 2, cy + ry // 2 + 10), 20, 160,
             fill=(rng.randint(120, 200), 40, 60), width=4)
    return image.filter(ImageFilter.GaussianBlur(rng.uniform(0.0, 1.2)))


def shaded(rng: random.Random) -> Image.Image:
    """A ray-cast ellipsoid head with two eye spheres, Phong-lit from a random direction."""
    ys, xs = np.mgrid[-1:1:SIZE * 1j, -1:1:SIZE * 1j]
    light = np.array([rng.uniform(-1, 1), rng.uniform(-1, 0.3), 1.0])
    light /= np.linalg.norm(light)
    colour = np.array([rng.uniform(0.7, 1.0), rng.uniform(0.5, 0.8), rng.uniform(0.4, 0.7)])
    image = np.tile(np.array([rng.uniform(0.1, 0.9) for _ in range(3)]), (SIZE, SIZE, 1))
    white = np.array([0.95] * 3)
    for (ox, oy, ax, ay, tint) in [(0, 0, 0.62, 0.8, colour), (-0.25, -0.15, 0.09, 0.07, white),
                                   (0.25, -0.15, 0.09, 0.07, white)]:
        u, v = (xs - ox) / ax, (ys - oy) / ay
        inside = u ** 2 + v ** 2 < 1
        z = np.sqrt(np.clip(1 - u ** 2 - v ** 2, 0, 1))
        normal = np.stack([u, v, z], axis=-1)
        diffuse = np.clip(normal @ light, 0, 1)
        reflect = 2 * diffuse[..., None] * normal - light
        specular = np.clip(reflect[..., 2], 0, 1) ** 20
        shade = tint * (0.2 + 0.8 * diffuse[..., None]) + 0.3 * specular[..., None]
        image[inside] = shade[inside]
    return Image.fromarray((np.clip(image, 0, 1) * 255).astype(np.uint8))


def morph(faces: list[Image.Image], rng: random.Random) -> Image.Image:
    a, b = rng.sample(faces, 2)
    blend = Image.blend(a, b, rng.uniform(0.35, 0.65))
    array = np.asarray(blend, np.float32)
    ys, xs = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    phase = rng.uniform(0, 6.28)
    dx = 4 * np.sin(ys / 23 + phase)
    dy = 4 * np.cos(xs / 29 + phase)
    sx = np.clip((xs + dx).astype(int), 0, SIZE - 1)
    sy = np.clip((ys + dy).astype(int), 0, SIZE - 1)
    return Image.fromarray(array[sy, sx].astype(np.uint8)).filter(ImageFilter.SMOOTH)


def build(out: Path, per_generator: int, seed: int) -> None:
    rng = random.Random(seed)
    reals = real_images(rng)
    (out / "real").mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(reals):
        image.save(out / "real" / f"real_{i:04d}.png")
    faces = reals[:100]
    makers = {"cartoon": lambda: cartoon(rng), "shaded": lambda: shaded(rng),
              "morph": lambda: morph(faces, rng)}
    for name, make in makers.items():
        folder = out / "fake" / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_generator):
            image = make()
            if i % 2:
                image = _tiny_grey(image, rng)
            image.save(folder / f"{name}_{i:04d}.png")
    print(f"{len(reals)} real, {3 * per_generator} synthetic -> {out}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("out/synthetic/avatar"))
    parser.add_argument("--per-generator", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    build(args.out, args.per_generator, args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
