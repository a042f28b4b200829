package inference

import (
	"fmt"
	"strconv"
	"strings"
)

// Device is an execution device: the CPU, or one GPU through ONNX Runtime's CUDA or
// TensorRT execution provider.
type Device struct {
	// Kind is "cpu", "cuda" or "tensorrt".
	Kind string
	// Index is the CUDA device ordinal; 0 for the CPU.
	Index int
}

// CPU is the CPU device.
var CPU = Device{Kind: "cpu"}

// ParseDevice reads "cpu", "cuda:N" or "tensorrt:N" (without ":N", GPU 0).
func ParseDevice(s string) (Device, error) {
	s = strings.TrimSpace(strings.ToLower(s))
	if s == "cpu" {
		return CPU, nil
	}
	kind, num, hasNum := strings.Cut(s, ":")
	if kind != "cuda" && kind != "tensorrt" {
		return Device{}, fmt.Errorf("device %q: want cpu, cuda:N or tensorrt:N", s)
	}
	n := 0
	if hasNum {
		var err error
		if n, err = strconv.Atoi(num); err != nil || n < 0 {
			return Device{}, fmt.Errorf("device %q: want %s:N with N >= 0", s, kind)
		}
	}
	return Device{Kind: kind, Index: n}, nil
}

// ParseDevices reads a comma-separated list of devices, each at most once.
func ParseDevices(s string) ([]Device, error) {
	var out []Device
	seen := map[Device]bool{}
	for _, part := range strings.Split(s, ",") {
		d, err := ParseDevice(part)
		if err != nil {
			return nil, err
		}
		if seen[d] {
			return nil, fmt.Errorf("devices %q: %s listed twice", s, d)
		}
		seen[d] = true
		out = append(out, d)
	}
	return out, nil
}

// String gives the form ParseDevice reads.
func (d Device) String() string {
	if d.Kind == "cpu" || d.Kind == "" {
		return "cpu"
	}
	return fmt.Sprintf("%s:%d", d.Kind, d.Index)
}
