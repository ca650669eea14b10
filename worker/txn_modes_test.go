package worker

import (
	"fmt"
	"strings"
	"testing"
)

func txnPayload(txid int64, key string) string {
	return fmt.Sprintf("p2 v1 1 0 %d\nS%d:%s2:{}", txid, len(key), key)
}

func appliedKeys(ws []write) string {
	var ks []string
	for _, w := range ws {
		ks = append(ks, w.key)
	}
	return strings.Join(ks, ",")
}

// A batch ends only where the transaction id changes: one past the batch
// size is extended to the end of its last transaction, and what follows
// is carried to the next batch, not lost.
func TestModesBatchesEndAtTransactionBoundaries(t *testing.T) {
	r := newRig(t)
	r.m.cfg.BatchSize = 3
	r.live(t)
	r.st.applied = nil
	r.send(txnPayload(10, "acct:1"), txnPayload(10, "acct:2"),
		txnPayload(11, "acct:3"), txnPayload(11, "acct:4"), txnPayload(11, "acct:5"),
		txnPayload(12, "acct:6"))
	r.step(t, modeApply, modeApply)
	if len(r.st.applied) != 1 || appliedKeys(r.st.applied[0]) != "acct:1,acct:2,acct:3,acct:4,acct:5" {
		t.Fatalf("first batch applied %v, want transactions 10 and 11 whole in one call", r.st.applied)
	}
	if len(r.m.carry) != 1 {
		t.Fatalf("carried %d payloads, want transaction 12's one", len(r.m.carry))
	}
	r.step(t, modeApply, modeApply)
	if len(r.st.applied) != 2 || appliedKeys(r.st.applied[1]) != "acct:6" {
		t.Fatalf("second batch applied %v, want transaction 12", r.st.applied)
	}
}

// A batch extended to finish its transaction carries the transactions
// that follow to the next batch. When its write fails (Redis went away),
// what it carried is older than the reconcile that follows Redis's return
// and must not be applied after it.
func TestModesCarryIsDroppedByTheClaim(t *testing.T) {
	r := newRig(t)
	r.m.cfg.BatchSize = 1
	r.live(t)
	r.st.applied = nil
	r.st.applyErr = redisErr(fmt.Errorf("connection refused"))
	r.send(txnPayload(10, "acct:1"), txnPayload(11, "acct:2"))
	r.step(t, modeApply, modeDown)
	if len(r.m.carry) != 1 {
		t.Fatalf("carried %d payloads, want transaction 11's one", len(r.m.carry))
	}
	r.st.applyErr = nil
	r.m.retry.Reset(0)
	r.step(t, modeDown, modeClaim)
	r.step(t, modeClaim, modeRepair)
	r.step(t, modeRepair, modeApply)
	if len(r.m.carry) != 0 {
		t.Fatalf("the claim kept %d carried payloads, older than its reconcile", len(r.m.carry))
	}
	for _, ws := range r.st.applied {
		if strings.Contains(appliedKeys(ws), "acct:2") {
			t.Fatalf("a change older than the reconcile was applied after it: %v", r.st.applied)
		}
	}
}
