package configs

import (
	"fmt"
	"strings"
)

// cronFields are the five fields of a schedule, in order, with what each
// accepts, so an error can say which field is wrong and why in words
// instead of passing on the parser's strconv text.
var cronFields = []struct{ name, accepts string }{
	{"minute", "0-59"},
	{"hour", "0-23"},
	{"day-of-month", "1-31"},
	{"month", "1-12 or JAN-DEC"},
	{"day-of-week", "0-6 or SUN-SAT"},
}

// cronProblem explains why spec is not a schedule. It parses each field on
// its own (the others set to *), which finds the first wrong one.
func cronProblem(spec string) string {
	s := strings.TrimSpace(spec)
	switch {
	case strings.HasPrefix(s, "TZ=") || strings.HasPrefix(s, "CRON_TZ="):
		return "a time zone in the schedule is not read; set the timezone key instead"
	case strings.HasPrefix(s, "@"):
		return fmt.Sprintf("%s is not a shorthand foghorn knows (@yearly, @monthly, @weekly, @daily, @hourly)", strings.Fields(s)[0])
	}
	fs := strings.Fields(s)
	if len(fs) != len(cronFields) {
		return fmt.Sprintf("it has %d field(s), a schedule has five: minute hour day-of-month month day-of-week", len(fs))
	}
	for i, f := range fs {
		probe := []string{"*", "*", "*", "*", "*"}
		probe[i] = f
		if _, err := ParseCron(strings.Join(probe, " ")); err != nil {
			c := cronFields[i]
			return fmt.Sprintf("the %s field %q must be %s (or *, a range 1-5, a list 1,3,5, a step */2)", c.name, f, c.accepts)
		}
	}
	return "the fields do not make a schedule together"
}
