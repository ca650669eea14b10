package main

import (
	"fmt"
	"runtime/debug"
)

// versionLine is what pgredis version prints. make build stamps version
// and commit with -ldflags; a plain go build or go install leaves them
// unset, and the Go toolchain's build info (the module version go install
// resolved, the VCS revision of the checkout go build ran in) says instead.
func versionLine() string {
	v, c := version, commit
	if bi, ok := debug.ReadBuildInfo(); ok {
		v, c = fromBuildInfo(bi, v, c)
	}
	return fmt.Sprintf("pgredis %s (commit %s)", v, c)
}

func fromBuildInfo(bi *debug.BuildInfo, v, c string) (string, string) {
	if v == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v = bi.Main.Version
	}
	if c != "unknown" {
		return v, c
	}
	var rev string
	var modified bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if rev == "" {
		return v, c
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if modified {
		rev += ", modified"
	}
	return v, rev
}
