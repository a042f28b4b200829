package provenance

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
)

// C2PA summarises a C2PA manifest store embedded in the file (JPEG APP11
// JUMBF segments, PNG caBX chunk, WebP C2PA chunk, TIFF tag 0xCD41).
//
// UNVERIFIED. Nothing here validates a C2PA manifest: no COSE signature,
// certificate chain, trust list, timestamp, or hash binding of the claim to
// the pixels is checked, and the CBOR is not fully parsed; the fields are
// strings found in the JUMBF/CBOR bytes. Anyone can write such a manifest
// into any file, or copy one from another file, so treat every field as an
// unverified claim of the uploader. Verified is always false until
// validation is implemented. Manifests referenced remotely (XMP
// dcterms:provenance) are not fetched.
type C2PA struct {
	// Present reports that a JUMBF superbox labelled "c2pa" was found.
	Present bool `json:"present"`
	// Verified is always false: see the type's documentation.
	Verified bool `json:"verified"`
	// Source names where the store was found: jpeg_app11, png_cabx,
	// webp_c2pa or tiff_ifd0.
	Source string `json:"source,omitempty"`
	// Manifests counts the manifests in the store (the last is the active
	// one; earlier ones are usually those of ingredients).
	Manifests int `json:"manifests"`
	// ClaimGenerator is the claim's claim_generator string (v1 claims) or
	// the name in claim_generator_info (v2) of the active manifest, or of
	// the last manifest that had one.
	ClaimGenerator string `json:"claim_generator,omitempty"`
	// Actions lists the distinct action names of the c2pa.actions
	// assertions of all manifests (for example c2pa.created, c2pa.edited).
	Actions []string `json:"actions,omitempty"`
	// SoftwareAgents lists the distinct softwareAgent strings (or their
	// name) of those actions.
	SoftwareAgents []string `json:"software_agents,omitempty"`
	// DigitalSourceTypes lists the distinct IPTC digital source type URIs
	// found in the actions assertions of all manifests.
	DigitalSourceTypes []string `json:"digital_source_types,omitempty"`
}

// c2paLabel is the label of a C2PA manifest store superbox.
const c2paLabel = "c2pa"

// jbox is one ISO BMFF-style box: LBox, TBox, optional XLBox, payload.
type jbox struct {
	typ  string
	body []byte
}

// nextBox splits the first box off b.
func nextBox(b []byte) (jbox, []byte, error) {
	if len(b) < 8 {
		return jbox{}, nil, fmt.Errorf("box header needs 8 bytes, %d left", len(b))
	}
	l, hdr := uint64(binary.BigEndian.Uint32(b)), uint64(8)
	typ := string(b[4:8])
	switch l {
	case 0:
		l = uint64(len(b))
	case 1:
		if len(b) < 16 {
			return jbox{}, nil, fmt.Errorf("box %q: XLBox cut short", typ)
		}
		l, hdr = binary.BigEndian.Uint64(b[8:]), 16
	}
	if l < hdr || l > uint64(len(b)) {
		return jbox{}, nil, fmt.Errorf("box %q has length %d, %d bytes left", typ, l, len(b))
	}
	return jbox{typ, b[hdr:l]}, b[l:], nil
}

// c2paWalk walks a JUMBF manifest store.
type c2paWalk struct {
	boxes int
	gen   string // claim generator of the manifest being walked
}

// open splits the body of a 'jumb' superbox into the label of its 'jumd'
// description box and its content boxes.
func (w *c2paWalk) open(body []byte) (string, []jbox, error) {
	d, rest, err := nextBox(body)
	if err != nil {
		return "", nil, err
	}
	if d.typ != "jumd" {
		return "", nil, fmt.Errorf("superbox starts with %q, not jumd", d.typ)
	}
	label := ""
	if len(d.body) >= 17 && d.body[16]&0x02 != 0 {
		label = string(cstring(d.body[17:]))
	}
	var kids []jbox
	for len(rest) > 0 {
		if w.boxes++; w.boxes > maxJUMBFBoxes {
			return label, kids, fmt.Errorf("more than %d boxes", maxJUMBFBoxes)
		}
		var k jbox
		if k, rest, err = nextBox(rest); err != nil {
			return label, kids, err
		}
		kids = append(kids, k)
	}
	return label, kids, nil
}

// parseJUMBF reads a JUMBF superbox found at source, keeping it when it is
// a C2PA manifest store. Only the first store of a file is read.
func (m *meta) parseJUMBF(b []byte, source string) {
	c := &m.s.C2PA
	if c.Present {
		return
	}
	top, _, err := nextBox(b)
	if err != nil || top.typ != "jumb" {
		if err == nil {
			err = fmt.Errorf("top box is %q, not jumb", top.typ)
		}
		m.warn("jumbf (%s): %v", source, err)
		return
	}
	w := &c2paWalk{}
	label, kids, err := w.open(top.body)
	if label != c2paLabel {
		if err == nil {
			m.warn("jumbf (%s): superbox label %q is not %q, skipped", source,
				clean(label, 64), c2paLabel)
		} else {
			m.warn("jumbf (%s): %v", source, err)
		}
		return
	}
	c.Present, c.Source = true, source
	for _, k := range kids {
		if k.typ != "jumb" {
			continue
		}
		c.Manifests++
		w.gen = ""
		if e := w.manifest(c, k.body, 1); e != nil && err == nil {
			err = e
		}
		if w.gen != "" {
			c.ClaimGenerator = clean(w.gen, maxFieldLen)
		}
	}
	if err != nil {
		m.warn("c2pa (%s): %v; scanned the whole store", source, err)
		if c.ClaimGenerator == "" {
			c.ClaimGenerator = clean(claimGenerator(b), maxFieldLen)
		}
		scanActions(c, b)
	}
}

