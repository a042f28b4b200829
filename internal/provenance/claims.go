package provenance

import "strings"

// Claim is one piece of metadata that claims the image was made, wholly or
// in part, by an AI image generator. Claims are what the file says about
// itself: forgeable, strippable, and never checked here.
type Claim struct {
	// Source is where the claim was found: "xmp", "c2pa", "png_text" or
	// "exif_software".
	Source string `json:"source"`
	// Field names the field: "Iptc4xmpExt:DigitalSourceType",
	// "xmp:CreatorTool", "claim_generator", "actions.digitalSourceType",
	// "actions.softwareAgent", a PNG text keyword, or "Software".
	Field string `json:"field"`
	// Value is the field's value, cut to 256 bytes.
	Value string `json:"value"`
	// Generator names the generator recognised in the value, when one is.
	Generator string `json:"generator,omitempty"`
	// Verified is always false: no signature or binding is validated.
	Verified bool `json:"verified"`
}

// AIClaims lists the metadata in s that claims AI generation: an IPTC
// digital source type of trainedAlgorithmicMedia,
// compositeWithTrainedAlgorithmicMedia, algorithmicMedia or
// compositeSynthetic (XMP or C2PA actions), a generator name in
// xmp:CreatorTool, the C2PA claim generator or software agents, or EXIF
// Software, and PNG text chunks with a generator fingerprint (see
// GeneratorFingerprint). Every Claim has Verified false.
func (s Signals) AIClaims() []Claim {
	var out []Claim
	add := func(source, field, value, gen string) {
		out = append(out, Claim{Source: source, Field: field, Value: clean(value, 256),
			Generator: gen})
	}
	if v := s.XMP.DigitalSourceType; AIDigitalSourceType(v) {
		add("xmp", "Iptc4xmpExt:DigitalSourceType", v, "")
	}
	if g := generatorName(s.XMP.CreatorTool); g != "" {
		add("xmp", "xmp:CreatorTool", s.XMP.CreatorTool, g)
	}
	for _, v := range s.C2PA.DigitalSourceTypes {
		if AIDigitalSourceType(v) {
			add("c2pa", "actions.digitalSourceType", v, "")
		}
	}
	if g := generatorName(s.C2PA.ClaimGenerator); g != "" {
		add("c2pa", "claim_generator", s.C2PA.ClaimGenerator, g)
	}
	for _, v := range s.C2PA.SoftwareAgents {
		if g := generatorName(v); g != "" {
			add("c2pa", "actions.softwareAgent", v, g)
		}
	}
	for _, e := range s.PNGText {
		if e.Generator != "" {
			add("png_text", e.Key, e.Value, e.Generator)
		}
	}
	if g := generatorName(s.EXIF.Software); g != "" {
		add("exif_software", "Software", s.EXIF.Software, g)
	}
	return out
}

// generatorNames maps lower-case substrings to the generator they name.
// Matching is by substring, so a name inside a longer string counts.
var generatorNames = []struct{ sub, name string }{
	{"stable diffusion", "Stable Diffusion"},
	{"stable-diffusion", "Stable Diffusion"},
	{"stablediffusion", "Stable Diffusion"},
	{"sdxl", "Stable Diffusion"},
	{"midjourney", "Midjourney"},
	{"dall-e", "DALL-E"},
	{"dall·e", "DALL-E"},
	{"dalle", "DALL-E"},
	{"novelai", "NovelAI"},
	{"firefly", "Adobe Firefly"},
	{"comfyui", "ComfyUI"},
	{"automatic1111", "AUTOMATIC1111"},
	{"invokeai", "InvokeAI"},
	{"fooocus", "Fooocus"},
	{"dreamstudio", "DreamStudio"},
	{"leonardo.ai", "Leonardo.Ai"},
	{"ideogram", "Ideogram"},
	{"craiyon", "Craiyon"},
	{"nightcafe", "NightCafe"},
	{"flux.1", "FLUX"},
	{"chatgpt", "OpenAI"},
	{"openai", "OpenAI"},
	{"bing image creator", "Bing Image Creator"},
}

// generatorName returns the generator named in v, or "". Besides the
// case-insensitive names of generatorNames it matches "DALL" in capitals.
func generatorName(v string) string {
	if v == "" {
		return ""
	}
	lv := strings.ToLower(v)
	for _, g := range generatorNames {
		if strings.Contains(lv, g.sub) {
			return g.name
		}
	}
	if strings.Contains(v, "DALL") {
		return "DALL-E"
	}
	return ""
}

// GeneratorFingerprint returns the generator that a PNG text chunk
// fingerprints, or "". By keyword: "parameters" (AUTOMATIC1111 and its
// forks), "prompt" or "workflow" (ComfyUI), "invokeai_metadata",
// "invokeai_graph", "sd-metadata" or "Dream" (InvokeAI), "fooocus_scheme"
// (Fooocus); by value: a generator name (Stable Diffusion, Midjourney,
// DALL-E, NovelAI, Adobe Firefly, ...) in a "Software", "Source",
// "Generator", "Creator" or "CreatorTool" chunk.
func GeneratorFingerprint(key, value string) string {
	switch strings.ToLower(key) {
	case "parameters":
		return "AUTOMATIC1111"
	case "prompt", "workflow":
		return "ComfyUI"
	case "invokeai_metadata", "invokeai_graph", "sd-metadata", "dream":
		return "InvokeAI"
	case "fooocus_scheme":
		return "Fooocus"
	case "software", "source", "generator", "creator", "creatortool":
		return generatorName(value)
	}
	return ""
}
