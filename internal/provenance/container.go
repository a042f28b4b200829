package provenance

import (
	"bytes"
	"encoding/binary"
	"sort"
)

// Identifiers of metadata inside containers.
var (
	pngSignature  = []byte("\x89PNG\r\n\x1a\n")
	jpegEXIFID    = []byte("Exif\x00")
	jpegXMPID     = []byte("http://ns.adobe.com/xap/1.0/\x00")
	jpegXMPExtID  = []byte("http://ns.adobe.com/xmp/extension/\x00")
	jpegJUMBFCI   = []byte("JP")
	pngXMPKeyword = "XML:com.adobe.xmp"
)

// parseContainer sniffs the container and reads its metadata into m.s.
func (m *meta) parseContainer(d []byte) {
	switch {
	case len(d) >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF:
		m.s.Format = "jpeg"
		m.parseJPEG(d)
	case bytes.HasPrefix(d, pngSignature):
		m.s.Format = "png"
		m.parsePNG(d)
	case len(d) >= 12 && string(d[:4]) == "RIFF" && string(d[8:12]) == "WEBP":
		m.s.Format = "webp"
		m.parseWebP(d)
	case len(d) >= 4 && (string(d[:4]) == "II*\x00" || string(d[:4]) == "MM\x00*"):
		m.s.Format = "tiff"
		m.guard("tiff", func() { m.parseTIFFFile(d) })
	case len(d) >= 6 && (string(d[:6]) == "GIF87a" || string(d[:6]) == "GIF89a"):
		m.s.Format = "gif" // GIF metadata (XMP, C2PA extensions) is not read.
	}
}

// jumbfPart is one APP11 segment of a JUMBF box split over JPEG segments.
type jumbfPart struct {
	seq  uint32
	data []byte
}

// parseJPEG walks the marker segments up to the first SOS, reading APP1
// (EXIF, XMP) and APP11 (JUMBF, C2PA) segments.
func (m *meta) parseJPEG(d []byte) {
	boxes := map[uint16][]jumbfPart{}
	var order []uint16
	i := 2
	for n := 0; ; n++ {
		if n == maxSegments {
			m.warn("jpeg: more than %d segments, rest skipped", maxSegments)
			break
		}
		if i >= len(d) {
			m.warn("jpeg: no SOS marker before the end (%d bytes)", len(d))
			break
		}
		if d[i] != 0xFF {
			m.warn("jpeg: byte 0x%02x at offset %d where a marker was expected", d[i], i)
			break
		}
		for i < len(d) && d[i] == 0xFF {
			i++
		}
		if i >= len(d) {
			break
		}
		mk := d[i]
		i++
		if mk == 0xD8 || mk == 0x01 || (mk >= 0xD0 && mk <= 0xD7) {
			continue // standalone markers
		}
		if mk == 0xDA || mk == 0xD9 {
			break // image data (or the end): metadata comes before it
		}
		if i+2 > len(d) {
			m.warn("jpeg: segment 0x%02x at offset %d cut short", mk, i-2)
			break
		}
		l := int(binary.BigEndian.Uint16(d[i:]))
		if l < 2 || i+l > len(d) {
			m.warn("jpeg: segment 0x%02x at offset %d has length %d, %d bytes left",
				mk, i-2, l, len(d)-i)
			break
		}
		seg := d[i+2 : i+l]
		i += l
		switch mk {
		case 0xE1:
			m.jpegAPP1(seg)
		case 0xEB:
			if len(seg) < 8 || !bytes.HasPrefix(seg, jpegJUMBFCI) {
				continue
			}
			en := binary.BigEndian.Uint16(seg[2:])
			if _, ok := boxes[en]; !ok {
				order = append(order, en)
			}
			boxes[en] = append(boxes[en], jumbfPart{binary.BigEndian.Uint32(seg[4:]), seg[8:]})
		}
	}
	for _, en := range order {
		m.guard("jpeg app11", func() {
			if box, ok := m.joinJUMBF(en, boxes[en]); ok {
				m.parseJUMBF(box, "jpeg_app11")
			}
		})
	}
}

