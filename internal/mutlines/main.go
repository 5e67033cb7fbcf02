// Command mutlines runs the mutants gremlins lists for a package (its
// dry-run JSON), each with only the tests that execute the mutated line
// (-failfast: the first failure kills it). It is scripts/mutate.sh's driver for packages whose
// whole suite is too slow to rerun for every mutant (agent/backup: real
// restic, S3 and PostgreSQL, about three minutes): a test that never runs
// a line cannot notice a mutant on it, so the verdicts are the whole
// suite's. The mutation is gremlins' own token swap, applied through
// `go test -overlay`, so the work tree is never changed.
//
//	mutlines -pkg agent/backup -dry dry.json -cov DIR -times FILE -out DIR
//
// DIR holds one set-mode coverage profile per test (<Test>.out), FILE one
// "<Test> <seconds>" line per test. It prints gremlins' summary lines
// ("Killed: K, Lived: L, Not covered: N", "Timed out: T, Not viable: V")
// and writes each mutant's verdict to OUT/results.txt, lived ones first.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"go/scanner"
	"go/token"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// swaps is gremlins' table (internal/engine/mappings.go, v0.6.0) for the
// mutant types it enables by default.
var swaps = map[string]map[token.Token]token.Token{
	"ARITHMETIC_BASE":       {token.ADD: token.SUB, token.MUL: token.QUO, token.QUO: token.MUL, token.REM: token.MUL, token.SUB: token.ADD},
	"CONDITIONALS_BOUNDARY": {token.GEQ: token.GTR, token.GTR: token.GEQ, token.LEQ: token.LSS, token.LSS: token.LEQ},
	"CONDITIONALS_NEGATION": {token.EQL: token.NEQ, token.GEQ: token.LSS, token.GTR: token.LEQ, token.LEQ: token.GTR, token.LSS: token.GEQ, token.NEQ: token.EQL},
	"INCREMENT_DECREMENT":   {token.DEC: token.INC, token.INC: token.DEC},
	"INVERT_NEGATIVES":      {token.SUB: token.ADD},
}

type dryRun struct {
	Files []struct {
		Name      string `json:"file_name"`
		Mutations []struct {
			Type   string `json:"type"`
			Line   int    `json:"line"`
			Column int    `json:"column"`
		} `json:"mutations"`
	} `json:"files"`
}

type block struct{ sl, sc, el, ec int }

type mutant struct {
	file, kind   string
	line, col    int
	tests        []string
	verdict, why string
	took         time.Duration
}

func main() {
	pkg := flag.String("pkg", "", "package directory, relative to the module root")
	dry := flag.String("dry", "", "gremlins' dry-run JSON")
	covDir := flag.String("cov", "", "folder of per-test coverage profiles")
	timesFile := flag.String("times", "", "per-test durations")
	out := flag.String("out", "", "results folder")
	only := flag.String("files", "", "space-separated base names to mutate (default all)")
	coef := flag.Float64("timeout-coefficient", 3, "a mutant times out after this many times its tests' duration, plus the build")
	budget := flag.Duration("budget", 0, "start no mutant after this long (0: no limit); the rest are counted as not run, and the mutants are taken in a shuffled order so that a partial run is a sample")
	flag.Parse()
	if err := run(*pkg, *dry, *covDir, *timesFile, *out, strings.Fields(*only), *coef, *budget); err != nil {
		fmt.Fprintln(os.Stderr, "mutlines:", err)
		os.Exit(1)
	}
}

func run(pkg, dry, covDir, timesFile, out string, only []string, coef float64, budget time.Duration) error {
	var d dryRun
	b, err := os.ReadFile(dry)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return fmt.Errorf("%s: %w", dry, err)
	}
	times, err := readTimes(timesFile)
	if err != nil {
		return err
	}
	cov, err := readCoverage(covDir, pkg)
	if err != nil {
		return err
	}
	var ms []*mutant
	for _, f := range d.Files {
		if strings.Contains(f.Name, "/") || (len(only) > 0 && !slices.Contains(only, f.Name)) {
			continue // subpackages (test helpers, testdata) are not the package
		}
		for _, m := range f.Mutations {
			mu := &mutant{file: f.Name, kind: m.Type, line: m.Line, col: m.Column}
			for t, blocks := range cov[f.Name] {
				if slices.ContainsFunc(blocks, func(bl block) bool { return covers(bl, m.Line, m.Column) }) {
					mu.tests = append(mu.tests, t)
				}
			}
			slices.Sort(mu.tests)
			ms = append(ms, mu)
		}
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "mutlines")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	if budget > 0 {
		rand.New(rand.NewPCG(1, 2)).Shuffle(len(ms), func(i, j int) { ms[i], ms[j] = ms[j], ms[i] })
	}
	began := time.Now()
	for _, m := range ms {
		if budget > 0 && time.Since(began) > budget {
			m.verdict, m.why = "NOT RUN", "past the budget"
			continue
		}
		start := time.Now()
		m.verdict, m.why = try(pkg, work, m, times, coef)
		m.took = time.Since(start)
		fmt.Printf("%-12s %-22s at %s:%d:%d  %s (%d tests, %s)\n", m.verdict, m.kind, m.file, m.line, m.col, m.why, len(m.tests), m.took.Round(time.Second))
	}
	count := map[string]int{}
	for _, m := range ms {
		count[m.verdict]++
	}
	slices.SortStableFunc(ms, func(a, b *mutant) int { return strings.Compare(order(a.verdict), order(b.verdict)) })
	var res bytes.Buffer
	for _, m := range ms {
		fmt.Fprintf(&res, "%-12s %-22s %s:%d:%d  %s\n", m.verdict, m.kind, m.file, m.line, m.col, m.why)
	}
	if err := os.WriteFile(filepath.Join(out, "results.txt"), res.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Printf("Killed: %d, Lived: %d, Not covered: %d\n", count["KILLED"], count["LIVED"], count["NOT COVERED"])
	fmt.Printf("Timed out: %d, Not viable: %d, Not run: %d\n", count["TIMED OUT"], count["NOT VIABLE"], count["NOT RUN"])
	if k, l := count["KILLED"], count["LIVED"]; k+l > 0 {
		fmt.Printf("Test efficacy: %.2f%%\n", 100*float64(k)/float64(k+l))
	}
	return nil
}

