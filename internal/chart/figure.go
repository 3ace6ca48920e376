package chart

import (
	"bytes"
	"fmt"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Figure geometry. PNGs are rendered at pngDPI so they stay sharp when the HTML report
// scales them to the page width.
const (
	figWidth       = 10 * vg.Inch
	panelHeight    = 3.6 * vg.Inch
	minLegendWidth = 1.6 * vg.Inch
	maxLegendWidth = 3.2 * vg.Inch
	pngDPI         = 144
)

// Palette: colorblind-safe hues, one per series kind, used by every chart.
var (
	colOK       = rgb(0x2e, 0x9e, 0x5b)
	colLimited  = rgb(0xe6, 0x9f, 0x00)
	colInjected = rgb(0xd1, 0x49, 0x5b)
	colLost     = rgb(0x7b, 0x4f, 0xa0)
	colOther    = rgb(0x8c, 0x8c, 0x8c)
	colOp       = rgb(0x1f, 0x5f, 0xa8)
	colVegeta   = rgb(0x17, 0xa2, 0xb8)
	colFault    = color.NRGBA{R: 0xd1, G: 0x49, B: 0x5b, A: 0x40}
	colGrid     = rgb(0xe4, 0xe7, 0xeb)
	colText     = rgb(0x22, 0x29, 0x33)
	colMuted    = rgb(0x6b, 0x72, 0x80)
	colLimit    = rgb(0x22, 0x29, 0x33)
	colBurst    = rgb(0xd1, 0x49, 0x5b)

	outcomeColors = [numOutcomes]color.Color{colOK, colLimited, colInjected, colLost, colOther}

	// seriesColors colors series that have no fixed meaning (clients, percentiles).
	seriesColors = []color.Color{
		rgb(0x1f, 0x5f, 0xa8), rgb(0xe6, 0x9f, 0x00), rgb(0x2e, 0x9e, 0x5b), rgb(0xcc, 0x79, 0xa7),
		rgb(0x56, 0xb4, 0xe9), rgb(0xd5, 0x5e, 0x00), rgb(0x7b, 0x4f, 0xa0), rgb(0x8c, 0x8c, 0x8c),
	}
)

func rgb(r, g, b uint8) color.Color { return color.NRGBA{R: r, G: g, B: b, A: 0xff} }

var sansFont = font.Font{Typeface: "Liberation", Variant: "Sans"}

// svgFontFamily is the CSS font-family written in SVGs for sansFont.
var svgFontFamily = []byte(`font-family:'Liberation Sans',Arimo,Arial,Helvetica,sans-serif;`)

func textStyle(size vg.Length, c color.Color) text.Style {
	return text.Style{
		Color:   c,
		Font:    font.From(sansFont, size),
		Handler: plot.DefaultTextHandler,
	}
}

// newPanel returns a plot styled as every retrylab chart: sans-serif text, light grid,
// muted axes.
func newPanel(title, xLabel, yLabel string) *plot.Plot {
	p := plot.New()
	p.BackgroundColor = nil // the figure paints one background for all its panels
	p.Title.Text = title
	p.Title.TextStyle = textStyle(12, colText)
	p.Title.TextStyle.XAlign = draw.XCenter
	p.Title.TextStyle.YAlign = draw.YTop
	p.Title.Padding = 8
	for _, ax := range []*plot.Axis{&p.X, &p.Y} {
		lf := ax.Label.TextStyle
		ax.Label.TextStyle = textStyle(10, colText)
		ax.Label.TextStyle.XAlign, ax.Label.TextStyle.YAlign = lf.XAlign, lf.YAlign
		tf := ax.Tick.Label
		ax.Tick.Label = textStyle(9, colMuted)
		ax.Tick.Label.XAlign, ax.Tick.Label.YAlign = tf.XAlign, tf.YAlign
		ax.LineStyle.Color = colMuted
		ax.Tick.LineStyle.Color = colMuted
		ax.Padding = 2
	}
	p.X.Tick.Marker = niceTicks{n: 10}
	p.Y.Tick.Marker = niceTicks{n: 5}
	p.X.Label.Text = xLabel
	p.Y.Label.Text = yLabel
	g := plotter.NewGrid()
	g.Vertical.Color = colGrid
	g.Horizontal.Color = colGrid
	g.Vertical.Width = vg.Points(0.5)
	g.Horizontal.Width = vg.Points(0.5)
	p.Add(g)
	return p
}

// figure is one chart file: one or more panels stacked vertically sharing a legend drawn
// in a strip on the right, outside the data.
type figure struct {
	name   string // file base name, e.g. "latency"
	panels []*plot.Plot
	legend plot.Legend
	labels []string // legend labels, in order (tests and the HTML report read them)
}

func newFigure(name string, panels ...*plot.Plot) *figure {
	f := &figure{name: name, panels: panels, legend: plot.NewLegend()}
	f.legend.TextStyle = textStyle(9.5, colText)
	f.legend.Top = true
	f.legend.Left = true
	f.legend.Padding = 3
	f.legend.ThumbnailWidth = 0.3 * vg.Inch
	return f
}

// add adds a legend entry.
func (f *figure) add(label string, thumbs ...plot.Thumbnailer) {
	f.legend.Add(label, thumbs...)
	f.labels = append(f.labels, label)
}

func (f *figure) height() vg.Length {
	return panelHeight * vg.Length(len(f.panels))
}

// draw renders the figure on c; paintBackground fills it white first (a raster canvas
// starts white already).
func (f *figure) draw(c draw.Canvas, paintBackground bool) {
	if paintBackground {
		c.FillPolygon(color.White, []vg.Point{
			{X: c.Min.X, Y: c.Min.Y}, {X: c.Max.X, Y: c.Min.Y},
			{X: c.Max.X, Y: c.Max.Y}, {X: c.Min.X, Y: c.Max.Y},
		})
	}
	lw := f.legendWidth()
	plots := draw.Crop(c, 0, -lw, 0, 0)
	rows := make([][]*plot.Plot, len(f.panels))
	for i, p := range f.panels {
		rows[i] = []*plot.Plot{p}
	}
	tiles := draw.Tiles{Rows: len(f.panels), Cols: 1, PadTop: 8, PadBottom: 4, PadLeft: 6, PadRight: 12, PadY: 22}
	cs := plot.Align(rows, tiles, plots)
	for i, p := range f.panels {
		p.Draw(cs[i][0])
	}
	if len(f.labels) > 0 {
		lc := draw.Crop(c, c.Max.X-c.Min.X-lw+4, -4, 0, -30)
		f.legend.Draw(lc)
	}
}

// legendWidth returns the width of the legend strip: wide enough for the longest label,
// within [minLegendWidth, maxLegendWidth].
func (f *figure) legendWidth() vg.Length {
	w := minLegendWidth
	for _, l := range f.labels {
		lw := f.legend.ThumbnailWidth + f.legend.TextStyle.Rectangle("  "+l).Max.X + 12
		w = max(w, lw)
	}
	return min(w, maxLegendWidth)
}

// formats selects the files a figure is written as, and the PNG resolution.
type formats struct {
	png, svg bool
	dpi      int
}

var bothFormats = formats{png: true, svg: true, dpi: pngDPI}

// write renders the figure into dir as PNG and/or SVG and returns the paths written.
func (f *figure) write(dir string, fm formats) ([]string, error) {
	w, h := figWidth, f.height()
	var paths []string
	if fm.png {
		var buf bytes.Buffer
		ic := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(fm.dpi), vgimg.UseBackgroundColor(color.White))
		f.draw(draw.New(ic), false)
		// Fast deflate: charts are mostly flat color, so the size cost is small and
		// encoding takes a third of the default level's time.
		enc := png.Encoder{CompressionLevel: png.BestSpeed}
		if err := enc.Encode(&buf, ic.Image()); err != nil {
			return nil, fmt.Errorf("encode %s.png: %w", f.name, err)
		}
		p := filepath.Join(dir, f.name+".png")
		if err := writeFileAtomic(p, buf.Bytes()); err != nil {
			return nil, err
		}
		paths = append(paths, p)
	}
	if fm.svg {
		var buf bytes.Buffer
		sc := vgsvg.New(w, h)
		f.draw(draw.New(sc), true)
		if _, err := sc.WriteTo(&buf); err != nil {
			return nil, fmt.Errorf("encode %s.svg: %w", f.name, err)
		}
		// Text is measured with Liberation Sans; name its metric-compatible twins (Arimo,
		// Arial) and a generic family so a viewer without it keeps the layout.
		data := bytes.ReplaceAll(buf.Bytes(), []byte("font-family:Liberation Sans;"), svgFontFamily)
		p := filepath.Join(dir, f.name+".svg")
		if err := writeFileAtomic(p, data); err != nil {
			return nil, err
		}
		paths = append(paths, p)
	}
	return paths, nil
}

