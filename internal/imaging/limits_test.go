package imaging

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/gif"
	"image/png"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/image/tiff"
)

// checkErr asserts err wraps exactly one sentinel, the wanted one, and
// that its message contains each of the substrings.
func checkErr(t *testing.T, what string, err, want error, substr ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error, want %v", what, want)
		return
	}
	if !errors.Is(err, want) || sentinelCount(err) != 1 {
		t.Errorf("%s: error %q: want exactly %v", what, err, want)
	}
	for _, s := range substr {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("%s: error %q lacks %q", what, err, s)
		}
	}
}

// decodeAll runs the three entry points on data and returns their errors.
func decodeAll(data []byte, lim Limits) []error {
	_, err1 := Probe(data, lim)
	_, _, err2 := DecodeRGB(data, lim, Options{}, image.Point{})
	dst := make([]float32, 3*8*8)
	_, err3 := Preprocess(data, ImageNetSpec(8, 8), lim, Options{FastScaledDecode: true}, dst)
	return []error{err1, err2, err3}
}

func pngChunk(typ string, payload []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, uint32(len(payload)))
	b.WriteString(typ)
	b.Write(payload)
	crc := crc32.NewIEEE()
	crc.Write([]byte(typ))
	crc.Write(payload)
	binary.Write(&b, binary.BigEndian, crc.Sum32())
	return b.Bytes()
}

// hugePNG is a valid PNG signature and IHDR claiming w×h RGB pixels, with
// a tiny IDAT.
func hugePNG(w, h uint32) []byte {
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 2 // 8-bit RGB
	out := []byte("\x89PNG\r\n\x1a\n")
	out = append(out, pngChunk("IHDR", ihdr)...)
	out = append(out, pngChunk("IDAT", []byte{0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01})...)
	return append(out, pngChunk("IEND", nil)...)
}

// hugeJPEG patches the SOF of a real JPEG to claim w×h.
func hugeJPEG(t *testing.T, src []byte, w, h int) []byte {
	data := bytes.Clone(src)
	for i := 2; i+9 < len(data); i++ {
		if data[i] == 0xFF && (data[i+1] == 0xC0 || data[i+1] == 0xC2) {
			binary.BigEndian.PutUint16(data[i+5:], uint16(h))
			binary.BigEndian.PutUint16(data[i+7:], uint16(w))
			return data
		}
	}
	t.Fatal("no SOF0/SOF2 in JPEG")
	return nil
}

