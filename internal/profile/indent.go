package profile

import (
	"bytes"
	"fmt"
	"strings"
)

// indentProblem is a line whose indentation cannot be right.
type indentProblem struct {
	line int // 1-based
	msg  string
}

// indentProblems finds the lines of a YAML document whose indentation matches no block
// that is open there: a line indented less than the one before it by an amount that no
// enclosing mapping or sequence uses, or a line indented more than a line whose value is
// already complete. yaml.v3 reports such mistakes at the start of the enclosing block,
// which is often lines earlier; these are what the syntax error points at instead.
//
// It reads block style line by line and stays silent where it cannot tell: inside block
// scalars (| and >), flow collections spread over lines, and quoted strings that continue
// on the next line. A plain scalar continued on a more indented line is valid YAML but is
// reported, so the result is only used to explain a syntax error the parser found.
func indentProblems(data []byte) []indentProblem {
	var probs []indentProblem
	stack := []int{0} // indents of the open blocks, innermost last
	opens := false    // the previous line ends with "key:" or "-": a block may start
	prevLine := 0
	scalarAbove := -1 // skip lines indented more than this (block scalar body)
	flowDepth := 0    // open [ and { of a flow collection spread over lines
	inQuote := byte(0)
	lines := bytes.Split(data, []byte("\n"))
	for n, raw := range lines {
		lineNo := n + 1
		line := strings.TrimRight(string(raw), " \t\r")
		content := strings.TrimLeft(line, " ")
		indent := len(line) - len(content)
		if content == "" {
			continue
		}
		if scalarAbove >= 0 {
			if indent > scalarAbove {
				continue
			}
			scalarAbove = -1
		}
		if inQuote != 0 || flowDepth > 0 {
			inQuote, flowDepth = scanFlow(content, inQuote, flowDepth)
			continue
		}
		if strings.HasPrefix(content, "#") || strings.HasPrefix(content, "---") || strings.HasPrefix(content, "...") ||
			strings.HasPrefix(content, "\t") {
			continue
		}
		top := stack[len(stack)-1]
		switch {
		case indent > top:
			if !opens {
				probs = append(probs, indentProblem{lineNo, fmt.Sprintf(
					"this line is indented %s, more than line %d, whose value is already complete", spaces(indent), prevLine)})
			}
			stack = append(stack, indent)
		case indent < top:
			open := stack
			for len(stack) > 1 && stack[len(stack)-1] > indent {
				stack = stack[:len(stack)-1]
			}
			if stack[len(stack)-1] != indent {
				probs = append(probs, indentProblem{lineNo, fmt.Sprintf(
					"this line is indented %s, which matches no enclosing block (%s)", spaces(indent), indentList(open))})
				stack = append(stack, indent) // go on from here
			}
		}
		// What the line opens: sequence entries ("- ", possibly nested) put their content
		// one level deeper, at the column where it starts.
		col := indent
		rest := content
		for rest == "-" || strings.HasPrefix(rest, "- ") {
			if rest == "-" {
				rest = ""
				break
			}
			trimmed := strings.TrimLeft(rest[1:], " ")
			col += len(rest) - len(trimmed)
			rest = trimmed
			if rest != "" && stack[len(stack)-1] < col {
				stack = append(stack, col)
			}
		}
		rest = stripComment(rest)
		opens = rest == "" || strings.HasSuffix(rest, ":")
		if v, ok := mappingValue(rest); ok {
			switch {
			case v == "":
				opens = true
			case v[0] == '|' || v[0] == '>':
				scalarAbove = col
				opens = false
			default:
				inQuote, flowDepth = scanFlow(v, 0, 0)
			}
		} else if rest != "" {
			inQuote, flowDepth = scanFlow(rest, 0, 0)
		}
		prevLine = lineNo
	}
	return probs
}

// mappingValue returns the value part of "key: value" (without the key), and whether s is
// such a pair.
func mappingValue(s string) (string, bool) {
	if s == "" || s[0] == '"' || s[0] == '\'' || s[0] == '[' || s[0] == '{' {
		return "", false
	}
	if strings.HasSuffix(s, ":") {
		return "", true
	}
	i := strings.Index(s, ": ")
	if i < 0 {
		return "", false
	}
	return strings.TrimSpace(s[i+2:]), true
}

// stripComment drops a trailing " # comment" outside quotes.
func stripComment(s string) string {
	q := byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case q != 0:
			if c == q {
				q = 0
			}
		case c == '"' || c == '\'':
			q = c
		case c == '#' && (i == 0 || s[i-1] == ' '):
			return strings.TrimRight(s[:i], " ")
		}
	}
	return s
}

// scanFlow follows quotes and flow brackets through s, starting inside quote q (0 for
// none) at bracket depth d, and returns where it ends.
func scanFlow(s string, q byte, d int) (byte, int) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case q == '"' && c == '\\':
			i++
		case q != 0:
			if c == q {
				q = 0
			}
		case c == '"' || (c == '\'' && (i == 0 || !isWordByte(s[i-1]))):
			q = c
		case c == '#' && (i == 0 || s[i-1] == ' '):
			return q, d
		case c == '[' || c == '{':
			d++
		case (c == ']' || c == '}') && d > 0:
			d--
		}
	}
	return q, d
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func spaces(n int) string {
	if n == 1 {
		return "1 space"
	}
	return fmt.Sprintf("%d spaces", n)
}

// indentList names the indents of the open blocks, e.g. "0, 2 or 4 spaces".
func indentList(stack []int) string {
	parts := make([]string, len(stack))
	for i, v := range stack {
		parts[i] = fmt.Sprint(v)
	}
	if len(parts) == 1 {
		return parts[0] + " spaces"
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " or " + parts[len(parts)-1] + " spaces"
}
