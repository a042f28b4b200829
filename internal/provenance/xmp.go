package provenance

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
)

// XMP summarises an XMP packet (JPEG APP1 "http://ns.adobe.com/xap/1.0/",
// PNG iTXt or zTXt "XML:com.adobe.xmp" or ImageMagick's "Raw profile type
// xmp", WebP "XMP " chunk, TIFF tag 700). When a file holds several packets
// the first one sets Source and each later one only fills empty fields.
// Extended XMP (JPEG "http://ns.adobe.com/xmp/extension/") is not read.
type XMP struct {
	// Present reports that the file carries an XMP packet (even one that
	// could not be parsed; see Signals.Warnings).
	Present bool `json:"present"`
	// Source names where the first packet was found: jpeg_app1, png_itxt,
	// png_ztxt, png_raw_profile, webp_xmp or tiff_ifd0.
	Source string `json:"source,omitempty"`
	// CreatorTool is xmp:CreatorTool, the tool that created the resource.
	CreatorTool string `json:"creator_tool,omitempty"`
	// DigitalSourceType is Iptc4xmpExt:DigitalSourceType as written
	// (attribute, element text or rdf:resource), normally a URI of the IPTC
	// vocabulary http://cv.iptc.org/newscodes/digitalsourcetype/.
	DigitalSourceType string `json:"digital_source_type,omitempty"`
	// DigitalSourceTerm is the vocabulary term of DigitalSourceType (for
	// example "trainedAlgorithmicMedia") when it is one of the IPTC terms,
	// else empty.
	DigitalSourceTerm string `json:"digital_source_term,omitempty"`
}

// IPTCDigitalSourceTypeBase is the base URI of the IPTC NewsCodes
// vocabulary of digital source types.
const IPTCDigitalSourceTypeBase = "http://cv.iptc.org/newscodes/digitalsourcetype/"

// digitalSourceTerms maps each IPTC digital source type term (current and
// retired) to whether it claims that the media was made, wholly or in
// part, by an algorithm rather than captured or drawn by a person.
var digitalSourceTerms = map[string]bool{
	"digitalCapture":                       false,
	"computationalCapture":                 false,
	"negativeFilm":                         false,
	"positiveFilm":                         false,
	"print":                                false,
	"humanEdits":                           false,
	"minorHumanEdits":                      false,
	"compositeCapture":                     false,
	"algorithmicallyEnhanced":              false,
	"digitalArt":                           false,
	"digitalCreation":                      false,
	"virtualRecording":                     false,
	"screenCapture":                        false,
	"softwareImage":                        false,
	"dataDrivenMedia":                      true,
	"trainedAlgorithmicMedia":              true,
	"compositeWithTrainedAlgorithmicMedia": true,
	"algorithmicMedia":                     true,
	"compositeSynthetic":                   true,
}

// DigitalSourceTerm returns the IPTC vocabulary term of a digital source
// type value: the last path segment of an IPTC URI (http or https), or the
// bare term itself. It returns "" for values outside the vocabulary.
func DigitalSourceTerm(v string) string {
	v = strings.TrimSpace(v)
	for _, base := range []string{IPTCDigitalSourceTypeBase,
		"https" + strings.TrimPrefix(IPTCDigitalSourceTypeBase, "http")} {
		if len(v) > len(base) && strings.EqualFold(v[:len(base)], base) {
			v = strings.TrimSuffix(v[len(base):], "/")
			break
		}
	}
	if _, ok := digitalSourceTerms[v]; ok {
		return v
	}
	return ""
}

// AIDigitalSourceType reports whether a digital source type value (URI or
// term) claims algorithmic or AI generation: trainedAlgorithmicMedia,
// compositeWithTrainedAlgorithmicMedia, algorithmicMedia,
// compositeSynthetic, or the retired dataDrivenMedia.
func AIDigitalSourceType(v string) bool {
	return digitalSourceTerms[DigitalSourceTerm(v)]
}

