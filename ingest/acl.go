package ingest

import (
	"fmt"
	"slices"
	"strings"
)

// ACLRule grants the clients it names the right to publish and to subscribe
// on topic filters. A client may do what any rule naming it allows, and
// nothing else; with no rules at all, a client that got in may publish and
// subscribe anywhere.
type ACLRule struct {
	// Users are the usernames (or certificate identities) the rule applies
	// to; "*" applies it to every client, anonymous ones included.
	Users []string
	// Publish and Subscribe are MQTT topic filters. {username} and
	// {clientid} are replaced by the client's; a filter whose value would be
	// empty or hold '/', '+' or '#' is left out for that client, so that a
	// crafted client id cannot widen a rule.
	Publish   []string
	Subscribe []string
}

// CheckACLRule reports the first problem of a rule, for config validation.
func CheckACLRule(r ACLRule) error {
	if len(r.Users) == 0 {
		return fmt.Errorf(`users: name at least one user, or "*" for every client`)
	}
	for _, u := range r.Users {
		if u != "*" && !validUsername(u) {
			return fmt.Errorf("users: %q is not a username", u)
		}
	}
	if len(r.Publish) == 0 && len(r.Subscribe) == 0 {
		return fmt.Errorf("grants nothing: give publish or subscribe filters")
	}
	for _, f := range r.Publish {
		if err := checkACLFilter(f); err != nil {
			return fmt.Errorf("publish %q: %w", f, err)
		}
	}
	for _, f := range r.Subscribe {
		if err := checkACLFilter(f); err != nil {
			return fmt.Errorf("subscribe %q: %w", f, err)
		}
	}
	return nil
}

var aclPlaceholders = strings.NewReplacer("{username}", "u", "{clientid}", "c")

func checkACLFilter(f string) error {
	plain := aclPlaceholders.Replace(f)
	if strings.ContainsAny(plain, "{}") {
		return fmt.Errorf("only {username} and {clientid} may be substituted")
	}
	return checkFilter(plain)
}

// checkFilter checks MQTT topic filter syntax: levels split by '/', '+'
// alone in a level, '#' alone in the last level.
func checkFilter(f string) error {
	if f == "" {
		return fmt.Errorf("empty filter")
	}
	if len(f) > 65535 {
		return fmt.Errorf("longer than 65535 bytes")
	}
	levels := strings.Split(f, "/")
	for i, l := range levels {
		switch {
		case l == "#" && i != len(levels)-1:
			return fmt.Errorf("'#' must be the last level")
		case l != "+" && l != "#" && strings.ContainsAny(l, "+#"):
			return fmt.Errorf("'+' and '#' must fill a level of their own")
		case strings.ContainsRune(l, 0):
			return fmt.Errorf("contains NUL")
		}
	}
	return nil
}

// grants are one client's filters, with its username and client id
// substituted.
type grants struct {
	all       bool // no rules: everything allowed
	publish   []string
	subscribe []string
}

// grantsFor works out what rules allow a client.
func grantsFor(rules []ACLRule, username, clientID string) grants {
	if len(rules) == 0 {
		return grants{all: true}
	}
	var g grants
	sub := func(f string) (string, bool) {
		for _, ph := range [...]struct{ name, val string }{{"{username}", username}, {"{clientid}", clientID}} {
			if !strings.Contains(f, ph.name) {
				continue
			}
			if ph.val == "" || strings.ContainsAny(ph.val, "/+#\x00") {
				return "", false
			}
			f = strings.ReplaceAll(f, ph.name, ph.val)
		}
		return f, true
	}
	for _, r := range rules {
		if !slices.Contains(r.Users, "*") && (username == "" || !slices.Contains(r.Users, username)) {
			continue
		}
		for _, f := range r.Publish {
			if s, ok := sub(f); ok {
				g.publish = append(g.publish, s)
			}
		}
		for _, f := range r.Subscribe {
			if s, ok := sub(f); ok {
				g.subscribe = append(g.subscribe, s)
			}
		}
	}
	return g
}

// canPublish reports whether the client may publish on topic.
func (g *grants) canPublish(topic string) bool {
	if g.all {
		return true
	}
	for _, f := range g.publish {
		if covers(f, topic) {
			return true
		}
	}
	return false
}

// canSubscribe reports whether the client may subscribe to filter (or
// receive a message on a topic: a topic is a filter without wildcards).
func (g *grants) canSubscribe(filter string) bool {
	if g.all {
		return true
	}
	for _, f := range g.subscribe {
		if covers(f, filter) {
			return true
		}
	}
	return false
}

// covers reports whether every topic that filter req matches is matched by
// filter allowed: a literal level covers only itself, '+' any one level
// but not '#', '#' the rest. As in MQTT matching, a wildcard in the first
// level does not reach topics starting with '$', and "a/#" covers "a".
func covers(allowed, req string) bool {
	if req != "" && req[0] == '$' && allowed != "" && (allowed[0] == '+' || allowed[0] == '#') {
		return false
	}
	for {
		a, aRest, aMore := strings.Cut(allowed, "/")
		if a == "#" {
			return true
		}
		r, rRest, rMore := strings.Cut(req, "/")
		switch {
		case a == "+":
			if r == "#" {
				return false
			}
		case r == "+" || r == "#" || a != r:
			return false
		}
		switch {
		case !aMore && !rMore:
			return true
		case !rMore:
			return aRest == "#" // "a/#" covers "a"
		case !aMore:
			return false
		}
		allowed, req = aRest, rRest
	}
}
