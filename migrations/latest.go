package migrations

import (
	"fmt"
	"io/fs"
	"strconv"
	"strings"
)

// Latest is the highest version among the embedded migrations: the
// version migrate up brings a database to. A dry run compares it with the
// record without opening a migrator (which would create the schema).
func Latest() (uint, error) {
	entries, err := fs.ReadDir(files, ".")
	if err != nil {
		return 0, fmt.Errorf("error reading embedded migrations: %w", err)
	}
	var latest uint
	for _, e := range entries {
		prefix, _, ok := strings.Cut(e.Name(), "_")
		if !ok {
			continue
		}
		v, err := strconv.ParseUint(prefix, 10, 64)
		if err != nil {
			continue
		}
		latest = max(latest, uint(v))
	}
	return latest, nil
}
