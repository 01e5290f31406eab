import type { FromSchema, JSONSchema } from 'json-schema-to-ts';
import { formatDuration } from './duration.js';
import { HOST_GLOB_PATTERN } from './host-selector.js';
import { DEFAULT_DOWN_AFTER_MS } from './rollout.js';

/**
 * The one definition of a service manifest. ajv validates with this object,
 * json-schema-to-ts derives `ServiceManifest` from it, and
 * `schemas/service.schema.json` is generated from it for editors
 * (`npm run build` writes it; a test fails on drift).
 *
 * Field names follow the Compose spec where Compose has the field; gitdock
 * adds `tag`/`digest`, `hosts`, `update` and `pull`.
 *
 * Every rule about one file that a JSON Schema can say is said here, not in
 * code, so an editor using the generated schema rejects what `gitdock
 * validate` rejects (`schema-cli-agreement.test.ts` feeds it every rejected
 * test manifest). What needs the file's path or other files (names, env
 * files, dependencies, `container:` targets) stays in the loader.
 */

// Building blocks of the patterns below, as regular expression source.
/** A port 1-65535 (leading zeros allowed, as Docker's parser allows them). */
const PORT =
  '0*([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])';
const OCTET = '(25[0-5]|2[0-4][0-9]|[01]?[0-9]?[0-9])';
const IPV4 = `(${OCTET}\\.){3}${OCTET}`;
const IPV6 = '[0-9a-fA-F:.]*:[0-9a-fA-F:.]*';
/** A uid or gid: the kernel's range, 0 to 2^31-1 (runc refuses more). */
const ID =
  '([0-9]{1,9}|1[0-9]{9}|20[0-9]{8}|21[0-3][0-9]{7}|214[0-6][0-9]{6}|2147[0-3][0-9]{5}|21474[0-7][0-9]{4}|214748[0-2][0-9]{3}|2147483[0-5][0-9]{2}|21474836[0-3][0-9]|214748364[0-7])';
const USER_NAME = '[a-zA-Z_][a-zA-Z0-9_.-]{0,31}';
/** Docker's rule for volume and container names: 2+ characters. */
const VOLUME_NAME = '[a-zA-Z0-9][a-zA-Z0-9_.-]+';
const SERVICE_NAME = '[a-z0-9][a-z0-9_.-]{1,62}';
/**
 * A container path: absolute, clean (no `.` or `..` segment: `/a/..` is `/`,
 * which the engine refuses to mount on), not `/` itself, not /proc or under
 * it, no `:` (the short form's separator), no NUL.
 */
const TARGET = (() => {
  // The engine reads `\` as `/` when it checks a target against `/`.
  const sep = '[/\\\\]';
  const segment = `(?!\\.\\.?(${sep}|:|$))[^/\\\\:\\u0000]+`;
  // runc mounts nothing but procfs on /proc or under it.
  const notProc = '(?!/+proc(/|:|$))';
  return `${notProc}/${sep}*${segment}(${sep}+${segment})*${sep}*`;
})();
/** Docker's image name grammar (lowercase registry host), without tag or digest. */
const DOMAIN = '[a-z0-9]([a-z0-9-]*[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:[0-9]+)?';
const PATH_COMPONENT = '[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*';
/**
 * A duration, each unit at most once, largest first, at most six digits
 * each: the engine takes nanoseconds in an int64 (292 years), so an
 * unbounded value would validate and then be refused.
 */
const DURATION_UNITS = ['h', 'm', 's', 'ms', 'us', 'ns']
  .map((u) => `([0-9]{1,6}(\\.[0-9]{1,9})?${u})?`)
  .join('');
/** No NUL anywhere: the kernel cannot pass one in argv or the environment. */
const NO_NUL = '^[^\\u0000]*$';

const duration = {
  description:
    'A duration such as `10s`, `1m30s`, `500ms` or `2h` (units largest first, each once).',
  type: 'string',
  pattern: `^(?!$)${DURATION_UNITS}$`,
} as const;

