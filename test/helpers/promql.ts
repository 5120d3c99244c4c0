/**
 * The metric names a PromQL expression reads. No PromQL parser is among the project's packages
 * (the Prometheus project's own is @prometheus-io/lezer-promql), and promtool has already checked
 * the syntax, so a token scan does: strings, label matchers, ranges, grouping label lists and
 * Grafana's variables go first; what is left that names something, is not a function call and not
 * a keyword, is a metric.
 */
const KEYWORDS = new Set([
  'and',
  'or',
  'unless',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'offset',
  'inf',
  'nan',
]);

export function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\$\{?\w+\}?/g, ' ');
  const names = new Set<string>();
  for (const [, name, call] of bare.matchAll(/(?<![\w:.])([a-zA-Z_:][\w:]*)(\s*\()?/g)) {
    if (!call && !KEYWORDS.has((name as string).toLowerCase())) names.add(name as string);
  }
  return [...names];
}

/**
 * Whether `name` is a series of a family some role declares (`families`: name -> type): the family
 * itself, or a histogram's `_bucket`, `_sum` or `_count`, or a summary's `_sum` or `_count`.
 */
export function isExported(name: string, families: Map<string, string>): boolean {
  if (families.has(name)) return true;
  const suffixed = /^(.+)_(bucket|sum|count)$/.exec(name);
  if (!suffixed) return false;
  const type = families.get(suffixed[1] as string);
  return type === 'histogram' || (type === 'summary' && suffixed[2] !== 'bucket');
}
