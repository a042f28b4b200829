package provenance

import (
	"bytes"
	"strings"
	"unicode"
	"unicode/utf8"
)

// clean makes s safe to store and show: invalid UTF-8 becomes U+FFFD, NUL
// and other control characters (except tab and newline) are dropped,
// surrounding space is trimmed, and the result is cut to at most max bytes
// on a rune boundary.
func clean(s string, max int) string {
	s, _ = cleanCut(s, max)
	return s
}

// cleanCut is clean that also reports whether s was cut.
func cleanCut(s string, max int) (string, bool) {
	var b strings.Builder
	b.Grow(min(len(s), max))
	cut := false
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		if r != '\n' && r != '\t' && (unicode.IsControl(r) || r == '\uFEFF') {
			continue
		}
		if b.Len()+utf8.RuneLen(r) > max {
			cut = true
			break
		}
		b.WriteRune(r)
	}
	return strings.TrimSpace(b.String()), cut
}

// cstring returns b up to its first NUL byte.
func cstring(b []byte) []byte {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return b[:i]
	}
	return b
}

// latin1 converts ISO 8859-1 bytes (PNG tEXt and zTXt) to a UTF-8 string.
func latin1(b []byte) string {
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}
