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
