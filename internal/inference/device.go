package inference

import (
	"fmt"
	"strconv"
	"strings"
)

// Device is an execution device: the CPU, or one CUDA GPU.
type Device struct {
	// Kind is "cpu" or "cuda".
	Kind string
	// Index is the CUDA device ordinal; 0 for the CPU.
	Index int
}

// CPU is the CPU device.
var CPU = Device{Kind: "cpu"}

// ParseDevice reads "cpu" or "cuda:N" ("cuda" alone is cuda:0).
func ParseDevice(s string) (Device, error) {
	s = strings.TrimSpace(strings.ToLower(s))
	switch {
	case s == "cpu":
		return CPU, nil
	case s == "cuda":
		return Device{Kind: "cuda"}, nil
	case strings.HasPrefix(s, "cuda:"):
		n, err := strconv.Atoi(s[len("cuda:"):])
		if err != nil || n < 0 {
			return Device{}, fmt.Errorf("device %q: want cpu or cuda:N with N >= 0", s)
		}
		return Device{Kind: "cuda", Index: n}, nil
	}
	return Device{}, fmt.Errorf("device %q: want cpu or cuda:N", s)
}

// String gives the form ParseDevice reads.
func (d Device) String() string {
	if d.Kind == "cuda" {
		return fmt.Sprintf("cuda:%d", d.Index)
	}
	return "cpu"
}
