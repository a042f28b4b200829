package provenance

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// fuzzSeeds returns a few small files with every structure the parsers
// read.
func fuzzSeeds(t testing.TB) [][]byte {
	le := binary.LittleEndian
	exif := exifBlock(le, []tiffField{asciiField(tagMake, "M"), asciiField(tagSoftware, "S")},
		[]tiffField{asciiField(tagDateTimeOriginal, "2024:01:01 00:00:00")})
	store := c2paStore(cbor(orderedMap{"claim_generator", "g/1"}),
		cbor(orderedMap{"actions", []any{orderedMap{"action", "c2pa.created",
			"digitalSourceType", dstAI, "softwareAgent", "a"}}}), 0)
	xmp := xmpPacket("t", dstAI, true)
	jpg := withJPEGSegments(encodeJPEG(t, testImage(8, 8), 50),
		jpegSegment(0xE1, append([]byte("Exif\x00\x00"), exif...)),
		jpegSegment(0xE1, append(slices.Clone(jpegXMPID), xmp...)))
	jpg = withJPEGSegments(jpg, app11Segments(store, 1, 100)...)
	png := withPNGChunks(encodePNG(t, testImage(4, 4)), tEXt("parameters", "p"),
		zTXt("Raw profile type exif", rawProfile("exif", exif)),
		iTXt(pngXMPKeyword, string(xmp), true), pngChunk("eXIf", exif),
		pngChunk("caBX", store))
	webp := webpFile(riffChunk("EXIF", exif), riffChunk("XMP ", xmp),
		riffChunk("C2PA", store))
	tiff := tiffFile(le, asciiField(tagModel, "m"), undefinedField(tagXMP, xmp),
		undefinedField(tagC2PA, store))
	return [][]byte{jpg, png, webp, tiff}
}

// checkInvariants fails t when s breaks a promise of Signals.
func checkInvariants(t *testing.T, s Signals) {
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	if bytes.Contains(b, []byte(`\u0000`)) || !utf8.Valid(b) {
		t.Fatalf("JSON not jsonb-safe: %q", b)
	}
	for _, w := range s.Warnings {
		if strings.Contains(w, "parser panic") {
			t.Fatalf("parser panicked: %s", w)
		}
	}
	if strings.Contains(s.DecodeError, "panicked") {
		t.Fatalf("decode panicked: %s", s.DecodeError)
	}
	if len(s.Warnings) > maxWarnings || len(s.PNGText) > maxTextEntries ||
		len(s.C2PA.DigitalSourceTypes) > maxDigitalSource || s.C2PA.Verified {
		t.Fatalf("bounds broken: %+v", s)
	}
	if math.IsNaN(s.Spectral) || math.IsInf(s.Spectral, 0) {
		t.Fatalf("spectral score %v", s.Spectral)
	}
	for _, c := range s.AIClaims() {
		if c.Verified {
			t.Fatalf("verified claim %+v", c)
		}
	}
}

// FuzzMetadata fuzzes the container and metadata parsers (no pixel
// decoding): go test ./internal/provenance -run '^$' -fuzz FuzzMetadata.
func FuzzMetadata(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ExtractWith(data, Options{MetadataOnly: true})
		if err != nil {
			t.Fatalf("metadata-only Extract failed: %v", err)
		}
		checkInvariants(t, s)
	})
}

// FuzzExtract fuzzes the whole of Extract, pixel decoding included.
func FuzzExtract(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, _ := Extract(data)
		checkInvariants(t, s)
	})
}
