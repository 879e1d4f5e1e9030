package den

import "unicode/utf8"

// KeyRange is the half-open range of keys [Lo, Hi) that a ListOptions
// selects. When HasHi is false the range has no upper bound; when Empty is
// true it holds no key and storage need not be touched.
type KeyRange struct {
	Lo    string
	Hi    string
	HasHi bool
	Empty bool
}

// Range checks opts and returns the key range it selects.
func (o ListOptions) Range() (KeyRange, error) {
	if o.Start != "" && o.StartAfter != "" {
		return KeyRange{}, Errorf(EINVALID, "List cannot be called with both Start and StartAfter values.")
	}
	if o.Limit < 0 {
		return KeyRange{}, Errorf(EINVALID, "List limit must be positive.")
	}
	r := KeyRange{Lo: o.Start}
	if o.StartAfter != "" {
		r.Lo = o.StartAfter + "\x00"
	}
	if o.End != "" {
		r.Hi, r.HasHi = o.End, true
	}
	if o.Prefix != "" {
		if o.Prefix > r.Lo {
			r.Lo = o.Prefix
		}
		if succ, ok := successor(o.Prefix); ok && (!r.HasHi || succ < r.Hi) {
			r.Hi, r.HasHi = succ, true
		}
	}
	r.Empty = r.HasHi && r.Lo >= r.Hi
	return r, nil
}

// successor returns the smallest string greater than every string with
// prefix p, and false if there is none (p is all 0xff bytes).
func successor(p string) (string, bool) {
	b := []byte(p)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1]), true
		}
	}
	return "", false
}

// CheckKeyText returns an EINVALID error if key is not valid UTF-8 text; keys
// are text so that JavaScript objects can share them.
func CheckKeyText(key string) error {
	if !utf8.ValidString(key) {
		return Errorf(EINVALID, "Keys must be valid UTF-8 text; key %q is not.", truncate(key, 64))
	}
	return nil
}
