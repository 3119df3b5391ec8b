module github.com/httpev/httpev/examples/websocket

go 1.26.8

// Built against the library in this checkout. A module of its own so that
// github.com/coder/websocket stays out of the library's go.mod.
replace github.com/httpev/httpev => ../..

require (
	github.com/coder/websocket v1.8.15
	github.com/httpev/httpev v0.0.0-00010101000000-000000000000
	github.com/stretchr/testify v1.12.1
)

require (
	github.com/sourcegraph/conc v0.3.0 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	golang.org/x/sync v0.24.0 // indirect
	golang.org/x/text v0.43.0 // indirect
)
