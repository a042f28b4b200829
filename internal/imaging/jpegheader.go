package imaging

import "bytes"

// jpegHeader is what the pure-Go marker walk learns about a JPEG stream.
type jpegHeader struct {
	width, height int
	components    int  // 1 grey, 3 YCbCr/RGB, 4 CMYK/YCCK
	progressive   bool // SOF2 or SOF10
	complete      bool // an EOI marker follows the entropy-coded data
}

// libjpeg-turbo's JPEG_MAX_DIMENSION.
const jpegMaxDimension = 65500

// parseJPEG walks the marker structure the way libjpeg's jdmarker.c does
// (first marker must be SOI; bytes before a marker are skipped; 0xFF fill
// bytes are swallowed; APPn/COM and other segments are skipped by length;
// the first SOF before SOS defines the frame). With full set it continues
// through the entropy-coded segments to learn whether an EOI marker ends the
// stream; otherwise it stops at the first SOF. It never allocates.
func parseJPEG(data []byte, full bool) (jpegHeader, error) {
	var h jpegHeader
	if len(data) < 2 || data[0] != 0xFF || data[1] != 0xD8 {
		return h, wrapErr(ErrCorrupt, "jpeg: no SOI marker")
	}
	pos := 2
	seenSOF := false
	for {
		m, next, ok := nextJPEGMarker(data, pos)
		if !ok {
			if !seenSOF {
				return h, wrapErr(ErrCorrupt,
					"jpeg: truncated header (%d bytes, no SOF marker)", len(data))
			}
			return h, nil // truncated or missing EOI: h.complete stays false
		}
		pos = next
		switch {
		case m == 0xD9: // EOI
			if !seenSOF {
				return h, wrapErr(ErrCorrupt, "jpeg: EOI before SOF")
			}
			h.complete = true
			return h, nil
		case m == 0xD8:
			return h, wrapErr(ErrCorrupt, "jpeg: duplicate SOI marker at byte %d", pos-2)
		case m == 0x01 || (m >= 0xD0 && m <= 0xD7): // TEM, RSTn: no length
			continue
		}
		if pos+2 > len(data) {
			if !seenSOF {
				return h, wrapErr(ErrCorrupt, "jpeg: truncated marker 0xFF%02X", m)
			}
			return h, nil
		}
		segLen := int(data[pos])<<8 | int(data[pos+1])
		if segLen < 2 {
			return h, wrapErr(ErrCorrupt, "jpeg: marker 0xFF%02X has length %d", m, segLen)
		}
		seg := data[pos:min(pos+segLen, len(data))]
		switch {
		case isSOF(m):
			if seenSOF {
				return h, wrapErr(ErrCorrupt, "jpeg: duplicate SOF marker 0xFF%02X", m)
			}
			if err := parseSOF(m, seg, &h); err != nil {
				return h, err
			}
			seenSOF = true
			if !full {
				return h, nil
			}
		case m == 0xDA: // SOS
			if !seenSOF {
				return h, wrapErr(ErrCorrupt, "jpeg: SOS before SOF")
			}
		}
		pos += segLen
		if pos > len(data) { // truncated inside a segment
			if !seenSOF {
				return h, wrapErr(ErrCorrupt, "jpeg: truncated marker 0xFF%02X", m)
			}
			return h, nil
		}
		if m == 0xDA {
			end, ok := skipEntropyData(data, pos)
			if !ok {
				return h, nil // data ends inside a scan: truncated
			}
			pos = end
		}
	}
}

// isSOF reports whether m is a start-of-frame marker (SOF0..SOF15 minus DHT,
// JPG and DAC).
func isSOF(m byte) bool {
	return m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC
}

// parseSOF fills h from a SOF segment (seg starts at the length field) and
// rejects what libjpeg-turbo 2.1's decoder rejects.
func parseSOF(m byte, seg []byte, h *jpegHeader) error {
	switch m {
	case 0xC0, 0xC1, 0xC2, 0xC9, 0xCA: // baseline, extended, progressive, arith
	default:
		return wrapErr(ErrUnsupportedFormat,
			"jpeg: SOF marker 0xFF%02X (lossless or hierarchical JPEG)", m)
	}
	if len(seg) < 8 {
		return wrapErr(ErrCorrupt, "jpeg: truncated SOF segment (%d bytes)", len(seg))
	}
	if seg[2] != 8 {
		return wrapErr(ErrUnsupportedFormat, "jpeg: %d-bit samples", seg[2])
	}
	h.height = int(seg[3])<<8 | int(seg[4])
	h.width = int(seg[5])<<8 | int(seg[6])
	h.components = int(seg[7])
	h.progressive = m == 0xC2 || m == 0xCA
	if h.width == 0 || h.height == 0 {
		return wrapErr(ErrUnsupportedFormat,
			"jpeg: frame size %dx%d (DNL-defined height is not supported)",
			h.width, h.height)
	}
	if h.width > jpegMaxDimension || h.height > jpegMaxDimension {
		return wrapErr(ErrUnsupportedFormat, "jpeg: frame size %dx%d exceeds %d",
			h.width, h.height, jpegMaxDimension)
	}
	switch h.components {
	case 1, 3, 4:
	default:
		return wrapErr(ErrUnsupportedFormat, "jpeg: %d components", h.components)
	}
	if len(seg) < 8+3*h.components {
		return wrapErr(ErrCorrupt, "jpeg: truncated SOF segment (%d bytes)", len(seg))
	}
	return nil
}

// nextJPEGMarker mirrors libjpeg's next_marker: skip non-0xFF bytes, swallow
// 0xFF fill bytes, ignore stuffed 0xFF00. It returns the marker code and the
// offset just past it.
func nextJPEGMarker(data []byte, pos int) (byte, int, bool) {
	for {
		i := bytes.IndexByte(data[min(pos, len(data)):], 0xFF)
		if i < 0 {
			return 0, 0, false
		}
		pos += i + 1
		for pos < len(data) && data[pos] == 0xFF {
			pos++
		}
		if pos >= len(data) {
			return 0, 0, false
		}
		if c := data[pos]; c != 0 {
			return c, pos + 1, true
		}
		pos++
	}
}

// skipEntropyData returns the offset of the first marker (other than RSTn)
// after the entropy-coded data starting at pos, or false if data ends first.
func skipEntropyData(data []byte, pos int) (int, bool) {
	for {
		i := bytes.IndexByte(data[pos:], 0xFF)
		if i < 0 {
			return 0, false
		}
		j := pos + i
		k := j + 1
		for k < len(data) && data[k] == 0xFF {
			k++
		}
		if k >= len(data) {
			return 0, false
		}
		c := data[k]
		if c == 0 || (c >= 0xD0 && c <= 0xD7) {
			pos = k + 1
			continue
		}
		return k - 1, true // offset of the 0xFF that precedes the marker code
	}
}
