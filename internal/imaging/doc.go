// Package imaging turns uploaded artwork images into model input tensors,
// reproducing bit for bit the preprocessing the classifiers were trained
// with: torchvision 0.14's
//
//	img = PIL.Image.open(f).convert('RGB')          # ImageFolder's loader
//	Compose([Resize((224, 224)), ToTensor(),
//	         Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
//
// on Debian's Pillow 9.4 (python3-pil).
//
// Decoding matches PIL as follows.
//
//   - JPEG: libjpeg-turbo through the TurboJPEG API (cgo, -lturbojpeg), the
//     same library build PIL links (libjpeg62-turbo 2.1.5), with flags 0:
//     accurate integer IDCT and fancy upsampling, PIL's defaults. 4-component
//     (CMYK/YCCK) JPEGs are decoded to CMYK and converted with PIL's
//     Adobe-inverted CMYK rule. As in PIL, libjpeg warnings (corrupt entropy
//     data, extraneous bytes) are ignored, a stream cut short is rejected,
//     and a stream lacking only its final EOI marker is accepted. Without
//     cgo, Go's image/jpeg is used instead and results are not bit-exact.
//   - PNG, TIFF, GIF: Go decoders (image/png, x/image/tiff, image/gif) whose
//     pixels are exact; the conversion to RGB follows PIL's modes (see
//     toRGB): alpha dropped, not composited; 16-bit samples keep their high
//     byte except 16-bit greyscale, which PIL clips to 255; a GIF's first
//     frame is placed on its logical screen, filled with the transparent (or
//     0) index, and the transparent index keeps its palette colour.
//   - WebP: x/image/webp. Lossless is exact; for lossy WebP the Y'CbCr
//     planes are exact and the conversion reproduces libwebp's fancy
//     upsampling and fixed-point YUV→RGB.
//
// Not reproduced (rejected, or decoded differently from PIL): EXIF
// orientation is never applied (PIL's open and torchvision do not apply it
// either, so this matches); ICC profiles are ignored (so does PIL's convert);
// animated WebP, JPEG-compressed/YCbCr/CMYK TIFF, TIFF with unspecified extra
// samples, BigTIFF, 12-bit and lossless JPEG are rejected with
// ErrUnsupportedFormat; GIF or PNG pixels indexing past the palette and
// other malformed-but-PIL-tolerated files may be rejected or read as black.
//
// Resizing (ResizeBilinear) ports PIL's Resample.c for 8-bit RGB, and
// Spec.Normalize reproduces torch's float32 arithmetic, so for JPEG input
// Preprocess's tensor equals torchvision's exactly (the package tests check
// this against /usr/bin/python3 with torch on real paintings).
//
// Options.FastScaledDecode trades that exactness for speed on large JPEGs by
// decoding at a reduced DCT scale first.
//
// Safety: Limits are checked against the byte size and the header's pixel
// count before any pixel buffer is allocated; progressive JPEGs with more
// than 500 scans are rejected; decoder panics are recovered into ErrCorrupt.
package imaging
