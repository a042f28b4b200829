package provenance

import (
	"encoding/binary"
	"fmt"
)

// EXIF summarises EXIF metadata: the TIFF IFD0 of an EXIF block (JPEG
// APP1 "Exif", PNG eXIf, WebP EXIF, ImageMagick's "Raw profile type exif"
// PNG text) or of a TIFF file, and its EXIF sub-IFD. Only the first EXIF
// block of a file is read. Strings are cut to 512 bytes.
type EXIF struct {
	// Present reports that the file carries an EXIF block (even one that
	// could not be parsed; see Signals.Warnings), or, for a TIFF file, that
	// IFD0 holds one of the fields below or an EXIF sub-IFD.
	Present bool `json:"present"`
	// Source names where the block was found: jpeg_app1, png_exif,
	// png_raw_profile, webp_exif or tiff_ifd0.
	Source string `json:"source,omitempty"`
	// Make is tag 0x010F, the camera or scanner maker.
	Make string `json:"make,omitempty"`
	// Model is tag 0x0110, the camera or scanner model.
	Model string `json:"model,omitempty"`
	// Software is tag 0x0131, the software that wrote the file.
	Software string `json:"software,omitempty"`
	// DateTimeOriginal is tag 0x9003 of the EXIF sub-IFD, when the image
	// was captured ("YYYY:MM:DD HH:MM:SS", as written).
	DateTimeOriginal string `json:"date_time_original,omitempty"`
	// DateTime is tag 0x0132, when the file was last changed.
	DateTime string `json:"date_time,omitempty"`
	// Artist is tag 0x013B.
	Artist string `json:"artist,omitempty"`
	// ImageDescription is tag 0x010E (some generators write prompts here).
	ImageDescription string `json:"image_description,omitempty"`
}

// TIFF tags read.
const (
	tagImageDescription = 0x010E
	tagMake             = 0x010F
	tagModel            = 0x0110
	tagSoftware         = 0x0131
	tagDateTime         = 0x0132
	tagArtist           = 0x013B
	tagXMP              = 0x02BC // XMLPacket, TIFF files
	tagEXIFIFD          = 0x8769
	tagDateTimeOriginal = 0x9003
	tagC2PA             = 0xCD41 // C2PA manifest store, TIFF files
)

// tiffTypeSize gives the byte size of each TIFF field type (0: unknown).
var tiffTypeSize = [...]int{0, 1, 1, 2, 4, 8, 1, 1, 2, 4, 8, 4, 8, 4}

// ifdEntry is one IFD entry with its value bytes located.
type ifdEntry struct {
	tag, typ uint16
	count    uint32
	value    []byte
}

// tiffReader reads IFDs from a TIFF structure.
type tiffReader struct {
	d  []byte
	bo binary.ByteOrder
}

