// Package doccheck has no code: its tests keep the documentation true to
// the repository. They read README.md, BENCHMARKS.md and docs/*.md (not
// docs/fragments/, drafts waiting to be merged) and fail on a relative
// link or anchor that leads nowhere, a repository path in backticks that
// does not exist, and an environment variable the docs name but the code
// does not read, or the code reads but docs/configuration.md (or, for the
// test suite's, docs/development.md) does not document. They need no
// server, so they run in the fast tier (go test -short).
package doccheck