func TestLimitsAndBadInput(t *testing.T) {
	monet := readFile(t, globSorted(t, "monet/*.jpg")[0])
	lim := DefaultLimits()

	t.Run("zero bytes", func(t *testing.T) {
		for _, err := range decodeAll(nil, lim) {
			checkErr(t, "nil", err, ErrCorrupt, "0 bytes")
		}
		for _, err := range decodeAll([]byte{}, lim) {
			checkErr(t, "empty", err, ErrCorrupt, "0 bytes")
		}
	})
	t.Run("random bytes", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(3, 4))
		for i := 0; i < 50; i++ {
			b := make([]byte, 1+rng.IntN(4096))
			for j := range b {
				b[j] = byte(rng.Uint32())
			}
			if _, ok := detectFormat(b); ok {
				continue
			}
			for _, err := range decodeAll(b, lim) {
				checkErr(t, "random", err, ErrUnsupportedFormat, "unrecognized signature")
			}
		}
		// Random bytes behind each real signature must fail cleanly too.
		for _, sig := range []string{"\xff\xd8\xff", "\x89PNG\r\n\x1a\n", "GIF89a",
			"RIFF\x00\x10\x00\x00WEBPVP8 ", "II*\x00", "MM\x00*"} {
			for i := 0; i < 30; i++ {
				b := []byte(sig)
				for j := 0; j < rng.IntN(600); j++ {
					b = append(b, byte(rng.Uint32()))
				}
				// Probe may accept a random but well-formed header; the
				// decoders must fail (or, improbably, succeed) cleanly.
				for _, err := range decodeAll(b, lim) {
					if err != nil && sentinelCount(err) != 1 {
						t.Errorf("%q + random: error %v", sig, err)
					}
				}
			}
		}
	})
	t.Run("oversize bytes", func(t *testing.T) {
		small := Limits{MaxBytes: 1000}
		for _, err := range decodeAll(monet, small) {
			checkErr(t, "oversize", err, ErrTooLarge,
				fmt.Sprintf("input is %d bytes, limit 1000", len(monet)))
		}
	})
	t.Run("huge PNG header", func(t *testing.T) {
		data := hugePNG(100000, 100000)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		errs := decodeAll(data, lim)
		runtime.ReadMemStats(&after)
		for _, err := range errs {
			checkErr(t, "100000x100000 PNG", err, ErrTooLarge,
				"image is 100000x100000 = 10000000000 pixels, limit 120000000")
		}
		if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
			t.Errorf("rejecting a huge header allocated %d bytes", d)
		}
	})
	t.Run("huge JPEG, GIF, WebP, TIFF headers", func(t *testing.T) {
		for _, err := range decodeAll(hugeJPEG(t, monet, 60000, 40000), lim) {
			checkErr(t, "60000x40000 JPEG", err, ErrTooLarge, "60000x40000 = 2400000000 pixels")
		}
		// Within MaxPixels but beyond libjpeg's 65500 limit.
		for _, err := range decodeAll(hugeJPEG(t, monet, 65535, 1), lim) {
			checkErr(t, "65535x1 JPEG", err, ErrUnsupportedFormat, "65535x1")
		}
		g := []byte("GIF89a\xff\xff\xff\xff\x00\x00\x00" + // 65535x65535 screen
			",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;") // 1x1 frame
		for _, err := range decodeAll(g, lim) {
			checkErr(t, "65535x65535 GIF", err, ErrTooLarge, "65535x65535")
		}
		// VP8X canvas 16384x16384.
		w := []byte("RIFF\x00\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00\x00\x00\x00\x00" +
			"\xff\x3f\x00\xff\x3f\x00")
		binary.LittleEndian.PutUint32(w[4:], uint32(len(w)-8))
		for _, err := range decodeAll(w, lim) {
			checkErr(t, "16384x16384 WebP", err, ErrTooLarge, "16384x16384 = 268435456 pixels")
		}
		var tb bytes.Buffer
		huge := image.NewGray(image.Rect(0, 0, 20000, 7000))
		if err := tiff.Encode(&tb, huge, &tiff.Options{Compression: tiff.Deflate}); err != nil {
			t.Fatal(err)
		}
		for _, err := range decodeAll(tb.Bytes(), lim) {
			checkErr(t, "20000x7000 TIFF", err, ErrTooLarge, "20000x7000 = 140000000 pixels")
		}
	})
	t.Run("truncated JPEG", func(t *testing.T) {
		want, _, err := DecodeRGB(monet, lim, Options{}, image.Point{})
		if err != nil {
			t.Fatal(err)
		}
		for _, err := range decodeAll(monet[:100], lim) {
			checkErr(t, "JPEG cut in its header", err, ErrCorrupt, "truncated")
		}
		for _, frac := range []float64{0.1, 0.5, 0.9, 0.99} {
			n := int(float64(len(monet)) * frac)
			// Probe reads only the header, which survives these cuts.
			for _, err := range decodeAll(monet[:n], lim)[1:] {
				checkErr(t, fmt.Sprintf("JPEG cut at %d of %d", n, len(monet)), err, ErrCorrupt,
					"truncated")
			}
		}
		// Only the EOI marker missing: PIL decodes it, and so must we.
		for _, cut := range []int{1, 2} {
			got, _, err := DecodeRGB(monet[:len(monet)-cut], lim, Options{}, image.Point{})
			if err != nil {
				t.Fatalf("JPEG without EOI (cut %d): %v", cut, err)
			}
			if !bytes.Equal(got.Pix, want.Pix) {
				t.Errorf("JPEG without EOI (cut %d) decodes differently", cut)
			}
		}
	})
	t.Run("corrupt but tolerated JPEG", func(t *testing.T) {
		// Garbage between two markers only raises a libjpeg warning
		// ("extraneous bytes before marker"), which PIL ignores.
		i := bytes.Index(monet, []byte{0xFF, 0xDB}) // DQT
		data := append(append(bytes.Clone(monet[:i]), 1, 2, 3), monet[i:]...)
		got, _, err := DecodeRGB(data, lim, Options{}, image.Point{})
		want, _, _ := DecodeRGB(monet, lim, Options{}, image.Point{})
		if err != nil || !bytes.Equal(got.Pix, want.Pix) {
			t.Errorf("JPEG with extraneous bytes: err %v, equal %v", err, err == nil &&
				bytes.Equal(got.Pix, want.Pix))
		}
	})
	t.Run("truncated PNG and TIFF", func(t *testing.T) {
		img, _, err := DecodeRGB(monet, lim, Options{}, image.Point{})
		if err != nil {
			t.Fatal(err)
		}
		var p, tf bytes.Buffer
		if err := png.Encode(&p, img); err != nil {
			t.Fatal(err)
		}
		if err := tiff.Encode(&tf, img, &tiff.Options{Compression: tiff.Deflate}); err != nil {
			t.Fatal(err)
		}
		for name, b := range map[string][]byte{"png": p.Bytes(), "tiff": tf.Bytes()} {
			for _, frac := range []float64{0.3, 0.8} {
				n := int(float64(len(b)) * frac)
				for _, err := range decodeAll(b[:n], lim)[1:] { // header intact
					checkErr(t, fmt.Sprintf("%s cut at %d", name, n), err, ErrCorrupt)
				}
			}
		}
	})
	t.Run("mutated files never panic", func(t *testing.T) {
		img, _, err := DecodeRGB(monet, lim, Options{}, image.Point{})
		if err != nil {
			t.Fatal(err)
		}
		small := ResizeBilinear(img, 64, 48)
		var p, g, tf bytes.Buffer
		png.Encode(&p, small)
		gif.Encode(&g, small, nil)
		tiff.Encode(&tf, small, nil)
		rng := rand.New(rand.NewPCG(5, 6))
		for name, src := range map[string][]byte{"jpeg": monet, "png": p.Bytes(),
			"gif": g.Bytes(), "tiff": tf.Bytes()} {
			for i := 0; i < 150; i++ {
				b := bytes.Clone(src)
				for j := 0; j < 1+rng.IntN(8); j++ {
					b[rng.IntN(len(b))] = byte(rng.Uint32())
				}
				for _, err := range decodeAll(b, lim) {
					if err != nil && sentinelCount(err) != 1 {
						t.Errorf("mutated %s: %v wraps %d sentinels",
							name, err, sentinelCount(err))
					}
				}
			}
		}
	})
	t.Run("panic is recovered", func(t *testing.T) {
		err := safely(FormatPNG, func() error { panic("boom") })
		checkErr(t, "panic", err, ErrCorrupt, "decoder panic: boom")
	})
}

