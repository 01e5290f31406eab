/** Host names: path segments and label values, so kept strict. */
export const NAME_PATTERN = /^[a-z0-9][a-z0-9_.-]{0,62}$/;

export function isValidName(name: string): boolean {
  return NAME_PATTERN.test(name);
}

/** The host name rule in words, for error messages. */
export const NAME_RULE =
  'lowercase letters, digits, `_`, `.` and `-`, starting with a letter or digit, at most 63 characters';

/**
 * Service names: also container names, which Docker requires to be at least
 * two characters (`[a-zA-Z0-9][a-zA-Z0-9_.-]+`), so a one-character name
 * would validate and then fail on every host.
 */
export const SERVICE_NAME_PATTERN = /^[a-z0-9][a-z0-9_.-]{1,62}$/;

export function isValidServiceName(name: string): boolean {
  return SERVICE_NAME_PATTERN.test(name);
}

/** The service name rule in words, for error messages. */
export const SERVICE_NAME_RULE =
  'lowercase letters, digits, `_`, `.` and `-`, starting with a letter or digit, 2 to 63 characters (Docker refuses one-character container names)';
