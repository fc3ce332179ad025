package deploy

import (
	"bufio"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// cli is surge's command tree as its --help output describes it: what the
// deployment files are checked against.
type cli struct {
	// commands by path ("" for the root, "sink", "topics create").
	commands map[string]*command
}

// command is one surge command and the flags it accepts.
type command struct {
	path        string
	subcommands []string
	// flags by long name (local and global), each with its value type as
	// help prints it ("" for a bool flag).
	flags map[string]string
	// shorthands maps a one-letter shorthand to its long name.
	shorthands map[string]string
}

var (
	cliOnce sync.Once
	cliSpec *cli
	cliErr  error
)

// surgeCLI builds ../cmd/surge into a temporary directory and reads the help
// of every command. It runs once per test binary; the binary is no longer
// needed after that.
func surgeCLI(t *testing.T) *cli {
	t.Helper()
	cliOnce.Do(func() {
		bin := filepath.Join(t.TempDir(), "surge")
		build := exec.Command("go", "build", "-o", bin, "../cmd/surge")
		if out, err := build.CombinedOutput(); err != nil {
			cliErr = fmt.Errorf("go build ../cmd/surge: %v\n%s", err, out)
			return
		}
		cliSpec, cliErr = readCLI(bin, t.TempDir())
	})
	if cliErr != nil {
		t.Fatalf("read surge's commands and flags: %v", cliErr)
	}
	return cliSpec
}

// readCLI walks the command tree from the root's help.
func readCLI(bin, dir string) (*cli, error) {
	c := &cli{commands: make(map[string]*command)}
	queue := []string{""}
	for len(queue) > 0 {
		path := queue[0]
		queue = queue[1:]
		args := append(strings.Fields(path), "--help")
		run := exec.Command(bin, args...)
		run.Dir = dir
		run.Env = []string{"HOME=" + dir} // no SURGE_* from the caller
		out, err := run.Output()
		if err != nil {
			return nil, fmt.Errorf("surge %s: %v", strings.Join(args, " "), err)
		}
		cmd, err := parseHelp(path, string(out))
		if err != nil {
			return nil, fmt.Errorf("surge %s: %v", strings.Join(args, " "), err)
		}
		c.commands[path] = cmd
		for _, sub := range cmd.subcommands {
			queue = append(queue, strings.TrimSpace(path+" "+sub))
		}
	}
	return c, nil
}

var (
	// "  -o, --output string   output format" or "      --no-progress   ..."
	flagLine = regexp.MustCompile(`^\s+(?:-([A-Za-z0-9]), )?--([A-Za-z0-9][A-Za-z0-9-]*)(?: ([A-Za-z0-9]+))?(?:\s{2,}|$)`)
	// "  sink        Stream orders, ..."
	commandLine = regexp.MustCompile(`^  ([a-z][a-z0-9-]*)\s{2,}`)
)

// parseHelp reads the "Available Commands", "Flags" and "Global Flags"
// sections of cobra's help output.
func parseHelp(path, help string) (*command, error) {
	cmd := &command{path: path, flags: make(map[string]string), shorthands: make(map[string]string)}
	section := ""
	sc := bufio.NewScanner(strings.NewReader(help))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.TrimSpace(line) == "":
			section = ""
			continue
		case !strings.HasPrefix(line, " ") && strings.HasSuffix(line, ":"):
			section = strings.TrimSuffix(line, ":")
			continue
		}
		switch section {
		case "Available Commands":
			if m := commandLine.FindStringSubmatch(line); m != nil && m[1] != "help" && m[1] != "completion" {
				cmd.subcommands = append(cmd.subcommands, m[1])
			}
		case "Flags", "Global Flags":
			m := flagLine.FindStringSubmatch(line)
			if m == nil {
				return nil, fmt.Errorf("unreadable flag line %q", line)
			}
			cmd.flags[m[2]] = m[3]
			if m[1] != "" {
				cmd.shorthands[m[1]] = m[2]
			}
		}
	}
	if len(cmd.flags) == 0 {
		return nil, fmt.Errorf("no flags found in the help output:\n%s", help)
	}
	return cmd, nil
}

// invocation is a surge command line resolved against the CLI.
type invocation struct {
	cmd *command
	// flags given, by long name, with their values ("true" for a bool).
	flags map[string]string
	// positional arguments after the command path.
	args []string
}

// parse resolves args (without the program name) to a command and checks
// that every flag exists for it and that every flag value has the flag's
// type.
func (c *cli) parse(args []string) (*invocation, error) {
	path, i := "", 0
	for ; i < len(args) && !strings.HasPrefix(args[i], "-"); i++ {
		next := strings.TrimSpace(path + " " + args[i])
		if _, ok := c.commands[next]; !ok {
			break
		}
		path = next
	}
	inv := &invocation{cmd: c.commands[path], flags: make(map[string]string)}
	for ; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") || a == "-" {
			inv.args = append(inv.args, a)
			continue
		}
		var name, value string
		hasValue := false
		if long, ok := strings.CutPrefix(a, "--"); ok {
			name, value, hasValue = strings.Cut(long, "=")
		} else {
			short, v, ok := strings.Cut(a[1:], "=")
			long, known := inv.cmd.shorthands[short]
			if !known {
				return nil, fmt.Errorf("surge %s has no flag -%s", commandName(path), short)
			}
			name, value, hasValue = long, v, ok
		}
		typ, ok := inv.cmd.flags[name]
		if !ok {
			return nil, fmt.Errorf("surge %s has no flag --%s", commandName(path), name)
		}
		switch {
		case hasValue:
		case typ == "":
			value = "true"
		case i+1 < len(args):
			i++
			value = args[i]
		default:
			return nil, fmt.Errorf("flag --%s of surge %s needs a %s value", name, commandName(path), typ)
		}
		if err := checkValue(typ, value); err != nil {
			return nil, fmt.Errorf("surge %s --%s %q: %v", commandName(path), name, value, err)
		}
		inv.flags[name] = value
	}
	return inv, nil
}