/** `command`, `entrypoint`, `healthcheck.test`: a string is split like a shell would, so its quotes must close. */
const argv = {
  anyOf: [
    {
      description:
        'A command line, split into words as a shell would (no expansion): quotes must be closed; no NUL characters.',
      type: 'string',
      pattern: `^([^'"\\\\\\u0000]|\\\\[^\\u0000]|\\\\$|'[^'\\u0000]*'|"([^"\\\\\\u0000]|\\\\[^\\u0000])*")*$`,
    },
    {
      type: 'array',
      items: {
        description: 'One word of the command; no NUL characters.',
        type: 'string',
        pattern: NO_NUL,
      },
    },
  ],
} as const;

/** `environment`: values are given (no pass-through from a shell the agent does not have) and never contain NUL. */
const environment = {
  anyOf: [
    {
      type: 'object',
      propertyNames: { pattern: '^[^=\\s\\u0000]+$' },
      additionalProperties: {
        anyOf: [
          {
            description: 'The value; no NUL characters (write `KEY: ""` for an empty string).',
            type: 'string',
            pattern: NO_NUL,
          },
          { type: ['number', 'boolean'] },
        ],
      },
    },
    {
      type: 'array',
      items: {
        description:
          'A `KEY=value` entry: a name without `=` or whitespace, `=`, then the value (`KEY=` for an empty string); no NUL characters.',
        type: 'string',
        pattern: '^[^=\\s\\u0000]+=[^\\u0000]*$',
      },
    },
  ],
} as const;

/** `labels`: `io.gitdock.*` is gitdock's own. */
const labels = {
  anyOf: [
    {
      type: 'object',
      propertyNames: { pattern: '^(?!io\\.gitdock\\.)[^=\\s]+$' },
      additionalProperties: {
        anyOf: [{ type: ['string', 'number', 'boolean'] }, { type: 'null' }],
      },
    },
    {
      type: 'array',
      items: {
        description:
          'A label `key=value` (or `key`): a name without `=` or whitespace, not starting with `io.gitdock.` (reserved for gitdock).',
        type: 'string',
        pattern: '^(?!io\\.gitdock\\.)[^=\\s]+(=.*)?$',
      },
    },
  ],
} as const;

const envFilePath = {
  description: 'A path relative to this manifest (not absolute), inside hosts/ or services/.',
  type: 'string',
  pattern: '^[^/\\u0000][^\\u0000]*$',
} as const;

/** `ports` with a network mode that has no ports of its own. */
const noPortsWhen = (mode: string, why: string) =>
  ({
    if: {
      properties: { network_mode: { type: 'string', pattern: mode } },
      required: ['network_mode'],
    },
    // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then, never awaited
    then: { properties: { ports: { description: why, type: 'array', maxItems: 0 } } },
  }) as const;

/** Long-form volume rules that depend on its `type`. */
const mountSourceWhen = (type: string, then: Record<string, unknown>) =>
  ({ if: { properties: { type: { const: type } }, required: ['type'] }, then }) as const;

