package result

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.uber.org/goleak"

	// The SDK's transport package declares the client's copy of the codes;
	// importing it keeps this test's path to its sources honest (the
	// package must build from there).
	_ "git.awesomike.com/pub/waymaker-client/go/transport"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// sdkOnly are codes the SDK makes itself; no server answers them.
var sdkOnly = []string{"lock_lost", "closed"}

// codeConsts parses the non-test Go files of dir and returns the values of
// its string constants named Code*, sorted.
func codeConsts(t *testing.T, dir string) []string {
	t.Helper()
	fset := token.NewFileSet()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, id := range vs.Names {
					if !strings.HasPrefix(id.Name, "Code") || i >= len(vs.Values) {
						continue
					}
					lit, ok := vs.Values[i].(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						continue
					}
					v, err := strconv.Unquote(lit.Value)
					if err != nil {
						t.Fatal(err)
					}
					codes = append(codes, v)
				}
			}
		}
	}
	slices.Sort(codes)
	return codes
}

// protoCodes reads the list of result codes from the comment on Result in
// common.proto: lines of the form `//   "code"   meaning`.
func protoCodes(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "proto", "waymaker", "v1", "common.proto"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	start := strings.Index(s, "Result codes (result_code) are API")
	end := strings.Index(s, "message Result {")
	if start < 0 || end < start {
		t.Fatal("common.proto: the list of result codes above message Result is not where this test looks")
	}
	var codes []string
	for _, m := range regexp.MustCompile(`(?m)^//\s+"([a-z_]+)"\s`).FindAllStringSubmatch(s[start:end], -1) {
		codes = append(codes, m[1])
	}
	slices.Sort(codes)
	return codes
}

// TestCodesAgree: the server's codes, the proto's list and the SDK's
// transport constants (less the codes only the SDK makes) are one list.
func TestCodesAgree(t *testing.T) {
	server := codeConsts(t, ".")
	proto := protoCodes(t)
	var sdk []string
	for _, c := range codeConsts(t, filepath.Join("..", "..", "..", "transport")) {
		if !slices.Contains(sdkOnly, c) {
			sdk = append(sdk, c)
		}
	}
	if len(server) < 10 {
		t.Fatalf("found only %d server codes: %v", len(server), server)
	}
	if !slices.Equal(server, proto) {
		t.Errorf("server codes differ from common.proto:\nserver %v\nproto  %v", server, proto)
	}
	if !slices.Equal(server, sdk) {
		t.Errorf("server codes differ from the SDK's transport constants:\nserver %v\nsdk    %v", server, sdk)
	}
}

func TestConstructors(t *testing.T) {
	if r := OK(); !r.GetSuccess() || r.GetResultCode() != "" {
		t.Errorf("OK() = %v", r)
	}
	if r := Failf(CodeNotFound, "bucket %q", "b"); r.GetSuccess() || r.GetResultCode() != CodeNotFound || r.GetMessage() != `bucket "b"` {
		t.Errorf("Failf = %v", r)
	}
	if r := Invalid("key", "must not be empty"); r.GetResultCode() != CodeInvalidArgument || r.GetMessage() != "key: must not be empty" {
		t.Errorf("Invalid = %v", r)
	}
	if r := Invalidf("page_size", "is %d, limit %d", 5, 4); r.GetMessage() != "page_size: is 5, limit 4" {
		t.Errorf("Invalidf = %v", r)
	}
}
