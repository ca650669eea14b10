package doccheck

import (
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"
	"strings"
	"testing"
	"time"

	"github.com/kelseyhightower/envconfig"
)

// The struct below, as source and as a value: envconfigNames must derive
// from the source the keys envconfig itself reads from the value.
const sampleSrc = `package sample

import "time"

type inner struct {
	Port int
	HostName string ` + "`split_words:\"true\"`" + `
}

type Embedded struct {
	Shared string ` + "`envconfig:\"SHARED_THING\"`" + `
}

type sample struct {
	Embedded
	DatabaseURL string ` + "`envconfig:\"DATABASE_URL\"`" + `
	MaxBackoff time.Duration ` + "`split_words:\"true\"`" + `
	HTTPAddr string ` + "`split_words:\"true\"`" + `
	Plain string
	Skipped string ` + "`ignored:\"true\"`" + `
	hidden string
	Nested inner
	Ptr *inner
}
`

type sampleInner struct {
	Port     int
	HostName string `split_words:"true"`
}

type SampleEmbedded struct {
	Shared string `envconfig:"SHARED_THING"`
}

type sample struct {
	SampleEmbedded
	DatabaseURL string        `envconfig:"DATABASE_URL"`
	MaxBackoff  time.Duration `split_words:"true"`
	HTTPAddr    string        `split_words:"true"`
	Plain       string
	Skipped     string `ignored:"true"`
	//lint:ignore U1000 envconfig skips unexported fields, and so must the test
	hidden string
	Nested sampleInner
	Ptr    *sampleInner
}

func TestEnvconfigNames(t *testing.T) {
	t.Parallel()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "sample.go", sampleSrc, 0)
	if err != nil {
		t.Fatal(err)
	}
	pkg, err := (&types.Config{Importer: fakeImporter{}, Error: func(error) {}}).Check("sample", fset, []*ast.File{f}, nil)
	if pkg == nil {
		t.Fatal(err)
	}
	st, ok := structOf(pkg.Scope().Lookup("sample").Type())
	if !ok {
		t.Fatal("sample is not a struct")
	}
	for _, prefix := range []string{"", "PGREDIS", "app"} {
		var got []string
		for _, v := range envconfigNames(prefix, st) {
			if !v.alt {
				got = append(got, v.name)
			}
		}
		var b strings.Builder
		if err := envconfig.Usagef(prefix, &sample{}, &b, "{{range .}}{{.Key}}\n{{end}}"); err != nil {
			t.Fatal(err)
		}
		want := strings.Fields(b.String())
		if len(want) != 9 {
			t.Fatalf("envconfig lists %v for the sample: expected 9 keys", want)
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("prefix %q: derived %v, envconfig reads %v", prefix, got, want)
		}
	}
}
