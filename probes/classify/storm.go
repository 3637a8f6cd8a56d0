package classify

// storm is the open incident k should join rather than page on its own:
// the newest down incident of the same policy, opened within the storm
// window. Many targets failing together are one cause far more often than
// many; one page that lists them all beats twenty that say the same.
//
// Only targets of the same policy join: another owner must still be paged
// about their own service. The window counts from when the incident
// opened, not from the last join, so a slow cascade cannot keep feeding
// an incident someone already acknowledged. A window of 0 turns storms off.
func (c *Classifier) storm(k *track) *incident {
	if c.window <= 0 {
		return nil
	}
	inc := c.storms[k.t.Policy]
	if inc == nil || c.incs[inc.key] != inc || inc.kind != incDown {
		return nil
	}
	if c.now().Sub(inc.opened) > c.window {
		delete(c.storms, k.t.Policy)
		return nil
	}
	for _, m := range inc.members {
		if c.g.host[m] == k.name || c.g.host[k.name] == m {
			// A host and its own BMC are one machine, not a storm: the
			// host's page says what its BMC says ("BMC not answering
			// either"), never "2 targets down: pve1-bmc, pve1".
			return nil
		}
	}
	return inc
}
