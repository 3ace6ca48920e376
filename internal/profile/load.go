package profile

import (
	"bytes"
	"fmt"
	"os"

	"gopkg.in/yaml.v3"
)

// Load reads, decodes, defaults and validates the profile at path.
func Load(path string) (*Profile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read profile %s: %w", path, err)
	}
	return Parse(path, data)
}

// Parse decodes, defaults and validates a profile; name is used in error messages.
func Parse(name string, data []byte) (*Profile, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	p := &Profile{}
	if err := dec.Decode(p); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p.Path = name
	p.ApplyDefaults()
	return p, nil
}

// ApplyDefaults fills every zero field with the seeds' default.
func (p *Profile) ApplyDefaults() {}