// parseXMP reads an XMP packet found at source.
func (m *meta) parseXMP(b []byte, source string) {
	x := &m.s.XMP
	if !x.Present {
		x.Present, x.Source = true, source
	}
	if len(b) > maxXMPBytes {
		m.warn("xmp (%s): packet is %d bytes, only the first %d read", source, len(b),
			maxXMPBytes)
		b = b[:maxXMPBytes]
	}
	tool, dst, err := xmpFields(b)
	if err != nil {
		m.warn("xmp (%s): %v; scanned without XML parsing", source, err)
		lt, ld := xmpScan(b)
		tool, dst = cmp(tool, lt), cmp(dst, ld)
	}
	if x.CreatorTool == "" {
		x.CreatorTool = clean(tool, maxFieldLen)
	}
	if x.DigitalSourceType == "" && dst != "" {
		x.DigitalSourceType = clean(dst, maxFieldLen)
		x.DigitalSourceTerm = DigitalSourceTerm(dst)
	}
}

// cmp returns a if it is not empty, else b.
func cmp(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// xmpFields reads CreatorTool and DigitalSourceType from an XMP packet
// with encoding/xml (no DTDs or external entities are processed). Either
// may be an attribute of any element, an element's text, or an element's
// rdf:resource attribute; elements are matched by local name, so a missing
// namespace declaration does not hide them.
func xmpFields(b []byte) (tool, dst string, err error) {
	dec := xml.NewDecoder(bytes.NewReader(b))
	dec.Strict = false
	dec.CharsetReader = func(_ string, r io.Reader) (io.Reader, error) { return r, nil }
	var (
		capture string // field whose element text is being collected
		depth   int
		text    strings.Builder
	)
	for n := 0; n < maxXMPTokens; n++ {
		tok, e := dec.Token()
		if e != nil {
			if errors.Is(e, io.EOF) {
				return tool, dst, nil
			}
			return tool, dst, e
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if capture != "" {
				depth++
				continue
			}
			for _, a := range t.Attr {
				switch a.Name.Local {
				case "CreatorTool":
					tool = cmp(tool, a.Value)
				case "DigitalSourceType":
					dst = cmp(dst, a.Value)
				}
			}
			if t.Name.Local == "CreatorTool" || t.Name.Local == "DigitalSourceType" {
				for _, a := range t.Attr {
					if a.Name.Local == "resource" && t.Name.Local == "DigitalSourceType" {
						dst = cmp(dst, a.Value)
					}
				}
				capture, depth = t.Name.Local, 0
				text.Reset()
			}
		case xml.CharData:
			if capture != "" && text.Len() < maxFieldLen {
				text.Write(t)
			}
		case xml.EndElement:
			if capture == "" {
				continue
			}
			if depth > 0 {
				depth--
				continue
			}
			v := strings.TrimSpace(text.String())
			if capture == "CreatorTool" {
				tool = cmp(tool, v)
			} else {
				dst = cmp(dst, v)
			}
			capture = ""
		}
	}
	return tool, dst, nil
}

// xmpScan finds CreatorTool and DigitalSourceType in a packet that is not
// well-formed XML, by looking for `Name="value"`, `Name>value<` or an IPTC
// digital source type URI anywhere.
func xmpScan(b []byte) (tool, dst string) {
	tool = scanValue(b, "CreatorTool")
	dst = scanValue(b, "DigitalSourceType")
	if DigitalSourceTerm(dst) == "" {
		if i := bytes.Index(b, []byte(IPTCDigitalSourceTypeBase)); i >= 0 {
			dst = IPTCDigitalSourceTypeBase + letters(b[i+len(IPTCDigitalSourceTypeBase):])
		}
	}
	return tool, dst
}

// scanValue finds `name="v"`, `name='v'` or `name>v<` in b and returns v.
func scanValue(b []byte, name string) string {
	for rest := b; ; {
		i := bytes.Index(rest, []byte(name))
		if i < 0 {
			return ""
		}
		rest = rest[i+len(name):]
		switch {
		case len(rest) >= 2 && rest[0] == '=' && (rest[1] == '"' || rest[1] == '\''):
			if j := bytes.IndexByte(rest[2:], rest[1]); j >= 0 {
				return string(rest[2 : 2+j])
			}
		case len(rest) >= 1 && rest[0] == '>':
			if j := bytes.IndexByte(rest[1:], '<'); j >= 0 {
				return strings.TrimSpace(string(rest[1 : 1+j]))
			}
		}
	}
}

// letters returns the leading ASCII letters of b (at most 64).
func letters(b []byte) string {
	n := 0
	for n < len(b) && n < 64 && (b[n]|0x20 >= 'a' && b[n]|0x20 <= 'z') {
		n++
	}
	return string(b[:n])
}
