/**
 * The Compose test corpus (test/compose-corpus/<nn>-<name>/): what each
 * project needs from outside its files, which containers it runs, and what
 * every run of it must show. Projects that docker-compose 1.29 cannot run
 * (features it lacks or does differently) carry `gitdockOnly` with the
 * reason, and their expectations come from the Compose v2 documentation.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ContainerRecord, NetworkRecord, VolumeRecord } from './compose-compare.js';
import { hashPath } from './compose-compare.js';

export const CORPUS_DIR = fileURLToPath(new URL('../compose-corpus/', import.meta.url));

/** Values known only when the stack runs. */
export interface CorpusEnv {
  /** `127.0.0.1:PORT/gitdock-test`: every image of the corpus is `${REGISTRY}/<name>:<tag>`. */
  registry: string;
  /** `sha256:...` of `${REGISTRY}/app:1.0` in the registry (35-image-forms). */
  appDigest: string;
}

type Partial2<T> = { [K in keyof T]?: T[K] extends object ? Partial2<T[K]> | T[K] : T[K] };

export interface CorpusExpectations {
  containers?: Record<string, Partial2<ContainerRecord>>;
  networks?: Record<string, Partial2<NetworkRecord>>;
  volumes?: Record<string, Partial2<VolumeRecord>>;
}

export interface CorpusProject {
  /** Directory under test/compose-corpus/. */
  dir: string;
  /** The Compose project name: the directory's name in the fleet repo, or the file's `name:`. */
  project: string;
  /** The project's directory name in the fleet repo (`hosts/<host>/<repoDir>/`). */
  repoDir: string;
  /**
   * Variables from outside the repo: the shell environment for
   * docker-compose 1.29, the host-local `<project>.env` for gitdock.
   * REGISTRY is always given.
   */
  hostEnv?: (env: CorpusEnv) => Record<string, string>;
  /** Profiles turned on (COMPOSE_PROFILES; gitdock.yaml `projects.<p>.profiles`). */
  profiles?: string[];
  /** Volumes marked `external: true`: created before, removed after. */
  externalVolumes?: string[];
  /** What the engine must allow (probed before the project runs; skipped, and said so, when it does not). */
  requires?: 'privileged';
  /** Set when docker-compose 1.29 cannot be the reference for this project: why. */
  gitdockOnly?: string;
  /** Exactly the containers the project runs, as `<service>#<n>`. */
  containers: string[];
  /** Spot checks every run must pass (for `gitdockOnly` projects: the expectation, from the v2 docs). */
  expect: (env: CorpusEnv) => CorpusExpectations;
}

/** Compose files of a corpus directory in Compose's merge order (main file, then its override). */
export function composeFiles(dir: string): string[] {
  const full = path.join(CORPUS_DIR, dir);
  const main = ['compose.yaml', 'compose.yml', 'docker-compose.yaml', 'docker-compose.yml'].find(
    (f) => fs.existsSync(path.join(full, f)),
  );
  if (!main) throw new Error(`no compose file in ${full}`);
  const override = ['compose.override.yaml', 'compose.override.yml'].find((f) =>
    fs.existsSync(path.join(full, f)),
  );
  return override ? [main, override] : [main];
}

/** `repo:file:<sha256>` of a corpus file, as compose-compare.ts writes a bind of it. */
export function repoFile(rel: string): string {
  return `repo:file:${hashPath(path.join(CORPUS_DIR, rel))}`;
}

/** `repo:dir:<sha256>` of a corpus directory. */
export function repoDir(rel: string): string {
  return `repo:dir:${hashPath(path.join(CORPUS_DIR, rel))}`;
}

const img = (env: CorpusEnv, name: string) => `${env.registry}/${name}`;

function project(
  dir: string,
  rest: Omit<CorpusProject, 'dir' | 'project' | 'repoDir'> & { project?: string },
): CorpusProject {
  const repo = dir.replace(/^\d+-/, '');
  return { dir, repoDir: repo, project: rest.project ?? repo, ...rest };
}

