package openapi

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Lint walks every schema the document holds (components, parameters,
// request and response bodies) and reports each keyword Validate does not
// know and each reference that leads nowhere, so that no part of a schema
// goes unchecked because no example reached it.
func (d *Doc) Lint() error {
	var errs []error
	var walk func(v any, ptr string, schema bool)
	walk = func(v any, ptr string, schema bool) {
		switch x := v.(type) {
		case map[string]any:
			if schema {
				errs = append(errs, d.lintSchema(x, ptr, walk)...)
				return
			}
			for _, k := range sortedKeys(x) {
				walk(x[k], ptr+"/"+escape(k), k == "schema" || strings.HasSuffix(ptr, "/components/schemas"))
			}
		case []any:
			for i, e := range x {
				walk(e, fmt.Sprintf("%s/%d", ptr, i), false)
			}
		}
	}
	walk(d.Root, "", false)
	return errors.Join(errs...)
}

func (d *Doc) lintSchema(s map[string]any, ptr string, walk func(any, string, bool)) []error {
	var errs []error
	for _, k := range sortedKeys(s) {
		if !slices.Contains(assertions, k) && !slices.Contains(annotations, k) && !strings.HasPrefix(k, "x-") {
			errs = append(errs, &SchemaError{ptr, fmt.Sprintf("keyword %q is not one the checker knows", k)})
		}
	}
	if ref, ok := s["$ref"]; ok {
		if _, _, err := d.Deref(map[string]any{"$ref": ref}, ptr); err != nil {
			errs = append(errs, &SchemaError{ptr, err.Error()})
		}
	}
	if f, ok := s["format"].(string); ok && !slices.Contains(formats, f) {
		errs = append(errs, &SchemaError{ptr, fmt.Sprintf("format %q is not one the checker knows", f)})
	}
	if props, ok := s["properties"].(map[string]any); ok {
		for _, k := range sortedKeys(props) {
			walk(props[k], ptr+"/properties/"+escape(k), true)
		}
	}
	for _, k := range []string{"items", "additionalProperties"} {
		if sub, ok := s[k].(map[string]any); ok {
			walk(sub, ptr+"/"+k, true)
		}
	}
	for _, k := range []string{"allOf", "anyOf", "oneOf"} {
		list, _ := s[k].([]any)
		for i, sub := range list {
			walk(sub, fmt.Sprintf("%s/%s/%d", ptr, k, i), true)
		}
	}
	return errs
}
