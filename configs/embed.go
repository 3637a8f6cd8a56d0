package configs

import _ "embed"

// DemoTOML is the config `foghorn demo` runs: loopback targets that foghorn
// serves itself and the built-in Twilio simulator, so it needs no account.
//
//go:embed demo.toml
var DemoTOML []byte

// ExampleTOML is the commented config of a realistic small site.
//
//go:embed example.toml
var ExampleTOML []byte
