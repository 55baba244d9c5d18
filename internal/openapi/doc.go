// Package openapi reads the project's OpenAPI 3.1 document
// (docs/openapi.yaml) and checks JSON values against its schemas, so that
// tests can hold the document to the servers it describes: every example
// it shows is sent, every answer is checked against its schema, and every
// route is documented.
//
// # Basics
//
// Load reads a document into plain JSON values (objects are
// map[string]any, numbers json.Number) and remembers the order of every
// mapping's keys, which Keys returns: examples build on one another in
// the order the document gives them. Operations lists the operations in
// that order. Validate checks a value against a schema and names each
// place it breaks it.
//
// # Caveats
//
// The checker knows the subset of JSON Schema 2020-12 the document uses
// (see Validate) and refuses a schema with any other keyword, rather than
// pass values it did not check. References are local only (#/...).
package openapi
