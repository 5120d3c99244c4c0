/** Small helpers every module of the bench uses: its log line, medians, number formatting. */

export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0
    ? Number.NaN
    : (s[Math.floor((s.length - 1) / 2)] as number) / 2 + (s[Math.ceil((s.length - 1) / 2)] as number) / 2;
};
export const say = (line: string) => process.stdout.write(`[bench] ${line}\n`);
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const f = (n: number, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : 'n/a');
