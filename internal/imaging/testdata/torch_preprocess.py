#!/usr/bin/python3
"""Reference preprocessing for the Go parity tests of package imaging.

Run with /usr/bin/python3 (Debian python3-pil 9.4, torch 1.13, torchvision 0.14).

  torch_preprocess.py make OUTDIR SMALL.jpg LARGE.jpg
      Derives test images in formats the art set lacks (PNG, WebP, TIFF, GIF,
      greyscale, CMYK, progressive JPEG, ...) from two real paintings with PIL
      and prints one JSON object per line: {"name": ..., "path": ...}.

  torch_preprocess.py tensors OUTDIR WxH[,WxH...] IMAGE...
      For the i-th IMAGE writes, in OUTDIR:
        i.rgb      the image as torchvision's ImageFolder loads it
                   (PIL.Image.open(f).convert('RGB')): rows of RGB bytes;
      and for each requested size WxH:
        i.WxH.rsz  PIL Image.resize((W, H), BILINEAR) of it: H*W*3 bytes;
        i.WxH.f32  transforms.Compose([Resize((H, W)), ToTensor(),
                   Normalize(ImageNet mean, std)]) of it: 3*H*W float32
                   little-endian, CHW.
      and prints one JSON object per line: {"index", "path", "width",
      "height", "mode"} (mode is the PIL mode before convert).
"""
import json
import sys

import numpy as np
from PIL import Image
import torch
from torchvision import transforms
from torchvision.datasets.folder import pil_loader

MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]


def make(outdir, small, large):
    out = []

    def emit(name, path):
        out.append({"name": name, "path": path})

    src = Image.open(small).convert("RGB")
    big = Image.open(large).convert("RGB")
    # Odd sizes exercise the edge handling of chroma upsampling and resizing.
    odd = big.resize((301, 199), Image.BICUBIC)
    w, h = odd.size

    def p(name):
        return "%s/%s" % (outdir, name)

    odd.save(p("rgb.png"))
    emit("png_rgb", p("rgb.png"))

    arr = np.asarray(odd).astype(np.uint8)
    alpha = (np.add.outer(np.arange(h), np.arange(w)) * 3 % 256).astype(np.uint8)
    rgba = Image.fromarray(np.dstack([arr, alpha]), "RGBA")
    rgba.save(p("rgba.png"))
    emit("png_rgba", p("rgba.png"))

    odd.convert("L").save(p("gray.png"))
    emit("png_gray", p("gray.png"))

    odd.convert("LA").save(p("gray_alpha.png"))
    emit("png_gray_alpha", p("gray_alpha.png"))

    odd.convert("P", palette=Image.ADAPTIVE, colors=200).save(p("palette.png"))
    emit("png_palette", p("palette.png"))

    # 16-bit greyscale: PIL opens it as mode "I" and convert('RGB') clips
    # values above 255 (so most of the image turns white).
    g16 = (np.asarray(odd.convert("L")).astype(np.uint16) * 257) // 3
    Image.fromarray(g16.astype(np.uint16), "I;16").save(p("gray16.png"))
    emit("png_gray16", p("gray16.png"))

    odd.save(p("lossy.webp"), quality=80)
    emit("webp_lossy", p("lossy.webp"))
    odd.save(p("lossless.webp"), lossless=True)
    emit("webp_lossless", p("lossless.webp"))
    rgba.save(p("alpha.webp"), quality=75)
    emit("webp_lossy_alpha", p("alpha.webp"))
    src.save(p("lossy_even.webp"), quality=90)
    emit("webp_lossy_even", p("lossy_even.webp"))

    odd.save(p("raw.tif"))
    emit("tiff_raw", p("raw.tif"))
    odd.save(p("lzw.tif"), compression="tiff_lzw")
    emit("tiff_lzw", p("lzw.tif"))
    odd.save(p("deflate.tif"), compression="tiff_adobe_deflate")
    emit("tiff_deflate", p("deflate.tif"))

    odd.convert("L").save(p("gray.jpg"), quality=90)
    emit("jpeg_gray", p("gray.jpg"))
    odd.convert("CMYK").save(p("cmyk.jpg"), quality=90)
    emit("jpeg_cmyk", p("cmyk.jpg"))
    odd.save(p("progressive.jpg"), quality=85, progressive=True)
    emit("jpeg_progressive", p("progressive.jpg"))
    odd.save(p("s444.jpg"), quality=92, subsampling=0)
    emit("jpeg_444", p("s444.jpg"))
    odd.save(p("s422.jpg"), quality=92, subsampling=1)
    emit("jpeg_422", p("s422.jpg"))
    odd.save(p("s420.jpg"), quality=75, subsampling=2)
    emit("jpeg_420_odd", p("s420.jpg"))

    odd.save(p("img.gif"))
    emit("gif", p("img.gif"))
    pal = odd.convert("P", palette=Image.ADAPTIVE, colors=64)
    pal.save(p("trans.gif"), transparency=5)
    emit("gif_transparent", p("trans.gif"))

    for o in out:
        print(json.dumps(o))


def tensors(outdir, sizes, paths):
    sizes = [tuple(int(v) for v in s.split("x")) for s in sizes.split(",")]
    for i, path in enumerate(paths):
        with open(path, "rb") as f:
            mode = Image.open(f).mode
        img = pil_loader(path)  # exactly what ImageFolder does
        with open("%s/%d.rgb" % (outdir, i), "wb") as f:
            f.write(np.asarray(img, dtype=np.uint8).tobytes())
        for width, height in sizes:
            stem = "%s/%d.%dx%d" % (outdir, i, width, height)
            rsz = img.resize((width, height), Image.BILINEAR)
            with open(stem + ".rsz", "wb") as f:
                f.write(np.asarray(rsz, dtype=np.uint8).tobytes())
            tf = transforms.Compose([
                transforms.Resize((height, width)),
                transforms.ToTensor(),
                transforms.Normalize(MEAN, STD),
            ])
            t = tf(img)
            assert t.dtype == torch.float32 and tuple(t.shape) == (3, height, width)
            with open(stem + ".f32", "wb") as f:
                f.write(t.numpy().astype("<f4").tobytes())
        print(json.dumps({"index": i, "path": path, "width": img.size[0],
                          "height": img.size[1], "mode": mode}))


def main(argv):
    if len(argv) >= 5 and argv[1] == "make":
        make(argv[2], argv[3], argv[4])
    elif len(argv) >= 5 and argv[1] == "tensors":
        tensors(argv[2], argv[3], argv[4:])
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
