const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/**
 * Parses a Compose/Go duration (`1m30s`, `500ms`, `2.5s`) into milliseconds.
 * The schema has already checked the shape, so anything else is a bug.
 */
export function parseDuration(text: string): number {
  let total = 0;
  let matched = '';
  for (const m of text.matchAll(/([0-9]+(?:\.[0-9]+)?)(ms|us|ns|s|m|h)/g)) {
    total += Number(m[1]) * (UNIT_MS[m[2]!] ?? Number.NaN);
    matched += m[0];
  }
  // `matched === text` alone would accept '' as 0.
  if (text === '' || matched !== text || Number.isNaN(total)) {
    throw new Error(`invalid duration ${JSON.stringify(text)}`);
  }
  return Math.round(total);
}

/** Formats milliseconds the way they are written in manifests (`1m30s`, `500ms`). */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms < 1000) return `${ms}ms`;
  const parts: string[] = [];
  let rest = ms;
  for (const [unit, size] of [
    ['h', 3_600_000],
    ['m', 60_000],
  ] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  if (rest > 0) parts.push(`${rest / 1000}s`);
  return parts.join('');
}
