package configs

import (
	"errors"
	"testing"
)

// FuzzParse: no input may panic the loader; every refusal is Problems.
func FuzzParse(f *testing.F) {
	f.Add([]byte(base))
	f.Add(ExampleTOML)
	f.Add(DemoTOML)
	f.Add([]byte("[[target]]\nname = \"a\"\n[target.http]\nstatus = [200,\n 300]\nx = '''\n[[y]]\n'''\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("f.toml", t.TempDir(), data, noEnv)
		var ps Problems
		if err != nil && !errors.As(err, &ps) {
			t.Fatalf("error is %T, not Problems: %v", err, err)
		}
		if err == nil && cfg == nil {
			t.Fatal("nil config without error")
		}
	})
}
