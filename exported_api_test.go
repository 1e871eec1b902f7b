package waymaker_test

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The subsystem packages whose exported API must not show generated code.
var subsystemPackages = []string{"lock", "kv", "stream", "collections", "sketch", "objstore", "cache", "cluster", "auth"}

// TestNoGenpbInExportedAPI holds the rule that generated types stay behind
// the subsystem packages: no exported function, method, type, field,
// variable or constant of lock, kv, stream, collections, sketch, objstore
// or cache mentions a type from genpb/. It reads the sources with go/parser
// only; scripts/checkdeps.sh runs it too.
func TestNoGenpbInExportedAPI(t *testing.T) {
	var offenders []string
	for _, pkg := range subsystemPackages {
		found, err := genpbInExportedAPI(pkg)
		if err != nil {
			t.Fatal(err)
		}
		offenders = append(offenders, found...)
	}
	if len(offenders) > 0 {
		t.Fatalf("%d exported declarations mention a genpb type:\n\t%s", len(offenders), strings.Join(offenders, "\n\t"))
	}
}

// The check finds each way a generated type can leak, and nothing that is
// unexported.
func TestGenpbInExportedAPIFindsLeaks(t *testing.T) {
	const src = `package p
import (
	"context"
	pb "example.com/m/genpb/kvpb"
	"example.com/m/genpb/streampb"
)
type Opt func(*streampb.Msg)
type Alias = pb.Entry
type S struct {
	Field *pb.Entry
	hidden *pb.Entry
	*streampb.Embedded
}
type I interface {
	Do(pb.Entry) error
	apply(*pb.Entry)
}
type G[T pb.Entry] struct{}
func F(ctx context.Context) (*pb.Entry, error) { return nil, nil }
func (s *S) M(x []map[string]*streampb.Msg) {}
func (s *S) m(*pb.Entry) {}
func (s *s2) M(*pb.Entry) {}
type s2 struct{ F *pb.Entry }
func f(*pb.Entry) {}
var V *pb.Entry
var v *pb.Entry
const C = pb.Kind_A
var Ok = 3
`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "p.go", src, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	got := genpbInFile(fset, f)
	want := []string{
		"p.go:7: type Opt mentions streampb.Msg",
		"p.go:8: type Alias mentions pb.Entry",
		"p.go:10: field S.Field mentions pb.Entry",
		"p.go:12: field S.(embedded) mentions streampb.Embedded",
		"p.go:15: method I.Do mentions pb.Entry",
		"p.go:18: type G mentions pb.Entry",
		"p.go:19: func F mentions pb.Entry",
		"p.go:20: method S.M mentions streampb.Msg",
		"p.go:25: var V mentions pb.Entry",
		"p.go:27: const C mentions pb.Kind_A",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("found:\n\t%s\nwant:\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
}

// genpbInExportedAPI lists the exported declarations of the package in dir
// (its non-test files) that mention a genpb type.
func genpbInExportedAPI(dir string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no Go files in %s", dir)
	}
	fset := token.NewFileSet()
	var out []string
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		out = append(out, genpbInFile(fset, f)...)
	}
	return out, nil
}

func genpbInFile(fset *token.FileSet, f *ast.File) []string {
	genpb := map[string]bool{} // local names of imported genpb packages
	for _, imp := range f.Imports {
		path, _ := strconv.Unquote(imp.Path.Value)
		if !strings.Contains(path, "/genpb/") {
			continue
		}
		name := path[strings.LastIndex(path, "/")+1:]
		if imp.Name != nil {
			name = imp.Name.Name
		}
		genpb[name] = true
	}
	if len(genpb) == 0 {
		return nil
	}
	var out []string
	check := func(what string, n ast.Node) {
		if n == nil {
			return
		}
		ast.Inspect(n, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok {
				if id, ok := sel.X.(*ast.Ident); ok && genpb[id.Name] {
					out = append(out, fmt.Sprintf("%s:%d: %s mentions %s.%s",
						filepath.ToSlash(fset.Position(sel.Pos()).Filename), fset.Position(sel.Pos()).Line, what, id.Name, sel.Sel.Name))
				}
			}
			return true
		})
	}
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			if !d.Name.IsExported() {
				continue
			}
			if d.Recv == nil {
				check("func "+d.Name.Name, d.Type)
				continue
			}
			if recv := receiverName(d.Recv.List[0].Type); ast.IsExported(recv) {
				check("method "+recv+"."+d.Name.Name, d.Type)
			}
		case *ast.GenDecl:
			for _, spec := range d.Specs {
				switch s := spec.(type) {
				case *ast.TypeSpec:
					if s.Name.IsExported() {
						checkType(check, s)
					}
				case *ast.ValueSpec:
					kind := "var"
					if d.Tok == token.CONST {
						kind = "const"
					}
					for _, n := range s.Names {
						if n.IsExported() {
							check(kind+" "+n.Name, s.Type)
							for _, v := range s.Values {
								check(kind+" "+n.Name, v)
							}
							break
						}
					}
				}
			}
		}
	}
	return out
}

// checkType checks an exported type: its type parameters and, for a
// struct or an interface, its exported and embedded members only.
func checkType(check func(string, ast.Node), s *ast.TypeSpec) {
	name := s.Name.Name
	if s.TypeParams != nil {
		check("type "+name, s.TypeParams)
	}
	members := func(kind string, fields *ast.FieldList) {
		for _, fld := range fields.List {
			if len(fld.Names) == 0 {
				check(kind+" "+name+".(embedded)", fld.Type)
				continue
			}
			for _, n := range fld.Names {
				if n.IsExported() {
					check(kind+" "+name+"."+n.Name, fld.Type)
					break
				}
			}
		}
	}
	switch t := s.Type.(type) {
	case *ast.StructType:
		members("field", t.Fields)
	case *ast.InterfaceType:
		members("method", t.Methods)
	default:
		check("type "+name, t)
	}
}

func receiverName(e ast.Expr) string {
	for {
		switch t := e.(type) {
		case *ast.StarExpr:
			e = t.X
		case *ast.IndexExpr:
			e = t.X
		case *ast.IndexListExpr:
			e = t.X
		case *ast.Ident:
			return t.Name
		default:
			return ""
		}
	}
}