// TestProgressiveScanLimit feeds a progressive JPEG with more than 500
// scans (a known CPU-exhaustion pattern); it must be rejected quickly.
func TestProgressiveScanLimit(t *testing.T) {
	if !turboAvailable {
		t.Skip("needs libjpeg-turbo")
	}
	src := globSorted(t, "monet/*.jpg")[0]
	out := filepath.Join(t.TempDir(), "prog.jpg")
	cmd := exec.Command(pythonTorch, "-c", `import sys
from PIL import Image
Image.open(sys.argv[1]).save(sys.argv[2], quality=90, progressive=True)`, src, out)
	if b, err := cmd.CombinedOutput(); err != nil {
		skipOrFail(t, "cannot write a progressive JPEG with PIL: %v: %s", err, b)
	}
	data := readFile(t, out)
	// Repeat the last scan (its DHT/SOS segment and entropy data) 600 times.
	last := bytes.LastIndex(data, []byte{0xFF, 0xDA})
	if h := bytes.LastIndex(data[:last], []byte{0xFF, 0xC4}); h > 0 &&
		bytes.LastIndex(data[:last], []byte{0xFF, 0xDA}) < h {
		last = h
	}
	scan := data[last : len(data)-2]
	var b bytes.Buffer
	b.Write(data[:len(data)-2])
	for i := 0; i < 600; i++ {
		b.Write(scan)
	}
	b.Write([]byte{0xFF, 0xD9})
	if _, _, err := DecodeRGB(data, DefaultLimits(), Options{}, image.Point{}); err != nil {
		t.Fatalf("original progressive JPEG: %v", err)
	}
	_, _, err := DecodeRGB(b.Bytes(), DefaultLimits(), Options{}, image.Point{})
	checkErr(t, "600 extra scans", err, ErrTooLarge, "500 scans")
}

