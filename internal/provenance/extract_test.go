package provenance

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/artauth/artauth/internal/imaging"
	"github.com/artauth/artauth/internal/testenv"
)

const (
	dstAI      = IPTCDigitalSourceTypeBase + "trainedAlgorithmicMedia"
	dstCapture = IPTCDigitalSourceTypeBase + "digitalCapture"
	a1111      = "a haystack at sunset, impressionist, in the style of Claude Monet\n" +
		"Negative prompt: photo\nSteps: 30, Sampler: DPM++ 2M Karras, CFG scale: 7, " +
		"Seed: 1234, Size: 512x512, Model: sd_xl_base_1.0"
)

// extract runs Extract and fails on an error.
func extract(t *testing.T, data []byte) Signals {
	t.Helper()
	s, err := Extract(data)
	if err != nil {
		t.Fatalf("Extract: %v", err)
	}
	return s
}

// hasClaim reports whether claims hold one from source with field and a
// value containing value.
func hasClaim(claims []Claim, source, field, value string) bool {
	return slices.ContainsFunc(claims, func(c Claim) bool {
		return c.Source == source && c.Field == field && strings.Contains(c.Value, value) &&
			!c.Verified
	})
}

// monetJPEG returns the bytes of a real Monet JPEG from the data set.
func monetJPEG(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile(testenv.ArtImages(t, "monet", 1)[0])
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestJPEGWithEXIFXMPAndC2PA embeds EXIF (little-endian, with an EXIF
// sub-IFD), XMP and a C2PA store split over several APP11 segments into a
// re-encoded real painting.
func TestJPEGWithEXIFXMPAndC2PA(t *testing.T) {
	le := binary.LittleEndian
	exif := exifBlock(le, []tiffField{
		asciiField(tagMake, "Canon"), asciiField(tagModel, "Canon EOS R5"),
		asciiField(tagSoftware, "Adobe Photoshop 25.0"),
		asciiField(tagDateTime, "2024:05:01 10:00:00"),
	}, []tiffField{asciiField(tagDateTimeOriginal, "2024:04:30 18:12:59")})
	claim := cbor(orderedMap{
		"dc:format", "image/jpeg",
		"claim_generator", "Adobe_Firefly/2.0 c2pa-rs/0.28.4",
		"signature", "self#jumbf=c2pa.signature",
	})
	actions := cbor(orderedMap{"actions", []any{
		orderedMap{"action", "c2pa.created", "digitalSourceType", dstAI,
			"softwareAgent", "Adobe Firefly"},
		orderedMap{"action", "c2pa.edited"},
	}})
	store := c2paStore(claim, actions, 150_000) // > two 64 KiB segments
	segs := [][]byte{
		jpegSegment(0xE0, []byte("JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")),
		jpegSegment(0xE1, append([]byte("Exif\x00\x00"), exif...)),
		jpegSegment(0xE1, append(slices.Clone(jpegXMPID),
			xmpPacket("Adobe Firefly 2.0", dstAI, true)...)),
	}
	app11 := app11Segments(store, 1, 60_000)
	if len(app11) < 3 {
		t.Fatalf("store split into %d segments, want several", len(app11))
	}
	segs = append(segs, app11...)
	base := encodeJPEG(t, decodeArt(t, monetJPEG(t)), 90)
	s := extract(t, withJPEGSegments(base, segs...))

	want := EXIF{Present: true, Source: "jpeg_app1", Make: "Canon", Model: "Canon EOS R5",
		Software: "Adobe Photoshop 25.0", DateTime: "2024:05:01 10:00:00",
		DateTimeOriginal: "2024:04:30 18:12:59"}
	if s.EXIF != want {
		t.Errorf("EXIF = %+v, want %+v", s.EXIF, want)
	}
	if s.XMP.CreatorTool != "Adobe Firefly 2.0" || s.XMP.DigitalSourceType != dstAI ||
		s.XMP.DigitalSourceTerm != "trainedAlgorithmicMedia" || s.XMP.Source != "jpeg_app1" {
		t.Errorf("XMP = %+v", s.XMP)
	}
	c := s.C2PA
	if !c.Present || c.Verified || c.Source != "jpeg_app11" || c.Manifests != 1 ||
		c.ClaimGenerator != "Adobe_Firefly/2.0 c2pa-rs/0.28.4" ||
		!slices.Equal(c.DigitalSourceTypes, []string{dstAI}) ||
		!slices.Equal(c.Actions, []string{"c2pa.created", "c2pa.edited"}) ||
		!slices.Equal(c.SoftwareAgents, []string{"Adobe Firefly"}) {
		t.Errorf("C2PA = %+v", c)
	}
	if s.MetadataStripped || !s.Decoded || len(s.Warnings) != 0 {
		t.Errorf("stripped %v, decoded %v, warnings %q", s.MetadataStripped, s.Decoded,
			s.Warnings)
	}
	claims := s.AIClaims()
	for _, w := range []struct{ source, field, value string }{
		{"xmp", "Iptc4xmpExt:DigitalSourceType", dstAI},
		{"xmp", "xmp:CreatorTool", "Firefly"},
		{"c2pa", "actions.digitalSourceType", dstAI},
		{"c2pa", "claim_generator", "Adobe_Firefly"},
		{"c2pa", "actions.softwareAgent", "Adobe Firefly"},
	} {
		if !hasClaim(claims, w.source, w.field, w.value) {
			t.Errorf("no claim %+v in %+v", w, claims)
		}
	}
	if hasClaim(claims, "exif_software", "Software", "") {
		t.Errorf("Photoshop in EXIF Software made a claim: %+v", claims)
	}
}

// TestJPEGBigEndianEXIFAndElementXMP covers Motorola byte order, an AI
// generator in EXIF Software, XMP values as elements, and a C2PA v2 claim
// (claim_generator_info).
func TestJPEGBigEndianEXIFAndElementXMP(t *testing.T) {
	be := binary.BigEndian
	exif := exifBlock(be, []tiffField{asciiField(tagSoftware, "Midjourney v6"),
		asciiField(tagArtist, "Claude Monet")}, nil)
	claim := cbor(orderedMap{"claim_generator_info", []any{
		orderedMap{"name", "ChatGPT", "version", "1.0"}}})
	store := c2paStore(claim, cbor(orderedMap{"actions", []any{
		orderedMap{"action", "c2pa.created", "digitalSourceType",
			IPTCDigitalSourceTypeBase + "compositeWithTrainedAlgorithmicMedia"}}}), 10)
	base := encodeJPEG(t, testImage(64, 48), 80)
	data := withJPEGSegments(base,
		jpegSegment(0xE1, append([]byte("Exif\x00\x00"), exif...)),
		jpegSegment(0xE1, append(slices.Clone(jpegXMPID),
			xmpPacket("Midjourney", dstCapture, false)...)))
	data = withJPEGSegments(data, app11Segments(store, 7, 65_000)...)
	s := extract(t, data)
	if s.EXIF.Software != "Midjourney v6" || s.EXIF.Artist != "Claude Monet" {
		t.Errorf("EXIF = %+v", s.EXIF)
	}
	if s.XMP.CreatorTool != "Midjourney" || s.XMP.DigitalSourceTerm != "digitalCapture" {
		t.Errorf("XMP = %+v", s.XMP)
	}
	if s.C2PA.ClaimGenerator != "ChatGPT" {
		t.Errorf("C2PA = %+v", s.C2PA)
	}
	claims := s.AIClaims()
	if !hasClaim(claims, "exif_software", "Software", "Midjourney") ||
		!hasClaim(claims, "c2pa", "claim_generator", "ChatGPT") ||
		!hasClaim(claims, "c2pa", "actions.digitalSourceType", "compositeWith") ||
		hasClaim(claims, "xmp", "Iptc4xmpExt:DigitalSourceType", "") {
		t.Errorf("claims = %+v", claims)
	}
}

// TestPNGTextXMPEXIFAndC2PA covers PNG tEXt, zTXt and iTXt chunks with
// generator fingerprints, XMP in iTXt, eXIf, an ImageMagick raw EXIF
// profile and a caBX C2PA chunk.
func TestPNGTextXMPEXIFAndC2PA(t *testing.T) {
	base := encodePNG(t, testImage(40, 30))
	exif := exifBlock(binary.LittleEndian, []tiffField{asciiField(tagMake, "NIKON")}, nil)
	store := c2paStore(cbor(orderedMap{"claim_generator", "make_test_images/0.1"}),
		cbor(orderedMap{"actions", []any{orderedMap{"action", "c2pa.created",
			"digitalSourceType", IPTCDigitalSourceTypeBase + "algorithmicMedia"}}}), 0)
	data := withPNGChunks(base,
		tEXt("parameters", a1111),
		tEXt("prompt", `{"3": {"class_type": "KSampler"}}`),
		zTXt("Software", []byte("NovelAI")),
		iTXt("Title", "Les Meules \u00e0 Giverny", true),
		tEXt("Comment", "caf\xe9"), // Latin-1
		iTXt(pngXMPKeyword, string(xmpPacket("ComfyUI", dstAI, true)), false),
		pngChunk("eXIf", exif),
		pngChunk("caBX", store),
	)
	s := extract(t, data)
	keys := map[string]TextEntry{}
	for _, e := range s.PNGText {
		keys[e.Key] = e
	}
	if len(s.PNGText) != 5 {
		t.Errorf("PNGText = %+v, want 5 entries", s.PNGText)
	}
	if e := keys["parameters"]; e.Value != a1111 || e.Generator != "AUTOMATIC1111" ||
		e.Chunk != "tEXt" || e.Length != len(a1111) {
		t.Errorf("parameters = %+v", e)
	}
	if keys["prompt"].Generator != "ComfyUI" || keys["Software"].Generator != "NovelAI" ||
		keys["Software"].Chunk != "zTXt" || keys["Title"].Value != "Les Meules à Giverny" ||
		keys["Comment"].Value != "café" || keys["Comment"].Generator != "" {
		t.Errorf("text entries = %+v", s.PNGText)
	}
	if s.XMP.Source != "png_itxt" || s.XMP.CreatorTool != "ComfyUI" ||
		s.XMP.DigitalSourceTerm != "trainedAlgorithmicMedia" {
		t.Errorf("XMP = %+v", s.XMP)
	}
	if s.EXIF.Make != "NIKON" || s.EXIF.Source != "png_exif" {
		t.Errorf("EXIF = %+v", s.EXIF)
	}
	if !s.C2PA.Present || s.C2PA.Source != "png_cabx" ||
		s.C2PA.ClaimGenerator != "make_test_images/0.1" {
		t.Errorf("C2PA = %+v", s.C2PA)
	}
	claims := s.AIClaims()
	for _, w := range []struct{ source, field, value string }{
		{"png_text", "parameters", "Steps: 30"},
		{"png_text", "prompt", "KSampler"},
		{"png_text", "Software", "NovelAI"},
		{"xmp", "Iptc4xmpExt:DigitalSourceType", dstAI},
		{"xmp", "xmp:CreatorTool", "ComfyUI"},
		{"c2pa", "actions.digitalSourceType", "algorithmicMedia"},
	} {
		if !hasClaim(claims, w.source, w.field, w.value) {
			t.Errorf("no claim %+v in %+v", w, claims)
		}
	}
	if !s.Decoded || len(s.Warnings) != 0 {
		t.Errorf("decoded %v, warnings %q", s.Decoded, s.Warnings)
	}
}

// TestPNGRawProfiles covers ImageMagick's hex-encoded EXIF and XMP
// profiles in zTXt chunks.
func TestPNGRawProfiles(t *testing.T) {
	exif := exifBlock(binary.BigEndian, []tiffField{asciiField(tagModel, "ILCE-7M3")}, nil)
	data := withPNGChunks(encodePNG(t, testImage(8, 8)),
		zTXt("Raw profile type exif", rawProfile("exif",
			append([]byte("Exif\x00\x00"), exif...))),
		zTXt("Raw profile type xmp", rawProfile("xmp", xmpPacket("GIMP 2.10", "", true))))
	s := extract(t, data)
	if s.EXIF.Model != "ILCE-7M3" || s.EXIF.Source != "png_raw_profile" ||
		s.XMP.CreatorTool != "GIMP 2.10" || len(s.PNGText) != 0 || s.MetadataStripped {
		t.Errorf("signals = %+v", s)
	}
}

// TestWebPChunks covers the EXIF, XMP and C2PA chunks of an extended WebP.
func TestWebPChunks(t *testing.T) {
	exif := exifBlock(binary.LittleEndian, []tiffField{asciiField(tagSoftware,
		"Stable Diffusion XL")}, nil)
	store := c2paStore(cbor(orderedMap{"claim_generator", "Google Imagen"}),
		cbor(orderedMap{"actions", []any{orderedMap{"action", "c2pa.created",
			"digitalSourceType", dstAI}}}), 3)
	data := webpFile(riffChunk("EXIF", exif),
		riffChunk("XMP ", xmpPacket("", dstAI, false)), riffChunk("C2PA", store))
	s, err := Extract(data)
	if err != nil {
		t.Logf("decode failed (metadata still checked): %v", err)
	}
	if s.Format != "webp" || s.EXIF.Source != "webp_exif" ||
		s.EXIF.Software != "Stable Diffusion XL" || s.XMP.DigitalSourceType != dstAI ||
		s.C2PA.Source != "webp_c2pa" || s.C2PA.ClaimGenerator != "Google Imagen" {
		t.Errorf("signals = %+v", s)
	}
	claims := s.AIClaims()
	if !hasClaim(claims, "exif_software", "Software", "Stable Diffusion") ||
		!hasClaim(claims, "c2pa", "actions.digitalSourceType", dstAI) ||
		!hasClaim(claims, "xmp", "Iptc4xmpExt:DigitalSourceType", dstAI) {
		t.Errorf("claims = %+v", claims)
	}
}

// TestTIFFFile covers IFD0 fields, XMP (tag 700) and C2PA (tag 0xCD41) of a
// TIFF file, in both byte orders.
func TestTIFFFile(t *testing.T) {
	for _, bo := range []byteOrder{binary.LittleEndian, binary.BigEndian} {
		store := c2paStore(cbor(orderedMap{"claim_generator", "scanner-firmware/3"}),
			cbor(orderedMap{"actions", []any{orderedMap{"action", "c2pa.created",
				"digitalSourceType", dstCapture}}}), 0)
		data := tiffFile(bo, asciiField(tagMake, "Hasselblad"),
			asciiField(tagSoftware, "Phocus 3.8"),
			undefinedField(tagXMP, xmpPacket("Phocus", dstCapture, true)),
			undefinedField(tagC2PA, store))
		s := extract(t, data)
		if s.Format != "tiff" || !s.Decoded || s.Width != 2 || s.EXIF.Make != "Hasselblad" ||
			s.EXIF.Source != "tiff_ifd0" || s.XMP.CreatorTool != "Phocus" ||
			s.C2PA.ClaimGenerator != "scanner-firmware/3" || len(s.AIClaims()) != 0 {
			t.Errorf("%v: signals = %+v", bo, s)
		}
	}
	// A TIFF file without any of the fields carries no EXIF.
	if s := extract(t, tiffFile(binary.LittleEndian)); s.EXIF.Present || !s.MetadataStripped {
		t.Errorf("bare TIFF: %+v", s)
	}
}

// TestReencodedIsStripped checks that the data set's files and a plain
// re-encode of a real painting report MetadataStripped and make no claims.
func TestReencodedIsStripped(t *testing.T) {
	orig := monetJPEG(t)
	so := extract(t, orig)
	for _, data := range [][]byte{
		encodeJPEG(t, decodeArt(t, orig), 75),
		encodePNG(t, decodeArt(t, orig)),
	} {
		s := extract(t, data)
		if !s.MetadataStripped || s.EXIF.Present || s.XMP.Present || s.C2PA.Present ||
			len(s.AIClaims()) != 0 || len(s.Warnings) != 0 {
			t.Errorf("%s re-encode: %+v", s.Format, s)
		}
		if d := s.PHash.Distance(so.PHash); d > NearDuplicateDistance {
			t.Errorf("%s re-encode at PHash distance %d", s.Format, d)
		}
		if s.SHA256 == so.SHA256 {
			t.Errorf("re-encode has the original's SHA-256")
		}
	}
}

// TestEditedCopiesStayNear checks, on a few real paintings, that a JPEG
// quality 75 re-encode and a 90% resize stay within NearDuplicateDistance
// of the original and that the paintings are far apart from each other.
func TestEditedCopiesStayNear(t *testing.T) {
	files := testenv.ArtImages(t, "monet", 6)
	var hashes []Hash64
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		s := extract(t, data)
		img := decodeArt(t, data)
		small := imaging.ResizeBilinear(img, img.Width*9/10, img.Height*9/10)
		for name, ed := range map[string][]byte{
			"q75":    encodeJPEG(t, img, 75),
			"90%":    encodePNG(t, small),
			"90%q75": encodeJPEG(t, small, 75),
		} {
			e := extract(t, ed)
			if d := e.PHash.Distance(s.PHash); d > NearDuplicateDistance {
				t.Errorf("%s %s: PHash distance %d > %d", f, name, d, NearDuplicateDistance)
			}
		}
		for _, h := range hashes {
			if d := h.Distance(s.PHash); d <= NearDuplicateDistance {
				t.Errorf("distinct paintings at PHash distance %d", d)
			}
		}
		hashes = append(hashes, s.PHash)
	}
}

// TestJSON checks snake_case keys, hex hashes and jsonb-safe strings.
func TestJSON(t *testing.T) {
	data := withPNGChunks(encodePNG(t, testImage(16, 16)),
		tEXt("parameters", "nul\x00inside\x01and\x7fcontrol"),
		pngChunk("eXIf", exifBlock(binary.LittleEndian,
			[]tiffField{asciiField(tagMake, "Bad\xffUTF8")}, nil)))
	s := extract(t, data)
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte(`\u0000`)) {
		t.Errorf("JSON holds \\u0000: %s", b)
	}
	var generic map[string]any
	if err := json.Unmarshal(b, &generic); err != nil {
		t.Fatal(err)
	}
	snake := regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)
	var walk func(v any)
	walk = func(v any) {
		switch t2 := v.(type) {
		case map[string]any:
			for k, e := range t2 {
				if !snake.MatchString(k) {
					t.Errorf("key %q is not snake_case", k)
				}
				walk(e)
			}
		case []any:
			for _, e := range t2 {
				walk(e)
			}
		}
	}
	walk(generic)
	if !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(generic["phash"].(string)) {
		t.Errorf("phash = %v", generic["phash"])
	}
	var back Signals
	if err := json.Unmarshal(b, &back); err != nil || back.PHash != s.PHash {
		t.Errorf("round trip: %v, phash %v != %v", err, back.PHash, s.PHash)
	}
	claims, err := json.Marshal(s.AIClaims())
	if err != nil || !bytes.Contains(claims, []byte(`"verified":false`)) {
		t.Errorf("claims JSON %s: %v", claims, err)
	}
}