// envFlag maps a SURGE_* environment variable (SURGE_<FLAG> or
// SURGE_<COMMAND>_<FLAG>) to the flag it sets for cmd,
// and checks the value against the flag's type. ok is false for a variable
// without the SURGE_ prefix.
func (cmd *command) envFlag(name, value string) (flag string, ok bool, err error) {
	rest, ok := strings.CutPrefix(name, "SURGE_")
	if !ok {
		return "", false, nil
	}
	// SURGE_<COMMAND>_<FLAG> names the command's own flag.
	prefix := strings.ToUpper(strings.ReplaceAll(cmd.path, " ", "_")) + "_"
	if own, ok := strings.CutPrefix(rest, prefix); ok && cmd.path != "" {
		if _, known := cmd.flags[strings.ReplaceAll(strings.ToLower(own), "_", "-")]; known {
			rest = own
		}
	}
	flag = strings.ReplaceAll(strings.ToLower(rest), "_", "-")
	typ, known := cmd.flags[flag]
	if !known {
		return flag, true, fmt.Errorf("%s: surge %s has no flag --%s", name, commandName(cmd.path), flag)
	}
	if err := checkValue(typ, value); err != nil {
		return flag, true, fmt.Errorf("%s=%q: %v", name, value, err)
	}
	return flag, true, nil
}

// checkValue checks that v parses as a value of the pflag type typ. Values
// with compose interpolation (${...}) are not checked.
func checkValue(typ, v string) error {
	if strings.Contains(v, "${") {
		return nil
	}
	var err error
	switch typ {
	case "", "bool":
		_, err = strconv.ParseBool(v)
	case "int", "int8", "int16", "int32", "int64":
		_, err = strconv.ParseInt(v, 10, 64)
	case "uint", "uint8", "uint16", "uint32", "uint64":
		_, err = strconv.ParseUint(v, 10, 64)
	case "float", "float32", "float64":
		_, err = strconv.ParseFloat(v, 64)
	case "duration":
		_, err = time.ParseDuration(v)
	}
	if err != nil {
		return fmt.Errorf("not a valid %s", typ)
	}
	return nil
}

func commandName(path string) string {
	if path == "" {
		return "(root)"
	}
	return path
}

// TestCLIHelpParsed guards the parser the other tests rely on: it must see
// the commands and flags every deployment file uses.
func TestCLIHelpParsed(t *testing.T) {
	c := surgeCLI(t)
	tests := []struct {
		path     string
		flags    []string
		wantType map[string]string
	}{
		{path: "", flags: []string{"log-level", "log-format", "config"}},
		{path: "sink", flags: []string{"group", "batch-rows", "batch-interval", "metrics-addr", "brokers", "clickhouse-password"},
			wantType: map[string]string{"batch-rows": "int", "batch-interval": "duration", "metrics-addr": "string"}},
		{path: "topics create", flags: []string{"partitions", "replication", "output", "brokers"},
			wantType: map[string]string{"partitions": "int32", "replication": "int"}},
		{path: "migrate", flags: []string{"clickhouse", "clickhouse-database", "clickhouse-user", "clickhouse-password", "data-dir"}},
		{path: "lag", flags: []string{"brokers", "data-dir", "kafka-sasl-password-file", "log-level"}},
		{path: "produce", flags: []string{"rate", "duration", "shape", "no-progress"},
			wantType: map[string]string{"no-progress": "", "rate": "float", "max-records": "int"}},
		{path: "topics list"}, {path: "topics describe"}, {path: "up"}, {path: "broker"}, {path: "report"}, {path: "version"},
	}
	for _, tt := range tests {
		t.Run(commandName(tt.path), func(t *testing.T) {
			cmd, ok := c.commands[tt.path]
			if !ok {
				t.Fatalf("got no command %q in surge's help, want it", tt.path)
			}
			for _, f := range tt.flags {
				if _, ok := cmd.flags[f]; !ok {
					t.Errorf("got no --%s on surge %s, want it", f, commandName(tt.path))
				}
			}
			for f, want := range tt.wantType {
				if got := cmd.flags[f]; got != want {
					t.Errorf("--%s type: got %q, want %q", f, got, want)
				}
			}
		})
	}
	if _, err := c.parse([]string{"sink", "--no-such-flag"}); err == nil {
		t.Error("parse of sink --no-such-flag: got no error, want one")
	}
	if _, err := c.parse([]string{"topics", "create", "--partitions", "many"}); err == nil {
		t.Error("parse of --partitions many: got no error, want one")
	}
	if _, _, err := c.commands["sink"].envFlag("SURGE_CLICKHOUSE_PASSWD", "x"); err == nil {
		t.Error("envFlag SURGE_CLICKHOUSE_PASSWD: got no error, want one")
	}
	if f, _, err := c.commands["sink"].envFlag("SURGE_SINK_BATCH_ROWS", "10"); err != nil || f != "batch-rows" {
		t.Errorf("envFlag SURGE_SINK_BATCH_ROWS: got %q, %v, want batch-rows", f, err)
	}
}
