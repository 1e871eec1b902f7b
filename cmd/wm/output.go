package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"
)

// emit prints v as indented JSON with --json, else calls table.
func (a *app) emit(v any, table func(w io.Writer)) error {
	if a.json {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	table(tw)
	return tw.Flush()
}

// line prints one event of a command that runs until stopped (watch, sub):
// one compact JSON object a line with --json, else text.
func (a *app) line(v any, text string) error {
	if a.json {
		return json.NewEncoder(a.stdout).Encode(v)
	}
	_, err := fmt.Fprintln(a.stdout, text)
	return err
}

// row writes tab-separated cells and a newline.
func row(w io.Writer, cells ...any) {
	s := make([]string, len(cells))
	for i, c := range cells {
		s[i] = fmt.Sprint(c)
	}
	fmt.Fprintln(w, strings.Join(s, "\t"))
}

// kvTable prints field/value pairs, one a line.
func kvTable(w io.Writer, pairs ...any) {
	for i := 0; i+1 < len(pairs); i += 2 {
		row(w, fmt.Sprint(pairs[i])+":", pairs[i+1])
	}
}

// value is how a payload appears: text when it is UTF-8, else base64.
type value struct {
	Text   *string `json:"value,omitempty"`
	Base64 *string `json:"value_base64,omitempty"`
}

func valueOf(b []byte) value {
	if utf8.Valid(b) {
		s := string(b)
		return value{Text: &s}
	}
	s := base64.StdEncoding.EncodeToString(b)
	return value{Base64: &s}
}

func (v value) String() string {
	if v.Text != nil {
		return *v.Text
	}
	if v.Base64 != nil {
		return "base64:" + *v.Base64
	}
	return ""
}

func ts(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format(time.RFC3339)
}

func tsJSON(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func dur(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return d.String()
}

func bytesText(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
