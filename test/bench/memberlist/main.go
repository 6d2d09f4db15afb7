// The memberlist baseline of the mesh benchmark (test/bench/mesh.mjs): N hashicorp/memberlist
// members in this one process on loopback, measured the way the bench measures Hermes nodes:
// the last member's join, fresh joins after a graceful leave, and kill trials (detection, then
// the member restarted under its name and port, timing its rejoin). Times come from each
// member's own events, as Hermes's come from each node's "membership change" log lines.
//
//	memberlist-bench -nodes 25 -trials 5 -joins 3
//
// prints one JSON object on stdout; progress goes to stderr.
package main

import (
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"os"
	"regexp"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

type options struct {
	nodes, trials, joins   int
	suspicionMult, maxMult int
	settle, timeout        time.Duration
}

func main() {
	var o options
	flag.IntVar(&o.nodes, "nodes", 5, "members (N)")
	flag.IntVar(&o.trials, "trials", 3, "kill trials: kill one member, time detection, restart it")
	flag.IntVar(&o.joins, "joins", 3, "fresh joins: the last member leaves and a new one joins")
	flag.IntVar(&o.suspicionMult, "suspicion-mult", 2, "SuspicionMult (Hermes nodes default to 2, memberlist's LAN profile to 4)")
	flag.IntVar(&o.maxMult, "suspicion-max-timeout-mult", 4, "SuspicionMaxTimeoutMult (Hermes 4, memberlist's LAN profile 6)")
	flag.DurationVar(&o.settle, "settle", time.Second, "pause after each trial")
	flag.DurationVar(&o.timeout, "timeout", 0, "longest wait for the members to agree (default: 1 min or two push-pull periods, whichever is longer)")
	flag.Parse()
	if o.nodes < 2 {
		fail(fmt.Errorf("-nodes must be at least 2, got %d", o.nodes))
	}
	if o.timeout == 0 {
		// A member that missed a refutation (a false death on a busy machine) is set right by
		// the next push-pull at the latest; memberlist stretches that period above 32 members.
		o.timeout = max(time.Minute, 2*pushPullPeriod(memberlist.DefaultLANConfig().PushPullInterval, o.nodes))
	}
	result, err := run(o)
	if err != nil {
		fail(err)
	}
	if err := json.NewEncoder(os.Stdout).Encode(result); err != nil {
		fail(err)
	}
}

// pushPullPeriod is memberlist's pushPullScale: the interval grows with log2(N) above 32 members.
func pushPullPeriod(interval time.Duration, n int) time.Duration {
	if n <= 32 {
		return interval
	}
	return time.Duration(math.Ceil(math.Log2(float64(n))-math.Log2(32))+1) * interval
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "memberlist-bench: %v\n", err)
	os.Exit(1)
}

var begun = time.Now()

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "memberlist N=%s (%.0f s): %s\n", os.Getenv("BENCH_N"), time.Since(begun).Seconds(), fmt.Sprintf(format, args...))
}

// ---- what each member saw ------------------------------------------------------------------

// change is one membership change as one member saw it: the peer came alive or went (dead or left).
type change struct {
	at    time.Time
	peer  string
	alive bool
}

// journal keeps every member's changes and the suspicions it raised, by member name.
type journal struct {
	mu        sync.Mutex
	changes   map[string][]change
	suspected map[string][]change
}

func newJournal() *journal {
	return &journal{changes: map[string][]change{}, suspected: map[string][]change{}}
}

func (j *journal) add(observer, peer string, alive bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.changes[observer] = append(j.changes[observer], change{time.Now(), peer, alive})
}

func (j *journal) suspect(observer, peer string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.suspected[observer] = append(j.suspected[observer], change{at: time.Now(), peer: peer})
}

func (j *journal) forget(observer string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	delete(j.changes, observer)
	delete(j.suspected, observer)
}

