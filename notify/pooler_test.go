package notify

import (
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// A stock PgBouncer refuses any startup parameter but a few; DeferParams
// keeps exactly those at startup and moves the rest after the connect.
func TestDeferParams(t *testing.T) {
	t.Parallel()
	cfg, err := pgx.ParseConfig("postgres://u@127.0.0.1/db?application_name=app&search_path=a,b")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range Settings {
		cfg.RuntimeParams[s[0]] = s[1]
	}
	cfg.RuntimeParams["tcp_user_timeout"] = "8000"
	DeferParams(cfg)
	for k := range cfg.RuntimeParams {
		if !startupSafe[strings.ToLower(k)] {
			t.Errorf("%s is still a startup parameter", k)
		}
	}
	for _, k := range []string{"application_name", "TimeZone", "DateStyle", "standard_conforming_strings"} {
		if _, ok := cfg.RuntimeParams[k]; !ok {
			t.Errorf("%s was moved; PgBouncer accepts and tracks it at startup", k)
		}
	}
	if cfg.AfterConnect == nil {
		t.Fatal("no AfterConnect hook for the deferred settings")
	}
	if got := quoteLiteral("it's"); got != "'it''s'" {
		t.Errorf("quoteLiteral = %s", got)
	}
}
