package manifest

import "testing"

// TestShippedManifests_valid validates every document of config/ and eventing/.
func TestShippedManifests_valid(t *testing.T) {
	t.Parallel()
	v := newValidator(t)
	for _, m := range shippedManifests(t) {
		t.Run(m.source, func(t *testing.T) {
			t.Parallel()
			if err := v.validate(m); err != nil {
				t.Errorf("validate: got %v, want no error", err)
			}
		})
	}
}