// firstHeld is the first time at or after since at which observer held every one of peers
// alive (or every one gone), as test/bench/mesh-logs.mjs firstHeld does for a Hermes node.
func (j *journal) firstHeld(observer string, peers []string, alive bool, since time.Time) (time.Time, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	current := map[string]bool{}
	holds := func() bool {
		for _, p := range peers {
			a, known := current[p]
			if !known || a != alive {
				return false
			}
		}
		return true
	}
	checkedSince := false
	for _, c := range j.changes[observer] {
		if !checkedSince && !c.at.Before(since) {
			checkedSince = true
			if holds() {
				return since, true
			}
		}
		current[c.peer] = c.alive
		if !c.at.Before(since) && holds() {
			return c.at, true
		}
	}
	if !checkedSince && holds() {
		return since, true
	}
	return time.Time{}, false
}

// lastSeen says how observer last saw peer change, for an error: " (gone at +12.3 s)".
func (j *journal) lastSeen(observer, peer string) string {
	j.mu.Lock()
	defer j.mu.Unlock()
	for i := len(j.changes[observer]) - 1; i >= 0; i-- {
		if c := j.changes[observer][i]; c.peer == peer {
			state := map[bool]string{true: "alive", false: "gone"}[c.alive]
			return fmt.Sprintf(" (%s at +%.1f s)", state, c.at.Sub(begun).Seconds())
		}
	}
	return " (never seen)"
}

// firstSuspicion is when observer's own probe of peer first failed at or after since.
func (j *journal) firstSuspicion(observer, peer string, since time.Time) (time.Time, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, c := range j.suspected[observer] {
		if c.peer == peer && !c.at.Before(since) {
			return c.at, true
		}
	}
	return time.Time{}, false
}

type events struct {
	journal *journal
	self    string
}

func (e events) NotifyJoin(n *memberlist.Node) {
	if n.Name != e.self {
		e.journal.add(e.self, n.Name, true)
	}
}

func (e events) NotifyLeave(n *memberlist.Node) { e.journal.add(e.self, n.Name, false) }

func (e events) NotifyUpdate(*memberlist.Node) {}

// memberlist raises no event for a suspicion; the prober logs its own failed probe.
var suspectLine = regexp.MustCompile(`Suspect (\S+) has failed`)

type logSink struct {
	journal *journal
	self    string
}

func (s logSink) Write(p []byte) (int, error) {
	if m := suspectLine.FindSubmatch(p); m != nil {
		s.journal.suspect(s.self, string(m[1]))
	}
	return len(p), nil
}

// ---- the cluster ---------------------------------------------------------------------------

type cluster struct {
	o       options
	journal *journal
	key     []byte
	members []*memberlist.Memberlist
}

// settings is memberlist's LAN profile with the suspicion timeouts of Hermes's defaults, so both
// run the same timers (probe 1 s, probe timeout 500 ms, 3 indirect probes, gossip to 3 members
// every 200 ms, retransmit 4 × log10(N + 1), push-pull every 30 s), with gossip encrypted
// (AES-GCM) as Hermes's is (mutual TLS and signed envelopes).
func (c *cluster) settings() *memberlist.Config {
	cfg := memberlist.DefaultLANConfig()
	cfg.SuspicionMult = c.o.suspicionMult
	cfg.SuspicionMaxTimeoutMult = c.o.maxMult
	cfg.SecretKey = c.key
	return cfg
}

// config is one member's: settings, on loopback, reporting to the journal.
func (c *cluster) config(name string, port int) *memberlist.Config {
	cfg := c.settings()
	cfg.Name = name
	cfg.BindAddr = "127.0.0.1"
	cfg.BindPort = port
	cfg.Events = events{c.journal, name}
	cfg.Logger = log.New(logSink{c.journal, name}, "", 0)
	return cfg
}

func (c *cluster) create(name string, port int) (*memberlist.Memberlist, time.Time, error) {
	c.journal.forget(name) // a restarted member starts with an empty view, as a restarted node's log does
	m, err := memberlist.Create(c.config(name, port))
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("starting %s: %w", name, err)
	}
	return m, time.Now(), nil
}

func (c *cluster) seed() string { return c.members[0].LocalNode().Address() }

func (c *cluster) names() []string {
	out := make([]string, len(c.members))
	for i, m := range c.members {
		out[i] = m.LocalNode().Name
	}
	return out
}