// TestHostileInputs feeds malformed structures and checks that Extract
// neither panics nor hangs, and reports warnings.
func TestHostileInputs(t *testing.T) {
	le := binary.LittleEndian
	jpg := encodeJPEG(t, testImage(16, 16), 75)
	pngBase := encodePNG(t, testImage(16, 16))

	// EXIF whose sub-IFD pointer points at IFD0 and whose values point
	// past the end.
	loop := exifBlock(le, []tiffField{asciiField(tagMake, "LoopCam"),
		longField(le, tagEXIFIFD, 8)}, nil)
	bad := exifBlock(le, []tiffField{asciiField(tagModel, "a long model name here")}, nil)
	le.PutUint32(bad[8+2+8:], 1<<31) // value offset of the Model entry
	huge := append(tiffHeader(le, 8), 0xFF, 0xFF)

	// JUMBF nested deeper than the limit, and with an impossible length.
	deep := box("cbor", []byte{0x60})
	for i := 0; i < maxJUMBFDepth+4; i++ {
		deep = superbox("d", deep)
	}
	deep = superbox(c2paLabel, deep)
	badLen := superbox(c2paLabel, superbox("m"))
	binary.BigEndian.PutUint32(badLen[len(badLen)-20:], 0xFFFFFFF0)

	// A zTXt bomb: 64 MiB of zeros, and many smaller bombs.
	bomb := zTXt("parameters", make([]byte, 64<<20))
	small := zTXt("Comment", make([]byte, 4<<20))
	var bombs [][]byte
	for i := 0; i < 200; i++ {
		bombs = append(bombs, small)
	}

	exifSeg := func(tiff []byte) []byte {
		return withJPEGSegments(jpg, jpegSegment(0xE1, append([]byte("Exif\x00\x00"), tiff...)))
	}
	garbageXMP := []byte("<x:xmpmeta><rdf:Description Iptc4xmpExt:DigitalSourceType=\"" +
		dstAI + "\" xmp:CreatorTool='DALL·E 3'><<<&&&")
	cases := map[string][]byte{
		"exif loop":      exifSeg(loop),
		"exif bad value": exifSeg(bad),
		"exif huge ifd":  exifSeg(huge),
		"exif empty":     withJPEGSegments(jpg, jpegSegment(0xE1, []byte("Exif\x00"))),
		"jumbf deep":     withJPEGSegments(jpg, app11Segments(deep, 1, 60000)...),
		"jumbf length":   withJPEGSegments(jpg, app11Segments(badLen, 1, 60000)...),
		"jumbf lone continuation": withJPEGSegments(jpg, jpegSegment(0xEB,
			[]byte("JP\x00\x01\x00\x00\x00\x02\x00\x00"))),
		"xmp garbage": withJPEGSegments(jpg, jpegSegment(0xE1,
			append(slices.Clone(jpegXMPID), garbageXMP...))),
		"png bomb":  withPNGChunks(pngBase, bomb),
		"png bombs": withPNGChunks(pngBase, bombs...),
		"png bad chunk": append(slices.Clone(pngBase[:33]),
			0x7F, 0xFF, 0xFF, 0xFF, 't', 'E', 'X', 't'),
		"png no keyword nul": withPNGChunks(pngBase,
			pngChunk("tEXt", bytes.Repeat([]byte("k"), 100))),
		"jpeg bad segment": append(slices.Clone(jpg[:2]), 0xFF, 0xE1, 0xFF, 0xFF, 'E'),
		"webp bad chunk": append(webpFile()[:30],
			'E', 'X', 'I', 'F', 0xFF, 0xFF, 0xFF, 0x7F),
		"tiff bad header": []byte("II*\x00\xff\xff\xff\xff"),
		"empty":           {},
		"gif":             []byte("GIF89a\x01\x00\x01\x00"),
	}
	for name, data := range cases {
		start := time.Now()
		var s Signals
		mustNotPanic(t, name, func() { s, _ = Extract(data) })
		if el := time.Since(start); el > 2*time.Second {
			t.Errorf("%s: took %v", name, el)
		}
		if _, err := json.Marshal(s); err != nil {
			t.Errorf("%s: marshal: %v", name, err)
		}
		switch name {
		case "xmp garbage":
			if s.XMP.DigitalSourceType != dstAI || s.XMP.CreatorTool != "DALL·E 3" ||
				len(s.Warnings) == 0 {
				t.Errorf("%s: XMP %+v warnings %q", name, s.XMP, s.Warnings)
			}
		case "png bomb":
			if len(s.PNGText) != 1 || !s.PNGText[0].Truncated ||
				s.PNGText[0].Length != maxInflate || len(s.PNGText[0].Value) > maxTextValue {
				t.Errorf("%s: %+v", name, s.PNGText)
			}
		case "png bombs":
			if len(s.PNGText) != maxTextEntries || len(s.Warnings) == 0 {
				t.Errorf("%s: %d entries, warnings %q", name, len(s.PNGText), s.Warnings)
			}
		case "exif loop":
			if s.EXIF.Make != "LoopCam" || len(s.Warnings) == 0 {
				t.Errorf("%s: %+v %q", name, s.EXIF, s.Warnings)
			}
		case "jumbf deep", "jumbf length":
			if !s.C2PA.Present || len(s.Warnings) == 0 {
				t.Errorf("%s: %+v %q", name, s.C2PA, s.Warnings)
			}
		case "empty", "exif bad value", "exif huge ifd", "exif empty", "png bad chunk",
			"png no keyword nul", "jpeg bad segment", "webp bad chunk", "tiff bad header",
			"jumbf lone continuation":
			if len(s.Warnings) == 0 && name != "empty" {
				t.Errorf("%s: no warning: %+v", name, s)
			}
		}
	}

	// Every prefix of a crafted file with all structures.
	full := withJPEGSegments(jpg,
		jpegSegment(0xE1, append([]byte("Exif\x00\x00"), loop...)),
		jpegSegment(0xE1, append(slices.Clone(jpegXMPID), xmpPacket("x", dstAI, true)...)))
	full = withJPEGSegments(full, app11Segments(c2paStore(cbor(orderedMap{"claim_generator",
		"g"}), cbor(orderedMap{"actions", []any{}}), 0), 1, 200)...)
	for n := 0; n <= len(full); n += 7 {
		mustNotPanic(t, "prefix", func() { ExtractWith(full[:n], Options{MetadataOnly: true}) })
	}
}