// manifest walks the body of a jumb superbox inside a manifest, reading
// claim and actions content boxes.
func (w *c2paWalk) manifest(c *C2PA, body []byte, depth int) error {
	if depth > maxJUMBFDepth {
		return fmt.Errorf("JUMBF nested deeper than %d", maxJUMBFDepth)
	}
	label, kids, err := w.open(body)
	for _, k := range kids {
		switch {
		case k.typ == "jumb":
			if e := w.manifest(c, k.body, depth+1); e != nil {
				return e
			}
		case strings.HasPrefix(label, "c2pa.claim"):
			if g := claimGenerator(k.body); g != "" {
				w.gen = g
			}
		case strings.HasPrefix(label, "c2pa.actions"):
			scanActions(c, k.body)
		}
	}
	return err
}

// claimGenerator finds the claim generator in claim CBOR bytes: the text
// after the key "claim_generator", or else the "name" text within 512 bytes
// after the key "claim_generator_info".
func claimGenerator(b []byte) string {
	if v, ok := textAfterKey(b, "claim_generator"); ok {
		return v
	}
	if i := bytes.Index(b, cborKey("claim_generator_info")); i >= 0 {
		win := b[i:min(len(b), i+512)]
		if v, ok := textAfterKey(win, "name"); ok {
			return v
		}
	}
	return ""
}

// scanActions adds to c the action names, software agents and digital
// source types found in actions assertion bytes: the CBOR text after the
// keys "action", "softwareAgent" (or its "name") and "digitalSourceType",
// and IPTC digital source type URIs in JSON strings.
func scanActions(c *C2PA, b []byte) {
	for _, v := range textsAfterKey(b, "action") {
		c.Actions = addUnique(c.Actions, clean(v, 128))
	}
	for i, rest := 0, b; i < 64; i++ {
		k := bytes.Index(rest, cborKey("softwareAgent"))
		if k < 0 {
			break
		}
		rest = rest[k+len("softwareAgent")+1:]
		v, ok := cborText(rest)
		if !ok {
			v, ok = textAfterKey(rest[:min(len(rest), 256)], "name")
		}
		if ok {
			c.SoftwareAgents = addUnique(c.SoftwareAgents, clean(v, maxFieldLen))
		}
	}
	for _, v := range textsAfterKey(b, "digitalSourceType") {
		c.DigitalSourceTypes = addUnique(c.DigitalSourceTypes, clean(v, maxFieldLen))
	}
	// JSON assertions: a quoted IPTC URI.
	for _, base := range []string{IPTCDigitalSourceTypeBase,
		"https" + strings.TrimPrefix(IPTCDigitalSourceTypeBase, "http")} {
		q := []byte(`"` + base)
		for rest := b; ; {
			k := bytes.Index(rest, q)
			if k < 0 {
				break
			}
			rest = rest[k+len(q):]
			if t := letters(rest); t != "" && len(rest) > len(t) && rest[len(t)] == '"' {
				c.DigitalSourceTypes = addUnique(c.DigitalSourceTypes, base+t)
			}
		}
	}
}

// addUnique appends v to list unless it is empty, present, or the list
// already holds maxDigitalSource values.
func addUnique(list []string, v string) []string {
	if v == "" || len(list) >= maxDigitalSource {
		return list
	}
	for _, x := range list {
		if x == v {
			return list
		}
	}
	return append(list, v)
}

// cborKey returns the CBOR encoding of a short text string (under 24
// bytes), as map keys are written.
func cborKey(k string) []byte {
	return append([]byte{0x60 | byte(len(k))}, k...)
}

// textAfterKey finds the CBOR text key k in b and returns the definite
// text string that follows it.
func textAfterKey(b []byte, k string) (string, bool) {
	for rest := b; ; {
		i := bytes.Index(rest, cborKey(k))
		if i < 0 {
			return "", false
		}
		rest = rest[i+len(k)+1:]
		if v, ok := cborText(rest); ok {
			return v, true
		}
	}
}

// textsAfterKey returns the texts after up to 64 occurrences of key k.
func textsAfterKey(b []byte, k string) []string {
	var out []string
	for rest, n := b, 0; n < 64; n++ {
		i := bytes.Index(rest, cborKey(k))
		if i < 0 {
			break
		}
		rest = rest[i+len(k)+1:]
		if v, ok := cborText(rest); ok {
			out = append(out, v)
		}
	}
	return out
}

// cborText decodes a definite-length CBOR text string at the start of b.
func cborText(b []byte) (string, bool) {
	if len(b) == 0 || b[0]>>5 != 3 {
		return "", false
	}
	var n uint64
	off := 1
	switch ai := b[0] & 0x1f; {
	case ai < 24:
		n = uint64(ai)
	case ai == 24 && len(b) >= 2:
		n, off = uint64(b[1]), 2
	case ai == 25 && len(b) >= 3:
		n, off = uint64(binary.BigEndian.Uint16(b[1:])), 3
	case ai == 26 && len(b) >= 5:
		n, off = uint64(binary.BigEndian.Uint32(b[1:])), 5
	default:
		return "", false
	}
	if n > uint64(len(b)-off) {
		return "", false
	}
	return string(b[off : off+int(n)]), true
}