// allAliveAt is when every member came to hold every other alive, waiting for that to happen.
func (c *cluster) allAliveAt(since time.Time) (time.Time, error) {
	names := c.names()
	deadline := time.Now().Add(c.o.timeout)
	for {
		latest, ok := time.Time{}, true
		for _, observer := range names {
			others := slices.DeleteFunc(slices.Clone(names), func(n string) bool { return n == observer })
			at, held := c.journal.firstHeld(observer, others, true, since)
			if !held {
				ok = false
				break
			}
			if at.After(latest) {
				latest = at
			}
		}
		if ok {
			return latest, nil
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("timed out after %s waiting for %d members to see each other alive: %s",
				c.o.timeout, len(names), c.notAlive(names))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// notAlive says which members do not hold which others alive now, for a timeout's error.
func (c *cluster) notAlive(names []string) string {
	var missing []string
	for _, m := range c.members {
		held := map[string]bool{}
		for _, n := range m.Members() {
			if n.State == memberlist.StateAlive {
				held[n.Name] = true
			}
		}
		var lacks []string
		for _, n := range names {
			if !held[n] {
				lacks = append(lacks, n+c.journal.lastSeen(m.LocalNode().Name, n))
			}
		}
		if len(lacks) > 0 {
			missing = append(missing, fmt.Sprintf("%s lacks %v", m.LocalNode().Name, lacks))
		}
	}
	if len(missing) == 0 {
		return "each holds all alive now, but its events never said so"
	}
	return strings.Join(missing, "; ")
}

// goneAt is, for each observer, when it held peer dead or left.
func (c *cluster) goneAt(observers []string, peer string, since time.Time) ([]time.Time, error) {
	deadline := time.Now().Add(c.o.timeout)
	for {
		times := make([]time.Time, 0, len(observers))
		for _, o := range observers {
			if at, held := c.journal.firstHeld(o, []string{peer}, false, since); held {
				times = append(times, at)
			}
		}
		if len(times) == len(observers) {
			return times, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("timed out after %s waiting for every member to hold %s gone", c.o.timeout, peer)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// join starts a member and joins it through member 0; it returns when the member started.
func (c *cluster) join(index int, name string, port int) (time.Time, error) {
	m, started, err := c.create(name, port)
	if err != nil {
		return time.Time{}, err
	}
	if index == len(c.members) {
		c.members = append(c.members, m)
	} else {
		c.members[index] = m
	}
	if index > 0 {
		if _, err := m.Join([]string{c.seed()}); err != nil {
			return time.Time{}, fmt.Errorf("%s joining: %w", name, err)
		}
	}
	return started, nil
}

func (c *cluster) shutdown() {
	for _, m := range c.members {
		_ = m.Shutdown()
	}
}

// ---- the scenario --------------------------------------------------------------------------

type killRun struct {
	Victim         string    `json:"victim"`
	ObserverMs     []float64 `json:"observerMs"`
	AllAgreeMs     float64   `json:"allAgreeMs"`
	FirstSuspectMs *float64  `json:"firstSuspectMs"`
	FirstDeadMs    float64   `json:"firstDeadMs"`
	RejoinMs       float64   `json:"rejoinMs"`
}

type result struct {
	Nodes   int            `json:"nodes"`
	Library string         `json:"library"`
	Config  map[string]any `json:"config"`
	// JoinMs: the last member's join, then each fresh join.
	JoinMs []float64 `json:"joinMs"`
	Runs   []killRun `json:"runs"`
}

func libraryVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == "github.com/hashicorp/memberlist" {
				return dep.Version
			}
		}
	}
	return "(unknown version)"
}

func ms(d time.Duration) float64 { return math.Round(float64(d.Microseconds())/100) / 10 }

func run(o options) (*result, error) {
	key := make([]byte, 32)
	if _, err := io.ReadFull(rand.Reader, key); err != nil {
		return nil, err
	}
	os.Setenv("BENCH_N", strconv.Itoa(o.nodes))
	c := &cluster{o: o, journal: newJournal(), key: key}
	defer c.shutdown()
	cfg := c.settings()
	r := &result{
		Nodes:   o.nodes,
		Library: "github.com/hashicorp/memberlist " + libraryVersion(),
		Config: map[string]any{
			"profile":                 "DefaultLANConfig with gossip encrypted (SecretKey, AES-GCM)",
			"probeIntervalMs":         cfg.ProbeInterval.Milliseconds(),
			"probeTimeoutMs":          cfg.ProbeTimeout.Milliseconds(),
			"indirectChecks":          cfg.IndirectChecks,
			"suspicionMult":           cfg.SuspicionMult,
			"suspicionMaxTimeoutMult": cfg.SuspicionMaxTimeoutMult,
			"retransmitMult":          cfg.RetransmitMult,
			"gossipIntervalMs":        cfg.GossipInterval.Milliseconds(),
			"gossipNodes":             cfg.GossipNodes,
			"pushPullIntervalMs":      cfg.PushPullInterval.Milliseconds(),
		},
	}

	// The first N - 1 members, then the last one timed on its own, as the bench does for Hermes
	// (whose nodes start one after the other, each long after the previous one converged).
	for i := 0; i < o.nodes-1; i++ {
		if _, err := c.join(i, fmt.Sprintf("node-%d", i), 0); err != nil {
			return nil, err
		}
	}
	if _, err := c.allAliveAt(time.Time{}); err != nil {
		return nil, err
	}
	last := o.nodes - 1
	timeJoin := func(name string) error {
		started, err := c.join(last, name, 0)
		if err != nil {
			return err
		}
		converged, err := c.allAliveAt(started)
		if err != nil {
			return err
		}
		r.JoinMs = append(r.JoinMs, ms(converged.Sub(started)))
		progress("%s joined, converged in %.1f ms", name, r.JoinMs[len(r.JoinMs)-1])
		return nil
	}
	if err := timeJoin(fmt.Sprintf("node-%d", last)); err != nil {
		return nil, err
	}
	for j := 1; j <= o.joins; j++ {
		time.Sleep(o.settle)
		leaving := c.members[last]
		name := leaving.LocalNode().Name
		leftAt := time.Now()
		if err := leaving.Leave(time.Second); err != nil {
			return nil, fmt.Errorf("%s leaving: %w", name, err)
		}
		_ = leaving.Shutdown()
		if _, err := c.goneAt(c.names()[:last], name, leftAt); err != nil {
			return nil, err
		}
		if err := timeJoin(fmt.Sprintf("node-%d-%d", last, j)); err != nil {
			return nil, err
		}
	}

	for t := 0; t < o.trials; t++ {
		time.Sleep(o.settle)
		index := 1 + t%(o.nodes-1)
		victim := c.members[index]
		name, port := victim.LocalNode().Name, int(victim.LocalNode().Port)
		observers := slices.Delete(c.names(), index, index+1)
		killedAt := time.Now()
		_ = victim.Shutdown() // no leave: the others must detect it
		held, err := c.goneAt(observers, name, killedAt)
		if err != nil {
			return nil, err
		}
		run := killRun{Victim: name}
		first := held[0]
		for _, at := range held {
			run.ObserverMs = append(run.ObserverMs, ms(at.Sub(killedAt)))
			if at.Before(first) {
				first = at
			}
		}
		run.AllAgreeMs = slices.Max(run.ObserverMs)
		run.FirstDeadMs = ms(first.Sub(killedAt))
		var suspected time.Time
		for _, o := range observers {
			if at, ok := c.journal.firstSuspicion(o, name, killedAt); ok && (suspected.IsZero() || at.Before(suspected)) {
				suspected = at
			}
		}
		if !suspected.IsZero() {
			v := ms(suspected.Sub(killedAt))
			run.FirstSuspectMs = &v
		}
		// Back under its name and address, as a restarted Hermes node keeps its identity.
		started, err := c.join(index, name, port)
		if err != nil {
			return nil, err
		}
		converged, err := c.allAliveAt(started)
		if err != nil {
			return nil, err
		}
		run.RejoinMs = ms(converged.Sub(started))
		r.Runs = append(r.Runs, run)
		progress("trial %d/%d: %s held dead by all after %.0f ms (first dead %.0f); rejoined in %.0f ms",
			t+1, o.trials, name, run.AllAgreeMs, run.FirstDeadMs, run.RejoinMs)
	}
	return r, nil
}
