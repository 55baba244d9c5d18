// Package sim runs scenarios against the sandbox: simulated wallets and
// merchants paying at a target rate or as fast as they can, outages in
// which wallets fall back to offline purses, attacks on offline payments,
// and a report of what happened.
//
// # Basics
//
// A scenario is a JSON file (docs/scenarios.md describes every field);
// ParseScenario reads and checks one, naming the line and column of any
// mistake. A Planner draws the scenario's payments from its seed, so the
// same scenario always makes the same payments.
//
// # Sandboxes
//
// A run happens in a Sandbox: package sim/local opens one in this
// process, and ConnectRemote reaches banks running in other processes.
// NewWorld onboards a scenario's parties in either, and Run makes its
// payments there.
package sim