// writeFileAtomic writes data to a temporary file next to path and renames it into place,
// so a reader never sees a half-written chart.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// note is a plotter that writes a message in the middle of an empty panel.
type note struct{ msg string }

// Plot implements plot.Plotter.
func (n note) Plot(c draw.Canvas, _ *plot.Plot) {
	sty := textStyle(11, colMuted)
	sty.XAlign = draw.XCenter
	sty.YAlign = draw.YCenter
	c.FillText(sty, c.Center(), n.msg)
}

// emptyPanel prepares p to show msg instead of data.
func emptyPanel(p *plot.Plot, msg string) {
	p.Add(note{msg: msg})
	p.X.Min, p.X.Max = 0, 1
	p.Y.Min, p.Y.Max = 0, 1
}

// bands shades vertical spans [x0, x1) over the full height of a panel (fault windows),
// each with its own opacity.
type bands struct {
	spans []band
	color color.NRGBA // the legend's swatch; spans use its hue with their own alpha
}

type band struct {
	x0, x1 float64
	alpha  uint8
}

// add appends a span, merging it into the previous one when they touch and share an alpha.
func (b *bands) add(x0, x1 float64, alpha uint8) {
	if k := len(b.spans); k > 0 && b.spans[k-1].x1 == x0 && b.spans[k-1].alpha == alpha {
		b.spans[k-1].x1 = x1
		return
	}
	b.spans = append(b.spans, band{x0, x1, alpha})
}

