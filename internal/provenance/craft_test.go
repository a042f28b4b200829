package provenance

// Small encoders for the metadata structures the tests embed: TIFF IFDs
// (EXIF blocks and TIFF files), JPEG segments, PNG chunks, RIFF chunks,
// JUMBF boxes and just enough CBOR for C2PA claims and actions.

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"sort"
	"strings"
	"testing"
)

// byteOrder is binary.LittleEndian or binary.BigEndian.
type byteOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

// tiffField is one IFD entry to write.
type tiffField struct {
	tag, typ uint16
	count    uint32
	val      []byte // encoded value (byte order of the file)
}

func asciiField(tag uint16, s string) tiffField {
	return tiffField{tag, 2, uint32(len(s) + 1), append([]byte(s), 0)}
}

func undefinedField(tag uint16, b []byte) tiffField {
	return tiffField{tag, 7, uint32(len(b)), b}
}

func shortField(bo byteOrder, tag uint16, vs ...uint16) tiffField {
	b := make([]byte, 2*len(vs))
	for i, v := range vs {
		bo.PutUint16(b[2*i:], v)
	}
	return tiffField{tag, 3, uint32(len(vs)), b}
}

func longField(bo byteOrder, tag uint16, v uint32) tiffField {
	b := make([]byte, 4)
	bo.PutUint32(b, v)
	return tiffField{tag, 4, 1, b}
}

// writeIFD appends an IFD (entries sorted by tag, next-IFD offset 0) and
// then the values that do not fit in 4 bytes, to out, which must already
// hold everything before it (offsets are from the start of out).
func writeIFD(out []byte, bo byteOrder, fields []tiffField) []byte {
	sort.Slice(fields, func(a, b int) bool { return fields[a].tag < fields[b].tag })
	start := len(out)
	data := start + 2 + 12*len(fields) + 4
	out = bo.AppendUint16(out, uint16(len(fields)))
	var extra []byte
	for _, f := range fields {
		out = bo.AppendUint16(out, f.tag)
		out = bo.AppendUint16(out, f.typ)
		out = bo.AppendUint32(out, f.count)
		if len(f.val) <= 4 {
			v := make([]byte, 4)
			copy(v, f.val)
			out = append(out, v...)
			continue
		}
		out = bo.AppendUint32(out, uint32(data+len(extra)))
		extra = append(extra, f.val...)
		if len(extra)%2 == 1 {
			extra = append(extra, 0)
		}
	}
	out = bo.AppendUint32(out, 0)
	return append(out, extra...)
}

// tiffHeader returns the 8-byte TIFF header pointing IFD0 at ifd0.
func tiffHeader(bo byteOrder, ifd0 uint32) []byte {
	h := []byte("II*\x00")
	if bo == binary.BigEndian {
		h = []byte("MM\x00*")
	}
	return bo.AppendUint32(h, ifd0)
}

// exifBlock returns a TIFF structure with ifd0 and, when exif is not
// empty, an EXIF sub-IFD holding exif (written after IFD0's data).
func exifBlock(bo byteOrder, ifd0, exif []tiffField) []byte {
	if len(exif) == 0 {
		return writeIFD(tiffHeader(bo, 8), bo, ifd0)
	}
	// Lay IFD0 out once with a placeholder to learn where the sub-IFD goes.
	withPtr := append(append([]tiffField(nil), ifd0...), longField(bo, tagEXIFIFD, 0))
	probe := writeIFD(tiffHeader(bo, 8), bo, withPtr)
	withPtr[len(withPtr)-1] = longField(bo, tagEXIFIFD, uint32(len(probe)))
	out := writeIFD(tiffHeader(bo, 8), bo, withPtr)
	return writeIFD(out, bo, exif)
}

// tiffFile returns an uncompressed 2×2 RGB TIFF file with extra IFD0
// fields.
func tiffFile(bo byteOrder, extra ...tiffField) []byte {
	pix := []byte{255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255}
	out := append(tiffHeader(bo, uint32(8+len(pix))), pix...)
	fields := append([]tiffField{
		shortField(bo, 256, 2), shortField(bo, 257, 2), shortField(bo, 258, 8, 8, 8),
		shortField(bo, 259, 1), shortField(bo, 262, 2), longField(bo, 273, 8),
		shortField(bo, 277, 3), shortField(bo, 278, 2), longField(bo, 279, uint32(len(pix))),
	}, extra...)
	return writeIFD(out, bo, fields)
}