// TestTooLarge checks the byte limit.
func TestTooLarge(t *testing.T) {
	data := make([]byte, 2048)
	s, err := ExtractWith(data, Options{Limits: imaging.Limits{MaxBytes: 1024}})
	if !errors.Is(err, ErrTooLarge) || s.SHA256 == "" || s.Bytes != 2048 {
		t.Errorf("signals %+v, err %v", s, err)
	}
	s, err = Extract([]byte("not an image"))
	if err == nil || s.Decoded || s.DecodeError == "" || !errors.Is(err,
		imaging.ErrUnsupportedFormat) {
		t.Errorf("signals %+v, err %v", s, err)
	}
}

// TestDigitalSourceTerm checks the IPTC vocabulary matching.
func TestDigitalSourceTerm(t *testing.T) {
	base := IPTCDigitalSourceTypeBase
	for v, want := range map[string]string{
		dstAI:                                   "trainedAlgorithmicMedia",
		" " + dstAI + "/ ":                      "trainedAlgorithmicMedia",
		"https" + base[4:] + "algorithmicMedia": "algorithmicMedia",
		"compositeSynthetic":                    "compositeSynthetic",
		dstCapture:                              "digitalCapture",
		base + "unknown":                        "",
		"":                                      "",
	} {
		if got := DigitalSourceTerm(v); got != want {
			t.Errorf("DigitalSourceTerm(%q) = %q, want %q", v, got, want)
		}
	}
	if AIDigitalSourceType(dstCapture) || !AIDigitalSourceType(dstAI) {
		t.Error("AIDigitalSourceType")
	}
}

