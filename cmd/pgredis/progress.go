package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/pgredis/pgredis/worker"
)

// progressPrinter shows a long reconcile's progress: a line redrawn in
// place on a terminal, periodic log lines otherwise (a cron job's log).
type progressPrinter struct {
	mu    sync.Mutex
	out   io.Writer
	tty   bool
	log   *slog.Logger
	drawn bool
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func (p *progressPrinter) show(pr worker.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	total, pct, eta := "?", "", "unknown"
	if pr.Total >= 0 {
		total = fmt.Sprint(pr.Total)
		if pr.Total > 0 {
			pct = fmt.Sprintf(" (%d%%)", pr.Done*100/pr.Total)
		}
	}
	if d := pr.ETA(); d >= 0 {
		eta = d.Round(time.Second).String()
	}
	if !p.tty {
		p.log.Info("resync progress", worker.ProgressAttrs(pr)...)
		return
	}
	fmt.Fprintf(p.out, "\r\033[K%s: %d/%s rows%s, %d rows/s, ETA %s", pr.Table, pr.Done, total, pct, int64(pr.Rate()), eta)
	p.drawn = true
}

// clear removes the progress line before other output.
func (p *progressPrinter) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprint(p.out, "\r\033[K")
		p.drawn = false
	}
}
