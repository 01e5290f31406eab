/**
 * Registry credentials from the docker CLI's `config.json`, so that a host
 * where `docker login` works pulls with gitdock too.
 *
 * Parsing (`findRegistryAuth`, `parseImageRef`) is pure; only
 * `readRegistryAuth` reads a file, through the `fs` it is given.
 *
 * Credential helpers are out of scope: when `credHelpers` names a helper for
 * the registry, or `credsStore` is set and `auths` holds no inline
 * credentials for it, the secret lives in an external program
 * (`docker-credential-<name>`) that gitdock does not run. The lookup then
 * finds nothing and the pull goes out anonymously; a registry that needs a
 * login answers with its own "unauthorized" message. Use inline `auths`
 * entries (`docker login` without a store) on gitdock hosts.
 */
import { join } from 'node:path';

/** The `auths` key the docker CLI uses for Docker Hub. */
export const DOCKER_HUB_AUTH_KEY = 'https://index.docker.io/v1/';

/** What the Engine API's `X-Registry-Auth` header carries (lower-case JSON keys). */
export interface RegistryAuth {
  serveraddress: string;
  username?: string;
  password?: string;
  identitytoken?: string;
}

/** The result of looking up credentials: none found is normal, a broken config file is a `problem`. */
export interface RegistryAuthLookup {
  auth?: RegistryAuth;
  /** Why the config file could not be used, for error messages; the pull goes on without it. */
  problem?: string;
}

/** An image reference split like distribution's `reference` package does it. */
export interface ImageRef {
  /** Registry host (with port), `docker.io` for Docker Hub. */
  registry: string;
  /** The name as written, without tag or digest (`127.0.0.1:5055/app`, `redis`). */
  repository: string;
  tag?: string;
  digest?: string;
}

/**
 * Splits `[registry/]path[:tag][@digest]`. The first path component is a
 * registry when it has a `.` or `:`, is `localhost`, or has upper case.
 */
export function parseImageRef(ref: string): ImageRef {
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  const slash = rest.indexOf('/');
  const first = slash >= 0 ? rest.slice(0, slash) : '';
  const isRegistry =
    slash >= 0 &&
    (first.includes('.') ||
      first.includes(':') ||
      first === 'localhost' ||
      first !== first.toLowerCase());
  let registry = isRegistry ? first : 'docker.io';
  if (registry === 'index.docker.io' || registry === 'registry-1.docker.io') registry = 'docker.io';
  const out: ImageRef = { registry, repository: rest };
  if (tag !== undefined) out.tag = tag;
  if (digest !== undefined) out.digest = digest;
  return out;
}

/** The `auths` key the docker CLI stores a registry's login under. */
export function registryAuthKey(ref: string): string {
  const { registry } = parseImageRef(ref);
  return registry === 'docker.io' ? DOCKER_HUB_AUTH_KEY : registry;
}

/** `DOCKER_CONFIG` when set (a directory, like the docker CLI), else `<home>/.docker`. */
export function dockerConfigDir(env: Record<string, string | undefined>, homeDir: string): string {
  const fromEnv = env.DOCKER_CONFIG;
  return fromEnv !== undefined && fromEnv !== '' ? fromEnv : join(homeDir, '.docker');
}

/** The docker CLI's `ConvertToHostname`: drop the scheme and any path. */
function toHostname(key: string): string {
  const host = key.replace(/^https?:\/\//, '').split('/')[0] ?? '';
  return host === 'index.docker.io' || host === 'registry-1.docker.io' ? 'docker.io' : host;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function nonEmptyString(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/**
 * The credentials a parsed `config.json` holds for the registry of `ref`, or
 * undefined. Matches the exact `auths` key first, then any key with the same
 * host name (`https://registry.example/v2/` matches `registry.example`).
 */
export function findRegistryAuth(config: unknown, ref: string): RegistryAuth | undefined {
  if (!isRecord(config)) return undefined;
  const key = registryAuthKey(ref);
  const host = toHostname(key);

  // Out of scope (see the module comment): the secret is in a helper program.
  const helpers = config.credHelpers;
  if (isRecord(helpers) && (key in helpers || host in helpers)) return undefined;

  const auths = config.auths;
  if (!isRecord(auths)) return undefined;
  let matchedKey: string | undefined = key in auths ? key : undefined;
  matchedKey ??= Object.keys(auths).find((candidate) => toHostname(candidate) === host);
  if (matchedKey === undefined) return undefined;
  const entry = auths[matchedKey];
  if (!isRecord(entry)) return undefined;

  const auth: RegistryAuth = { serveraddress: matchedKey };
  const encoded = nonEmptyString(entry.auth);
  const decoded = encoded === undefined ? undefined : decodeBasicAuth(encoded);
  const username = decoded?.username ?? nonEmptyString(entry.username);
  const password = decoded?.password ?? nonEmptyString(entry.password);
  const identitytoken = nonEmptyString(entry.identitytoken);
  if (username !== undefined) auth.username = username;
  if (password !== undefined) auth.password = password;
  if (identitytoken !== undefined) auth.identitytoken = identitytoken;
  // An entry with nothing usable is what `docker login` with a credsStore leaves behind.
  if (username === undefined && identitytoken === undefined) return undefined;
  return auth;
}

/** `auth` is base64 of `user:password`; the password may itself contain colons. */
function decodeBasicAuth(encoded: string): { username: string; password: string } | undefined {
  const text = Buffer.from(encoded, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon <= 0) return undefined;
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

/** The part of `node:fs/promises` this module uses. */
export interface ReadFileFs {
  readFile(path: string, encoding: 'utf8'): Promise<string>;
}

export interface ReadRegistryAuthOptions {
  /** Directory holding `config.json` (see `dockerConfigDir`). */
  configDir: string;
  fs: ReadFileFs;
}

/**
 * Reads `<configDir>/config.json` and looks up the credentials for `ref`'s
 * registry. A missing file means anonymous pulls. An unreadable or invalid
 * file is reported as `problem` and the pull goes out anonymously, like the
 * docker CLI, which warns and carries on.
 */
export async function readRegistryAuth(
  ref: string,
  options: ReadRegistryAuthOptions,
): Promise<RegistryAuthLookup> {
  const path = join(options.configDir, 'config.json');
  let text: string;
  try {
    text = await options.fs.readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    return { problem: `cannot read ${path}: ${(err as Error).message}` };
  }
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch (err) {
    return { problem: `${path} is not valid JSON: ${(err as Error).message}` };
  }
  const auth = findRegistryAuth(config, ref);
  return auth === undefined ? {} : { auth };
}
