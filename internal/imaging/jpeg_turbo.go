//go:build cgo

package imaging

/*
#cgo LDFLAGS: -lturbojpeg
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>
#include <turbojpeg.h>

// Message table of libjpeg-turbo (jerror.h), used to tell a warning message
// from a fatal one: TurboJPEG 2.1 reports TJERR_WARNING whenever a warning
// occurred, even if a fatal error followed it, and keeps the text of the
// last fatal error or else of the first warning.
typedef struct { const char *code; const char *fmt; } artauth_jmsg;
#define JCOPYRIGHT_SHORT ""
#define JVERSION ""
#define JMESSAGE(code, string) {#code, string},
static const artauth_jmsg artauth_jmsgs[] = {
#include <jerror.h>
	{NULL, NULL}
};

// artauth_fmt_match reports whether msg could have been printed by printf
// format f (each conversion matches a non-empty run of characters).
static int artauth_fmt_match(const char *f, const char *m) {
	while (*f) {
		if (*f == '%') {
			f++;
			while (*f && strchr("0123456789.-+#lh", *f)) f++;
			if (*f) f++;
			if (!*m) return 0;
			m++;
			if (!*f) return 1;
			while (*m && *m != *f) m++;
			continue;
		}
		if (*f != *m) return 0;
		f++;
		m++;
	}
	return *m == 0;
}

// artauth_is_warning reports whether msg is the text of a libjpeg warning.
static int artauth_is_warning(const char *msg) {
	for (const artauth_jmsg *e = artauth_jmsgs; e->code; e++) {
		if (strncmp(e->code, "JWRN_", 5) == 0 && artauth_fmt_match(e->fmt, msg)) {
			return 1;
		}
	}
	return 0;
}

// artauth_tj_decode runs tjDecompress2 and, in the same cgo call (the error
// string of TurboJPEG 2.1 is thread-local), classifies its outcome:
// 0 success, 1 warnings only (output complete), 2 fatal error (which
// includes any warning under TJFLAG_STOPONWARNING).
static int artauth_tj_decode(tjhandle h, const unsigned char *src, unsigned long n,
		unsigned char *dst, int w, int pitch, int hgt, int pf, int flags,
		char *msg, int msglen) {
	if (tjDecompress2(h, src, n, dst, w, pitch, hgt, pf, flags) == 0) {
		return 0;
	}
	const char *s = tjGetErrorStr2(h);
	snprintf(msg, msglen, "%s", s ? s : "unknown error");
	if (!(flags & TJFLAG_STOPONWARNING) && tjGetErrorCode(h) == TJERR_WARNING &&
			artauth_is_warning(msg)) {
		return 1;
	}
	return 2;
}
*/
import "C"

import (
	"runtime"
	"strings"
	"sync"
	"unsafe"
)

// turboAvailable reports that JPEG decoding uses libjpeg-turbo (PIL-exact).
const turboAvailable = true

// tjDecoder is a TurboJPEG decompressor handle. Handles are pooled; the
// cleanup frees a handle the pool drops.
type tjDecoder struct {
	h       C.tjhandle
	cleanup runtime.Cleanup
}

var tjPool = sync.Pool{New: func() any {
	h := C.tjInitDecompress()
	if h == nil {
		return nil
	}
	d := &tjDecoder{h: h}
	d.cleanup = runtime.AddCleanup(d, func(h C.tjhandle) { C.tjDestroy(h) }, h)
	return d
}}

func (d *tjDecoder) destroy() {
	d.cleanup.Stop()
	C.tjDestroy(d.h)
	d.h = nil
}

// TurboJPEG flags: 0 selects the accurate integer IDCT (JDCT_ISLOW) and fancy
// (triangle-filter) chroma upsampling, which are libjpeg's defaults and what
// PIL uses. TJFLAG_LIMITSCANS only adds a 500-scan limit for progressive
// JPEGs (a CPU-exhaustion guard); it does not change decoded pixels.
const (
	tjFlags          = C.TJFLAG_LIMITSCANS
	tjFlagsNoWarning = C.TJFLAG_LIMITSCANS | C.TJFLAG_STOPONWARNING
)

// decodeJPEG decodes data (already walked by parseJPEG into h) at scale
// 1/denom (denom is 1, 2, 4 or 8) into buf, growing it as needed. The result
// is packed RGB; CMYK/YCCK streams are converted as PIL's convert('RGB')
// does. The returned slice is the (possibly grown) buffer for reuse.
func decodeJPEG(data []byte, h jpegHeader, denom int, buf []byte) (RGB, []byte, error) {
	w := (h.width + denom - 1) / denom // TJSCALED(dim, 1/denom)
	ht := (h.height + denom - 1) / denom
	pf, ps := C.TJPF_RGB, 3
	if h.components == 4 {
		pf, ps = C.TJPF_CMYK, 4
	}
	buf = grow(buf, w*ht*ps)

	src := data
	flags := tjFlags
	if !h.complete {
		// No EOI marker after the scan data. PIL accepts such a file when
		// all scan data is present and rejects it (image file is truncated)
		// otherwise. Append an EOI and forbid warnings: a complete stream
		// then decodes cleanly, a truncated one hits the EOI inside
		// entropy-coded data (JWRN_HIT_MARKER) and fails.
		src = make([]byte, len(data)+2)
		copy(src, data)
		src[len(data)], src[len(data)+1] = 0xFF, 0xD9
		flags = tjFlagsNoWarning
	}

	d, _ := tjPool.Get().(*tjDecoder)
	if d == nil {
		return RGB{}, buf, wrapErr(ErrCorrupt, "jpeg: tjInitDecompress failed")
	}
	var msg [256]C.char
	rc := C.artauth_tj_decode(d.h,
		(*C.uchar)(unsafe.Pointer(unsafe.SliceData(src))), C.ulong(len(src)),
		(*C.uchar)(unsafe.Pointer(unsafe.SliceData(buf))),
		C.int(w), C.int(w*ps), C.int(ht), C.int(pf), C.int(flags),
		&msg[0], C.int(len(msg)))
	runtime.KeepAlive(src)
	runtime.KeepAlive(buf)
	if rc == 2 {
		// A handle that failed is not reused.
		d.destroy()
		m := C.GoString(&msg[0])
		switch {
		case strings.Contains(m, "scans"):
			return RGB{}, buf, wrapErr(ErrTooLarge, "jpeg: %s", m)
		case !h.complete:
			return RGB{}, buf, wrapErr(ErrCorrupt,
				"jpeg: truncated (%d bytes, no EOI marker): %s", len(data), m)
		case strings.Contains(m, "Unsupported") || strings.Contains(m, "not supported") ||
			strings.Contains(m, "not implemented"):
			return RGB{}, buf, wrapErr(ErrUnsupportedFormat, "jpeg: %s", m)
		default:
			return RGB{}, buf, wrapErr(ErrCorrupt, "jpeg: %s", m)
		}
	}
	// rc == 1: libjpeg warnings only (e.g. extraneous bytes before a marker,
	// a corrupt entropy segment). libjpeg still produced every scanline and
	// PIL ignores such warnings, so the image is accepted.
	tjPool.Put(d)

	img := RGB{Pix: buf[:w*ht*3], Stride: 3 * w, Width: w, Height: ht}
	if ps == 4 {
		cmykToRGBInPlace(buf[:w*ht*4], w*ht)
	}
	return img, buf, nil
}
