package broker

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"log/slog"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// selfSigned returns a certificate valid as a TLS server for 127.0.0.1 and
// as a client, and a pool trusting it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "surge test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// TestGroupWatchUnderSASLAndMutualTLS checks that the broker's own client
// reaches a broker that requires SASL and client certificates (in process,
// with its own SASL user), by having the group watch remove a member.
func TestGroupWatchUnderSASLAndMutualTLS(t *testing.T) {
	cert, pool := selfSigned(t)
	var log syncBuffer
	b := startT(t,
		WithLogger(slog.New(slog.NewTextHandler(&log, nil))),
		WithSASLUser("scram-sha-512", "alice", "a-pass"),
		WithTLS(&tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}))
	member := newClient(t, b,
		kgo.DialTLSConfig(&tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}),
		kgo.SASL(scram.Auth{User: "alice", Pass: "a-pass"}.AsSha512Mechanism()),
		kgo.AllowAutoTopicCreation(), kgo.ConsumerGroup("g"), kgo.ConsumeTopics("t"))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	go func() {
		for ctx.Err() == nil {
			member.PollFetches(ctx)
		}
	}()
	gi, err := b.cluster.WaitGroupInfo(ctx, "g", func(gi *kfake.GroupInfo) bool {
		return gi != nil && gi.State == "Stable" && len(gi.Members) == 1
	})
	if err != nil {
		t.Fatalf("group g not stable: %v (%+v)", err, gi)
	}
	m := gi.Members[0]
	err = b.watch.reap(ctx, "g", []orphan{{groupRequest{key: int16(kmsg.SyncGroup), group: "g", memberID: m.MemberID}, m.ClientHost}})
	if err != nil {
		t.Fatalf("reap: %v", err)
	}
	if want := "member_id=" + m.MemberID; !strings.Contains(log.String(), want) {
		t.Errorf("got broker log\n%s\nwant the removal of %s", log.String(), want)
	}
	if _, err := b.cluster.WaitGroupInfo(ctx, "g", func(gi *kfake.GroupInfo) bool {
		return gi != nil && gi.State == "Stable" && len(gi.Members) == 1 && gi.Members[0].MemberID != m.MemberID
	}); err != nil {
		t.Errorf("the removed member did not join again under a new id: %v", err)
	}
}
