package stream

// StreamBinding returns the name of the stream that binds the literal
// subject, or "" when none does: the stream a publish to subject would be
// stored in. The permission check of a publish asks it (server/auth.go);
// it takes the read lock only, unlike the publish path's cached lookup.
func (m *Machine) StreamBinding(subject string) string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if o, ok := m.subjIdx.first(subject); ok {
		return o.name
	}
	return ""
}