export const serviceSchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://gitdock.dev/schemas/service.schema.json',
  title: 'gitdock service',
  description:
    'One service on one or more Docker hosts. The service name is the file name without `.yaml`.',
  type: 'object',
  additionalProperties: false,
  required: ['image'],
  oneOf: [{ required: ['tag'] }, { required: ['digest'] }],
  allOf: [
    noPortsWhen(
      '^none$',
      'a container with network_mode none has no network to publish on: remove ports',
    ),
    noPortsWhen(
      '^host$',
      'the engine ignores ports with network_mode host (the container uses the host network directly): use no ports',
    ),
    noPortsWhen(
      '^container:',
      "a container with network_mode container:NAME shares that container's network: publish the ports on that service",
    ),
  ],
  properties: {
    image: {
      description:
        'Image repository without tag or digest, e.g. `registry.example.com/appserver` (the tag goes in `tag`, the digest in `digest`).',
      type: 'string',
      maxLength: 255,
      pattern: `^(${DOMAIN}/)?${PATH_COMPONENT}(/${PATH_COMPONENT})*$`,
    },
    tag: {
      description:
        'Image tag to run (letters, digits, `_`, `.`, `-`; quote numbers like `"1.0"`). Exactly one of `tag` and `digest` is required.',
      type: 'string',
      pattern: '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$',
    },
    digest: {
      description:
        'Image digest to run: `sha256:` and 64 hex digits. Exactly one of `tag` and `digest`.',
      type: 'string',
      pattern: '^sha256:[a-f0-9]{64}$',
    },
    hosts: {
      description:
        'Fleet files only: the hosts this service runs on, by name or glob (`web-*`, `db-?`, `web-[1-3]`; brackets closed, ranges in order).',
      type: 'array',
      minItems: 1,
      items: { type: 'string', pattern: HOST_GLOB_PATTERN },
    },
    command: { description: 'Overrides the image CMD.', ...argv },
    entrypoint: { description: 'Overrides the image ENTRYPOINT.', ...argv },
    environment: {
      description: 'Environment variables, as a map or a list of `KEY=value`.',
      ...environment,
    },
    env_file: {
      description: 'Files of `KEY=value` lines, relative to this manifest, read from the repo.',
      anyOf: [envFilePath, { type: 'array', items: envFilePath }],
    },
    ports: {
      description: 'Published ports: `"8080:80"`, `"127.0.0.1:8080:80/udp"` or the long form.',
      type: 'array',
      items: {
        anyOf: [
          {
            description:
              'A port such as `"80"`, `"8080:80"`, `"127.0.0.1:8080:80"`, `"127.0.0.1::80"` or `"[::1]:8080:80"`, ports 1 to 65535, optionally with /tcp or /udp.',
            type: 'string',
            pattern: `^((${IPV4}|\\[${IPV6}\\]):(${PORT})?:${PORT}|${PORT}:${PORT}|${PORT})(/(tcp|udp))?$`,
          },
          { type: 'integer', minimum: 1, maximum: 65535 },
          {
            type: 'object',
            additionalProperties: false,
            required: ['target'],
            properties: {
              target: { type: 'integer', minimum: 1, maximum: 65535 },
              published: {
                anyOf: [
                  { type: 'integer', minimum: 1, maximum: 65535 },
                  {
                    description: 'A host port from 1 to 65535.',
                    type: 'string',
                    pattern: `^${PORT}$`,
                  },
                ],
              },
              host_ip: {
                description: 'An IPv4 or IPv6 address of the host, such as `127.0.0.1` or `::1`.',
                type: 'string',
                pattern: `^(${IPV4}|${IPV6})$`,
              },
              protocol: { enum: ['tcp', 'udp'] },
            },
          },
        ],
      },
    },
    volumes: {
      description: 'Mounts: `"/host/path:/in/container:ro"`, `"named:/data"` or the long form.',
      type: 'array',
      items: {
        anyOf: [
          {
            description:
              'A mount such as `"/srv/data:/data"`, `"/etc/app:/etc/app:ro"` or `"named:/data"`: an absolute host path or a volume name (2+ letters, digits, `_`, `.`, `-`), then an absolute container path other than `/` and /proc (no `.` or `..` segments).',
            type: 'string',
            pattern: `^(/[^:\\u0000]*|${VOLUME_NAME}):${TARGET}(:(ro|rw))?$`,
          },
          {
            type: 'object',
            additionalProperties: false,
            required: ['type', 'target'],
            properties: {
              type: { enum: ['bind', 'volume', 'tmpfs'] },
              source: { type: 'string' },
              target: {
                description:
                  'An absolute container path other than `/` and /proc, without `.` or `..` segments.',
                type: 'string',
                pattern: `^${TARGET}$`,
              },
              read_only: { type: 'boolean' },
            },
            allOf: [
              mountSourceWhen('bind', {
                required: ['source'],
                properties: {
                  source: {
                    description:
                      'A bind mount source is an absolute path on the host, without `:` (the engine takes binds as `source:target`).',
                    type: 'string',
                    pattern: '^/[^:\\u0000]*$',
                  },
                },
              }),
              mountSourceWhen('volume', {
                required: ['source'],
                properties: {
                  source: {
                    description:
                      'A volume name: 2 or more letters, digits, `_`, `.` or `-`, starting with a letter or digit.',
                    type: 'string',
                    pattern: `^${VOLUME_NAME}$`,
                  },
                },
              }),
              mountSourceWhen('tmpfs', {
                description: 'A tmpfs mount has no source: remove it.',
                not: { required: ['source'] },
              }),
            ],
          },
        ],
      },
    },
    network_mode: {
      description:
        '`none`, `host`, `bridge`, `container:SERVICE` (another service on the same host) or a network name.',
      type: 'string',
      pattern: `^(none|host|bridge|container:${SERVICE_NAME}|[a-zA-Z0-9][a-zA-Z0-9_.-]*)$`,
    },
    privileged: {
      description:
        'Give the container extended privileges on the host (`docker run --privileged`). Default `false`.',
      type: 'boolean',
    },
    restart: {
      description:
        'Restart policy: `no` (default), `always`, `unless-stopped`, `on-failure` or `on-failure:N`.',
      type: 'string',
      pattern: '^(no|always|unless-stopped|on-failure(:[0-9]{1,9})?)$',
    },
    healthcheck: {
      description: 'Container health check, as in Compose.',
      type: 'object',
      additionalProperties: false,
      properties: {
        test: {
          description:
            'The check: a string run by the shell, or a list `["CMD", "curl", "-f", "http://localhost/"]` (`["CMD-SHELL", "..."]`, `["NONE"]`). A list needs a command after CMD or CMD-SHELL: dockerd 20.10 crashes on a check without one. To turn the image\'s check off, use `disable: true`.',
          anyOf: [
            argv.anyOf[0],
            {
              ...argv.anyOf[1],
              minItems: 1,
              not: { maxItems: 1, items: { enum: ['CMD', 'CMD-SHELL'] } },
            },
          ],
        },
        interval: duration,
        timeout: duration,
        retries: { type: 'integer', minimum: 0, maximum: 2147483647 },
        start_period: duration,
        disable: { type: 'boolean' },
      },
    },
    depends_on: {
      description: 'Services on this host to start before this one.',
      anyOf: [
        {
          type: 'array',
          items: {
            description: 'A service name.',
            type: 'string',
            pattern: `^${SERVICE_NAME}$`,
          },
          uniqueItems: true,
        },
        {
          type: 'object',
          propertyNames: { pattern: `^${SERVICE_NAME}$` },
          additionalProperties: {
            type: 'object',
            additionalProperties: false,
            properties: {
              condition: { enum: ['service_started', 'service_healthy'] },
            },
          },
        },
      ],
    },
    labels: { description: 'Container labels (`io.gitdock.*` is reserved).', ...labels },
    user: {
      description:
        'User (and group) to run as: `name`, `uid`, `name:group` or `uid:gid` (ids 0 to 2147483647).',
      type: 'string',
      pattern: `^(${USER_NAME}|${ID})(:(${USER_NAME}|${ID}))?$`,
    },
    working_dir: {
      description: 'Working directory inside the container: an absolute path.',
      type: 'string',
      pattern: '^/[^\\u0000]*$',
    },
    stop_grace_period: {
      ...duration,
      description:
        'Time to wait after SIGTERM before SIGKILL: a duration such as `10s` or `1m30s`.',
    },
    update: {
      description: 'How a changed service is replaced.',
      type: 'object',
      additionalProperties: false,
      properties: {
        order: {
          description:
            '`stop-first` (default): stop the old container, then start the new one. ' +
            '`start-first`: start the new one first (not with fixed host ports).',
          enum: ['stop-first', 'start-first'],
        },
        settle: {
          ...duration,
          description:
            'Without a HEALTHCHECK, how long the new container must run without exiting: a duration such as `2s` (the default).',
        },
        health_timeout: {
          ...duration,
          description:
            'With a HEALTHCHECK, how long to wait for `healthy`: a duration such as `60s` (the default).',
        },
      },
    },
    pull: {
      description:
        '`missing` (default): pull only when the image is not on the host. `always`: pull on every apply.',
      enum: ['missing', 'always'],
    },
  },
} as const satisfies JSONSchema;

