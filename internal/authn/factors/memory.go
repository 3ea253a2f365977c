package factors

import (
	"context"
	"slices"
	"sync"
)

// MemoryStore is an in-process FactorStore for tests and trials.
type MemoryStore struct {
	mu sync.Mutex
	m  map[string][]byte
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore { return &MemoryStore{m: map[string][]byte{}} }

// Get implements FactorStore.
func (s *MemoryStore) Get(_ context.Context, userID string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.m[userID]
	if !ok {
		return nil, ErrNotFound
	}
	return slices.Clone(b), nil
}

// Put implements FactorStore.
func (s *MemoryStore) Put(_ context.Context, userID string, sealed []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sealed == nil {
		delete(s.m, userID)
		return nil
	}
	s.m[userID] = slices.Clone(sealed)
	return nil
}