// testImage returns a w×h gradient image.
func testImage(w, h int) *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			m.Set(x, y, color.RGBA{uint8(x * 255 / w), uint8(y * 255 / h), 128, 255})
		}
	}
	return m
}

// jpegSegment returns marker segment m with payload p.
func jpegSegment(m byte, p []byte) []byte {
	if len(p)+2 > 0xFFFF {
		panic(fmt.Sprintf("segment payload %d bytes", len(p)))
	}
	return append([]byte{0xFF, m, byte((len(p) + 2) >> 8), byte(len(p) + 2)}, p...)
}

// withJPEGSegments inserts segments right after SOI.
func withJPEGSegments(jpg []byte, segs ...[]byte) []byte {
	out := append([]byte(nil), jpg[:2]...)
	for _, s := range segs {
		out = append(out, s...)
	}
	return append(out, jpg[2:]...)
}

// app11Segments splits a JUMBF box into APP11 segments of at most max
// payload bytes of box data each (ISO/IEC 19566-5 D.2), box instance en.
func app11Segments(box []byte, en uint16, max int) [][]byte {
	hdr := box[:8] // LBox + TBox, repeated in each continuation
	var segs [][]byte
	rest := box
	for z := uint32(1); len(rest) > 0; z++ {
		p := []byte("JP")
		p = binary.BigEndian.AppendUint16(p, en)
		p = binary.BigEndian.AppendUint32(p, z)
		if z > 1 {
			p = append(p, hdr...)
		}
		n := min(len(rest), max)
		p = append(p, rest[:n]...)
		rest = rest[n:]
		segs = append(segs, jpegSegment(0xEB, p))
	}
	return segs
}

// pngChunk returns a PNG chunk with its CRC.
func pngChunk(typ string, data []byte) []byte {
	out := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	out = append(out, typ...)
	out = append(out, data...)
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(out[4:]))
}

// withPNGChunks inserts chunks right after IHDR.
func withPNGChunks(p []byte, chunks ...[]byte) []byte {
	const ihdrEnd = 8 + 8 + 13 + 4
	out := append([]byte(nil), p[:ihdrEnd]...)
	for _, c := range chunks {
		out = append(out, c...)
	}
	return append(out, p[ihdrEnd:]...)
}