export const CORPUS: CorpusProject[] = [
  project('01-wordpress', {
    containers: ['db#1', 'wordpress#1'],
    expect: (env) => ({
      containers: {
        'db#1': {
          image: img(env, 'memcached:1.6'),
          env: {
            MYSQL_ROOT_PASSWORD: 'somewordpress',
            MYSQL_DATABASE: 'wordpress',
            MYSQL_USER: 'wordpress',
            MYSQL_PASSWORD: 'wordpress',
          },
          exposed: ['3306/tcp', '33060/tcp'],
          mounts: [
            { type: 'volume', name: 'wordpress_db_data', target: '/var/lib/mysql', rw: true },
          ],
          restart: { name: 'always', maxRetries: 0 },
        },
        'wordpress#1': {
          name: 'wordpress-wordpress-1',
          ports: ['127.0.0.1:25701->80/tcp'],
          networks: { wordpress_default: { aliases: ['wordpress'] } },
        },
      },
      volumes: { wordpress_db_data: { driver: 'local' }, wordpress_wp_data: { driver: 'local' } },
      networks: { wordpress_default: { driver: 'bridge' } },
    }),
  }),
  project('02-gitea', {
    containers: ['db#1', 'server#1'],
    expect: () => ({
      containers: {
        'server#1': {
          name: 'gitea',
          networks: { gitea_gitea: { aliases: ['server'] } },
          mounts: [
            { type: 'bind', source: 'data:./gitea', target: '/data', rw: true },
            { type: 'bind', source: '/etc/localtime', target: '/etc/localtime', rw: false },
            { type: 'bind', source: '/etc/timezone', target: '/etc/timezone', rw: false },
          ],
          ports: ['127.0.0.1:25702->3000/tcp', '127.0.0.1:25722->22/tcp'],
        },
        'db#1': {
          name: 'gitea-db-1',
          mounts: [{ type: 'bind', source: 'data:./postgres', target: '/var/lib/postgresql/data' }],
        },
      },
    }),
  }),
  project('03-nginx-proxy', {
    containers: ['backend#1', 'proxy#1'],
    expect: () => ({
      containers: {
        'proxy#1': {
          mounts: [
            {
              type: 'bind',
              source: repoDir('03-nginx-proxy/conf.d'),
              target: '/etc/nginx/conf.d',
              rw: false,
            },
            {
              type: 'bind',
              source: repoFile('03-nginx-proxy/nginx.conf'),
              target: '/etc/nginx/nginx.conf',
              rw: false,
            },
            {
              type: 'bind',
              source: repoDir('03-nginx-proxy/html'),
              target: '/usr/share/nginx/html',
              rw: false,
            },
          ],
          ports: [':25703->80/tcp'],
        },
        'backend#1': { exposed: ['8000/tcp'], env: { PORT: '8000' } },
      },
    }),
  }),
  project('04-prometheus', {
    containers: ['grafana#1', 'prometheus#1'],
    expect: () => ({
      containers: {
        'prometheus#1': {
          user: '65534:65534',
          entrypoint: ['/bin/idle'],
          cmd: ['--config.file=/etc/prometheus/prometheus.yml', '--storage.tsdb.path=/prometheus'],
          restart: { name: 'unless-stopped', maxRetries: 0 },
          mounts: [
            {
              type: 'bind',
              source: repoDir('04-prometheus/prometheus'),
              target: '/etc/prometheus',
              // Written without :ro, but a repo file is always mounted read-only by
              // gitdock (docs/compose.md); compose-compare maps 1.29's record to that.
              rw: false,
            },
            { type: 'volume', name: 'prometheus_prom_data', target: '/prometheus' },
          ],
        },
        'grafana#1': {
          user: '472',
          env: { GF_SECURITY_ADMIN_USER: 'admin', GF_SECURITY_ADMIN_PASSWORD: 'grafana' },
        },
      },
      volumes: { prometheus_grafana_data: { labels: { 'com.example.backup': 'daily' } } },
    }),
  }),
  project('05-redis-worker', {
    containers: ['redis#1', 'worker#1', 'worker#2'],
    expect: () => ({
      containers: {
        'redis#1': {
          cmd: ['idle', '--appendonly', 'yes'],
          healthcheck: {
            Test: ['CMD-SHELL', 'test -f /VERSION'],
            Interval: 1e9,
            Timeout: 2e9,
            Retries: 5,
            StartPeriod: 1e9,
          },
        },
        'worker#2': {
          cmd: ['sh', '-c', 'trap "exit 0" TERM; while :; do sleep 1; done'],
          restart: { name: 'on-failure', maxRetries: 3 },
          env: { REDIS_URL: 'redis://redis:6379/0', QUEUES: 'default,high' },
        },
      },
    }),
  }),
  project('06-env-forms', {
    hostEnv: () => ({ PASSED_THROUGH: 'passed' }),
    containers: ['app#1', 'worker#1'],
    expect: () => ({
      containers: {
        'app#1': {
          env: {
            FROM_FILE: 'app',
            OVERRIDDEN: 'from-environment',
            DOUBLE_QUOTED: 'double quoted value',
            SINGLE_QUOTED: 'single quoted value',
            WITH_HASH: 'value#not-a-comment',
            BIG_NUMBER: '123456789012345678',
            OCTAL_LOOKING: '0755',
            ENABLED: 'true',
            EMPTY: '',
            PASSED_THROUGH: 'passed',
          },
        },
        'worker#1': {
          env: {
            COMMON: '1',
            SHARED: 'from-worker',
            WORKER_ONLY: 'yes',
            LIST_FORM: 'yes',
            WITH_EQUALS: 'a=b=c',
            SPACES: 'has some spaces',
            PASSED_THROUGH: 'passed',
            QUOTED: '"kept quotes"',
          },
        },
      },
    }),
  }),
  project('07-env-file-long', {
    gitdockOnly:
      'long-form env_file (path/required) is Compose v2.24+; docker-compose 1.29 rejects it',
    containers: ['app#1'],
    // Compose v2 docs (services.env_file): files are read in order, a later
    // file overrides an earlier one; `required: false` skips a missing file;
    // `environment` takes precedence over env_file.
    expect: () => ({
      containers: {
        'app#1': {
          name: 'env-file-long-app-1',
          env: {
            APP_MODE: 'default',
            SHARED: 'from-extra',
            EXTRA: '1',
            FROM_ENVIRONMENT: 'yes-it-wins',
          },
        },
      },
    }),
  }),
  project('08-interpolation', {
    hostEnv: () => ({ TAG: '1.1', FROM_SHELL: 'shell' }),
    containers: ['app#1'],
    expect: (env) => ({
      containers: {
        'app#1': {
          image: img(env, 'app:1.1'),
          cmd: ['sh', '-c', 'echo $HOME interp; exec idle'],
          workingDir: '/srv/interp',
          env: {
            PLAIN: 'interp',
            BRACED: 'interp',
            DEFAULT_UNSET: 'fallback',
            DEFAULT_EMPTY_COLON: 'fallback',
            DEFAULT_EMPTY_NOCOLON: '',
            DEFAULT_UNSET_NOCOLON: 'fallback',
            DEFAULT_SET: 'interp',
            REQUIRED: 'interp',
            REQUIRED_NOCOLON: '',
            ESCAPED: '$NOT_A_VAR',
            // biome-ignore lint/suspicious/noTemplateCurlyInString: `$${X}` reaches the container as `${X}`
            ESCAPED_BRACED: '${NOT_A_VAR}',
            MIXED: 'prefix-interp-interp-suffix',
            SHELL_WINS: 'shell',
            DEFAULT_WITH_SPACES: 'two words',
          },
          labels: { 'com.example.name': 'interp', 'com.example.tag': 'v1.1' },
          ports: ['127.0.0.1:25708->80/tcp'],
          healthcheck: {
            // biome-ignore lint/suspicious/noTemplateCurlyInString: an escaped `$${HOSTNAME}`, for the shell
            Test: ['CMD-SHELL', 'test -n "${HOSTNAME}" && test interp = interp'],
            Interval: 5e9,
          },
        },
      },
    }),
  }),
  project('09-interpolation-v2', {
    gitdockOnly:
      '`:+`/`+` alternatives and nested defaults are Compose v2; docker-compose 1.29 rejects them',
    containers: ['app#1'],
    // Compose v2 docs (Interpolation): `${VAR:+alt}` is alt when VAR is set
    // and non-empty, else empty; `${VAR+alt}` is alt when VAR is set (even
    // empty), else empty; defaults may nest.
    expect: () => ({
      containers: {
        'app#1': {
          env: {
            ALT_SET: 'name-is-set',
            ALT_EMPTY_COLON: '',
            ALT_EMPTY_NOCOLON: 'empty-is-defined',
            ALT_UNSET: '',
            NESTED: 'v2-nested',
            NESTED_ALT: 'v2-alt',
          },
          labels: { 'com.example.debug': 'enabled' },
        },
      },
    }),
  }),
  project('10-override', {
    containers: ['db#1', 'debug#1', 'web#1'],
    expect: (env) => ({
      containers: {
        'web#1': {
          image: img(env, 'appserver:1.5.0'),
          env: { MODE: 'override', KEEP: 'base', ADDED: 'from-override' },
          labels: { 'com.example.tier': 'web', 'com.example.env': 'dev' },
          ports: ['127.0.0.1:25710->8080/tcp', '127.0.0.1:25711->9090/tcp'],
          // Compose merges `dns` lists of an override (spec: merge rules for sequences).
          dns: ['127.0.0.1', '127.0.0.2'],
          mounts: [
            { type: 'volume', name: 'override_cache', target: '/cache' },
            {
              type: 'bind',
              source: repoFile('10-override/dev.conf'),
              target: '/etc/app/app.conf',
              rw: false,
            },
          ],
        },
      },
    }),
  }),
  project('11-extends', {
    containers: ['api#1', 'jobs#1'],
    expect: () => ({
      containers: {
        'api#1': {
          env: { LOG_LEVEL: 'debug', COMMON: '1' },
          labels: { 'com.example.common': 'true' },
          cmd: ['idle', 'api'],
          capDrop: ['NET_RAW'],
          restart: { name: 'unless-stopped', maxRetries: 0 },
          mounts: [
            {
              type: 'bind',
              source: repoFile('11-extends/shared.conf'),
              target: '/etc/shared.conf',
              rw: false,
            },
          ],
        },
        'jobs#1': {
          env: { LOG_LEVEL: 'debug', COMMON: '1' },
          labels: { 'com.example.common': 'true', 'com.example.role': 'jobs' },
          cmd: ['idle', 'jobs'],
        },
      },
    }),
  }),
  project('12-anchors', {
    containers: ['web#1', 'worker#1'],
    expect: () => ({
      containers: {
        'web#1': {
          env: { TZ: 'UTC', APP_ENV: 'production', ROLE: 'web' },
          logging: { type: 'json-file', config: { 'max-size': '1m', 'max-file': '3' } },
          restart: { name: 'unless-stopped', maxRetries: 0 },
        },
        'worker#1': {
          env: { TZ: 'UTC', APP_ENV: 'staging', ROLE: 'worker' },
          cmd: ['idle', 'worker'],
        },
      },
    }),
  }),
  project('13-ports', {
    containers: ['dns#1', 'web#1'],
    expect: () => ({
      containers: {
        'dns#1': {
          ports: [
            '127.0.0.1:->6060/tcp',
            '127.0.0.1:25713->53/tcp',
            '127.0.0.1:25713->53/udp',
            '127.0.0.1:25714->8000/tcp',
            '127.0.0.1:25715->8001/tcp',
            ':->5000/tcp',
            ':->7000/tcp',
            ':->7001/tcp',
            ':->9000/tcp',
          ],
        },
        'web#1': {
          ports: ['127.0.0.1:25717->80/tcp'],
          exposed: ['5353/udp', '80/tcp', '8080/tcp', '9090/tcp', '9091/tcp'],
        },
      },
    }),
  }),
  project('14-volumes', {
    externalVolumes: ['corpus-legacy-volume'],
    containers: ['app#1'],
    expect: () => ({
      containers: {
        'app#1': {
          mounts: [
            {
              type: 'volume',
              name: 'volumes_cache',
              target: '/cache',
              rw: true,
              flags: ['nocopy'],
            },
            { type: 'bind', source: repoDir('14-volumes/config'), target: '/etc/app', rw: false },
            {
              type: 'bind',
              source: repoDir('14-volumes/config'),
              target: '/etc/app-private',
              rw: false,
              propagation: 'private',
            },
            { type: 'volume', name: 'corpus-legacy-volume', target: '/legacy', rw: false },
            { type: 'tmpfs', target: '/scratch', sizeBytes: 1048576 },
            { type: 'bind', source: 'data:./data', target: '/srv/data', flags: ['z'] },
            { type: 'bind', source: 'data:./logs', target: '/srv/logs', propagation: 'rprivate' },
            { type: 'bind', source: 'data:./uploads', target: '/srv/uploads', flags: ['Z'] },
            { type: 'volume', name: '<anonymous>', target: '/var/cache/app' },
            { type: 'volume', name: 'volumes_data', target: '/var/lib/app' },
          ],
        },
      },
      volumes: {
        volumes_data: {
          labels: { 'com.example.description': 'app data', 'com.example.backup': 'true' },
        },
        volumes_cache: {
          driver: 'local',
          options: { type: 'tmpfs', device: 'tmpfs', o: 'size=10m' },
        },
        'corpus-legacy-volume': { labels: {} },
      },
    }),
  }),
  project('15-tmpfs', {
    containers: ['app#1', 'cache#1'],
    expect: () => ({
      containers: {
        'app#1': {
          readOnly: true,
          mounts: [
            { type: 'tmpfs', target: '/run', rw: true },
            { type: 'tmpfs', target: '/tmp', rw: true, sizeBytes: 65536, mode: '1777' },
          ],
        },
        'cache#1': { mounts: [{ type: 'tmpfs', target: '/var/cache/nginx' }] },
      },
    }),
  }),
  project('16-networks', {
    containers: ['api#1', 'db#1', 'proxy#1'],
    expect: () => ({
      containers: {
        'proxy#1': {
          // The highest priority network is the one the container is created on.
          networkMode: 'networks_frontend',
          networks: {
            networks_backend: { aliases: ['proxy'] },
            networks_frontend: {
              aliases: ['proxy', 'proxy.local', 'www'],
              ipv4Address: '10.231.16.10',
            },
          },
        },
        'api#1': {
          networks: {
            networks_backend: { aliases: ['api', 'api.internal'], ipv4Address: '10.231.17.20' },
          },
        },
        'db#1': {
          networks: {
            networks_backend: { aliases: ['db'] },
            networks_internal: { aliases: ['db'] },
          },
        },
      },
      networks: {
        networks_frontend: {
          driver: 'bridge',
          labels: { 'com.example.zone': 'dmz' },
          ipam: { config: [{ Subnet: '10.231.16.0/24', Gateway: '10.231.16.1' }] },
        },
        networks_backend: {
          labels: { 'com.example.zone': 'internal' },
          ipam: {
            driver: 'default',
            config: [{ Subnet: '10.231.17.0/24', IPRange: '10.231.17.0/25' }],
          },
        },
        networks_internal: { internal: true, options: { 'com.docker.network.driver.mtu': '1400' } },
      },
    }),
  }),
  project('17-network-mode', {
    containers: ['app#1', 'offline#1', 'vpn#1'],
    expect: () => ({
      containers: {
        'app#1': { networkMode: 'service:vpn', networks: {} },
        'offline#1': { networkMode: 'none' },
        'vpn#1': { ports: ['127.0.0.1:25718->8080/tcp'] },
      },
    }),
  }),
  project('18-links', {
    containers: ['backup#1', 'db#1', 'web#1'],
    expect: () => ({
      containers: {
        'web#1': { links: ['db:database', 'db:db'], volumesFrom: ['db:ro'] },
        'backup#1': { volumesFrom: ['db'] },
      },
    }),
  }),
  project('19-healthcheck', {
    containers: ['cmd#1', 'disabled#1', 'inherited#1', 'none#1', 'shell#1'],
    expect: () => ({
      containers: {
        'cmd#1': {
          restart: { name: 'no', maxRetries: 0 },
          healthcheck: {
            Test: ['CMD', 'test', '-f', '/VERSION'],
            Interval: 2e9,
            Timeout: 1e9,
            Retries: 3,
            StartPeriod: 5e9,
          },
        },
        'shell#1': {
          healthcheck: {
            Test: ['CMD-SHELL', 'test -f /VERSION && echo ok'],
            Interval: 1.5e9,
            Timeout: 10e9,
          },
        },
        'disabled#1': { healthcheck: { Test: ['NONE'] } },
        'none#1': { healthcheck: { Test: ['NONE'] } },
        'inherited#1': { healthcheck: { Test: ['CMD', 'true'], Interval: 1e9 } },
      },
    }),
  }),
  project('20-depends-on', {
    containers: ['app#1', 'cache#1', 'db#1', 'migrate#1'],
    expect: () => ({
      containers: {
        // A one-shot service that completed: done, not drift.
        'migrate#1': { state: 'exited(0)' },
        'app#1': {
          state: 'running',
          mounts: [{ type: 'volume', name: 'depends-on_work', target: '/work', rw: false }],
        },
        'db#1': { state: 'running' },
      },
    }),
  }),
  project('21-security', {
    containers: ['app#1'],
    expect: () => ({
      containers: {
        'app#1': {
          user: '1000:1000',
          groupAdd: ['1001', '1002'],
          capAdd: ['NET_ADMIN', 'SYS_TIME'],
          capDrop: ['MKNOD', 'NET_RAW'],
          securityOpt: ['no-new-privileges:true', 'seccomp=unconfined'],
          privileged: false,
        },
      },
    }),
  }),
  project('22-kernel', {
    containers: ['app#1', 'legacy#1'],
    expect: () => ({
      containers: {
        'app#1': {
          sysctls: { 'net.core.somaxconn': '1024', 'net.ipv4.tcp_syncookies': '0' },
          ulimits: [
            { name: 'nofile', soft: 4096, hard: 8192 },
            { name: 'nproc', soft: 65535, hard: 65535 },
          ],
          pidsLimit: 200,
          shmSize: 64 * 1024 * 1024,
          init: true,
          devices: [
            { pathOnHost: '/dev/null', pathInContainer: '/dev/xnull', permissions: 'rwm' },
            { pathOnHost: '/dev/zero', pathInContainer: '/dev/xzero', permissions: 'r' },
          ],
        },
        'legacy#1': { sysctls: { 'net.ipv4.tcp_keepalive_time': '600' }, shmSize: 134217728 },
      },
    }),
  }),
  project('23-process', {
    containers: ['shell#1', 'tool#1'],
    expect: () => ({
      containers: {
        'shell#1': {
          entrypoint: ['/bin/sh', '-c'],
          cmd: ["trap 'exit 0' INT TERM; while :; do sleep 1; done"],
          stopSignal: 'SIGINT',
          stopTimeout: 3,
        },
        'tool#1': {
          entrypoint: ['/bin/idle'],
          cmd: ['--verbose', 'quoted arg', 'single quoted'],
          tty: true,
          stdinOpen: true,
          stopTimeout: 90,
          workingDir: '/srv',
          hostname: 'tool',
          domainname: 'corpus.test',
        },
      },
    }),
  }),
  project('24-logging', {
    containers: ['default#1', 'json#1', 'local#1', 'silent#1'],
    expect: () => ({
      containers: {
        'json#1': {
          logging: {
            type: 'json-file',
            config: { 'max-size': '10m', 'max-file': '3', labels: 'com.example.tier' },
          },
        },
        'local#1': { logging: { type: 'local', config: { 'max-size': '5m' } } },
        'silent#1': { logging: { type: 'none', config: {} } },
        'default#1': { logging: { type: 'json-file', config: {} } },
      },
    }),
  }),
  project('25-dns', {
    containers: ['app#1', 'other#1'],
    expect: () => ({
      containers: {
        'app#1': {
          dns: ['127.0.0.1'],
          dnsSearch: ['corpus.test'],
          dnsOptions: ['ndots:2', 'timeout:1'],
          extraHosts: ['db.local:10.0.0.5', 'host.local:127.0.0.1'],
        },
        'other#1': {
          dns: ['127.0.0.1', '127.0.0.2'],
          dnsSearch: ['a.test', 'b.test'],
          extraHosts: ['cache.local:10.0.0.6'],
        },
      },
    }),
  }),
  project('26-resources', {
    containers: ['legacy#1', 'modern#1'],
    expect: () => ({
      containers: {
        'legacy#1': {
          memory: 64 * 1024 ** 2,
          memoryReservation: 32 * 1024 ** 2,
          memorySwap: 128 * 1024 ** 2,
          nanoCpus: 5e8,
          cpuShares: 512,
          cpusetCpus: '0',
        },
        'modern#1': { memory: 48 * 1024 ** 2, memoryReservation: 16 * 1024 ** 2, nanoCpus: 2.5e8 },
      },
    }),
  }),
  project('27-scale', {
    containers: ['single#1', 'web#1', 'web#2', 'web#3', 'worker#1', 'worker#2'],
    expect: () => ({
      containers: { 'web#3': { name: 'scale-web-3' }, 'worker#2': { name: 'scale-worker-2' } },
    }),
  }),
  project('28-profiles', {
    profiles: ['debug'],
    containers: ['app#1', 'debug#1'],
    expect: () => ({ containers: { 'debug#1': { state: 'running' } } }),
  }),
  project('29-pid-ipc', {
    containers: ['main#1', 'monitor#1', 'sidecar#1'],
    expect: () => ({
      containers: {
        'main#1': { ipc: 'shareable' },
        'sidecar#1': { ipc: 'service:main', pid: 'service:main' },
        'monitor#1': { pid: 'host' },
      },
    }),
  }),
  project('30-secrets', {
    containers: ['db#1'],
    expect: () => ({
      containers: {
        'db#1': {
          env: { POSTGRES_PASSWORD_FILE: '/run/secrets/db_password' },
          mounts: [
            {
              type: 'bind',
              source: repoFile('30-secrets/secrets/api.key'),
              target: '/etc/app/api.key',
              rw: false,
            },
            {
              type: 'bind',
              source: repoFile('30-secrets/secrets/db_password.txt'),
              target: '/run/secrets/db_password',
              rw: false,
            },
            {
              type: 'bind',
              source: repoFile('30-secrets/secrets/db_root.txt'),
              target: '/run/secrets/root_password',
              rw: false,
            },
          ],
        },
      },
    }),
  }),
  project('31-configs', {
    gitdockOnly: 'docker-compose 1.29 mounts no `configs` without Swarm; Compose v2 does',
    containers: ['web#1'],
    // Compose v2 docs (services.configs): a config is mounted read-only at
    // /<config name> unless `target` says otherwise; with `file:` and no
    // Swarm, as a bind mount of that file.
    expect: () => ({
      containers: {
        'web#1': {
          name: 'configs-web-1',
          mounts: [
            {
              type: 'bind',
              source: repoFile('31-configs/app.conf'),
              target: '/etc/app/app.conf',
              rw: false,
            },
            {
              type: 'bind',
              source: repoFile('31-configs/site.conf'),
              target: '/site_conf',
              rw: false,
            },
          ],
        },
      },
    }),
  }),
  project('32-name-include', {
    project: 'corpus-shop',
    gitdockOnly: 'top-level `name` and `include` are Compose v2; docker-compose 1.29 rejects both',
    containers: ['db#1', 'web#1'],
    // Compose v2 docs: `name` sets the project name (so container, network
    // and volume names); an included file's resources join the project, its
    // relative paths resolve from the included file's directory.
    expect: () => ({
      containers: {
        'web#1': {
          name: 'corpus-shop-web-1',
          env: { DB_HOST: 'db' },
          networks: { 'corpus-shop_default': { aliases: ['web'] } },
        },
        'db#1': {
          name: 'corpus-shop-db-1',
          networks: { 'corpus-shop_default': { aliases: ['db'] } },
          mounts: [
            {
              type: 'bind',
              source: repoFile('32-name-include/db/init.sql'),
              target: '/docker-entrypoint-initdb.d/init.sql',
              rw: false,
            },
            { type: 'volume', name: 'corpus-shop_dbdata', target: '/var/lib/db', rw: true },
          ],
        },
      },
      networks: { 'corpus-shop_default': { driver: 'bridge' } },
      volumes: { 'corpus-shop_dbdata': { driver: 'local' } },
    }),
  }),
  project('33-depends-required', {
    gitdockOnly:
      '`depends_on.required` and `depends_on.restart` are Compose v2.20+; docker-compose 1.29 rejects them',
    containers: ['app#1', 'db#1'],
    // Compose v2 docs (depends_on): `required: false` only warns when the
    // dependency is not running (here: its profile is off), and the service
    // starts anyway.
    expect: () => ({
      containers: {
        'app#1': { state: 'running', restart: { name: 'on-failure', maxRetries: 0 } },
        'db#1': { state: 'running', restart: { name: 'no', maxRetries: 0 } },
      },
    }),
  }),
  project('34-paperless', {
    containers: ['broker#1', 'db#1', 'webserver#1'],
    expect: () => ({
      containers: {
        'webserver#1': {
          env: {
            USERMAP_UID: '1000',
            USERMAP_GID: '1000',
            PAPERLESS_TIME_ZONE: 'Europe/Berlin',
            PAPERLESS_OCR_LANGUAGE: 'deu',
            PAPERLESS_SECRET_KEY: 'change-me',
            PAPERLESS_REDIS: 'redis://broker:6379',
            PAPERLESS_DBHOST: 'db',
          },
          labels: { 'com.example.app': 'paperless', 'com.example.owner': 'ops' },
          mounts: [
            { type: 'bind', source: 'data:./consume', target: '/usr/src/paperless/consume' },
            { type: 'volume', name: 'paperless_data', target: '/usr/src/paperless/data' },
            { type: 'bind', source: 'data:./export', target: '/usr/src/paperless/export' },
            { type: 'volume', name: 'paperless_media', target: '/usr/src/paperless/media' },
          ],
        },
        'db#1': { env: { POSTGRES_PASSWORD: 'paperless' } },
      },
    }),
  }),
  project('35-image-forms', {
    hostEnv: (env) => ({ APP_DIGEST: env.appDigest }),
    containers: ['pinned#1', 'tagged#1', 'untagged#1'],
    expect: (env) => ({
      containers: {
        'tagged#1': { image: img(env, 'app:2.0') },
        'pinned#1': { image: img(env, `app@${env.appDigest}`) },
        // The engine reads a reference without tag or digest as :latest.
        'untagged#1': { image: img(env, 'memcached:latest') },
      },
    }),
  }),
  project('36-v2-forms', {
    gitdockOnly:
      'long-form ports with host_ip and string published, tmpfs.mode, bind.create_host_path are not in 1.29',
    containers: ['web#1'],
    // Compose v2 docs (services.ports long syntax: host_ip, published as a
    // string; services.volumes long syntax: tmpfs.mode,
    // bind.create_host_path). YAML 1.1 `0700` is octal, as Compose reads it.
    expect: () => ({
      containers: {
        'web#1': {
          ports: ['127.0.0.1:25736->80/tcp', '127.0.0.1:25737->53/udp'],
          mounts: [
            {
              type: 'bind',
              source: 'data:./cache',
              target: '/cache',
              rw: true,
              propagation: 'rprivate',
            },
            {
              type: 'tmpfs',
              target: '/scratch',
              rw: true,
              sizeBytes: 2 * 1024 * 1024,
              mode: '700',
            },
          ],
        },
      },
    }),
  }),
  project('37-privileged', {
    requires: 'privileged',
    containers: ['admin#1', 'app#1'],
    expect: () => ({
      containers: {
        'admin#1': { privileged: true, user: '0', workingDir: '/tmp' },
        'app#1': { privileged: false },
      },
    }),
  }),
  project('38-port-range', {
    containers: ['web#1'],
    expect: () => ({
      containers: {
        'web#1': { ports: ['127.0.0.1:25740-25742->6000/tcp', '127.0.0.1:25743-25744->6001/udp'] },
      },
    }),
  }),
];
