/** The charts of `npm run bench` (docs/benchmarks.svg): plain SVG, no dependencies. */
const f = (n: number, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : 'n/a');

export interface ChartPanel {
  title: string;
  /** Bars on one scale; a bar whose label starts with "target" is drawn in another colour. */
  bars: Array<[string, number]>;
  /** Log scale, for latencies that span from milliseconds to seconds. */
  log?: boolean;
}

/** One panel per scale, stacked: throughput and latency do not share an axis. */
export function chart(panels: ChartPanel[]): string {
  const rowH = 26;
  let y = 30;
  const parts: string[] = [];
  for (const panel of panels) {
    parts.push(`<text x="10" y="${y + 16}" font-size="14" font-weight="bold">${panel.title}</text>`);
    y += 26;
    const scale = (v: number) => (panel.log ? Math.log10(Math.max(1, v)) : v);
    const max = Math.max(...panel.bars.map((b) => (Number.isFinite(b[1]) ? scale(b[1]) : 0)), 1);
    for (const [label, value] of panel.bars) {
      const w = Number.isFinite(value) ? Math.max(1, Math.round((scale(value) / max) * 400)) : 0;
      const colour = label.startsWith('target') ? '#f59e0b' : '#3b82f6';
      parts.push(
        `<text x="10" y="${y + 17}" font-size="13">${label}</text><rect x="300" y="${y + 4}" width="${w}" height="18" fill="${colour}"/><text x="${306 + w}" y="${y + 17}" font-size="12">${f(value)}</text>`,
      );
      y += rowH;
    }
    y += 10;
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="800" height="${y + 10}" font-family="sans-serif"><title>npm run bench: throughput and latency</title><rect width="100%" height="100%" fill="white"/><text x="10" y="20" font-size="15" font-weight="bold">npm run bench: medians (orange: the targets)</text>\n${parts.join('\n')}\n</svg>\n`;
}

export interface BenchFigures {
  pgbench: number;
  txPerPayment: number;
  e2e0: number;
  e2e50: number;
  scaling: Record<number, number>;
  p99: Record<number, number>;
  apiAloneP99: number;
  pickupP50: number;
  relayP99: number;
}

/** docs/benchmarks.svg: throughput against pgbench and the target, then latencies against theirs. */
export function benchmarkChart(b: BenchFigures): string {
  return chart([
    {
      title: 'Throughput (per second)',
      bars: [
        ['pgbench -N tx/s', b.pgbench],
        [`payment tx/s (x ${f(b.txPerPayment)} tx)`, b.e2e0 * b.txPerPayment],
        ['target: payments/s', 300],
        ['payments/s, gateway 0 ms', b.e2e0],
        ['payments/s, gateway 50 ms', b.e2e50],
        ...Object.entries(b.scaling).map(([w, v]) => [`payments/s, ${w} worker(s)`, v] as [string, number]),
      ],
    },
    {
      title: 'Latency (ms, log scale)',
      log: true,
      bars: [
        ['target: POST p99 at 200/s', 25],
        ...Object.entries(b.p99).map(([r, v]) => [`POST p99 at ${r}/s`, v] as [string, number]),
        ['POST p99 at 200/s, workers stopped', b.apiAloneP99],
        ['target: pickup p50', 5],
        ['job pickup p50, 10 payments/s', b.pickupP50],
        ['target: relay p99 at 1,000 events/s', 250],
        ['relay p99 at 1,000 events/s', b.relayP99],
      ],
    },
  ]);
}
