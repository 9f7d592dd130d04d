package manifest

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
)

// markdownDocs returns README.md and every docs/*.md, relative to root.
func markdownDocs(t testing.TB, root string) []string {
	t.Helper()
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil || len(docs) == 0 {
		t.Fatalf("docs/*.md: got %v (%v), want the guides", docs, err)
	}
	out := []string{"README.md"}
	for _, d := range docs {
		out = append(out, filepath.Join("docs", filepath.Base(d)))
	}
	return out
}

// TestDocs_linksResolve fails on a relative link or image in README.md or
// docs/*.md whose file is missing, or whose #anchor names no heading of the
// target document.
func TestDocs_linksResolve(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	files := markdownDocs(t, root)
	for _, problem := range brokenLinks(root, files) {
		t.Error(problem)
	}
}

// TestDocs_linkCheckerFindsBreakage guards the checker: a missing file, a
// missing anchor and a wrong case each fail, good links do not.
func TestDocs_linkCheckerFindsBreakage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("b.md", "# B\n\n## 5. Install the shop\n\n## `make test`\n\n## Notes\n\n## Notes\n")
	write("a.md", "# A\n\n"+
		"[ok](b.md#5-install-the-shop) [ok](b.md#make-test) [ok](b.md#notes-1) [ok](#a) [ok](b.md)\n"+
		"[web](https://example.com/x.md#nope) <http://localhost:8080/> `[code](gone.md)`\n"+
		"```\n[fenced](gone.md)\n```\n"+
		"[bad file](gone.md) [bad anchor](b.md#install) ![bad image](shot.png) [bad case](#A)\n")
	got := brokenLinks(dir, []string{"a.md"})
	want := []string{"a.md: link gone.md", "a.md: link b.md#install", "a.md: link shot.png", "a.md: link #A"}
	if len(got) != len(want) {
		t.Fatalf("got %d problems %q, want %d: %q", len(got), got, len(want), want)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("problem %d: got %q, want one starting %q", i, got[i], want[i])
		}
	}
}

// TestDocs_anchorSlugs checks GitHub's heading anchors for the headings
// these documents use.
func TestDocs_anchorSlugs(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"8. Troubleshooting: KafkaSource pitfalls":        "8-troubleshooting-kafkasource-pitfalls",
		"Running locally: `make run`":                     "running-locally-make-run",
		"`GET /getAllUserBuys/{username}?limit=&cursor=`": "get-getalluserbuysusernamelimitcursor",
		"5c. Rate limits, and Kafka and MongoDB":          "5c-rate-limits-and-kafka-and-mongodb",
		"With [a link](x.md) and **bold**":                "with-a-link-and-bold",
		"snake_case stays":                                "snake_case-stays",
	}
	for heading, want := range tests {
		if got := slug(heading); got != want {
			t.Errorf("slug(%q): got %q, want %q", heading, got, want)
		}
	}
}

var (
	mdLink     = regexp.MustCompile(`!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)
	mdCode     = regexp.MustCompile("`[^`]*`")
	mdHeading  = regexp.MustCompile(`^#{1,6}\s+(.*?)\s*#*\s*$`)
	mdLinkText = regexp.MustCompile(`!?\[([^\]]*)\]\([^)]*\)`)
	uriScheme  = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`)
)

// brokenLinks returns one problem per broken relative link in files (paths
// relative to root), in the order they appear.
func brokenLinks(root string, files []string) []string {
	anchors := map[string]map[string]bool{}
	anchorsOf := func(path string) (map[string]bool, error) {
		if a, ok := anchors[path]; ok {
			return a, nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		a := headingAnchors(string(data))
		anchors[path] = a
		return a, nil
	}
	var problems []string
	for _, rel := range files {
		path := filepath.Join(root, rel)
		data, err := os.ReadFile(path)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", rel, err))
			continue
		}
		for n, line := range proseLines(string(data)) {
			for _, m := range mdLink.FindAllStringSubmatch(mdCode.ReplaceAllString(line, ""), -1) {
				target := m[1]
				if uriScheme.MatchString(target) {
					continue
				}
				file, frag, _ := strings.Cut(target, "#")
				dest := path
				if file != "" {
					dest = filepath.Join(filepath.Dir(path), filepath.FromSlash(file))
				}
				where := fmt.Sprintf("%s: link %s (line %d)", rel, target, n+1)
				if _, err := os.Stat(dest); err != nil {
					problems = append(problems, where+": no such file")
					continue
				}
				if frag == "" {
					continue
				}
				if !strings.HasSuffix(dest, ".md") {
					problems = append(problems, where+": an anchor into a file that is not Markdown")
					continue
				}
				a, err := anchorsOf(dest)
				if err != nil || !a[frag] {
					problems = append(problems, fmt.Sprintf("%s: no heading with that anchor in %s (have %v)", where, filepath.Base(dest), sortedKeys(a)))
				}
			}
		}
	}
	return problems
}

// proseLines returns the document's lines with fenced code blocks blanked,
// so that line numbers stay right and code is not read as links.
func proseLines(doc string) []string {
	lines := strings.Split(doc, "\n")
	fenced := false
	for i, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), "```") {
			fenced = !fenced
			lines[i] = ""
			continue
		}
		if fenced {
			lines[i] = ""
		}
	}
	return lines
}

// headingAnchors returns the anchors GitHub gives the document's headings,
// numbering repeats -1, -2, ...
func headingAnchors(doc string) map[string]bool {
	out := map[string]bool{}
	seen := map[string]int{}
	for _, line := range proseLines(doc) {
		m := mdHeading.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		s := slug(m[1])
		if n := seen[s]; n > 0 {
			out[fmt.Sprintf("%s-%d", s, n)] = true
		} else {
			out[s] = true
		}
		seen[s]++
	}
	return out
}

// slug is GitHub's anchor for a heading's Markdown text: the rendered text in
// lower case, without anything but letters, digits, '_', '-' and spaces, and
// with each space turned into '-'.
func slug(heading string) string {
	text := mdLinkText.ReplaceAllString(heading, "$1")
	var b strings.Builder
	for _, r := range strings.ToLower(text) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
