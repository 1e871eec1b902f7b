// Command tour walks every waymaker subsystem against a server: the one at
// WAYMAKER_ADDR, or one embedded in this process when that is unset.
//
//	go run ./examples/tour
//
// Each subsystem adds its stop to the tour in a file of its own (see
// register); main runs them in order.
package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"time"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/examples/internal/embed"
)

type stop struct {
	order int
	name  string
	run   func(ctx context.Context, c *waymaker.Client) error
}

var stops []stop

// register adds a stop to the tour; stops run by ascending order.
func register(order int, name string, run func(ctx context.Context, c *waymaker.Client) error) {
	stops = append(stops, stop{order, name, run})
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "tour:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	client, stopAll, err := embed.Connect(ctx)
	if err != nil {
		return err
	}
	defer stopAll()
	sort.SliceStable(stops, func(i, j int) bool { return stops[i].order < stops[j].order })
	for _, s := range stops {
		fmt.Printf("\n== %s\n", s.name)
		if err := s.run(ctx, client); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	fmt.Println("\ntour complete")
	return nil
}
