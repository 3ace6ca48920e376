package journal

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// ErrTornLine is wrapped by the error a Reader returns for a malformed line in the middle of a
// journal. A malformed last line without a trailing newline (a torn write) is skipped silently
// and counted in Reader.Torn.
var ErrTornLine = errors.New("malformed journal line")

// Reader streams records from a journal.
type Reader struct {
	name string
	br   *bufio.Reader
	line int
	dec  *decoder
	// Torn is the number of torn last lines skipped (0 or 1).
	Torn int
}

// NewReader returns a Reader over r; name is used in error messages (a file path or "-").
func NewReader(r io.Reader, name string) *Reader {
	return &Reader{name: name, br: bufio.NewReaderSize(r, 1<<20), dec: newDecoder()}
}

// Next decodes the next record into rec. It returns io.EOF at the end of the journal. A
// malformed line is reported as "NAME:LINE: ..." wrapping ErrTornLine; the caller may keep
// calling Next to skip it.
func (rd *Reader) Next(rec *Record) error {
	for {
		line, err := rd.br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			long := append([]byte(nil), line...)
			for err == bufio.ErrBufferFull {
				line, err = rd.br.ReadSlice('\n')
				long = append(long, line...)
			}
			line = long
		}
		if err != nil && err != io.EOF {
			return fmt.Errorf("%s: %w", rd.name, err)
		}
		if len(line) == 0 && err == io.EOF {
			return io.EOF
		}
		rd.line++
		complete := len(line) > 0 && line[len(line)-1] == '\n'
		if len(bytes.TrimSpace(line)) == 0 {
			if err == io.EOF {
				return io.EOF
			}
			continue
		}
		if derr := rd.dec.decode(line, rec); derr != nil {
			if !complete {
				rd.Torn++
				return io.EOF
			}
			return formatLineError(rd.name, int64(rd.line), derr)
		}
		return nil
	}
}

// Line returns the number of the line last read, from 1.
func (rd *Reader) Line() int { return rd.line }