// faultAlpha maps the share of attempts a fault answered to a shading opacity: faint
// for a sprinkle, strong for an outage.
func faultAlpha(share float64) uint8 {
	return uint8(math.Min(0x50, 0x0c+share*0x120))
}

// Plot implements plot.Plotter.
func (b *bands) Plot(c draw.Canvas, p *plot.Plot) {
	trX, _ := p.Transforms(&c)
	for _, s := range b.spans {
		x0, x1 := trX(s.x0), trX(s.x1)
		if x1-x0 < 1 {
			x1 = x0 + 1
		}
		poly := c.ClipPolygonX([]vg.Point{
			{X: x0, Y: c.Min.Y}, {X: x1, Y: c.Min.Y}, {X: x1, Y: c.Max.Y}, {X: x0, Y: c.Max.Y},
		})
		col := b.color
		col.A = s.alpha
		c.FillPolygon(col, poly)
	}
}

// Thumbnail implements plot.Thumbnailer.
func (b *bands) Thumbnail(c *draw.Canvas) {
	c.FillPolygon(b.color, []vg.Point{
		{X: c.Min.X, Y: c.Min.Y}, {X: c.Max.X, Y: c.Min.Y}, {X: c.Max.X, Y: c.Max.Y}, {X: c.Min.X, Y: c.Max.Y},
	})
}

// hline draws a horizontal reference line across the whole panel at y.
type hline struct {
	y     float64
	style draw.LineStyle
}

// Plot implements plot.Plotter.
func (h *hline) Plot(c draw.Canvas, p *plot.Plot) {
	_, trY := p.Transforms(&c)
	y := trY(h.y)
	c.StrokeLines(h.style, c.ClipLinesY([]vg.Point{{X: c.Min.X, Y: y}, {X: c.Max.X, Y: y}})...)
}

// DataRange implements plot.DataRanger: the line's y must be visible.
func (h *hline) DataRange() (xmin, xmax, ymin, ymax float64) {
	return math.Inf(1), math.Inf(-1), h.y, h.y
}

// Thumbnail implements plot.Thumbnailer.
func (h *hline) Thumbnail(c *draw.Canvas) {
	y := (c.Min.Y + c.Max.Y) / 2
	c.StrokeLine2(h.style, c.Min.X, y, c.Max.X, y)
}

func lineStyle(c color.Color, width float64, dashes ...vg.Length) draw.LineStyle {
	return draw.LineStyle{Color: c, Width: vg.Points(width), Dashes: dashes}
}

func glyph(c color.Color, radius float64, shape draw.GlyphDrawer) draw.GlyphStyle {
	return draw.GlyphStyle{Color: c, Radius: vg.Points(radius), Shape: shape}
}

// withAlpha returns c at the given opacity (0..255).
func withAlpha(c color.Color, a uint8) color.Color {
	r, g, b, _ := c.RGBA()
	return color.NRGBA{R: uint8(r >> 8), G: uint8(g >> 8), B: uint8(b >> 8), A: a}
}

// newScatter returns a scatter of pts with the given glyph style.
func newScatter(pts []point, xf func(float64) float64, yf func(float64) float64, gs draw.GlyphStyle) (*plotter.Scatter, error) {
	xys := make(plotter.XYs, len(pts))
	for i, p := range pts {
		xys[i].X, xys[i].Y = xf(p.x), yf(p.y)
	}
	s, err := plotter.NewScatter(xys)
	if err != nil {
		return nil, fmt.Errorf("scatter: %w", err)
	}
	s.GlyphStyle = gs
	return s, nil
}

func identity(v float64) float64 { return v }

// dataPlotter is a plotter with a data range and a legend thumbnail: gonum's lines and
// scatters.
type dataPlotter interface {
	plot.Plotter
	plot.DataRanger
	plot.Thumbnailer
}

// lean hides a plotter's GlyphBoxes: gonum asks for one box per point to pad the axes, which
// for thousands of points costs more than drawing them. The axes' own padding is enough.
type lean struct{ p dataPlotter }

// Plot implements plot.Plotter.
func (l lean) Plot(c draw.Canvas, p *plot.Plot) { l.p.Plot(c, p) }

// DataRange implements plot.DataRanger.
func (l lean) DataRange() (xmin, xmax, ymin, ymax float64) { return l.p.DataRange() }

// Thumbnail implements plot.Thumbnailer.
func (l lean) Thumbnail(c *draw.Canvas) { l.p.Thumbnail(c) }
