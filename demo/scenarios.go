package demo

import (
	"bytes"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/digital-yen/cbdc-sandbox/protocol"
	"github.com/digital-yen/cbdc-sandbox/scenarios"
	"github.com/digital-yen/cbdc-sandbox/sim"
	"github.com/digital-yen/cbdc-sandbox/sim/local"
)

// A scenario started from the page runs as `cbdc sim` does: in a sandbox
// of its own, in a temporary directory, so the demo's ledger is left as
// the presenter made it. One runs at a time.

// ScenarioInfo is a scenario the page offers.
type ScenarioInfo struct {
	Name        string  `json:"name"`
	Description string  `json:"description"`
	Banks       int     `json:"banks"`
	Wallets     int     `json:"wallets"`
	Seconds     float64 `json:"seconds"`  // how long its payments arrive; 0 when counted in payments
	Audience    string  `json:"audience"` // room, or developer: a test or measurement rig, listed apart
	// Descriptions are the description in other languages, by language tag.
	Descriptions map[string]string `json:"descriptions,omitempty"`
}

// ScenarioRun is the state of the run the page started.
type ScenarioRun struct {
	Name     string      `json:"name"`
	Phase    string      `json:"phase"` // opening, running, reconciling, done, failed
	Tick     *sim.Tick   `json:"tick,omitempty"`
	Started  time.Time   `json:"started"`
	Error    string      `json:"error,omitempty"`
	Report   *sim.Report `json:"report,omitempty"`
	HasPage  bool        `json:"has_page"` // the HTML report is at /api/scenarios/report
	Sessions int         `json:"sessions"`
}

type scenarioRunner struct {
	mu   sync.Mutex
	run  *ScenarioRun
	page []byte // the last run's HTML report
}

func (s *Server) scenarioList() ([]ScenarioInfo, error) {
	names, err := fs.Glob(scenarios.Files, "*.json")
	if err != nil {
		return nil, err
	}
	var out []ScenarioInfo
	for _, n := range names {
		sc, err := loadScenario(strings.TrimSuffix(n, ".json"))
		if err != nil {
			return nil, err
		}
		audience := sim.AudienceRoom
		if !sc.ForRoom() {
			audience = sim.AudienceDeveloper
		}
		out = append(out, ScenarioInfo{Name: sc.Name, Description: sc.Description, Banks: sc.Banks, Wallets: sc.Wallets,
			Seconds: sc.Duration.D().Seconds(), Audience: audience, Descriptions: sc.Descriptions})
	}
	slices.SortFunc(out, func(a, b ScenarioInfo) int { return int(size(a) - size(b)) }) // the quick ones first
	return out, nil
}

func loadScenario(name string) (*sim.Scenario, error) {
	raw, err := scenarios.Files.ReadFile(name + ".json")
	if err != nil {
		return nil, &protocol.Error{Code: "unknown_scenario", Message: fmt.Sprintf("no scenario %q among the sandbox's", name)}
	}
	return sim.ParseScenario("scenarios/"+name+".json", raw)
}

func (s *Server) handleScenarios(w http.ResponseWriter, r *http.Request) {
	list, err := s.scenarioList()
	if err != nil {
		writeErr(w, err)
		return
	}
	s.scen.mu.Lock()
	run := s.scen.run
	s.scen.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"scenarios": list, "run": run})
}

// scenarioSessions bounds the paying sessions of a run the page starts:
// the demo's own banks and wallets share the machine.
const scenarioSessions = 1000

func (s *Server) handleStartScenario(w http.ResponseWriter, r *http.Request) {
	sc, err := loadScenario(r.PathValue("name"))
	if err != nil {
		writeErr(w, err)
		return
	}
	s.scen.mu.Lock()
	if s.ctx.Err() != nil {
		s.scen.mu.Unlock()
		writeError(w, http.StatusServiceUnavailable, "stopping", "the sandbox is stopping")
		return
	}
	if s.scen.run != nil && s.scen.run.Phase != "done" && s.scen.run.Phase != "failed" {
		name := s.scen.run.Name
		s.scen.mu.Unlock()
		writeError(w, http.StatusConflict, "scenario_running", "scenario %s is still running; one runs at a time", name)
		return
	}
	run := &ScenarioRun{Name: sc.Name, Phase: "opening", Started: time.Now(), Sessions: min(scenarioSessions, sc.Wallets)}
	s.scen.run, s.scen.page = run, nil
	s.scen.mu.Unlock()
	s.live.event(Event{From: "presenter", To: "simulator", Kind: "scenario_start", Args: Args{"name": sc.Name}})
	s.pushRun()
	s.wg.Go(func() { s.runScenario(sc) })
	writeJSON(w, http.StatusAccepted, run)
}

func (s *Server) runScenario(sc *sim.Scenario) {
	rep, err := s.simulate(sc)
	var page bytes.Buffer
	if err == nil {
		err = rep.WriteHTML(&page)
	}
	s.scen.mu.Lock()
	run := *s.scen.run
	if err != nil {
		run.Phase, run.Error = "failed", err.Error()
	} else {
		run.Phase, run.Report, run.HasPage = "done", rep, true
		s.scen.page = page.Bytes()
	}
	s.scen.run = &run
	s.scen.mu.Unlock()
	s.pushRun()
	s.live.event(Event{From: "simulator", To: "presenter", Kind: "scenario_" + run.Phase, Args: Args{"name": sc.Name}, Error: err != nil})
}

func (s *Server) simulate(sc *sim.Scenario) (*sim.Report, error) {
	dir, err := os.MkdirTemp("", "cbdc-demo-sim-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	world, err := local.OpenWorld(s.ctx, sc, dir, scenarioSessions, nil)
	if err != nil {
		return nil, err
	}
	defer world.Close()
	s.setRun(func(r *ScenarioRun) { r.Phase = "running" })
	return sim.Run(s.ctx, world, func(t sim.Tick) {
		s.setRun(func(r *ScenarioRun) { r.Phase, r.Tick = t.Phase, &t })
	})
}

func (s *Server) setRun(f func(*ScenarioRun)) {
	s.scen.mu.Lock()
	run := *s.scen.run
	f(&run)
	s.scen.run = &run
	s.scen.mu.Unlock()
	s.pushRun()
}

func (s *Server) pushRun() {
	s.scen.mu.Lock()
	run := s.scen.run
	s.scen.mu.Unlock()
	s.live.send(message{Type: "scenario", Run: run})
}

// handleScenarioReport serves the last run's HTML report, charts and all.
func (s *Server) handleScenarioReport(w http.ResponseWriter, r *http.Request) {
	s.scen.mu.Lock()
	page := s.scen.page
	s.scen.mu.Unlock()
	if page == nil {
		writeError(w, http.StatusNotFound, "no_report", "no scenario has finished yet")
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(page)
}

// size is about how long a scenario takes: wallets times seconds, a
// closed loop counted as a minute.
func size(sc ScenarioInfo) float64 { return float64(sc.Wallets) * max(sc.Seconds, 60) }
