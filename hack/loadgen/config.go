package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// scenarios are the parts of a run, in the order they run.
var scenarios = []string{"cold", "buy", "cpu", "makerun", "limiter", "visible", "drain", "page"}

// config is how big and how long each scenario is.
type config struct {
	Quick          bool          `json:"quick"`
	Scenarios      []string      `json:"scenarios"`
	Duration       time.Duration `json:"phase_duration_ns"`
	Slices         int           `json:"slices"`
	Concurrency    int           `json:"concurrency"`
	Rates          []float64     `json:"rates"`
	OpenWorkers    int           `json:"open_workers"`
	Users          int           `json:"users"`
	ColdRuns       int           `json:"cold_runs"`
	VisibleRate    float64       `json:"visible_rate"`
	VisibleEvery   int           `json:"visible_every"`
	VisiblePoll    time.Duration `json:"visible_poll_ns"`
	Followers      int           `json:"visible_followers"`
	Backlog        int           `json:"backlog"`
	DrainConc      int           `json:"drain_concurrency"`
	DrainTimeout   time.Duration `json:"drain_timeout_ns"`
	Histories      []int         `json:"histories"`
	StoreSize      int           `json:"store_size"`
	PageRequests   int           `json:"page_requests"`
	RSSBound       float64       `json:"rss_bound_mib"`
	Timeout        time.Duration `json:"timeout_ns"`
	CPUConcurrency int           `json:"cpu_concurrency"`
	CPUPhases      []string      `json:"cpu_phases"`
	Profiles       string        `json:"-"`
	JSONPath       string        `json:"-"`
	Keep           bool          `json:"-"`
	APIEnv         envList       `json:"api_env,omitempty"`
	ServerEnv      envList       `json:"server_env,omitempty"`
}

// quickDefaults are the values -quick uses for the flags not given.
var quickDefaults = map[string]string{
	"duration": "5s", "backlog": "10000", "histories": "10,1000", "page-requests": "100", "cold-runs": "5",
}

// parseConfig reads the flags; -quick changes the defaults of the flags
// that were not given.
func parseConfig(args []string, stderr io.Writer) (config, error) {
	var c config
	var scen, rates, hist, phases string
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&c.Quick, "quick", false, "short smoke run (about 3 min): 5 s phases, 10k backlog, histories 10 and 1000, 5 cold starts, 100 page requests")
	fs.StringVar(&scen, "scenarios", strings.Join(scenarios, ","), "scenarios to run, in this order: "+strings.Join(scenarios, ","))
	fs.DurationVar(&c.Duration, "duration", 20*time.Second, "length of each load phase")
	fs.IntVar(&c.Slices, "slices", 4, "a phase and its reference alternate in this many slices, to share the background")
	fs.IntVar(&c.Concurrency, "concurrency", 64, "requests in flight in the closed-loop /buy phase (and the raw produce reference)")
	fs.StringVar(&rates, "rates", "1000,5000", "open-loop /buy arrival rates, per second")
	fs.IntVar(&c.OpenWorkers, "open-workers", 512, "client goroutines (and at most as many connections) of an open loop")
	fs.IntVar(&c.Users, "users", 1000, "distinct users the load is spread over")
	fs.IntVar(&c.ColdRuns, "cold-runs", 10, "cold starts per function")
	fs.Float64Var(&c.VisibleRate, "visible-rate", 1000, "purchases per second while measuring buy -> visible")
	fs.IntVar(&c.VisibleEvery, "visible-every", 20, "follow every n-th purchase until getAllUserBuys shows it")
	fs.DurationVar(&c.VisiblePoll, "visible-poll", 5*time.Millisecond, "how often a followed purchase is looked for (at first)")
	fs.IntVar(&c.Followers, "visible-followers", 4, "purchases followed at once at most; more are skipped and counted")
	fs.IntVar(&c.Backlog, "backlog", 100_000, "purchases in the backlog cm-api drains")
	fs.IntVar(&c.DrainConc, "drain-concurrency", 64, "concurrent POSTs when cm-api drains over HTTP")
	fs.DurationVar(&c.DrainTimeout, "drain-timeout", 10*time.Minute, "longest a drain may take")
	fs.StringVar(&hist, "histories", "10,1000,100000", "purchase counts of the users whose first page is timed")
	fs.IntVar(&c.PageRequests, "page-requests", 200, "first-page requests per user")
	fs.IntVar(&c.StoreSize, "store-size", 200_000, "purchases in the store while pages and look-ups are timed (other users fill it up)")
	fs.Float64Var(&c.RSSBound, "rss-bound", 100, "MiB: peak RSS under load counted as bounded")
	fs.DurationVar(&c.Timeout, "timeout", 40*time.Minute, "the whole run")
	fs.IntVar(&c.CPUConcurrency, "cpu-concurrency", 32, "requests in flight in the CPU scenario's phases")
	fs.StringVar(&phases, "cpu-phases", strings.Join(cpuPhases, ","), "the CPU scenario's phases, in this order: "+strings.Join(cpuPhases, ","))
	fs.StringVar(&c.Profiles, "profiles", "bench-profiles", "write the CPU scenario's profiles (pprof) here (empty: do not)")
	fs.StringVar(&c.JSONPath, "json", "bench-results.json", "write the results as JSON here (empty: do not)")
	fs.BoolVar(&c.Keep, "keep", false, "keep the work directory (binaries, logs, store files)")
	fs.Var(&c.APIEnv, "api-env", "KEY=VALUE added to cm-api's environment (repeatable)")
	fs.Var(&c.ServerEnv, "server-env", "KEY=VALUE added to cm-server's environment (repeatable)")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if c.Quick {
		if err := applyQuick(fs); err != nil {
			return config{}, err
		}
	}
	var err error
	if c.Scenarios, err = parseNames("-scenarios", "scenario", scen, scenarios); err != nil {
		return config{}, err
	}
	if c.CPUPhases, err = parseNames("-cpu-phases", "phase", phases, cpuPhases); err != nil {
		return config{}, err
	}
	if c.Rates, err = parseList(rates, parseRate); err != nil {
		return config{}, fmt.Errorf("-rates: %w", err)
	}
	if c.Histories, err = parseList(hist, strconv.Atoi); err != nil {
		return config{}, fmt.Errorf("-histories: %w", err)
	}
	return c, c.validate()
}

