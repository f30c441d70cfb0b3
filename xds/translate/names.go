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
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// goCamelCase converts a proto identifier to the Go name protoc-gen-go (and
// so protoc-gen-validate's error Field()) uses for it. It is a copy of
// google.golang.org/protobuf/internal/strs.GoCamelCase, which is internal.
func goCamelCase(s string) string {
	// Invariant: if the next letter is lower case, it must be converted
	// to upper case.
	// That is, we process a word at a time, where words are marked by _ or
	// upper case letter. Digits are treated as words.
	var b []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.' && i+1 < len(s) && isASCIILower(s[i+1]):
			// Skip over '.' in ".{{lowercase}}".
		case c == '.':
			b = append(b, '_') // convert '.' to '_'
		case c == '_' && (i == 0 || s[i-1] == '.'):
			// Convert initial '_' to ensure we start with a capital letter.
			// Do the same for '_' after '.' to match historic behavior.
			b = append(b, 'X') // convert '_' to 'X'
		case c == '_' && i+1 < len(s) && isASCIILower(s[i+1]):
			// Skip over '_' in "_{{lowercase}}".
		case isASCIIDigit(c):
			b = append(b, c)
		default:
			// Assume we have a letter now - if not, it's a bogus identifier.
			// The next word is a sequence of characters that must start upper case.
			if isASCIILower(c) {
				c -= 'a' - 'A' // convert lowercase to uppercase
			}
			b = append(b, c)

			// Accept lower case sequence that follows.
			for ; i+1 < len(s) && isASCIILower(s[i+1]); i++ {
				b = append(b, s[i+1])
			}
		}
	}
	return string(b)
}

func isASCIILower(c byte) bool { return 'a' <= c && c <= 'z' }
func isASCIIUpper(c byte) bool { return 'A' <= c && c <= 'Z' }
func isASCIIDigit(c byte) bool { return '0' <= c && c <= '9' }

// snakeCase is the fallback when a Go field name cannot be matched against a
// descriptor: "LbEndpoints" becomes "lb_endpoints". It is right for almost
// every Envoy field, and a best guess is better than no path at all.
func snakeCase(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isASCIIUpper(c) {
			if i > 0 && (isASCIILower(s[i-1]) || isASCIIDigit(s[i-1]) ||
				(i+1 < len(s) && isASCIILower(s[i+1]) && isASCIIUpper(s[i-1]))) {
				b.WriteByte('_')
			}
			c += 'a' - 'A'
		}
		b.WriteByte(c)
	}
	return b.String()
}

// fieldByGoName finds the field, or failing that the oneof, of md whose Go
// name is goName, and returns its proto name. fd is nil for a oneof.
func fieldByGoName(md protoreflect.MessageDescriptor, goName string) (name string, fd protoreflect.FieldDescriptor, ok bool) {
	if md == nil {
		return "", nil, false
	}
	fields := md.Fields()
	for i := 0; i < fields.Len(); i++ {
		if f := fields.Get(i); goCamelCase(string(f.Name())) == goName {
			return string(f.Name()), f, true
		}
	}
	oneofs := md.Oneofs()
	for i := 0; i < oneofs.Len(); i++ {
		if o := oneofs.Get(i); goCamelCase(string(o.Name())) == goName {
			return string(o.Name()), nil, true
		}
	}
	// protoc-gen-go appends "_" to names that collide with generated methods.
	if trimmed := strings.TrimSuffix(goName, "_"); trimmed != goName {
		return fieldByGoName(md, trimmed)
	}
	return "", nil, false
}

// suggestField returns the proto name of the field of md that name most
// likely misspells, or "" if none is close.
func suggestField(md protoreflect.MessageDescriptor, name string) string {
	if md == nil {
		return ""
	}
	best, bestDist := "", -1
	lower := strings.ToLower(name)
	fields := md.Fields()
	for i := 0; i < fields.Len(); i++ {
		f := fields.Get(i)
		for _, candidate := range []string{string(f.Name()), f.JSONName()} {
			d := editDistance(lower, strings.ToLower(candidate))
			if bestDist < 0 || d < bestDist {
				best, bestDist = string(f.Name()), d
			}
		}
	}
	// Allow roughly one typo per four characters, and at least one.
	if bestDist < 0 || bestDist > max(1, len(name)/4) {
		return ""
	}
	return best
}

// editDistance is the optimal string alignment distance between a and b, in
// bytes: the Levenshtein distance where swapping two adjacent characters, the
// commonest typo ("clutser"), also counts as one edit.
func editDistance(a, b string) int {
	if len(a) > 256 || len(b) > 256 {
		return max(len(a), len(b)) // not worth the quadratic work
	}
	prev2 := make([]int, len(b)+1) // row i-2
	prev := make([]int, len(b)+1)  // row i-1
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

// suggestType returns the full name of the registered message type that the
// unknown full name most likely misspells: one in the same package whose
// name is close, or failing that one of the same name in a package that is
// close (a wrong version, say). It returns "" if none is close.
func suggestType(name string) string {
	if name == "" || len(name) > 256 {
		return ""
	}
	pkg, short := splitFullName(name)
	lowerShort := strings.ToLower(short)
	var samePkg, sameName string
	samePkgDist, sameNameDist := -1, -1
	better := func(d, bestDist int, cand, best string) bool {
		return bestDist < 0 || d < bestDist || (d == bestDist && cand < best)
	}
	protoregistry.GlobalTypes.RangeMessages(func(mt protoreflect.MessageType) bool {
		full := string(mt.Descriptor().FullName())
		cpkg, cshort := splitFullName(full)
		switch {
		case cpkg == pkg:
			d := editDistance(lowerShort, strings.ToLower(cshort))
			if d <= max(1, len(short)/4) && better(d, samePkgDist, full, samePkg) {
				samePkg, samePkgDist = full, d
			}
		case cshort == short:
			d := editDistance(pkg, cpkg)
			if d <= max(1, len(pkg)/8) && better(d, sameNameDist, full, sameName) {
				sameName, sameNameDist = full, d
			}
		}
		return true
	})
	if samePkg != "" {
		return samePkg
	}
	return sameName
}

// splitFullName splits a message full name into its package and its name.
// Nested messages keep their parent in the package part, which is fine for
// telling typos apart.
func splitFullName(full string) (pkg, name string) {
	if i := strings.LastIndexByte(full, '.'); i >= 0 {
		return full[:i], full[i+1:]
	}
	return "", full
}
