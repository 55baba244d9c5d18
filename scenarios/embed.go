// Package scenarios holds the scenario files that come with the sandbox,
// embedded so the demo page can start them without the source tree.
package scenarios

import "embed"

// Files are the scenario files, *.json at the top of the folder.
//
//go:embed *.json
var Files embed.FS