// applyQuick sets the quick defaults of the flags the command line left alone.
func applyQuick(fs *flag.FlagSet) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for name, v := range quickDefaults {
		if !given[name] {
			if err := fs.Set(name, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// parseNames reads a comma-separated selection from known, in known's order.
func parseNames(flagName, what, s string, known []string) ([]string, error) {
	want := strings.Split(s, ",")
	var out []string
	for _, name := range known {
		if slices.Contains(want, name) {
			out = append(out, name)
		}
	}
	for _, w := range want {
		if !slices.Contains(known, w) {
			return nil, fmt.Errorf("%s: unknown %s %q (have %s)", flagName, what, w, strings.Join(known, ","))
		}
	}
	return out, nil
}

func parseRate(s string) (float64, error) {
	r, err := strconv.ParseFloat(s, 64)
	if err == nil && r <= 0 {
		err = errors.New("must be positive")
	}
	return r, err
}

func parseList[T any](s string, parse func(string) (T, error)) ([]T, error) {
	var out []T
	for f := range strings.SplitSeq(s, ",") {
		v, err := parse(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("%q: %w", f, err)
		}
		out = append(out, v)
	}
	return out, nil
}

func (c config) validate() error {
	switch {
	case c.Duration <= 0, c.Timeout <= 0, c.DrainTimeout <= 0, c.VisiblePoll <= 0:
		return errors.New("durations must be positive")
	case c.Concurrency < 1, c.Slices < 1, c.OpenWorkers < 1, c.Users < 1, c.ColdRuns < 1, c.VisibleEvery < 1,
		c.Backlog < 1, c.DrainConc < 1, c.CPUConcurrency < 1, c.PageRequests < 1, c.Followers < 1, c.StoreSize < 0:
		return errors.New("counts must be at least 1")
	case c.VisibleRate <= 0:
		return errors.New("-visible-rate must be positive")
	case slices.ContainsFunc(c.Histories, func(h int) bool { return h < 1 }):
		return errors.New("-histories must be at least 1 each")
	}
	return nil
}

// envList is a repeatable KEY=VALUE flag.
type envList []string

func (e *envList) String() string { return strings.Join(*e, " ") }

func (e *envList) Set(v string) error {
	if k, _, ok := strings.Cut(v, "="); !ok || k == "" {
		return fmt.Errorf("want KEY=VALUE, got %q", v)
	}
	*e = append(*e, v)
	return nil
}
