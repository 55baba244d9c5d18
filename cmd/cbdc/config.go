package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
)

// The services (sandbox, ledger, bank) take their settings from, in order
// of precedence: flags, the environment (CBDC_<COMMAND>_<FLAG>, such as
// CBDC_BANK_LISTEN), a JSON file named by -config whose keys are the flag
// names, and the embedded defaults. Every setting is a flag, so there is
// one list of settings, one way to check them and one help text.

// serviceFlags are what every service adds to its own flags.
type serviceFlags struct {
	config   string
	logLevel slog.Level
	sources  map[string]string // where each setting that is not a default came from
}

func (s *serviceFlags) register(fs *flag.FlagSet, level slog.Level) {
	fs.StringVar(&s.config, "config", "", "a JSON file of settings, keyed by flag name (flags and the environment take precedence)")
	fs.TextVar(&s.logLevel, "log-level", level, "least severe log level written: debug, info, warn or error")
}

// envName is the environment variable of a command's flag.
func envName(command, flagName string) string {
	return "CBDC_" + strings.ToUpper(strings.ReplaceAll(command+"_"+flagName, "-", "_"))
}

// parseSettings parses the command line, then fills each flag it did not
// set from the environment, then from the -config file. It prints usage
// for a bad command line and returns errUsage; a bad setting in the file
// or the environment is an error naming where it is.
func parseSettings(fs *flag.FlagSet, command string, s *serviceFlags, args []string) error {
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected argument %q; settings are flags", command, fs.Arg(0))
	}
	s.sources = map[string]string{}
	fs.Visit(func(f *flag.Flag) { s.sources[f.Name] = "flag" })
	var problems []string
	fs.VisitAll(func(f *flag.Flag) {
		v, ok := os.LookupEnv(envName(command, f.Name))
		if !ok || s.sources[f.Name] != "" {
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			problems = append(problems, fmt.Sprintf("environment %s=%q is not a valid value: %v", envName(command, f.Name), v, err))
			return
		}
		s.sources[f.Name] = "environment"
	})
	known := map[string]bool{}
	fs.VisitAll(func(f *flag.Flag) { known[envName(command, f.Name)] = true })
	prefix := envName(command, "")
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, prefix) && !known[name] {
			problems = append(problems, fmt.Sprintf("environment %s names no setting of cbdc %s; the settings are %s", name, command, flagNames(fs)))
		}
	}
	if s.config != "" {
		problems = append(problems, applyConfigFile(fs, command, s)...)
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s: %s", command, strings.Join(problems, "; "))
	}
	return nil
}

// applyConfigFile sets the flags the file names that neither the command
// line nor the environment set.
func applyConfigFile(fs *flag.FlagSet, command string, s *serviceFlags) []string {
	data, err := os.ReadFile(s.config)
	if err != nil {
		return []string{fmt.Sprintf("-config: %v", err)}
	}
	f := &settingsFile{fs: fs, command: command, s: s, data: data, seen: map[string]bool{}}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return []string{fmt.Sprintf("%s: a settings file is one JSON object, such as {\"listen\": \"127.0.0.1:7401\"}", s.config)}
	}
	var problems []string
	for dec.More() {
		off := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return append(problems, jsonProblem(s.config, f.at, dec, err))
		}
		name := tok.(string)
		var raw any
		if err := dec.Decode(&raw); err != nil {
			return append(problems, fmt.Sprintf("the value of %q: %s", name, jsonProblem(s.config, f.at, dec, err)))
		}
		pos := f.at(off + int64(bytes.IndexByte(data[off:], '"')))
		if p := f.set(name, raw, pos); p != "" {
			problems = append(problems, p)
		}
	}
	return append(problems, f.end(dec)...)
}

// settingsFile is a -config file being applied to a command's flags.
type settingsFile struct {
	fs      *flag.FlagSet
	command string
	s       *serviceFlags
	data    []byte
	seen    map[string]bool // the settings read so far
}

// at is the file, line and column of the byte at off.
func (f *settingsFile) at(off int64) string {
	line := 1 + bytes.Count(f.data[:off], []byte("\n"))
	col := int(off) - bytes.LastIndexByte(f.data[:off], '\n')
	return fmt.Sprintf("%s:%d:%d", f.s.config, line, col)
}

// set sets the flag name to raw, the value the file gives it at pos,
// unless the command line or the environment set it. It returns what is
// wrong with the setting, or "".
func (f *settingsFile) set(name string, raw any, pos string) string {
	switch {
	case f.fs.Lookup(name) == nil || name == "config":
		return fmt.Sprintf("%s: unknown setting %q; the settings are cbdc %s's flags: %s", pos, name, f.command, flagNames(f.fs))
	case f.seen[name]:
		return fmt.Sprintf("%s: %q is set twice", pos, name)
	}
	f.seen[name] = true
	if f.s.sources[name] != "" {
		return "" // the command line or the environment wins
	}
	var v string
	switch x := raw.(type) {
	case string:
		v = x
	case json.Number:
		v = x.String()
	case bool:
		v = fmt.Sprint(x)
	default:
		return fmt.Sprintf("%s: %q must be a string, number or true/false", pos, name)
	}
	if err := f.fs.Set(name, v); err != nil {
		return fmt.Sprintf("%s: %q: %q is not a valid value: %v", pos, name, v, err)
	}
	f.s.sources[name] = "file"
	return ""
}

// end checks that the settings object closes and nothing follows it.
func (f *settingsFile) end(dec *json.Decoder) []string {
	if _, err := dec.Token(); err != nil { // the closing brace
		return []string{jsonProblem(f.s.config, f.at, dec, err)}
	}
	end := dec.InputOffset()
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		end += int64(len(f.data[end:]) - len(bytes.TrimLeft(f.data[end:], " \t\r\n")))
		return []string{fmt.Sprintf("%s: something follows the settings object; a settings file is one JSON object", f.at(end))}
	}
	return nil
}

// jsonProblem says where a settings file stops being JSON.
func jsonProblem(file string, at func(int64) string, dec *json.Decoder, err error) string {
	var syn *json.SyntaxError
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Sprintf("%s: the file ends inside the settings object", file)
	case errors.As(err, &syn):
		return fmt.Sprintf("%s: %v", at(syn.Offset), err)
	}
	return fmt.Sprintf("%s: %v", at(dec.InputOffset()), err)
}

func flagNames(fs *flag.FlagSet) string {
	var names []string
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name != "config" {
			names = append(names, f.Name)
		}
	})
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// logger is the service's log, at its -log-level, on stderr.
func (s *serviceFlags) logger(stderr io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: s.logLevel}))
}

// logSettings logs each setting that is not a default and where it came from.
func (s *serviceFlags) logSettings(log *slog.Logger, fs *flag.FlagSet) {
	var attrs []any
	fs.VisitAll(func(f *flag.Flag) {
		if src := s.sources[f.Name]; src != "" {
			attrs = append(attrs, slog.String(f.Name, f.Value.String()+" ("+src+")"))
		}
	})
	if len(attrs) > 0 {
		log.Info("settings", attrs...)
	}
}
