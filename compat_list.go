package waymaker

import "iter"

// collect gathers a subsystem's listing (every List is an iter.Seq2, see
// transport.Pages) into the slices the published names return.
func collect[T any](seq iter.Seq2[T, error]) ([]T, error) {
	var out []T
	for v, err := range seq {
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// collectNames gathers the names of a listing's items.
func collectNames[T any](seq iter.Seq2[T, error], name func(T) string) ([]string, error) {
	var out []string
	for v, err := range seq {
		if err != nil {
			return nil, err
		}
		out = append(out, name(v))
	}
	return out, nil
}
