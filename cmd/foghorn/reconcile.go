package main

import (
	"context"
	"fmt"
)

// openProbeKeys lists the keys of the incidents the engine has open from
// probes. The classifier asks once, at its restore: the probes' state in
// the store may predate an incident (foghorn killed right after a page),
// and an incident it does not know of would never resolve.
func (d *daemon) openProbeKeys(ctx context.Context) ([]string, error) {
	incs, err := d.eng.Open(ctx)
	if err != nil {
		return nil, fmt.Errorf("list open incidents: %w", err)
	}
	var keys []string
	for _, inc := range incs {
		if inc.Source == "probe" {
			keys = append(keys, inc.Key)
		}
	}
	return keys, nil
}
