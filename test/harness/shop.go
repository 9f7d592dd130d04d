package harness

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Shop is one isolated shop under test: its own topics, consumer group and
// database on the shared broker and store.
type Shop struct {
	t         testing.TB
	Brokers   []string
	Topic     string
	DLQTopic  string
	Group     string
	Database  string
	MongoURI  string
	ServerURL string
	APIURL    string
	Server    *Process
	API       *Process
	apiPort   string
	// Authorization, when set, is sent by Buy (unless its header has one)
	// and UserBuys: an API key or a shopper's token, "Bearer ...".
	Authorization string
	// SourceToken, when set, is the KafkaSource's sender identity.
	SourceToken func() string
	// DeadLetterToken, when set, is the KafkaSource's identity towards the
	// dead-letter sink (a token for its audience); DeadLetterAuth, when
	// set, makes the dead-letter sink check it.
	DeadLetterToken func() string
	DeadLetterAuth  *SinkAuth

	// ServerMetrics and APIMetrics are the base URLs of the functions'
	// metrics ports (/metrics, the detailed /readyz), set at each start.
	ServerMetrics string
	APIMetrics    string
}

// NewShop creates the shop's topics (3 partitions) and names its database.
func NewShop(t testing.TB, brokers []string, mongoURI string) *Shop {
	t.Helper()
	s := &Shop{t: t, Brokers: brokers, Topic: Unique("purchases"), Group: Unique("cm-api"),
		Database: strings.ReplaceAll(Unique("shop"), "-", "_"), MongoURI: mongoURI, apiPort: FreePort(t)}
	s.DLQTopic = s.Topic + "-dlq"
	s.APIURL = "http://127.0.0.1:" + s.apiPort
	CreateTopics(t, brokers, 3, s.Topic, s.DLQTopic)
	return s
}

// StartAPI starts cm-api, consuming the topic itself when kafkaMode, and
// waits until it is ready. It may be called again after the last one died.
func (s *Shop) StartAPI(kafkaMode bool, extra map[string]string) *Process {
	s.t.Helper()
	env := map[string]string{"PORT": s.apiPort, "MONGODB_URI": s.MongoURI, "MONGODB_DATABASE": s.Database,
		"KAFKA_TOPIC": s.Topic, "KAFKA_DLQ_TOPIC": s.DLQTopic, "KAFKA_CONSUMER_GROUP": s.Group, "LOG_LEVEL": "debug"}
	if kafkaMode {
		env["KAFKA_BROKERS"] = strings.Join(s.Brokers, ",")
	}
	for k, v := range extra {
		env[k] = v
	}
	s.API = Start(s.t, "cm-api", Binary(s.t, "cm-api"), env)
	s.APIMetrics = s.API.MetricsURL
	WaitReady(s.t, s.APIURL+"/readyz", 30*time.Second)
	return s.API
}

// StartServer starts cm-server, sending to sink (Knative mode) or, when sink
// is "", to the brokers directly, and waits until it is ready.
func (s *Shop) StartServer(sink string, extra map[string]string) *Process {
	s.t.Helper()
	port := FreePort(s.t)
	env := map[string]string{"PORT": port, "KAFKA_TOPIC": s.Topic, "CM_API_URL": s.APIURL, "LOG_LEVEL": "debug"}
	if sink != "" {
		env["K_SINK"] = sink
	} else {
		env["KAFKA_BROKERS"] = strings.Join(s.Brokers, ",")
	}
	for k, v := range extra {
		env[k] = v
	}
	s.ServerURL = "http://127.0.0.1:" + port
	s.Server = Start(s.t, "cm-server", Binary(s.t, "cm-server"), env)
	s.ServerMetrics = s.Server.MetricsURL
	WaitReady(s.t, s.ServerURL+"/readyz", 30*time.Second)
	return s.Server
}

// BuyResponse is cm-server's answer to POST /buy (success or error).
type BuyResponse struct {
	Status  string            `json:"status"`
	Message string            `json:"message"`
	ID      string            `json:"id"`
	Errors  map[string]string `json:"errors"`
}

// Purchase is one purchase as the API shows it.
type Purchase struct {
	ID        string `json:"_id"`
	Username  string `json:"username"`
	UserID    string `json:"userid"`
	Price     string `json:"price"`
	Timestamp string `json:"timestamp"`
}

// UserBuys is cm-server's answer to GET /getAllUserBuys/{username}.
type UserBuys struct {
	Username   string     `json:"username"`
	Purchases  []Purchase `json:"purchases"`
	NextCursor string     `json:"next_cursor"`
}

// Buy posts body to /buy with extra headers; Content-Type is JSON unless given.
func (s *Shop) Buy(body string, header map[string]string) (int, BuyResponse, error) {
	req, err := http.NewRequest(http.MethodPost, s.ServerURL+"/buy", strings.NewReader(body))
	if err != nil {
		return 0, BuyResponse{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	if s.Authorization != "" {
		req.Header.Set("Authorization", s.Authorization)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	var out BuyResponse
	status, err := doJSON(req, &out)
	return status, out, err
}

// UserBuys asks cm-server for one page of username's purchases.
func (s *Shop) UserBuys(username string, query url.Values) (int, UserBuys, error) {
	u := s.ServerURL + "/getAllUserBuys/" + url.PathEscape(username)
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return 0, UserBuys{}, err
	}
	if s.Authorization != "" {
		req.Header.Set("Authorization", s.Authorization)
	}
	var out UserBuys
	status, err := doJSON(req, &out)
	return status, out, err
}

// AllUserBuys follows next_cursor through every page.
func (s *Shop) AllUserBuys(username string, limit int) ([]Purchase, error) {
	var all []Purchase
	q := url.Values{"limit": {itoa(limit)}}
	for {
		status, page, err := s.UserBuys(username, q)
		if err != nil {
			return nil, err
		}
		if status != http.StatusOK {
			return nil, &statusError{status}
		}
		all = append(all, page.Purchases...)
		if page.NextCursor == "" {
			return all, nil
		}
		q.Set("cursor", page.NextCursor)
	}
}

var client = &http.Client{Timeout: 30 * time.Second}

func doJSON(req *http.Request, out any) (int, error) {
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(out); err != nil {
		return resp.StatusCode, &decodeError{string(body), err}
	}
	return resp.StatusCode, nil
}

type statusError struct{ status int }

func (e *statusError) Error() string { return "status " + itoa(e.status) }

type decodeError struct {
	body string
	err  error
}

func (e *decodeError) Error() string {
	return "answer " + e.body + " is not the expected JSON: " + e.err.Error()
}

func itoa(n int) string { return strconv.Itoa(n) }
