module github.com/digital-yen/cbdc-sandbox

go 1.26.0

require (
	filippo.io/edwards25519 v1.1.0
	github.com/gorilla/websocket v1.5.3
	go.etcd.io/bbolt v1.5.0
	golang.org/x/crypto v0.58.0
)

require golang.org/x/sys v0.49.0 // indirect