func deflate(b []byte) []byte {
	var buf bytes.Buffer
	w := zlib.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func tEXt(key, val string) []byte { return pngChunk("tEXt", []byte(key+"\x00"+val)) }

func zTXt(key string, val []byte) []byte {
	return pngChunk("zTXt", append([]byte(key+"\x00\x00"), deflate(val)...))
}

func iTXt(key, val string, compress bool) []byte {
	body := []byte(key + "\x00")
	if compress {
		return pngChunk("iTXt", append(append(body, 1, 0, 0, 0), deflate([]byte(val))...))
	}
	return pngChunk("iTXt", append(append(body, 0, 0, 0, 0), val...))
}

// rawProfile encodes b as an ImageMagick "Raw profile type" text value.
func rawProfile(name string, b []byte) []byte {
	h := hex.EncodeToString(b)
	var s strings.Builder
	fmt.Fprintf(&s, "\n%s\n%8d\n", name, len(b))
	for len(h) > 72 {
		s.WriteString(h[:72] + "\n")
		h = h[72:]
	}
	s.WriteString(h + "\n")
	return []byte(s.String())
}

// minimalVP8L is a 1×1 lossless WebP bitstream (the VP8L chunk's payload).
var minimalVP8L = []byte("\x2f\x00\x00\x00\x10\x07\x10\x11\x11\x88\x88\xfe\x07\x00")

// riffChunk returns a RIFF chunk, padded to even length.
func riffChunk(typ string, data []byte) []byte {
	out := append([]byte(typ), binary.LittleEndian.AppendUint32(nil, uint32(len(data)))...)
	out = append(out, data...)
	if len(data)%2 == 1 {
		out = append(out, 0)
	}
	return out
}

// webpFile returns an extended-format 1×1 WebP with extra chunks after the
// image data.
func webpFile(extra ...[]byte) []byte {
	vp8x := []byte{0x0C, 0, 0, 0, 0, 0, 0, 0, 0, 0} // EXIF and XMP flags, 1×1
	body := append([]byte("WEBP"), riffChunk("VP8X", vp8x)...)
	body = append(body, riffChunk("VP8L", minimalVP8L)...)
	for _, c := range extra {
		body = append(body, c...)
	}
	out := append([]byte("RIFF"), binary.LittleEndian.AppendUint32(nil, uint32(len(body)))...)
	return append(out, body...)
}

// box returns an ISO BMFF / JUMBF box.
func box(typ string, body ...[]byte) []byte {
	n := 8
	for _, b := range body {
		n += len(b)
	}
	out := binary.BigEndian.AppendUint32(nil, uint32(n))
	out = append(out, typ...)
	for _, b := range body {
		out = append(out, b...)
	}
	return out
}

// c2paUUID is the JUMBF type UUID of a C2PA manifest store.
var c2paUUID = []byte("c2pa\x00\x11\x00\x10\x80\x00\x00\xaa\x00\x38\x9b\x71")

// superbox returns a 'jumb' box with a 'jumd' description (requestable,
// labelled) and children.
func superbox(label string, children ...[]byte) []byte {
	jumd := box("jumd", c2paUUID, []byte{0x03}, []byte(label+"\x00"))
	return box("jumb", append([][]byte{jumd}, children...)...)
}

// cbor encodes nil-free values of types string, int, []any and
// orderedMap, enough for claims and actions.
func cbor(v any) []byte {
	head := func(major byte, n int) []byte {
		switch {
		case n < 24:
			return []byte{major<<5 | byte(n)}
		case n < 256:
			return []byte{major<<5 | 24, byte(n)}
		default:
			return binary.BigEndian.AppendUint16([]byte{major<<5 | 25}, uint16(n))
		}
	}
	switch t := v.(type) {
	case string:
		return append(head(3, len(t)), t...)
	case int:
		return head(0, t)
	case []any:
		out := head(4, len(t))
		for _, e := range t {
			out = append(out, cbor(e)...)
		}
		return out
	case orderedMap:
		out := head(5, len(t)/2)
		for _, e := range t {
			out = append(out, cbor(e)...)
		}
		return out
	}
	panic(fmt.Sprintf("cbor: %T", v))
}

// orderedMap is a CBOR map as alternating keys and values.
type orderedMap []any

// c2paStore returns a manifest store with one manifest whose claim is
// claimCBOR and whose actions assertion is actionsCBOR, plus padding bytes
// in a thumbnail-like assertion (to force JPEG segment splitting).
func c2paStore(claimCBOR, actionsCBOR []byte, padding int) []byte {
	assertions := superbox("c2pa.assertions",
		superbox("c2pa.actions", box("cbor", actionsCBOR)),
		superbox("c2pa.thumbnail.claim.jpeg", box("bidb", make([]byte, padding))))
	manifest := superbox("urn:uuid:0f3c1a2b-0000-4000-8000-000000000001",
		assertions,
		superbox("c2pa.claim", box("cbor", claimCBOR)),
		superbox("c2pa.signature", box("cbor", []byte{0xd2, 0x84, 0x40, 0xa0, 0xf6, 0x40})))
	return superbox(c2paLabel, manifest)
}

// xmpPacket returns an XMP packet with CreatorTool and DigitalSourceType
// (as attribute when attr, else as elements).
func xmpPacket(tool, dst string, attr bool) []byte {
	body := fmt.Sprintf(`<rdf:Description rdf:about=""
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
    xmp:CreatorTool=%q Iptc4xmpExt:DigitalSourceType=%q/>`, tool, dst)
	if !attr {
		body = fmt.Sprintf(`<rdf:Description rdf:about=""
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/">
   <xmp:CreatorTool>%s</xmp:CreatorTool>
   <Iptc4xmpExt:DigitalSourceType rdf:resource=%q/>
  </rdf:Description>`, tool, dst)
	}
	return []byte(`<?xpacket begin="` + "\uFEFF" + `" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  ` + body + `
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>`)
}

// mustNotPanic fails t if fn panics.
func mustNotPanic(t testing.TB, what string, fn func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("%s panicked: %v", what, r)
		}
	}()
	fn()
}