func TestPanicsOnBadSizes(t *testing.T) {
	mustPanic := func(name string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s did not panic", name)
			}
		}()
		f()
	}
	spec := ImageNetSpec(4, 4)
	mustPanic("Normalize size", func() { spec.Normalize(NewRGB(4, 5), make([]float32, 48)) })
	mustPanic("Normalize dst", func() { spec.Normalize(NewRGB(4, 4), make([]float32, 47)) })
	mustPanic("Preprocess dst", func() {
		Preprocess([]byte{1}, spec, Limits{}, Options{}, make([]float32, 3))
	})
	mustPanic("ResizeBilinear 0", func() { ResizeBilinear(NewRGB(2, 2), 0, 1) })
}

// TestPreprocessAllocations checks that the pooled hot path stays light.
func TestPreprocessAllocations(t *testing.T) {
	if !turboAvailable {
		t.Skip("without cgo, Go's image/jpeg allocates per call")
	}
	data := readFile(t, globSorted(t, "monet/*.jpg")[0])
	spec := ImageNetSpec(224, 224)
	dst := make([]float32, 3*224*224)
	allocs := testing.AllocsPerRun(20, func() {
		if _, err := Preprocess(data, spec, Limits{}, Options{}, dst); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("Preprocess(256x256 JPEG): %.1f allocations per call", allocs)
	if allocs > 8 {
		t.Errorf("Preprocess allocates %.1f times per call, want <= 8", allocs)
	}
}

// TestNormalizeValues spot-checks Normalize against the formula.
func TestNormalizeValues(t *testing.T) {
	spec := ImageNetSpec(2, 1)
	img := NewRGB(2, 1)
	copy(img.Pix, []byte{0, 128, 255, 10, 20, 30})
	dst := make([]float32, 6)
	spec.Normalize(img, dst)
	cases := []struct{ ch, v int }{{0, 0}, {0, 10}, {1, 128}, {1, 20}, {2, 255}, {2, 30}}
	for i, c := range cases {
		x := float32(c.v) / 255
		x -= spec.Mean[c.ch]
		if want := x / spec.Std[c.ch]; dst[i] != want {
			t.Errorf("dst[%d] = %v, want %v", i, dst[i], want)
		}
	}
}

// TestConcurrentPreprocess checks that pooled buffers and TurboJPEG handles
// are not shared between concurrent calls (run with -race too).
func TestConcurrentPreprocess(t *testing.T) {
	paths := append(globSorted(t, "monet/*.jpg")[:3],
		largestFiles(t, "other_artists/*/*.jpg", 3)...)
	spec := ImageNetSpec(224, 224)
	want := make([][]float32, len(paths))
	datas := make([][]byte, len(paths))
	for i, p := range paths {
		datas[i] = readFile(t, p)
		want[i] = make([]float32, 3*224*224)
		if _, err := Preprocess(datas[i], spec, Limits{}, Options{}, want[i]); err != nil {
			t.Fatal(err)
		}
	}
	errc := make(chan error, 4)
	for g := 0; g < 4; g++ {
		go func() {
			dst := make([]float32, 3*224*224)
			for r := 0; r < 3; r++ {
				for i := range paths {
					j := (i + g) % len(paths)
					if _, err := Preprocess(datas[j], spec, Limits{}, Options{}, dst); err != nil {
						errc <- err
						return
					}
					if _, _, n := floatDiff(dst, want[j]); n != 0 {
						errc <- fmt.Errorf("%s: concurrent result differs", paths[j])
						return
					}
				}
			}
			errc <- nil
		}()
	}
	for g := 0; g < 4; g++ {
		if err := <-errc; err != nil {
			t.Error(err)
		}
	}
}
