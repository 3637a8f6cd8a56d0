package escalation

// ConfigOf is configOf for the package's external tests (outage_test.go).
var ConfigOf = configOf
