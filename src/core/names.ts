/** Host and service names: also container names and path segments, so kept strict. */
export const NAME_PATTERN = /^[a-z0-9][a-z0-9_.-]{0,62}$/;

export function isValidName(name: string): boolean {
  return NAME_PATTERN.test(name);
}

/** The rule in words, for error messages. */
export const NAME_RULE =
  'lowercase letters, digits, `_`, `.` and `-`, starting with a letter or digit, at most 63 characters';
