/**
 * Matches host names against a fleet file's `hosts:` selector. Globs are
 * shell-style (`*`, `?`, `[a-c]`) over a single name, so a dozen lines here
 * beat a glob library built for paths.
 */
export function matchesHost(selector: readonly string[], host: string): boolean {
  return selector.some((pattern) => globToRegExp(pattern).test(host));
}

const cache = new Map<string, RegExp>();

function globToRegExp(pattern: string): RegExp {
  let re = cache.get(pattern);
  if (re) return re;
  let source = '^';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === '*') source += '[^/]*';
    else if (ch === '?') source += '[^/]';
    else if (ch === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end === -1) source += '\\[';
      else {
        source += `[${pattern.slice(i + 1, end).replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else source += ch.replace(/[.+^${}()|\\\]-]/g, '\\$&');
  }
  re = new RegExp(`${source}$`);
  cache.set(pattern, re);
  return re;
}