func order(v string) string {
	if v == "LIVED" {
		return "0"
	}
	return "1" + v
}

// try applies one mutant through an overlay and runs its tests.
func try(pkg, work string, m *mutant, times map[string]float64, coef float64) (verdict, why string) {
	if len(m.tests) == 0 {
		return "NOT COVERED", "no test runs the line"
	}
	src := filepath.Join(pkg, m.file)
	orig, err := os.ReadFile(src)
	if err != nil {
		return "NOT VIABLE", err.Error()
	}
	mutated, from, to, err := swap(orig, m)
	if err != nil {
		return "NOT VIABLE", err.Error()
	}
	abs, _ := filepath.Abs(src)
	mfile := filepath.Join(work, m.file)
	if err := os.WriteFile(mfile, mutated, 0o644); err != nil {
		return "NOT VIABLE", err.Error()
	}
	overlay, _ := json.Marshal(map[string]map[string]string{"Replace": {abs: mfile}})
	ofile := filepath.Join(work, "overlay.json")
	if err := os.WriteFile(ofile, overlay, 0o644); err != nil {
		return "NOT VIABLE", err.Error()
	}
	budget := 0.0
	for _, t := range m.tests {
		budget += times[t]
	}
	limit := time.Duration(coef*budget*float64(time.Second)) + 2*time.Minute // the build
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	run := "^(" + strings.Join(m.tests, "|") + ")$"
	cmd := exec.CommandContext(ctx, "go", "test", "-overlay", ofile, "-count=1", "-failfast", "-run", run, "-timeout", limit.String(), "./"+pkg)
	cmd.Env = append(os.Environ(), "GOFLAGS=")
	outb, err := cmd.CombinedOutput()
	what := from.String() + " → " + to.String()
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return "TIMED OUT", what
	case err == nil:
		return "LIVED", what
	case errors.As(err, &exit) && bytes.Contains(outb, []byte("[build failed]")):
		return "NOT VIABLE", what
	case errors.As(err, &exit):
		if f := failed.FindSubmatch(outb); f != nil {
			return "KILLED", what + " by " + string(f[1])
		}
		return "KILLED", what
	default:
		return "NOT VIABLE", err.Error()
	}
}

var failed = regexp.MustCompile(`--- FAIL: (\S+)`)

// swap replaces the token at the mutant's position as gremlins would.
func swap(src []byte, m *mutant) ([]byte, token.Token, token.Token, error) {
	fset := token.NewFileSet()
	f := fset.AddFile(m.file, -1, len(src))
	var s scanner.Scanner
	s.Init(f, src, nil, 0)
	for {
		pos, tok, _ := s.Scan()
		if tok == token.EOF {
			return nil, 0, 0, fmt.Errorf("no token at %s:%d:%d", m.file, m.line, m.col)
		}
		p := fset.Position(pos)
		if p.Line != m.line || p.Column != m.col {
			continue
		}
		to, ok := swaps[m.kind][tok]
		if !ok {
			return nil, 0, 0, fmt.Errorf("%s at %s:%d:%d is not a %s token", tok, m.file, m.line, m.col, m.kind)
		}
		off := p.Offset
		out := slices.Concat(src[:off], []byte(to.String()), src[off+len(tok.String()):])
		return out, tok, to, nil
	}
}

func covers(b block, line, col int) bool {
	after := line > b.sl || (line == b.sl && col >= b.sc)
	before := line < b.el || (line == b.el && col <= b.ec)
	return after && before
}

// readCoverage reads DIR/<Test>.out: file base name → test → covered blocks.
func readCoverage(dir, pkg string) (map[string]map[string][]block, error) {
	out := map[string]map[string][]block{}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	re := regexp.MustCompile(`/` + regexp.QuoteMeta(pkg) + `/([^/]+\.go):(\d+)\.(\d+),(\d+)\.(\d+) \d+ (\d+)$`)
	for _, e := range ents {
		test, ok := strings.CutSuffix(e.Name(), ".out")
		if !ok {
			continue
		}
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			m := re.FindStringSubmatch(sc.Text())
			if m == nil || m[6] == "0" {
				continue
			}
			n := func(i int) int { v, _ := strconv.Atoi(m[i]); return v }
			if out[m[1]] == nil {
				out[m[1]] = map[string][]block{}
			}
			out[m[1]][test] = append(out[m[1]][test], block{n(2), n(3), n(4), n(5)})
		}
		f.Close()
	}
	return out, nil
}

func readTimes(path string) (map[string]float64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, l := range strings.Split(string(b), "\n") {
		if name, secs, ok := strings.Cut(strings.TrimSpace(l), " "); ok {
			v, _ := strconv.ParseFloat(secs, 64)
			out[name] = v
		}
	}
	return out, nil
}
