package openapi_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/digital-yen/cbdc-sandbox/internal/openapi"
)

// A small document whose schemas use every keyword the checker knows.
const testDoc = `
openapi: 3.1.0
components:
  schemas:
    Customer:
      type: object
      required: [id, deposit]
      additionalProperties: false
      properties:
        id: {type: string, pattern: "^c-[0-9]+$"}
        name: {type: string, minLength: 1, maxLength: 5}
        deposit: {type: integer, format: int64, minimum: 0}
        tier: {enum: [basic, standard]}
        key: {type: string, format: byte}
        opened: {type: string, format: date-time}
        wallets: {type: [array, "null"], minItems: 1, maxItems: 2, items: {$ref: "#/components/schemas/Wallet"}}
        fixed: {const: 7}
        ratio: {type: number, exclusiveMinimum: 0, maximum: 1}
        seq: {type: integer, format: uint64}
    Wallet:
      type: object
      required: [address]
      additionalProperties: false
      properties:
        address: {type: string}
    Either:
      oneOf:
        - {type: object, required: [seq], properties: {seq: {type: integer}}}
        - {type: object, required: [error], properties: {error: {type: string}}}
    Both:
      allOf:
        - {$ref: "#/components/schemas/Wallet"}
        - {properties: {address: {minLength: 3}}}
    Some:
      anyOf: [{type: string}, {type: integer}]
    Odd:
      type: object
      properties:
        n: {type: integer, multipleOf: 5}
    Far:
      $ref: "other.yaml#/Thing"
    Nowhere:
      $ref: "#/components/schemas/Missing"
`

func parseTestDoc(t *testing.T) *openapi.Doc {
	t.Helper()
	d, err := openapi.Parse([]byte(testDoc))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func jsonValue(t *testing.T, s string) any {
	t.Helper()
	v, err := openapi.Decode([]byte(s))
	if err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	return v
}

func TestValidate_Keywords(t *testing.T) {
	d := parseTestDoc(t)
	const customer = "/components/schemas/Customer"
	for _, tc := range []struct {
		schema, value, want string // want: "" to pass, or a part of the error
	}{
		{customer, `{"id":"c-1","deposit":200000}`, ""},
		{customer, `{"id":"c-1","deposit":200000,"name":"Hana","tier":"basic","key":"AAEC","opened":"2026-04-25T09:00:00Z","wallets":[{"address":"w-1@bank-1"}],"fixed":7,"ratio":0.5,"seq":18446744073709551615}`, ""},
		{customer, `{"id":"c-1","deposit":200000,"wallets":null}`, ""},
		{customer, `{"deposit":1}`, `required property "id" is missing`},
		{customer, `{"id":"c-1","deposit":"200000"}`, "/deposit: want integer, got string"},
		{customer, `{"id":"c-1","deposit":1.5}`, "/deposit: want integer, got number"},
		{customer, `{"id":"c-1","deposit":-1}`, "below the minimum"},
		{customer, `{"id":"c-1","deposit":9223372036854775808}`, "does not fit int64"},
		{customer, `{"id":"c-1","deposit":1,"seq":-1}`, "does not fit uint64"},
		{customer, `{"id":"customer-1","deposit":1}`, "does not match"},
		{customer, `{"id":"c-1","deposit":1,"name":""}`, "shorter than"},
		{customer, `{"id":"c-1","deposit":1,"name":"Hanako"}`, "longer than"},
		{customer, `{"id":"c-1","deposit":1,"tier":"gold"}`, "is not one of"},
		{customer, `{"id":"c-1","deposit":1,"key":"not base64!"}`, "not standard base64"},
		{customer, `{"id":"c-1","deposit":1,"opened":"yesterday"}`, "not an RFC 3339 time"},
		{customer, `{"id":"c-1","deposit":1,"wallets":[]}`, "want at least 1"},
		{customer, `{"id":"c-1","deposit":1,"wallets":[{},{},{}]}`, "want at most 2"},
		{customer, `{"id":"c-1","deposit":1,"wallets":[{"address":7}]}`, "/wallets/0/address: want string"},
		{customer, `{"id":"c-1","deposit":1,"wallets":"none"}`, "want array or null"},
		{customer, `{"id":"c-1","deposit":1,"fixed":8}`, "want 7"},
		{customer, `{"id":"c-1","deposit":1,"ratio":0}`, "is not above 0"},
		{customer, `{"id":"c-1","deposit":1,"ratio":2}`, "above the maximum"},
		{customer, `{"id":"c-1","deposit":1,"nickname":"Hana"}`, `property "nickname" is not in the schema`},
		{customer, `[]`, "want object, got array"},
		{"/components/schemas/Either", `{"seq":5}`, ""},
		{"/components/schemas/Either", `{"seq":5,"error":"x"}`, "matches 2 of oneOf"},
		{"/components/schemas/Either", `{}`, "matches 0 of oneOf"},
		{"/components/schemas/Both", `{"address":"w-1"}`, ""},
		{"/components/schemas/Both", `{"address":"w"}`, "shorter than"},
		{"/components/schemas/Some", `5`, ""},
		{"/components/schemas/Some", `true`, "matches none of anyOf"},
		{"/components/schemas/Odd", `{"n":5}`, `keyword "multipleOf" is not one the checker knows`},
		{"/components/schemas/Far", `{}`, "only local references"},
		{"/components/schemas/Nowhere", `{}`, "refers to nothing"},
	} {
		t.Run(tc.value, func(t *testing.T) {
			err := d.Validate(tc.schema, jsonValue(t, tc.value))
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.want != "" && err == nil:
				t.Errorf("passed, want an error with %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Errorf("error %q, want one with %q", err, tc.want)
			}
		})
	}
}

// A schema the checker cannot apply is never taken for a pass: Lint finds
// the keyword even where no example reaches it.
func TestLint_FindsWhatTheCheckerDoesNotKnow(t *testing.T) {
	err := parseTestDoc(t).Lint()
	var se *openapi.SchemaError
	if !errors.As(err, &se) {
		t.Fatalf("Lint = %v, want schema errors", err)
	}
	for _, want := range []string{`"multipleOf"`, "only local references", "refers to nothing"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Lint did not report %s: %v", want, err)
		}
	}
}
