package provenance

import (
	"bytes"
	"compress/zlib"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// TextEntry is one PNG text chunk (tEXt, zTXt or iTXt). Values are cut to
// 2048 bytes; compressed values are inflated up to 1 MiB.
type TextEntry struct {
	// Chunk is the chunk type: tEXt, zTXt or iTXt.
	Chunk string `json:"chunk"`
	// Key is the chunk's keyword.
	Key string `json:"key"`
	// Value is the text (Latin-1 converted to UTF-8 for tEXt and zTXt), cut
	// to 2048 bytes.
	Value string `json:"value"`
	// Length is the byte length of the whole (inflated) text.
	Length int `json:"length"`
	// Truncated reports that Value (or the inflation) was cut short.
	Truncated bool `json:"truncated,omitempty"`
	// Generator names the image generator whose fingerprint this entry
	// matches (see GeneratorFingerprint), or is empty.
	Generator string `json:"generator,omitempty"`
}

// rawProfilePrefix starts the keywords of ImageMagick's hex-encoded
// metadata profiles in PNG text chunks.
const rawProfilePrefix = "Raw profile type "

// parsePNGText reads one tEXt, zTXt or iTXt chunk body.
func (m *meta) parsePNGText(typ string, body []byte) {
	nul := bytes.IndexByte(body, 0)
	if nul < 1 || nul > 79 {
		m.warn("png %s: keyword not NUL-terminated within 1-79 bytes", typ)
		return
	}
	key := latin1(body[:nul])
	rest := body[nul+1:]
	if typ != "tEXt" && len(m.s.PNGText) == maxTextEntries && key != pngXMPKeyword &&
		!strings.HasPrefix(key, rawProfilePrefix) {
		m.warn("png: more than %d text chunks, rest skipped", maxTextEntries)
		return // before inflating it
	}
	var (
		raw       []byte
		truncated bool
		err       error
		utf8Text  bool
	)
	switch typ {
	case "tEXt":
		raw = rest
	case "zTXt":
		if len(rest) < 1 {
			m.warn("png zTXt %q: no compression method", key)
			return
		}
		raw, truncated, err = m.inflate(rest[1:])
	case "iTXt":
		if len(rest) < 2 {
			m.warn("png iTXt %q: no compression flag", key)
			return
		}
		compressed := rest[0] == 1
		rest = rest[2:]
		for k := 0; k < 2; k++ { // language tag, translated keyword
			i := bytes.IndexByte(rest, 0)
			if i < 0 {
				m.warn("png iTXt %q: language or translated keyword not terminated", key)
				return
			}
			rest = rest[i+1:]
		}
		raw, utf8Text = rest, true
		if compressed {
			raw, truncated, err = m.inflate(rest)
		}
	}
	if err != nil {
		m.warn("png %s %q: inflate: %v", typ, key, err)
	}
	src := "png_" + strings.ToLower(typ)
	switch {
	case key == pngXMPKeyword:
		m.parseXMP(raw, src)
		return
	case strings.HasPrefix(key, rawProfilePrefix):
		m.rawProfile(strings.TrimPrefix(key, rawProfilePrefix), raw)
		return
	}
	if len(m.s.PNGText) == maxTextEntries {
		m.warn("png: more than %d text chunks, rest skipped", maxTextEntries)
		return
	}
	text := string(raw)
	if !utf8Text {
		text = latin1(raw)
	}
	e := TextEntry{Chunk: typ, Key: clean(key, 80), Length: len(raw)}
	e.Value, e.Truncated = cleanCut(text, maxTextValue)
	e.Truncated = e.Truncated || truncated
	e.Generator = GeneratorFingerprint(key, text)
	m.s.PNGText = append(m.s.PNGText, e)
}

// inflate decompresses zlib data, at most maxInflate bytes and no more
// than what is left of maxInflateTotal for the file, reporting whether it
// stopped short.
func (m *meta) inflate(b []byte) ([]byte, bool, error) {
	budget := min(maxInflate, maxInflateTotal-m.inflated)
	if budget <= 0 {
		return nil, true, fmt.Errorf("inflated %d bytes already, limit %d", m.inflated,
			maxInflateTotal)
	}
	zr, err := zlib.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, false, err
	}
	defer zr.Close()
	out, err := io.ReadAll(io.LimitReader(zr, int64(budget)+1))
	m.inflated += len(out)
	if len(out) > budget {
		return out[:budget], true, nil
	}
	return out, false, err
}

// rawProfile reads an ImageMagick "Raw profile type <name>" text value:
// "\n<name>\n<spaces><decimal length>\n<hex digits, wrapped>". EXIF ("exif"
// or "APP1" holding "Exif\0\0") and XMP profiles are parsed; others
// (icc, iptc, 8bim) are ignored.
func (m *meta) rawProfile(name string, v []byte) {
	name = strings.ToLower(strings.TrimSpace(name))
	if name != "exif" && name != "app1" && name != "xmp" {
		return
	}
	b, err := decodeRawProfile(v)
	if err != nil {
		m.warn("png raw profile %q: %v", name, err)
		return
	}
	switch {
	case name == "xmp":
		m.parseXMP(b, "png_raw_profile")
	case bytes.HasPrefix(b, jpegXMPID):
		m.parseXMP(b[len(jpegXMPID):], "png_raw_profile")
	default:
		m.parseEXIF(stripExifID(b), "png_raw_profile")
	}
}

// decodeRawProfile decodes the hex payload of an ImageMagick raw profile.
func decodeRawProfile(v []byte) ([]byte, error) {
	f := bytes.Fields(v)
	if len(f) < 2 {
		return nil, fmt.Errorf("%d fields, want name, length and data", len(f))
	}
	n, err := strconv.Atoi(string(f[1]))
	if err != nil || n < 0 || n > maxInflate {
		return nil, fmt.Errorf("length %q not in 0..%d", f[1], maxInflate)
	}
	digits := bytes.Join(f[2:], nil)
	if len(digits) < 2*n {
		return nil, fmt.Errorf("length %d but %d hex digits", n, len(digits))
	}
	out := make([]byte, n)
	if _, err := hex.Decode(out, digits[:2*n]); err != nil {
		return nil, err
	}
	return out, nil
}
