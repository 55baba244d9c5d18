// Package archdoc draws the module's packages and the direction of their
// imports as text, from the code, for docs/architecture.md. Its test holds
// the document to the code; `make architecture-diagram` redraws it.
package archdoc

import (
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Graph maps each package of the module rooted at root (by its path
// relative to the root, "." for the root) to the module's packages its
// non-test files import. Test files, testdata and hidden folders are
// left out.
func Graph(root, module string) (map[string][]string, error) {
	g := map[string][]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, filepath.Dir(path))
		if err != nil {
			return err
		}
		pkg := filepath.ToSlash(rel)
		if _, ok := g[pkg]; !ok {
			g[pkg] = nil
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if dep, ok := strings.CutPrefix(p, module+"/"); ok && !slices.Contains(g[pkg], dep) {
				g[pkg] = append(g[pkg], dep)
			}
		}
		return nil
	})
	for _, deps := range g {
		slices.Sort(deps)
	}
	return g, err
}

// Floors places each package one floor above the highest it imports, so
// every import points down; packages that import none of the module's
// stand on floor 1. A cycle (which Go refuses to build) is an error.
func Floors(g map[string][]string) (map[string]int, error) {
	floor := map[string]int{}
	var place func(p string, path []string) (int, error)
	place = func(p string, path []string) (int, error) {
		if f, ok := floor[p]; ok {
			return f, nil
		}
		if slices.Contains(path, p) {
			return 0, fmt.Errorf("archdoc: import cycle %s → %s", strings.Join(path, " → "), p)
		}
		f := 1
		for _, d := range g[p] {
			df, err := place(d, append(path, p))
			if err != nil {
				return 0, err
			}
			f = max(f, df+1)
		}
		floor[p] = f
		return f, nil
	}
	for p := range g {
		if _, err := place(p, nil); err != nil {
			return nil, err
		}
	}
	return floor, nil
}

// Render draws the graph from the top floor down: each package on its
// floor with an arrow to what it imports.
func Render(g map[string][]string) (string, error) {
	floor, err := Floors(g)
	if err != nil {
		return "", err
	}
	pkgs := make([]string, 0, len(g))
	width := 0
	for p := range g {
		pkgs = append(pkgs, p)
		width = max(width, len(p))
	}
	slices.SortFunc(pkgs, func(a, b string) int {
		if floor[a] != floor[b] {
			return floor[b] - floor[a]
		}
		return strings.Compare(a, b)
	})
	var b strings.Builder
	last := 0
	for _, p := range pkgs {
		label := "        "
		if floor[p] != last {
			if last != 0 {
				b.WriteString("\n")
			}
			label = fmt.Sprintf("floor %d ", floor[p])
			last = floor[p]
		}
		line := label + " " + p
		if len(g[p]) > 0 {
			line += strings.Repeat(" ", width-len(p)) + "  ─▶ " + strings.Join(g[p], ", ")
		}
		b.WriteString(strings.TrimRight(line, " ") + "\n")
	}
	return b.String(), nil
}

// The diagram sits in the document between these lines.
const (
	Begin = "<!-- packages: drawn by internal/archdoc from the code; make architecture-diagram -->"
	End   = "<!-- end of packages -->"
)

// Splice returns doc with the block between Begin and End replaced by
// diagram, fenced as text.
func Splice(doc, diagram string) (string, error) {
	i, j := strings.Index(doc, Begin), strings.Index(doc, End)
	if i < 0 || j < i {
		return "", fmt.Errorf("archdoc: the document has no %q … %q block", Begin, End)
	}
	return doc[:i+len(Begin)] + "\n```text\n" + diagram + "```\n" + doc[j:], nil
}

// Draw reads the module at root and returns docPath's text with its
// diagram redrawn.
func Draw(root, module, docPath string) (string, error) {
	g, err := Graph(root, module)
	if err != nil {
		return "", err
	}
	diagram, err := Render(g)
	if err != nil {
		return "", err
	}
	doc, err := os.ReadFile(docPath)
	if err != nil {
		return "", err
	}
	return Splice(string(doc), diagram)
}
