package worker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// fenced handles a refused write: when Redis lost the claim (restarted
// empty, flushed) the mirror is rebuilt. When another token holds it, a
// worker claimed the mirror: if this one still holds the lock, that was a
// worker that had lost it without noticing yet, and this one reclaims;
// otherwise this one is that worker and stands down.
func (m *machine) fenced(ctx context.Context) (mode, error) {
	owner, err := m.st.owner(ctx)
	if err != nil {
		return m.failed(ctx, err)
	}
	if owner != "" {
		if err := m.src.holdsLock(ctx); err != nil {
			if errors.Is(err, errSessionLost) {
				return modeDone, fmt.Errorf("another worker claimed the mirror (owner token %.8s...) and this worker lost its lock; standing down", owner)
			}
			return m.failed(ctx, err)
		}
		m.cfg.Logger.Warn("a worker that had lost the lock claimed the mirror; this worker holds the lock, so it reclaims the mirror and rebuilds it", "owner", owner)
		return modeClaim, nil
	}
	return m.lostClaim(ctx)
}

// lostClaim rebuilds the mirror after Redis lost the claim (restarted
// empty, flushed, replaced), unless Redis evicted it: then Redis cannot
// hold the mirror, which is reported, and the rebuild waits in down mode
// with backoff instead of looping.
func (m *machine) lostClaim(ctx context.Context) (mode, error) {
	mem, err := m.st.memory(ctx)
	if err != nil {
		return m.failed(ctx, err)
	}
	if mem.maxmemory > 0 && mem.evicted > m.evicted {
		reason := fmt.Sprintf("Redis cannot hold the mirror: it evicted %d keys under maxmemory %d (maxmemory-policy %s), this worker's claim among them",
			mem.evicted-m.evicted, mem.maxmemory, mem.policy)
		m.evicted = mem.evicted
		// Each rebuild may be evicted again: one line a minute says it.
		if m.now().Sub(m.evictLogged) >= time.Minute {
			m.cfg.Logger.Error(reason, "fix", evictionFix)
			m.evictLogged = m.now()
		}
		m.down.logged = reason
		m.cfg.Metrics.driftCause("", "evicted", 1)
		if m.down.since.IsZero() {
			m.down.since = m.now()
		}
		m.down.reason = reason
		// The rebuild's success ends the outage, not the evictions: the
		// backoff grows until a claim check sees none (checkEvictions).
		m.evictAttempt++
		m.down.attempt = m.evictAttempt
		m.retry.Reset(backoff(m.evictAttempt, m.cfg.MaxBackoff))
		return modeDown, nil
	}
	m.cfg.Logger.Warn("Redis lost this worker's claim (restarted, flushed or replaced); rebuilding the mirror")
	return modeClaim, nil
}

// checkEvictions follows Redis evicting keys under a policy that takes
// any key (allkeys-*) while the claim survived: mirror keys may be among
// them, and which ones is unknown. Readers miss them (never read an older
// value) and the mirror stays live; every table is reconciled, soon after
// the first evictions and with backoff while they go on (each reconcile
// may evict again when Redis is too small), and the report says Redis is
// too small, at most once a minute.
func (m *machine) checkEvictions(ctx context.Context) error {
	mem, err := m.st.memory(ctx)
	if err != nil {
		return err
	}
	switch {
	// Not maxmemory or the policy now: the evictions counted may predate
	// a change of either, and they took keys all the same. Under a
	// volatile-* policy they took ttl= keys, which the audit re-adds.
	case mem.evicted <= m.evicted || strings.HasPrefix(mem.policy, "volatile-"):
		m.evicted = max(m.evicted, mem.evicted)
		if m.evictRepair.IsZero() {
			m.evictAttempt = 0
		}
	default:
		if m.now().Sub(m.evictLogged) >= time.Minute {
			m.cfg.Logger.Error(fmt.Sprintf("Redis cannot hold the mirror: it evicted %d keys under maxmemory %d (maxmemory-policy %s), which may take the mirror's keys; reconciling every table, with backoff while evictions go on",
				mem.evicted-m.evicted, mem.maxmemory, mem.policy), "fix", evictionFix)
			m.evictLogged = m.now()
		}
		m.evicted = mem.evicted
		if m.evictRepair.IsZero() {
			m.evictAttempt++
			m.evictRepair = m.now().Add(backoff(m.evictAttempt, m.cfg.MaxBackoff))
		}
	}
	if !m.evictRepair.IsZero() && !m.now().Before(m.evictRepair) {
		m.evictRepair = time.Time{}
		m.cfg.Metrics.driftCause("", "evicted", 1)
		for _, t := range m.tables {
			m.dirty[t] = true
		}
	}
	return nil
}

const evictionFix = "raise maxmemory, or set maxmemory-policy to noeviction (writes are then refused and reported) or a volatile-* policy (only ttl= keys are evicted; the audit re-adds them)"
