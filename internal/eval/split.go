package eval

import (
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
)

// Split is a saved split (split.csv written by training/train.py): which part — train, val
// or test — each image belongs to, by SHA-256.
type Split struct {
	// Path is the file read; SHA256 its hash (model.json records it).
	Path   string
	SHA256 string
	// Parts maps an image's SHA-256 to its part.
	Parts map[string]string
}

var shaRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

func validPart(p string) bool { return p == "train" || p == "val" || p == "test" }

// ReadSplit reads a split CSV. It needs a header naming at least the columns sha256 and
// part; other columns (path, label, group) are ignored.
func ReadSplit(path string) (*Split, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read split %s: %w", path, err)
	}
	sum := sha256.Sum256(raw)
	s := &Split{Path: path, SHA256: hex.EncodeToString(sum[:]), Parts: map[string]string{}}
	r := csv.NewReader(strings.NewReader(string(raw)))
	header, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("split %s: read header: %w", path, err)
	}
	shaCol, partCol := -1, -1
	for i, h := range header {
		switch strings.TrimSpace(h) {
		case "sha256":
			shaCol = i
		case "part":
			partCol = i
		}
	}
	if shaCol < 0 || partCol < 0 {
		return nil, fmt.Errorf("split %s: header %q lacks a sha256 or part column", path, header)
	}
	for line := 2; ; line++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("split %s: %w", path, err)
		}
		sha, part := strings.ToLower(rec[shaCol]), rec[partCol]
		if !shaRE.MatchString(sha) {
			return nil, fmt.Errorf("split %s line %d: sha256 %q is not 64 hex digits",
				path, line, rec[shaCol])
		}
		if !validPart(part) {
			return nil, fmt.Errorf("split %s line %d: part %q: want train, val or test",
				path, line, part)
		}
		if prev, ok := s.Parts[sha]; ok && prev != part {
			return nil, fmt.Errorf("split %s line %d: image %s is in both %s and %s",
				path, line, sha, prev, part)
		}
		s.Parts[sha] = part
	}
	if len(s.Parts) == 0 {
		return nil, fmt.Errorf("split %s lists no images", path)
	}
	return s, nil
}

// Count is the number of images in part.
func (s *Split) Count(part string) int {
	n := 0
	for _, p := range s.Parts {
		if p == part {
			n++
		}
	}
	return n
}
