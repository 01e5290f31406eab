import { posix } from 'node:path';
import type { RepoConfig } from './schema.js';
import type { ContainerSpec, ManifestError } from './types.js';
import type { YamlSource } from './yaml-source.js';

/** The `policy:` block of gitdock.yaml, after schema validation. */
export type Policy = NonNullable<RepoConfig['policy']>;

/** The name of a rule, as written in gitdock.yaml. */
export type PolicyRule = keyof Policy;

/**
 * Checks one validated, normalised service against the repo's policy and
 * returns every violation, positioned at the manifest field that breaks the
 * rule. No policy, no violations: a repo without `policy:` is unaffected.
 *
 * `spec` must come from `source` (its `volumes` in the manifest's order),
 * so that a volume's index in the spec is its index in the file.
 */
/** Capabilities that amount to `privileged` (any of them can take the host over). */
const POWERFUL_CAPABILITIES = new Set([
  'ALL',
  'SYS_ADMIN',
  'SYS_MODULE',
  'SYS_PTRACE',
  'SYS_RAWIO',
  'DAC_READ_SEARCH',
  'NET_ADMIN',
  'BPF',
  'PERFMON',
]);

export function checkPolicy(
  policy: Policy | undefined,
  spec: ContainerSpec,
  source: YamlSource,
): ManifestError[] {
  if (policy === undefined) return [];
  const errors: ManifestError[] = [];
  const violation = (rule: PolicyRule, path: (string | number)[], message: string) => {
    const { line, column } = source.locate(path);
    errors.push({
      file: source.file,
      line,
      column,
      path: path.map((s) => `/${s}`).join(''),
      message: `policy ${rule}: ${message} (gitdock.yaml policy)`,
    });
  };

  if (policy.deny_privileged === true) {
    if (spec.privileged === true)
      violation('deny_privileged', ['privileged'], 'privileged containers are not allowed');
    // The same powers by other names: a policy that only looked at
    // `privileged` would be bypassed by them (Compose services can set them).
    for (const cap of spec.capAdd ?? []) {
      const name = cap.toUpperCase().replace(/^CAP_/, '');
      if (POWERFUL_CAPABILITIES.has(name))
        violation(
          'deny_privileged',
          ['cap_add'],
          `cap_add ${cap} gives the container privileged powers`,
        );
    }
    for (const opt of spec.securityOpt ?? []) {
      if (/(^|[:=])unconfined$/.test(opt))
        violation(
          'deny_privileged',
          ['security_opt'],
          `security_opt ${opt} turns a confinement off`,
        );
    }
    if (spec.devices !== undefined && spec.devices.length > 0)
      violation('deny_privileged', ['devices'], 'host devices may not be given to containers');
    for (const field of ['pid', 'ipc'] as const) {
      if (spec[field] === 'host')
        violation(
          'deny_privileged',
          [field],
          `${field}: host shares the host's ${field === 'pid' ? 'processes' : 'IPC namespace'}`,
        );
    }
  }

  const allowedPaths = policy.bind_mount_prefixes;
  if (allowedPaths !== undefined) {
    const prefixes = allowedPaths.map(normalizeHostPath);
    spec.volumes.forEach((volume, index) => {
      // Only bind mounts reach the host's file system; a named volume lives
      // in the engine's own storage, tmpfs in memory.
      if (volume.type !== 'bind' || volume.source === undefined) return;
      const path = normalizeHostPath(volume.source);
      if (prefixes.some((prefix) => isUnder(path, prefix))) return;
      const shown = path === volume.source ? `"${volume.source}"` : `"${volume.source}" (${path})`;
      violation(
        'bind_mount_prefixes',
        ['volumes', index],
        prefixes.length === 0
          ? `bind mount source ${shown}: bind mounts are not allowed (the list of prefixes is empty)`
          : `bind mount source ${shown} is not under an allowed prefix: ${allowedPaths.join(', ')}`,
      );
    });
  }

  // Host networking is denied by default once a policy exists: it is the one
  // rule that is on unless turned off, since a repo that writes a policy
  // means to restrict, and the host's network stack is a large grant.
  if (policy.allow_host_network !== true && spec.networkMode === 'host') {
    violation(
      'allow_host_network',
      ['network_mode'],
      'network_mode host is not allowed unless allow_host_network is true',
    );
  }

  // The schema requires a tag or a digest, so "no tag" (Docker's implicit
  // `latest`) cannot reach here: a spec without a tag has a digest.
  if (policy.deny_mutable_tags === true && spec.tag === 'latest') {
    violation(
      'deny_mutable_tags',
      ['tag'],
      'tag "latest" can be moved to another image at any time; pin a version tag or a digest',
    );
  }

  if (policy.require_digest === true && spec.digest === undefined) {
    violation(
      'require_digest',
      ['tag'],
      `tag "${spec.tag}" is not a digest; pin the image with digest: sha256:... instead of tag`,
    );
  }

  if (policy.allowed_registries !== undefined) {
    const name = imageName(spec.image);
    if (!policy.allowed_registries.some((entry) => isUnder(name, registryEntry(entry)))) {
      const shown = name === spec.image ? `"${spec.image}"` : `"${spec.image}" (${name})`;
      violation(
        'allowed_registries',
        ['image'],
        `image ${shown} is not from an allowed registry: ${policy.allowed_registries.join(', ')}`,
      );
    }
  }
  // In file order, so the list reads top to bottom like the manifest (the
  // sort is stable: two rules on one field keep the order above).
  return errors.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
}

/**
 * The fully qualified name of an image repository, as Docker resolves it:
 * the first path component is a registry when it has a `.` or a `:` or is
 * `localhost`, otherwise the image is on Docker Hub (`docker.io`), where a
 * name of one component is an official image under `library/`.
 * `redis` -> `docker.io/library/redis`, `acme/app` -> `docker.io/acme/app`,
 * `127.0.0.1:5055/app` -> itself. (The same rule as `parseImageRef` in
 * adapters/registry-auth.ts, which the core cannot import.)
 */
export function imageName(image: string): string {
  // `image` is a repository without tag or digest (the schema says so); a
  // stray `@digest` or `:tag` after the last `/` is dropped all the same.
  let rest = image.split('@')[0]!;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) rest = rest.slice(0, colon);
  const slash = rest.indexOf('/');
  const first = slash === -1 ? '' : rest.slice(0, slash);
  if (slash !== -1 && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    return `${dockerHubAlias(first)}${rest.slice(slash)}`;
  }
  return `docker.io/${slash === -1 ? `library/${rest}` : rest}`;
}

/** An `allowed_registries` entry with Docker Hub's other host names folded into `docker.io`. */
function registryEntry(entry: string): string {
  const slash = entry.indexOf('/');
  const host = slash === -1 ? entry : entry.slice(0, slash);
  return `${dockerHubAlias(host)}${slash === -1 ? '' : entry.slice(slash)}`.replace(/\/+$/, '');
}

function dockerHubAlias(host: string): string {
  return host === 'index.docker.io' || host === 'registry-1.docker.io' ? 'docker.io' : host;
}

/** `..`, `.` and repeated or trailing slashes resolved: `/srv/../etc/` -> `/etc`. */
function normalizeHostPath(path: string): string {
  const normal = posix.normalize(path);
  return normal.length > 1 ? normal.replace(/\/+$/, '') : normal;
}

/** Path-segment prefix: `/srv/data` is under `/srv`, `/srv2` is not. */
function isUnder(path: string, prefix: string): boolean {
  return prefix === '/' || path === prefix || path.startsWith(`${prefix}/`);
}
