import type { FromSchema, JSONSchema } from 'json-schema-to-ts';

/**
 * The one definition of a service manifest. ajv validates with this object,
 * json-schema-to-ts derives `ServiceManifest` from it, and
 * `schemas/service.schema.json` is generated from it for editors
 * (`npm run build` writes it; a test fails on drift).
 *
 * Field names follow the Compose spec where Compose has the field; gitdock
 * adds `tag`/`digest`, `hosts`, `update` and `pull`.
 */

const duration = {
  description: 'A duration such as `10s`, `1m30s`, `500ms` or `2h`.',
  type: 'string',
  pattern: '^([0-9]+(\\.[0-9]+)?(ms|us|ns|s|m|h))+$',
} as const;

const stringOrList = {
  anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }],
} as const;

const scalar = { type: ['string', 'number', 'boolean'] } as const;

const mapOrList = {
  anyOf: [
    {
      type: 'object',
      propertyNames: { pattern: '^[^=\\s]+$' },
      additionalProperties: { anyOf: [scalar, { type: 'null' }] },
    },
    { type: 'array', items: { type: 'string', pattern: '^[^=\\s]+(=.*)?$' } },
  ],
} as const;

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
  properties: {
    image: {
      description: 'Image repository without tag or digest, e.g. `registry.example.com/appserver`.',
      type: 'string',
      pattern: '^[a-z0-9]+([._/:-][a-z0-9]+)*$',
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
        'Fleet files only: the hosts this service runs on, by name or glob (`web-*`, `db-?`).',
      type: 'array',
      minItems: 1,
      items: { type: 'string', pattern: '^[a-z0-9*?\\[\\]_.-]+$' },
    },
    command: { description: 'Overrides the image CMD.', ...stringOrList },
    entrypoint: { description: 'Overrides the image ENTRYPOINT.', ...stringOrList },
    environment: {
      description: 'Environment variables, as a map or a list of `KEY=value`.',
      ...mapOrList,
    },
    env_file: {
      description: 'Files of `KEY=value` lines, relative to this manifest, read from the repo.',
      ...stringOrList,
    },
    ports: {
      description: 'Published ports: `"8080:80"`, `"127.0.0.1:8080:80/udp"` or the long form.',
      type: 'array',
      items: {
        anyOf: [
          {
            description: 'A port such as `"80"`, `"8080:80"` or `"127.0.0.1:8080:80/udp"`.',
            type: 'string',
            pattern: '^(\\[?[0-9a-fA-F.:]+\\]?:)?([0-9]+:)?[0-9]+(/(tcp|udp))?$',
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
                  { type: 'string', pattern: '^[0-9]+$' },
                ],
              },
              host_ip: { type: 'string' },
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
              'A mount such as `"/srv/data:/data"`, `"/etc/app:/etc/app:ro"` or `"named:/data"`.',
            type: 'string',
            pattern: '^[^:]+:/[^:]*(:(ro|rw))?$',
          },
          {
            type: 'object',
            additionalProperties: false,
            required: ['type', 'target'],
            properties: {
              type: { enum: ['bind', 'volume', 'tmpfs'] },
              source: { type: 'string' },
              target: { type: 'string', pattern: '^/' },
              read_only: { type: 'boolean' },
            },
          },
        ],
      },
    },
    network_mode: {
      description: '`none`, `host`, `bridge`, `container:NAME` or a network name.',
      type: 'string',
      minLength: 1,
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
      pattern: '^(no|always|unless-stopped|on-failure(:[0-9]+)?)$',
    },
    healthcheck: {
      description: 'Container health check, as in Compose.',
      type: 'object',
      additionalProperties: false,
      properties: {
        test: stringOrList,
        interval: duration,
        timeout: duration,
        retries: { type: 'integer', minimum: 0 },
        start_period: duration,
        disable: { type: 'boolean' },
      },
    },
    depends_on: {
      description: 'Services on this host to start before this one.',
      anyOf: [
        { type: 'array', items: { type: 'string' }, uniqueItems: true },
        {
          type: 'object',
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
    labels: { description: 'Container labels (`io.gitdock.*` is reserved).', ...mapOrList },
    user: { description: 'User (and group) to run as.', type: 'string' },
    working_dir: { description: 'Working directory inside the container.', type: 'string' },
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
