/** The bar chart of `npm run bench` (docs/benchmarks.svg): plain SVG, no dependencies. */
const f = (n: number, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : 'n/a');

export function chart(bars: Array<[string, number]>): string {
  const max = Math.max(...bars.map((b) => (Number.isFinite(b[1]) ? b[1] : 0)), 1);
  const rowH = 28;
  const items = bars
    .map(([label, value], i) => {
      const w = Number.isFinite(value) ? Math.round((value / max) * 420) : 0;
      const y = 30 + i * rowH;
      return `<text x="10" y="${y + 17}" font-size="13">${label}</text><rect x="230" y="${y + 4}" width="${w}" height="18" fill="#3b82f6"/><text x="${236 + w}" y="${y + 17}" font-size="12">${f(value)}</text>`;
    })
    .join('\n');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="760" height="${40 + bars.length * rowH}" font-family="sans-serif"><title>npm run bench: throughput and latency</title><rect width="100%" height="100%" fill="white"/><text x="10" y="20" font-size="15" font-weight="bold">npm run bench: throughput and latency (medians)</text>\n${items}\n</svg>\n`;
}
