package transport

import (
	"context"
	"iter"
)

// Pages is the one listing shape of the SDK: every client's List of its
// resources (buckets, streams, consumers, stores, sketches, policies) is
// an iter.Seq2[T, error] built by Pages over a paged unary call. page
// fetches the page after token ("" for the first) and answers its items
// and the next token ("" after the last page); Pages calls it again only
// as the range loop asks for more.
//
// The listing stops at the first error, which it yields once, last, with
// the zero value: a loop that returns on an error sees every item before
// it. Breaking out of the loop fetches nothing more. Nothing runs in the
// background, so there is nothing to stop. Every Call inside page gets
// ctx, the context given to the List call.
func Pages[T any](ctx context.Context, page func(ctx context.Context, token string) (items []T, next string, err error)) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		token := ""
		for {
			items, next, err := page(ctx, token)
			if err != nil {
				var zero T
				yield(zero, err)
				return
			}
			for _, it := range items {
				if !yield(it, nil) {
					return
				}
			}
			if next == "" {
				return
			}
			token = next
		}
	}
}

// Map converts a page of generated messages with f, for a Pages page
// function.
func Map[P, T any](ps []P, f func(P) T) []T {
	out := make([]T, len(ps))
	for i, p := range ps {
		out[i] = f(p)
	}
	return out
}
