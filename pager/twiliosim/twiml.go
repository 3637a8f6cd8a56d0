package twiliosim

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// node is one TwiML element. TwiML is read as generic XML, not into verb
// structs, because twilio-go's twiml package writes attributes in map order
// and foghorn may use verbs the simulator only needs to skip.
type node struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Text    string     `xml:",chardata"`
	Kids    []node     `xml:",any"`
}

func (n node) attr(name string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func (n node) name() string { return n.XMLName.Local }

// intAttr reads a numeric attribute, def if absent or not a number.
func (n node) intAttr(name string, def int) int {
	v, err := strconv.Atoi(strings.TrimSpace(n.attr(name)))
	if err != nil {
		return def
	}
	return v
}

// parseTwiML reads a <Response> document.
func parseTwiML(b []byte) (node, error) {
	var doc node
	if len(bytes.TrimSpace(b)) == 0 {
		return doc, errors.New("empty TwiML document")
	}
	if err := xml.Unmarshal(b, &doc); err != nil {
		return doc, fmt.Errorf("TwiML is not XML: %w", err)
	}
	if doc.name() != "Response" {
		return doc, fmt.Errorf("TwiML root is <%s>, want <Response>", doc.name())
	}
	return doc, nil
}

// smsReplies returns the text of each <Message> of a messaging TwiML answer
// (the body may be the element's text or a <Body> child). An empty answer
// or one that is not TwiML means no reply, as with Twilio.
func smsReplies(b []byte) []string {
	doc, err := parseTwiML(b)
	if err != nil {
		return nil
	}
	var out []string
	for _, verb := range doc.Kids {
		if verb.name() != "Message" {
			continue
		}
		text := verb.Text
		for _, k := range verb.Kids {
			if k.name() == "Body" {
				text = k.Text
			}
		}
		if text = strings.TrimSpace(text); text != "" {
			out = append(out, text)
		}
	}
	return out
}
