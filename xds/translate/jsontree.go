/*
Copyright 2026 The Arcturus Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package translate

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// The JSON tree below exists only to turn protojson's "(line L:C)" positions
// into field paths. It records byte offsets, which encoding/json's decoder
// does not expose per token, and it is built only after an error, so the
// happy path never pays for it.

type jsonKind uint8

const (
	jsonObject jsonKind = iota + 1
	jsonArray
	jsonString
	jsonNumber
	jsonBool
	jsonNull
)

// jsonNode is one JSON value and the byte range [start, end) it spans.
type jsonNode struct {
	kind       jsonKind
	start, end int
	raw        []byte       // the value's bytes, data[start:end]
	members    []jsonMember // objects only
	elems      []*jsonNode  // arrays only
}

// jsonMember is one "key": value pair of an object.
type jsonMember struct {
	name  string
	start int // offset of the key's opening quote
	value *jsonNode
}

// text returns a string's decoded value, or the raw text of any other value.
func (n *jsonNode) text() string {
	if n.kind == jsonString {
		return decodeJSONString(n.raw)
	}
	return string(n.raw)
}

// member returns the value of the first member called name, or nil.
func (n *jsonNode) member(name string) *jsonNode {
	for _, m := range n.members {
		if m.name == name {
			return m.value
		}
	}
	return nil
}

// jsonParser builds a jsonNode tree. It is only run on input that
// encoding/json has already accepted, but it still checks bounds everywhere
// so that a disagreement between the two parsers cannot panic or loop.
type jsonParser struct {
	data  []byte
	pos   int
	depth int
}

// parseJSONTree returns the tree for data, or nil if data is not JSON.
func parseJSONTree(data []byte) *jsonNode {
	p := &jsonParser{data: data}
	n := p.value()
	if n == nil {
		return nil
	}
	p.skipSpace()
	if p.pos != len(p.data) {
		return nil
	}
	return n
}

func (p *jsonParser) skipSpace() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *jsonParser) value() *jsonNode {
	n := p.parseValue()
	if n != nil {
		n.raw = p.data[n.start:n.end]
	}
	return n
}

func (p *jsonParser) parseValue() *jsonNode {
	p.skipSpace()
	if p.pos >= len(p.data) {
		return nil
	}
	start := p.pos
	switch c := p.data[p.pos]; {
	case c == '{':
		return p.object()
	case c == '[':
		return p.array()
	case c == '"':
		if !p.skipString() {
			return nil
		}
		return &jsonNode{kind: jsonString, start: start, end: p.pos}
	case c == 't':
		return p.literal("true", jsonBool)
	case c == 'f':
		return p.literal("false", jsonBool)
	case c == 'n':
		return p.literal("null", jsonNull)
	case c == '-' || (c >= '0' && c <= '9'):
		for p.pos < len(p.data) && bytes.IndexByte([]byte("+-.eE0123456789"), p.data[p.pos]) >= 0 {
			p.pos++
		}
		return &jsonNode{kind: jsonNumber, start: start, end: p.pos}
	default:
		return nil
	}
}

func (p *jsonParser) literal(word string, kind jsonKind) *jsonNode {
	if !bytes.HasPrefix(p.data[p.pos:], []byte(word)) {
		return nil
	}
	start := p.pos
	p.pos += len(word)
	return &jsonNode{kind: kind, start: start, end: p.pos}
}

// skipString advances past a string starting at p.pos (on its opening quote).
func (p *jsonParser) skipString() bool {
	p.pos++
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case '\\':
			p.pos += 2
		case '"':
			p.pos++
			return true
		default:
			p.pos++
		}
	}
	return false
}

func (p *jsonParser) enter() bool {
	p.depth++
	return p.depth <= MaxDepth+1
}

func (p *jsonParser) object() *jsonNode {
	if !p.enter() {
		return nil
	}
	defer func() { p.depth-- }()
	n := &jsonNode{kind: jsonObject, start: p.pos}
	p.pos++ // '{'
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		n.end = p.pos
		return n
	}
	for {
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return nil
		}
		keyStart := p.pos
		if !p.skipString() {
			return nil
		}
		name := decodeJSONString(p.data[keyStart:p.pos])
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return nil
		}
		p.pos++
		v := p.value()
		if v == nil {
			return nil
		}
		n.members = append(n.members, jsonMember{name: name, start: keyStart, value: v})
		p.skipSpace()
		if p.pos >= len(p.data) {
			return nil
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case '}':
			p.pos++
			n.end = p.pos
			return n
		default:
			return nil
		}
	}
}

func (p *jsonParser) array() *jsonNode {
	if !p.enter() {
		return nil
	}
	defer func() { p.depth-- }()
	n := &jsonNode{kind: jsonArray, start: p.pos}
	p.pos++ // '['
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		n.end = p.pos
		return n
	}
	for {
		v := p.value()
		if v == nil {
			return nil
		}
		n.elems = append(n.elems, v)
		p.skipSpace()
		if p.pos >= len(p.data) {
			return nil
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case ']':
			p.pos++
			n.end = p.pos
			return n
		default:
			return nil
		}
	}
}

// decodeJSONString decodes a quoted JSON string, falling back to the raw
// text without quotes if it does not decode.
func decodeJSONString(quoted []byte) string {
	var s string
	if err := json.Unmarshal(quoted, &s); err == nil {
		return s
	}
	if len(quoted) >= 2 {
		return string(quoted[1 : len(quoted)-1])
	}
	return string(quoted)
}

// jsonDepth returns the deepest nesting of objects and arrays in data,
// ignoring brackets inside strings. It is a cheap guard run before any real
// parser sees hostile input.
func jsonDepth(data []byte) int {
	depth, deepest := 0, 0
	inString := false
	for i := 0; i < len(data); i++ {
		c := data[i]
		if inString {
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
			if depth > deepest {
				deepest = depth
			}
		case '}', ']':
			depth--
		}
	}
	return deepest
}

// offsetAt converts protojson's 1-based line and column into a byte offset.
// protojson counts columns in runes (invalid bytes count as one each), which
// utf8.DecodeRune mirrors.
func offsetAt(data []byte, line, column int) int {
	off := 0
	for l := 1; l < line; l++ {
		i := bytes.IndexByte(data[off:], '\n')
		if i < 0 {
			return len(data)
		}
		off += i + 1
	}
	for c := 1; c < column && off < len(data); c++ {
		_, size := utf8.DecodeRune(data[off:])
		off += size
	}
	return off
}

// lineColumn converts a byte offset into a 1-based line and rune column, the
// way protojson reports positions.
func lineColumn(data []byte, off int) (line, column int) {
	if off > len(data) {
		off = len(data)
	}
	if off < 0 {
		off = 0
	}
	b := data[:off]
	line = bytes.Count(b, []byte("\n")) + 1
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		b = b[i+1:]
	}
	return line, utf8.RuneCount(b) + 1
}
