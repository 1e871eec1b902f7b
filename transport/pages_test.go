package transport

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
)

// pager serves items 1..total in pages of size, failing the page after
// failAfter pages (0: never), and counts the calls.
type pager struct {
	total, size, failAfter int
	calls                  int
	tokens                 []string
}

var errPage = errors.New("page failed")

func (p *pager) page(_ context.Context, token string) ([]int, string, error) {
	p.calls++
	p.tokens = append(p.tokens, token)
	if p.failAfter > 0 && p.calls > p.failAfter {
		return nil, "", errPage
	}
	start := 0
	if token != "" {
		_, _ = fmt.Sscanf(token, "after-%d", &start)
	}
	var items []int
	for i := start + 1; i <= p.total && len(items) < p.size; i++ {
		items = append(items, i)
	}
	next := ""
	if n := start + len(items); n < p.total {
		next = fmt.Sprintf("after-%d", n)
	}
	return items, next, nil
}

func TestPagesYieldsEveryItemAcrossPagesInOrder(t *testing.T) {
	p := &pager{total: 7, size: 3}
	var got []int
	for v, err := range Pages(context.Background(), p.page) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, v)
	}
	if !slices.Equal(got, []int{1, 2, 3, 4, 5, 6, 7}) {
		t.Fatalf("listed %v, want 1..7", got)
	}
	if !slices.Equal(p.tokens, []string{"", "after-3", "after-6"}) {
		t.Fatalf("pages fetched with tokens %q", p.tokens)
	}
}

func TestPagesYieldsTheErrorOnceLastAfterTheItemsBeforeIt(t *testing.T) {
	p := &pager{total: 10, size: 2, failAfter: 2}
	var got []int
	var errs []error
	for v, err := range Pages(context.Background(), p.page) {
		if err != nil {
			if v != 0 {
				t.Fatalf("the error came with %d, want the zero value", v)
			}
			errs = append(errs, err)
			continue
		}
		if len(errs) > 0 {
			t.Fatal("an item came after the error")
		}
		got = append(got, v)
	}
	if !slices.Equal(got, []int{1, 2, 3, 4}) || len(errs) != 1 || !errors.Is(errs[0], errPage) {
		t.Fatalf("listed %v then %v; want 1..4 then the page's error once", got, errs)
	}
}

func TestPagesBreakFetchesNothingMore(t *testing.T) {
	p := &pager{total: 100, size: 10}
	for v := range Pages(context.Background(), p.page) {
		if v == 3 {
			break
		}
	}
	if p.calls != 1 {
		t.Fatalf("breaking in the first page made %d calls, want 1", p.calls)
	}
	empty := &pager{total: 0, size: 10}
	for range Pages(context.Background(), empty.page) {
		t.Fatal("an empty listing yielded")
	}
}
