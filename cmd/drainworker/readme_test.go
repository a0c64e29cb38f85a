package main

import (
	"flag"
	"io"
	"os"
	"regexp"
	"testing"
)

// The README's configuration table says exactly what the binary does.
func TestReadmeConfigurationTable(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `--([a-z-]+)` \\| `(DRAIN_[A-Z_]+)` \\| (empty|`[^`]*`) \\|")
	documented := map[string][2]string{}
	for _, m := range row.FindAllStringSubmatch(string(readme), -1) {
		def := m[3]
		if def == "empty" {
			def = ""
		} else {
			def = def[1 : len(def)-1]
		}
		documented[m[1]] = [2]string{m[2], def}
	}
	fs, env := newFlagSet(newOptions(), io.Discard)
	fs.VisitAll(func(f *flag.Flag) {
		doc, ok := documented[f.Name]
		if !ok {
			t.Errorf("flag --%s is not in the README's configuration table", f.Name)
			return
		}
		if doc[0] != env[f.Name] {
			t.Errorf("--%s: README says %s, the binary reads %s", f.Name, doc[0], env[f.Name])
		}
		if doc[1] != f.DefValue {
			t.Errorf("--%s: README default %q, the binary's %q", f.Name, doc[1], f.DefValue)
		}
		delete(documented, f.Name)
	})
	for name := range documented {
		t.Errorf("README documents --%s, which drainworker does not have", name)
	}
}