/** A service manifest as written in YAML, after schema validation. */
export type ServiceManifest = FromSchema<typeof serviceSchema>;

/**
 * How many services of one host are replaced, created or started at the same
 * time when gitdock.yaml sets no `max_parallel`: docker-compose 1.29's
 * COMPOSE_PARALLEL_LIMIT default.
 */
export const DEFAULT_MAX_PARALLEL = 64;

const maxParallel = (host: string, scope: string) =>
  ({
    description:
      `At most this many services of ${host} are replaced, created or started at the same time ` +
      '(a service waiting for its `depends_on` holds no place; removals go one by one anyway). ' +
      `${scope} Default ${DEFAULT_MAX_PARALLEL}, as docker-compose 1.29's COMPOSE_PARALLEL_LIMIT.`,
    type: 'integer',
    minimum: 1,
  }) as const;

/** A host name or glob, as in a fleet file's `hosts:`. */
const hostGlob = {
  description:
    'A host name (lowercase letters, digits, `_`, `.`, `-`) or a glob over the hosts named under `hosts:` in this file: `web-*`, `db-?`, `web-[1-3]` (brackets closed, ranges in order).',
  type: 'string',
  pattern: HOST_GLOB_PATTERN,
} as const;

/** `gitdock.yaml` at the repo root: fleet-wide settings. */
export const repoConfigSchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://gitdock.dev/schemas/gitdock.schema.json',
  title: 'gitdock repo config',
  type: 'object',
  additionalProperties: false,
  properties: {
    hosts: {
      description: 'Per-host settings, by host name.',
      type: 'object',
      propertyNames: { pattern: '^[a-z0-9][a-z0-9_.-]{0,62}$' },
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        properties: {
          allow_empty: {
            description:
              'This host is meant to run no services: a revision that removes all of them is applied.',
            type: 'boolean',
          },
          max_parallel: maxParallel('this host', 'Overrides the top-level `max_parallel`.'),
          agent: {
            description:
              "The host's agent, for `gitdock status`: the http(s) URL its `--listen` address answers on, such as `http://web-1.internal:9420`. " +
              'No user or password: this file is in git.',
            type: 'string',
            pattern: '^https?://[^\\s/?#@]+(/[^\\s?#@]*)?$',
          },
          profiles: {
            description:
              'Compose profiles turned on for every Compose project on this host (a service with `profiles:` runs only when one of them is on).',
            type: 'array',
            items: { type: 'string', pattern: '^[a-zA-Z0-9][a-zA-Z0-9_.-]*$' },
          },
          remove_volumes: {
            description:
              'Volumes gitdock may remove on this host once no service uses them, by engine name (`shop_db_data`). gitdock never removes a volume otherwise.',
            type: 'array',
            items: { type: 'string', pattern: '^[a-zA-Z0-9][a-zA-Z0-9_.-]*$' },
          },
          projects: {
            description: 'Per Compose project settings on this host, by project name.',
            type: 'object',
            propertyNames: { pattern: '^[a-z0-9][a-z0-9_-]*$' },
            additionalProperties: {
              type: 'object',
              additionalProperties: false,
              properties: {
                dir: {
                  description:
                    "The project's directory on the host, where relative binds that are not repo files (host data such as `./data`) live. Point it at the directory the project ran from under Compose (`/opt/gitea`) to keep its data. Default: `<state dir>/projects/<project>`.",
                  type: 'string',
                  pattern: '^/',
                },
                adopt_compose: {
                  description:
                    '`true`: containers `docker compose` made for this project may be replaced by gitdock (health-gated, one by one), reusing their volumes and host paths. Without it they are reported as a conflict and never touched.',
                  type: 'boolean',
                },
                profiles: {
                  description: 'Compose profiles turned on for this project on this host.',
                  type: 'array',
                  items: { type: 'string', pattern: '^[a-zA-Z0-9][a-zA-Z0-9_.-]*$' },
                },
              },
            },
          },
        },
      },
    },
    max_parallel: maxParallel(
      'each host',
      '`hosts.<host>.max_parallel` overrides it for one host.',
    ),
    rollout: {
      description:
        'Waves: the order in which a new commit is applied across the hosts named under `hosts:`. ' +
        'A host of a later wave applies a commit only once every host of the earlier waves has applied it with every service healthy; ' +
        'a failure on an earlier wave halts the release for the later ones. The rule in force is the one of the commit a host runs now. See docs/fleet.md.',
      type: 'object',
      additionalProperties: false,
      required: ['waves'],
      properties: {
        waves: {
          description:
            'The waves in order, each a list of host names or globs: `[[web-1], [web-2, web-3], ["web-*"]]`. ' +
            'A host belongs to the first wave that matches it; hosts named under `hosts:` that no wave matches go last, after every wave.',
          type: 'array',
          minItems: 1,
          items: {
            description: 'One wave: host names or globs, applied side by side.',
            type: 'array',
            minItems: 1,
            items: hostGlob,
          },
        },
        soak: {
          ...duration,
          description:
            'How long a wave waits, once every host of the earlier waves has applied the commit, before it applies it too (measured by each waiting agent from when it sees that): a duration such as `2m`. Default `0s`.',
        },
        down_hosts: {
          description:
            'A host of an earlier wave that has neither applied the commit nor failed at it (down, or its agent stopped): ' +
            '`wait` (default) holds the later waves until it reports; `skip` lets them go once `down_after` has passed.',
          enum: ['wait', 'skip'],
        },
        down_after: {
          ...duration,
          description:
            'With `down_hosts: skip`: how long a silent host of an earlier wave is waited for, counted from when the waiting agent first saw the commit: a duration such as `5m`. ' +
            `Default \`${formatDuration(DEFAULT_DOWN_AFTER_MS)}\`.`,
        },
      },
    },
    policy: {
      description:
        'Rules every manifest of a revision must follow; a revision that breaks one is invalid and never applied. ' +
        'Each rule is off unless set, except `allow_host_network`.',
      type: 'object',
      additionalProperties: false,
      properties: {
        deny_privileged: {
          description: '`true`: no service may set `privileged: true`.',
          type: 'boolean',
        },
        bind_mount_prefixes: {
          description:
            'Host paths that bind mounts may use, such as `/srv`: every bind mount source must be one of them or under one (`/srv2` is not under `/srv`).',
          type: 'array',
          items: {
            description: 'An absolute host path such as `/srv` or `/var/lib/app`.',
            type: 'string',
            pattern: '^/',
          },
        },
        allow_host_network: {
          description:
            '`true`: services may use `network_mode: host`. Default `false` once `policy` is present: host networking is denied unless allowed here.',
          type: 'boolean',
        },
        deny_mutable_tags: {
          description: '`true`: the tag `latest` is denied; pin a version tag or a `digest`.',
          type: 'boolean',
        },
        require_digest: {
          description: '`true`: every image must be pinned by `digest`, not by `tag`.',
          type: 'boolean',
        },
        allowed_registries: {
          description:
            'Registries images may come from, optionally with a path prefix: `ghcr.io/acme`, `127.0.0.1:5055`, `docker.io`. ' +
            'An image without a registry (`redis`, `acme/app`) is from `docker.io`.',
          type: 'array',
          minItems: 1,
          items: {
            description:
              'A registry host, which has a `.` or a `:port` or is `localhost` (`docker.io`, `127.0.0.1:5055`), optionally followed by a path prefix (`ghcr.io/acme`).',
            type: 'string',
            pattern:
              '^(localhost(:[0-9]+)?|[a-z0-9-]+(\\.[a-z0-9-]+)+(:[0-9]+)?|[a-z0-9-]+:[0-9]+)(/[a-z0-9]+([._-][a-z0-9]+)*)*$',
          },
        },
      },
    },
  },
} as const satisfies JSONSchema;

export type RepoConfig = FromSchema<typeof repoConfigSchema>;