// TestHashes checks Distance and that the hashes react to content.
func TestHashes(t *testing.T) {
	if Distance(0, ^uint64(0)) != 64 || Distance(0b1011, 0b0001) != 2 {
		t.Error("Distance")
	}
	a := extract(t, encodePNG(t, testImage(64, 64)))
	flipped := testImage(64, 64)
	for y := 0; y < 64; y++ {
		for x := 0; x < 32; x++ {
			i, j := flipped.PixOffset(x, y), flipped.PixOffset(63-x, y)
			for c := 0; c < 4; c++ {
				flipped.Pix[i+c], flipped.Pix[j+c] = flipped.Pix[j+c], flipped.Pix[i+c]
			}
		}
	}
	b := extract(t, encodePNG(t, flipped))
	if a.PHash.Distance(b.PHash) <= NearDuplicateDistance ||
		a.DHash.Distance(b.DHash) <= NearDuplicateDistance {
		t.Errorf("mirrored image within near-duplicate distance: phash %d dhash %d",
			a.PHash.Distance(b.PHash), a.DHash.Distance(b.DHash))
	}
	var h Hash64
	if err := h.UnmarshalText([]byte("zz")); err == nil {
		t.Error("UnmarshalText accepted zz")
	}
}

// TestConcurrentExtract checks that concurrent calls agree with sequential
// ones (run with -race).
func TestConcurrentExtract(t *testing.T) {
	var inputs [][]byte
	for _, f := range testenv.ArtImages(t, "photo", 4) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		inputs = append(inputs, data)
	}
	inputs = append(inputs, fuzzSeeds(t)...)
	want := make([]Signals, len(inputs))
	for i, d := range inputs {
		want[i], _ = Extract(d)
	}
	errs := make(chan string, 4*len(inputs))
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, d := range inputs {
				got, _ := Extract(d)
				a, _ := json.Marshal(got)
				b, _ := json.Marshal(want[i])
				if !bytes.Equal(a, b) {
					errs <- fmt.Sprintf("input %d: %s != %s", i, a, b)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
