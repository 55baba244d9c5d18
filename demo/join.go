package demo

import (
	"crypto/tls"
	"crypto/x509"
	"html/template"
	"time"

	"net/http"
	"net/url"

	"github.com/gorilla/websocket"

	"github.com/digital-yen/cbdc-sandbox/internal/qrsvg"
	"github.com/digital-yen/cbdc-sandbox/walletapp"
)

// Room is a sandbox served over HTTPS on its LAN address for the phones
// in the room (cbdc sandbox -room): the authority their browsers must
// trust, which the join page hands out.
type Room struct {
	CA []byte // the authority's certificate, PEM
}

// dialer is the websocket dialer of the demo's own wallets: one that
// trusts the room's authority when the banks serve the room's TLS; nil
// (the wallet package's) otherwise.
func (s *Server) dialer() *websocket.Dialer {
	if s.cfg.Room == nil {
		return nil
	}
	s.roomDialer.Do(func() {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(s.cfg.Room.CA)
		s.wsDialer = &websocket.Dialer{Proxy: http.ProxyFromEnvironment, HandshakeTimeout: 45 * time.Second,
			TLSClientConfig: &tls.Config{RootCAs: pool}}
	})
	return s.wsDialer
}

// appURL is the wallet app of the bank whose websocket is wsURL.
func appURL(wsURL string) string {
	u, err := url.Parse(wsURL)
	if err != nil {
		return ""
	}
	u.Scheme = map[string]string{"wss": "https", "ws": "http"}[u.Scheme]
	u.Path = walletapp.Path
	return u.String()
}

type joinBank struct {
	ID, URL string
	QR      template.HTML
}

// joinPage is the page a room opens first: trust the sandbox's
// authority, then open a bank's wallet app by its QR code. It works
// without JavaScript.
var joinPage = template.Must(template.New("join").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Join the digital yen room</title>
<style>body{font:17px/1.5 system-ui,sans-serif;max-width:40rem;margin:0 auto;padding:1rem;color:#111}
a{color:#0b3d91}.qr svg{width:min(70vw,16rem);height:auto;display:block}section{border-top:1px solid #ccc;padding:.5rem 0}
.bank{display:inline-block;margin:0 1.5rem 1rem 0;vertical-align:top}</style></head>
<body>
<h1>Join the digital yen room <span lang="ja">デジタル円の体験に参加</span></h1>
<section aria-labelledby="trust">
<h2 id="trust">1. Trust the room's authority <span lang="ja">1. この会場の認証局を信頼する</span></h2>
<p>The sandbox serves this network over HTTPS with a certificate of its own authority, limited to this room's address.
<a href="/room/ca.crt" download="cbdc-sandbox-ca.crt">Download the authority</a>, then:</p>
<ul>
<li><strong>iPhone / iPad</strong>: Settings → Profile Downloaded → Install; then Settings → General → About → Certificate Trust Settings → turn on “cbdc sandbox local CA”.</li>
<li><strong>Android</strong>: Settings → Security → More security settings → Encryption &amp; credentials → Install a certificate → CA certificate → choose the downloaded file.</li>
</ul>
<p lang="ja"><a href="/room/ca.crt" download="cbdc-sandbox-ca.crt">認証局をダウンロード</a>し、iPhoneでは「設定」→「プロファイルがダウンロード済み」→「インストール」、続いて「一般」→「情報」→「証明書信頼設定」でオンにします。Androidでは「設定」→「セキュリティ」→「暗号化と認証情報」→「証明書のインストール」→「CA証明書」です。</p>
<p>Remove it after the session: it is trusted only for this room's address. <span lang="ja">終了後は削除してください。</span></p>
</section>
<section aria-labelledby="open">
<h2 id="open">2. Open a wallet <span lang="ja">2. ウォレットを開く</span></h2>
<p>Scan a bank's code with the camera, or open its address. <span lang="ja">銀行のQRコードをカメラで読み取ってください。</span></p>
{{range .}}<div class="bank"><h3>{{.ID}}</h3><div class="qr">{{.QR}}</div><p><a href="{{.URL}}">{{.URL}}</a></p></div>
{{end}}</section>
</body></html>
`))

func (s *Server) handleJoin(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Room == nil {
		writeError(w, http.StatusNotFound, "not_room", "this sandbox is not serving a room: run cbdc sandbox -room so phones on the network can join")
		return
	}
	var banks []joinBank
	for _, b := range s.cfg.Banks {
		u := appURL(b.WalletURL)
		banks = append(banks, joinBank{ID: string(b.Bank.ID()), URL: u,
			QR: template.HTML(qrsvg.SVG(u, string(b.Bank.ID())+"'s wallet app as a QR code"))})
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	joinPage.Execute(w, banks)
}

func (s *Server) handleRoomCA(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Room == nil {
		writeError(w, http.StatusNotFound, "not_room", "this sandbox is not serving a room: run cbdc sandbox -room")
		return
	}
	w.Header().Set("Content-Type", "application/x-x509-ca-cert")
	w.Header().Set("Content-Disposition", `attachment; filename="cbdc-sandbox-ca.crt"`)
	w.Write(s.cfg.Room.CA)
}
