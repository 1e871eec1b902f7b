package waymaker_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// TestEveryExportedNameHasItsOwnDoc parses the root package's sources and
// fails for an exported name without a doc comment of its own: a name in a
// grouped declaration (the re-exported sentinels, options, aliases) needs
// its own line, since an editor's hover shows that line and not the
// group's heading.
//
// The compat_*.go files are not checked yet: 61 of their constants (the
// stream policies, sketch kinds, ...) still share one heading per group.
func TestEveryExportedNameHasItsOwnDoc(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	undocumented := func(pos token.Pos, name string) {
		t.Errorf("%s: %s has no doc comment of its own", fset.Position(pos), name)
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") || strings.HasPrefix(name, "compat_") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Name.IsExported() && (d.Recv == nil || exportedRecv(d.Recv)) && d.Doc == nil {
					undocumented(d.Pos(), d.Name.Name)
				}
			case *ast.GenDecl:
				alone := len(d.Specs) == 1 && d.Doc != nil
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.TypeSpec:
						if s.Name.IsExported() && s.Doc == nil && !alone {
							undocumented(s.Pos(), s.Name.Name)
						}
					case *ast.ValueSpec:
						for _, n := range s.Names {
							if n.IsExported() && s.Doc == nil && !alone {
								undocumented(n.Pos(), n.Name)
							}
						}
					}
				}
			}
		}
	}
}

func exportedRecv(recv *ast.FieldList) bool {
	typ := recv.List[0].Type
	if star, ok := typ.(*ast.StarExpr); ok {
		typ = star.X
	}
	id, ok := typ.(*ast.Ident)
	return ok && id.IsExported()
}
