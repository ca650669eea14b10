package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestLoggerFormatAndLevel(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log, err := (&env{LogFormat: "json", LogLevel: "warn"}).loggerTo(&buf)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("hidden below the level")
	log.Warn("table changed shape", "table", "public.t")
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("want exactly one JSON record, got %q: %v", buf.String(), err)
	}
	if rec["level"] != "WARN" || rec["msg"] != "table changed shape" || rec["table"] != "public.t" {
		t.Fatalf("record %v", rec)
	}

	buf.Reset()
	log, err = (&env{LogFormat: "text", LogLevel: "debug"}).loggerTo(&buf)
	if err != nil {
		t.Fatal(err)
	}
	log.Debug("probe", "store", "redis")
	if got := buf.String(); !strings.Contains(got, "level=DEBUG") || !strings.Contains(got, "store=redis") {
		t.Fatalf("text record %q", got)
	}

	for _, bad := range []env{{LogFormat: "xml", LogLevel: "info"}, {LogFormat: "text", LogLevel: "loud"}} {
		if _, err := bad.loggerTo(&buf); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}
