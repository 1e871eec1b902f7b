package overhead

import (
	"context"

	"google.golang.org/grpc"

	"git.awesomike.com/pub/waymaker-client/go/genpb/sketchpb"
	"git.awesomike.com/pub/waymaker-client/go/sketch"
)

// overheadSketch answers BloomAdd and BloomExists with fixed successes.
type overheadSketch struct {
	sketchpb.UnimplementedSketchServiceServer
}

func (overheadSketch) BloomAdd(context.Context, *sketchpb.SketchServiceBloomAddRequest) (*sketchpb.SketchServiceBloomAddResponse, error) {
	return &sketchpb.SketchServiceBloomAddResponse{Result: okResult, Added: true}, nil
}

func (overheadSketch) BloomExists(context.Context, *sketchpb.SketchServiceBloomExistsRequest) (*sketchpb.SketchServiceBloomExistsResponse, error) {
	return &sketchpb.SketchServiceBloomExistsResponse{Result: okResult, Exists: true}, nil
}

func serveSketch(s grpc.ServiceRegistrar) {
	sketchpb.RegisterSketchServiceServer(s, overheadSketch{})
}

func sketchPairs(f *fixture) []pair {
	srpc := sketchpb.NewSketchServiceClient(f.conn)
	bloom := sketch.New(f.conn).Bloom("b")
	item := []byte("item")
	return []pair{
		{
			name: "sketch.Bloom.Add",
			raw: func(ctx context.Context) error {
				_, err := srpc.BloomAdd(ctx, &sketchpb.SketchServiceBloomAddRequest{Name: "b", Item: item})
				return err
			},
			wrapper: func(ctx context.Context) error {
				_, err := bloom.Add(ctx, item)
				return err
			},
		},
		{
			name: "sketch.Bloom.Exists",
			raw: func(ctx context.Context) error {
				_, err := srpc.BloomExists(ctx, &sketchpb.SketchServiceBloomExistsRequest{Name: "b", Item: item})
				return err
			},
			wrapper: func(ctx context.Context) error {
				_, err := bloom.Exists(ctx, item)
				return err
			},
		},
	}
}
