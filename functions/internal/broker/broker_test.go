package broker_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rcrowley/go-metrics"
	"time"

	"github.com/IBM/sarama"

	"github.com/scalable-shop/scalable-shop/functions/apitest"
	"github.com/scalable-shop/scalable-shop/functions/internal/broker"
	"github.com/scalable-shop/scalable-shop/functions/internal/env"
)

func TestFromEnv(t *testing.T) {
	t.Parallel()
	ca := writeCA(t)
	tests := []struct {
		name      string
		vars      map[string]string
		wantErr   string
		mechanism sarama.SASLMechanism
		tls       bool
	}{
		{"plaintext", map[string]string{}, "", "", false},
		{"scram_sha_512_tls", map[string]string{"KAFKA_SASL_MECHANISM": "scram-sha-512", "KAFKA_SASL_USERNAME": "shop",
			"KAFKA_SASL_PASSWORD": "pw", "KAFKA_TLS": "true"}, "", sarama.SASLTypeSCRAMSHA512, true},
		{"scram_sha_256", map[string]string{"KAFKA_SASL_MECHANISM": "SCRAM-SHA-256", "KAFKA_SASL_USERNAME": "shop",
			"KAFKA_SASL_PASSWORD": "pw"}, "", sarama.SASLTypeSCRAMSHA256, false},
		{"plain_with_ca", map[string]string{"KAFKA_SASL_MECHANISM": "PLAIN", "KAFKA_SASL_USERNAME": "shop",
			"KAFKA_SASL_PASSWORD": "pw", "KAFKA_TLS_CA_FILE": ca}, "", sarama.SASLTypePlaintext, true},
		{"unknown_mechanism", map[string]string{"KAFKA_SASL_MECHANISM": "GSSAPI", "KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": "p"}, "KAFKA_SASL_MECHANISM", "", false},
		{"mechanism_without_password", map[string]string{"KAFKA_SASL_MECHANISM": "PLAIN", "KAFKA_SASL_USERNAME": "u"}, "KAFKA_SASL_PASSWORD", "", false},
		{"password_without_mechanism", map[string]string{"KAFKA_SASL_PASSWORD": "p"}, "KAFKA_SASL_MECHANISM", "", false},
		{"bad_tls_flag", map[string]string{"KAFKA_TLS": "maybe"}, "KAFKA_TLS", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := env.NewReader(apitest.Lookup(tt.vars))
			c := broker.FromEnv(r, "127.0.0.1:9092", "test")
			if err := r.Err(); tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one naming %s", err, tt.wantErr)
				}
				return
			} else if err != nil {
				t.Fatal(err)
			}
			if err := c.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			for _, build := range []func() (*sarama.Config, error){c.Producer, c.ConsumerGroup} {
				sc, err := build()
				if err != nil {
					t.Fatal(err)
				}
				if sc.Net.SASL.Mechanism != tt.mechanism && tt.mechanism != "" || sc.Net.SASL.Enable != (tt.mechanism != "") {
					t.Errorf("SASL: got enable=%v %q, want %q", sc.Net.SASL.Enable, sc.Net.SASL.Mechanism, tt.mechanism)
				}
				if sc.Net.TLS.Enable != tt.tls {
					t.Errorf("TLS: got %v, want %v", sc.Net.TLS.Enable, tt.tls)
				}
				if strings.HasPrefix(string(tt.mechanism), "SCRAM") && sc.Net.SASL.SCRAMClientGeneratorFunc == nil {
					t.Error("SCRAM without a client generator")
				}
			}
			if s := fmt.Sprint(c.LogValue()); strings.Contains(s, "pw") {
				t.Errorf("LogValue shows the password: %s", s)
			}
		})
	}
}

func TestSCRAMClientConversation(t *testing.T) {
	t.Parallel()
	r := env.NewReader(apitest.Lookup(map[string]string{"KAFKA_SASL_MECHANISM": "SCRAM-SHA-256", "KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": "p"}))
	sc, err := broker.FromEnv(r, "b:9092", "t").Producer()
	if err != nil {
		t.Fatal(err)
	}
	client := sc.Net.SASL.SCRAMClientGeneratorFunc()
	if err := client.Begin("u", "p", ""); err != nil {
		t.Fatal(err)
	}
	first, err := client.Step("")
	if err != nil || !strings.HasPrefix(first, "n,,n=u,r=") || client.Done() {
		t.Errorf("first message: got %q, %v, done=%v; want a client-first message", first, err, client.Done())
	}
}

// writeCA writes a self-signed CA certificate in PEM and returns its path.
func writeCA(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestSaramaMetricsAreNil: the histograms sarama updates per request are
// no-ops (their decaying samples cost CPU per purchase; nothing reads them).
func TestSaramaMetricsAreNil(t *testing.T) {
	sc, err := broker.Config{Brokers: []string{"127.0.0.1:9092"}}.Producer()
	if err != nil {
		t.Fatal(err)
	}
	h := metrics.GetOrRegisterHistogram("request-latency-in-ms", sc.MetricRegistry, metrics.NewExpDecaySample(1028, 0.015))
	if _, ok := h.(metrics.NilHistogram); !ok {
		t.Errorf("sarama's histograms are %T, want metrics.NilHistogram", h)
	}
}