// newTIFFReader checks the TIFF header and returns the reader and the
// offset of IFD0.
func newTIFFReader(d []byte) (*tiffReader, uint32, error) {
	if len(d) < 8 {
		return nil, 0, fmt.Errorf("TIFF header is %d bytes, need 8", len(d))
	}
	var bo binary.ByteOrder
	switch string(d[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return nil, 0, fmt.Errorf("TIFF byte order %q is neither II nor MM", d[:2])
	}
	if magic := bo.Uint16(d[2:]); magic != 42 {
		return nil, 0, fmt.Errorf("TIFF magic is %d, want 42", magic)
	}
	return &tiffReader{d: d, bo: bo}, bo.Uint32(d[4:]), nil
}

// ifd reads the entries of the IFD at off. Entries whose value lies outside
// the data or has an unknown type are skipped and counted in bad.
func (r *tiffReader) ifd(off uint32) (entries []ifdEntry, bad int, err error) {
	if int64(off)+2 > int64(len(r.d)) || off < 8 {
		return nil, 0, fmt.Errorf("IFD offset %d outside the %d-byte block", off, len(r.d))
	}
	n := int(r.bo.Uint16(r.d[off:]))
	if n > maxIFDEntries {
		return nil, 0, fmt.Errorf("IFD at %d has %d entries, limit %d", off, n,
			maxIFDEntries)
	}
	p := int(off) + 2
	if p+12*n > len(r.d) {
		return nil, 0, fmt.Errorf("IFD at %d with %d entries runs past the %d-byte block",
			off, n, len(r.d))
	}
	for k := 0; k < n; k, p = k+1, p+12 {
		e := ifdEntry{tag: r.bo.Uint16(r.d[p:]), typ: r.bo.Uint16(r.d[p+2:]),
			count: r.bo.Uint32(r.d[p+4:])}
		if int(e.typ) >= len(tiffTypeSize) || tiffTypeSize[e.typ] == 0 {
			bad++
			continue
		}
		size := int64(e.count) * int64(tiffTypeSize[e.typ])
		if size <= 4 {
			e.value = r.d[p+8 : p+8+int(size)]
		} else {
			voff := int64(r.bo.Uint32(r.d[p+8:]))
			if voff+size > int64(len(r.d)) {
				bad++
				continue
			}
			e.value = r.d[voff : voff+size]
		}
		entries = append(entries, e)
	}
	return entries, bad, nil
}

// long returns a LONG (or SHORT) entry's first value.
func (r *tiffReader) long(e ifdEntry) (uint32, bool) {
	switch {
	case e.typ == 4 && len(e.value) >= 4:
		return r.bo.Uint32(e.value), true
	case e.typ == 13 && len(e.value) >= 4:
		return r.bo.Uint32(e.value), true
	case e.typ == 3 && len(e.value) >= 2:
		return uint32(r.bo.Uint16(e.value)), true
	}
	return 0, false
}

// exifText returns an ASCII (or UNDEFINED/BYTE) entry as a clean string.
func exifText(e ifdEntry) string {
	return clean(string(cstring(e.value)), maxFieldLen)
}

// parseEXIF reads an EXIF block (a TIFF structure) found at source. Only
// the first block of a file is read.
func (m *meta) parseEXIF(b []byte, source string) {
	if m.s.EXIF.Present {
		return
	}
	m.s.EXIF.Present, m.s.EXIF.Source = true, source
	r, off, err := newTIFFReader(b)
	if err != nil {
		m.warn("exif (%s): %v", source, err)
		return
	}
	m.readIFD0(r, off, source)
}

// parseTIFFFile reads IFD0 of a TIFF file: the EXIF fields, the XMP packet
// (tag 700) and the C2PA manifest store (tag 0xCD41).
func (m *meta) parseTIFFFile(d []byte) {
	r, off, err := newTIFFReader(d)
	if err != nil {
		m.warn("tiff: %v", err)
		return
	}
	found := m.readIFD0(r, off, "tiff_ifd0")
	if found && !m.s.EXIF.Present {
		m.s.EXIF.Present, m.s.EXIF.Source = true, "tiff_ifd0"
	}
}

// readIFD0 reads IFD0 at off and its EXIF sub-IFD and reports whether any
// EXIF summary field or sub-IFD was there.
func (m *meta) readIFD0(r *tiffReader, off uint32, source string) bool {
	entries, bad, err := r.ifd(off)
	if err != nil {
		m.warn("exif (%s): IFD0: %v", source, err)
		return false
	}
	if bad > 0 {
		m.warn("exif (%s): IFD0: %d entries with a bad type or value offset", source, bad)
	}
	x := &m.s.EXIF
	found := false
	set := func(dst *string, e ifdEntry) {
		if *dst == "" {
			*dst = exifText(e)
		}
		found = true
	}
	for _, e := range entries {
		switch e.tag {
		case tagMake:
			set(&x.Make, e)
		case tagModel:
			set(&x.Model, e)
		case tagSoftware:
			set(&x.Software, e)
		case tagDateTime:
			set(&x.DateTime, e)
		case tagArtist:
			set(&x.Artist, e)
		case tagImageDescription:
			set(&x.ImageDescription, e)
		case tagXMP:
			if source == "tiff_ifd0" {
				m.guard("tiff xmp", func() { m.parseXMP(e.value, source) })
			}
		case tagC2PA:
			if source == "tiff_ifd0" {
				m.guard("tiff c2pa", func() { m.parseJUMBF(e.value, source) })
			}
		case tagEXIFIFD:
			found = true
			sub, ok := r.long(e)
			if !ok || sub == off {
				m.warn("exif (%s): bad EXIF sub-IFD pointer", source)
				continue
			}
			subEntries, _, err := r.ifd(sub)
			if err != nil {
				m.warn("exif (%s): EXIF sub-IFD: %v", source, err)
				continue
			}
			for _, se := range subEntries {
				if se.tag == tagDateTimeOriginal {
					set(&x.DateTimeOriginal, se)
				}
			}
		}
	}
	return found
}