// jpegAPP1 reads an APP1 segment: EXIF or XMP.
func (m *meta) jpegAPP1(seg []byte) {
	switch {
	case bytes.HasPrefix(seg, jpegEXIFID):
		// "Exif\0" and a pad byte (normally 0) precede the TIFF header.
		body := seg[min(len(seg), len(jpegEXIFID)+1):]
		m.guard("jpeg exif", func() { m.parseEXIF(body, "jpeg_app1") })
	case bytes.HasPrefix(seg, jpegXMPID):
		m.guard("jpeg xmp", func() { m.parseXMP(seg[len(jpegXMPID):], "jpeg_app1") })
	case bytes.HasPrefix(seg, jpegXMPExtID):
		m.warn("jpeg: extended XMP segment not read")
	}
}

// joinJUMBF reassembles a JUMBF box split over APP11 segments (ISO/IEC
// 19566-5 D.2): each segment after the first repeats the box header (LBox,
// TBox and, when LBox is 1, XLBox), which is dropped.
func (m *meta) joinJUMBF(en uint16, parts []jumbfPart) ([]byte, bool) {
	sort.SliceStable(parts, func(a, b int) bool { return parts[a].seq < parts[b].seq })
	var box []byte
	for k, p := range parts {
		if k == 0 {
			box = append(box, p.data...)
			continue
		}
		hdr := 8
		if len(p.data) >= 8 && binary.BigEndian.Uint32(p.data) == 1 {
			hdr = 16
		}
		if len(p.data) < hdr {
			m.warn("jpeg: APP11 box %d segment %d is %d bytes, shorter than its header",
				en, p.seq, len(p.data))
			return nil, false
		}
		box = append(box, p.data[hdr:]...)
	}
	return box, len(box) > 0
}

// parsePNG walks the chunks up to IEND, reading eXIf, tEXt, zTXt, iTXt and
// caBX. CRCs are not checked.
func (m *meta) parsePNG(d []byte) {
	i := len(pngSignature)
	for n := 0; ; n++ {
		if n == maxSegments {
			m.warn("png: more than %d chunks, rest skipped", maxSegments)
			return
		}
		if i == len(d) {
			m.warn("png: no IEND chunk")
			return
		}
		if i+12 > len(d) {
			m.warn("png: chunk header at offset %d cut short", i)
			return
		}
		l := int64(binary.BigEndian.Uint32(d[i:]))
		typ := string(d[i+4 : i+8])
		if l > int64(len(d)-i-12) {
			m.warn("png: chunk %q at offset %d has length %d, %d bytes left", typ, i, l,
				len(d)-i-12)
			return
		}
		body := d[i+8 : i+8+int(l)]
		i += 12 + int(l)
		switch typ {
		case "IEND":
			return
		case "eXIf":
			m.guard("png exif", func() { m.parseEXIF(stripExifID(body), "png_exif") })
		case "tEXt", "zTXt", "iTXt":
			m.guard("png "+typ, func() { m.parsePNGText(typ, body) })
		case "caBX":
			m.guard("png caBX", func() { m.parseJUMBF(body, "png_cabx") })
		}
	}
}

// stripExifID drops an "Exif\0\0" prefix that some writers put before the
// TIFF header where the format expects none (PNG eXIf, WebP EXIF).
func stripExifID(b []byte) []byte {
	if bytes.HasPrefix(b, jpegEXIFID) && len(b) > len(jpegEXIFID) {
		return b[len(jpegEXIFID)+1:]
	}
	return b
}

// parseWebP walks the RIFF chunks, reading EXIF, "XMP " and C2PA.
func (m *meta) parseWebP(d []byte) {
	end := len(d)
	if riff := int64(binary.LittleEndian.Uint32(d[4:])) + 8; riff < int64(end) {
		end = int(max(riff, 12))
	}
	i := 12
	for n := 0; i < end; n++ {
		if n == maxSegments {
			m.warn("webp: more than %d chunks, rest skipped", maxSegments)
			return
		}
		if i+8 > end {
			m.warn("webp: chunk header at offset %d cut short", i)
			return
		}
		typ := string(d[i : i+4])
		l := int64(binary.LittleEndian.Uint32(d[i+4:]))
		if l > int64(end-i-8) {
			m.warn("webp: chunk %q at offset %d has length %d, %d bytes left", typ, i, l,
				end-i-8)
			return
		}
		body := d[i+8 : i+8+int(l)]
		i += 8 + int(l) + int(l&1)
		switch typ {
		case "EXIF":
			m.guard("webp exif", func() { m.parseEXIF(stripExifID(body), "webp_exif") })
		case "XMP ":
			m.guard("webp xmp", func() { m.parseXMP(body, "webp_xmp") })
		case "C2PA":
			m.guard("webp c2pa", func() { m.parseJUMBF(body, "webp_c2pa") })
		}
	}
}
