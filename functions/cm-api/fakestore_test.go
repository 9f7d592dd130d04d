package main

import (
	"cmp"
	"context"
	"slices"
	"sync"

	"github.com/scalable-shop/scalable-shop/functions/internal/purchase"
)

// memStore is an in-memory store with the same duplicate and conflict
// semantics as mongoStore, for handler tests. err, when set, fails every call.
type memStore struct {
	mu     sync.Mutex
	ps     map[string]purchase.Purchase
	claims map[string]claim
	err    error
}

func newMemStore() *memStore { return &memStore{ps: map[string]purchase.Purchase{}} }

func (m *memStore) Save(_ context.Context, p purchase.Purchase) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return false, m.err
	}
	if old, ok := m.ps[p.ID]; ok {
		if !old.Equivalent(p) {
			return false, errConflict
		}
		return true, nil
	}
	m.ps[p.ID] = p
	return false, nil
}

// SaveMany saves each item with Save.
func (m *memStore) SaveMany(ctx context.Context, items []saveItem) []saveResult {
	return saveEach(ctx, m.Save, items)
}

// saveEach is a SaveMany of one save per item.
func saveEach(ctx context.Context, save func(context.Context, purchase.Purchase) (bool, error), items []saveItem) []saveResult {
	out := make([]saveResult, len(items))
	for i, it := range items {
		out[i].duplicate, out[i].err = save(ctx, it.p)
	}
	return out
}

func (m *memStore) List(_ context.Context, username string, page purchase.Page) ([]purchase.Purchase, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return nil, "", m.err
	}
	var out []purchase.Purchase
	for _, p := range m.ps {
		if p.Username == username {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b purchase.Purchase) int {
		return cmp.Or(b.Timestamp.Compare(a.Timestamp), cmp.Compare(b.ID, a.ID))
	})
	if len(out) > page.Limit {
		out = out[:page.Limit]
	}
	return out, "", nil
}

// Claim is mongoStore.Claim in memory: the first claim of a key holds it.
func (m *memStore) Claim(_ context.Context, c claim) (claimOutcome, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return claimOutcome{}, m.err
	}
	held, ok := m.claims[c.Key]
	if !ok {
		if m.claims == nil {
			m.claims = map[string]claim{}
		}
		m.claims[c.Key] = c
		return claimOutcome{created: true}, nil
	}
	if held.PurchaseID != c.PurchaseID || held.Fingerprint != c.Fingerprint {
		return claimOutcome{}, errClaimedByOther
	}
	_, stored := m.ps[c.PurchaseID]
	return claimOutcome{stored: stored}, nil
}

func (m *memStore) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.ps)
}
