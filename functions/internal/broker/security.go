package broker

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"

	"github.com/IBM/sarama"
	"github.com/xdg-go/scram"

	"github.com/scalable-shop/scalable-shop/functions/internal/env"
)

// FromEnv reads the broker settings both functions share: KAFKA_BROKERS
// (def when unset), KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME,
// KAFKA_SASL_PASSWORD (a secret), KAFKA_TLS and KAFKA_TLS_CA_FILE.
func FromEnv(r *env.Reader, def, clientID string) Config {
	c := Config{
		Brokers:       r.List("KAFKA_BROKERS", def),
		ClientID:      clientID,
		SASLMechanism: strings.ToUpper(r.String("KAFKA_SASL_MECHANISM", "")),
		SASLUsername:  r.String("KAFKA_SASL_USERNAME", ""),
		SASLPassword:  r.String("KAFKA_SASL_PASSWORD", ""),
		TLS:           r.Bool("KAFKA_TLS", false),
		TLSCAFile:     r.String("KAFKA_TLS_CA_FILE", ""),
	}
	c.TLS = c.TLS || c.TLSCAFile != ""
	switch c.SASLMechanism {
	case "":
		if c.SASLUsername != "" || c.SASLPassword != "" {
			r.Fail("KAFKA_SASL_USERNAME/PASSWORD given without KAFKA_SASL_MECHANISM")
		}
	case sarama.SASLTypePlaintext, sarama.SASLTypeSCRAMSHA256, sarama.SASLTypeSCRAMSHA512:
		if c.SASLUsername == "" || c.SASLPassword == "" {
			r.Fail("KAFKA_SASL_MECHANISM=%s needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD", c.SASLMechanism)
		}
	default:
		r.Fail("KAFKA_SASL_MECHANISM=%q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", c.SASLMechanism)
	}
	return c
}

// secure applies SASL and TLS to a sarama configuration.
func (c Config) secure(sc *sarama.Config) error {
	if c.TLS {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if c.TLSCAFile != "" {
			pem, err := os.ReadFile(c.TLSCAFile)
			if err != nil {
				return fmt.Errorf("read KAFKA_TLS_CA_FILE: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return fmt.Errorf("KAFKA_TLS_CA_FILE %s: no PEM certificate found", c.TLSCAFile)
			}
			tc.RootCAs = pool
		}
		sc.Net.TLS.Enable, sc.Net.TLS.Config = true, tc
	}
	if c.SASLMechanism == "" {
		return nil
	}
	sc.Net.SASL.Enable = true
	sc.Net.SASL.Handshake = true
	sc.Net.SASL.User, sc.Net.SASL.Password = c.SASLUsername, c.SASLPassword
	sc.Net.SASL.Mechanism = sarama.SASLMechanism(c.SASLMechanism)
	switch c.SASLMechanism {
	case sarama.SASLTypeSCRAMSHA256:
		sc.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{hash: scram.SHA256} }
	case sarama.SASLTypeSCRAMSHA512:
		sc.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{hash: scram.SHA512} }
	}
	return nil
}

// scramClient adapts xdg-go/scram (the MongoDB driver's) to sarama.
type scramClient struct {
	hash scram.HashGeneratorFcn
	conv *scram.ClientConversation
}

func (s *scramClient) Begin(user, password, authzID string) error {
	client, err := s.hash.NewClient(user, password, authzID)
	if err != nil {
		return fmt.Errorf("start SCRAM: %w", err)
	}
	s.conv = client.NewConversation()
	return nil
}

func (s *scramClient) Step(challenge string) (string, error) { return s.conv.Step(challenge) }
func (s *scramClient) Done() bool                            { return s.conv.Done() }

// LogValue lists the settings for the start-up log, without the password.
func (c Config) LogValue() map[string]any {
	return map[string]any{
		"brokers": c.Brokers, "sasl_mechanism": c.SASLMechanism, "sasl_username": c.SASLUsername,
		"tls": c.TLS, "tls_ca_file": c.TLSCAFile,
	}
}
