// The Compose workload of bench/compose.bench.ts: one project of 50 small
// services written as a Compose file, with what real projects use (env,
// ports on 127.0.0.1, named volumes own and shared, two networks,
// depends_on chains, a config file from the repo), read by gitdock from a
// fleet repo and by docker-compose 1.29 from a directory of its own.

/** The Compose project: the directory name under `hosts/<host>/`, and `-p` for docker-compose. */
export const PROJECT = 'bench50';
/** The service the "one changed" scenario moves from 1.0 to 1.1: the end of the first chain, on both networks, with the shared volume. */
export const CHANGED_COMPOSE_SERVICE = 'svc-05';
/** The file some services mount from the project directory. */
export const CONFIG_FILE = 'app.conf';

const DEFAULT_SERVICE_COUNT = 50;
/** Services `5k+1 … 5k+5` form a chain: each depends on the one before it. */
const CHAIN_LENGTH = 5;
/** Every fifth service mounts the shared volume instead of one of its own. */
const SHARED_EVERY = 5;
/** Every tenth service mounts the config file. */
const CONFIG_EVERY = 10;

export interface ComposeProjectOptions {
  /** `127.0.0.1:PORT/gitdock-test/app` */
  repository: string;
  /** The scenario "changed": the services of `changedServiceNames(changedCount)` run the changed tag. */
  changed: boolean;
  /** How many services the changed state moves (default 1: CHANGED_COMPOSE_SERVICE alone). */
  changedCount?: number;
  /** First host port; service i publishes `127.0.0.1:(portBase + i - 1):8080`. */
  portBase: number;
  /** Writes `x-gitdock: { update: { settle } }` on every service (gitdock only; Compose ignores `x-*`). */
  settle?: string;
  /**
   * `false`: the same services without networks, volumes, ports or the
   * config file (`network_mode: none`), to see what those cost.
   */
  resources?: boolean;
  /** Default 50. */
  services?: number;
}

export const BASE_TAG = '1.0';
export const CHANGED_TAG = '1.1';

/** `svc-01` … `svc-50`. */
export function serviceNames(count = DEFAULT_SERVICE_COUNT): string[] {
  return Array.from({ length: count }, (_, i) => `svc-${String(i + 1).padStart(2, '0')}`);
}

/**
 * The services the changed state moves to CHANGED_TAG: the last service of
 * each of the first `count` chains (svc-05, svc-10, …). Nothing depends on
 * them, so every tool replaces exactly these and nothing else.
 */
export function changedServiceNames(count = 1): string[] {
  return Array.from(
    { length: count },
    (_, i) => `svc-${String((i + 1) * CHAIN_LENGTH).padStart(2, '0')}`,
  );
}

/** The most services `changedServiceNames` can name in a project of `services`. */
export function maxChangedServices(services: number): number {
  return Math.floor(services / CHAIN_LENGTH);
}

/** The tag a service runs in a state of the workload. */
export function composeTagOf(service: string, changed: boolean, changedCount = 1): string {
  return changed && changedServiceNames(changedCount).includes(service) ? CHANGED_TAG : BASE_TAG;
}

/** How many networks and volumes the project declares (for the report). */
export function resourceCounts(count = DEFAULT_SERVICE_COUNT): {
  networks: number;
  volumes: number;
  configMounts: number;
} {
  const shared = Math.floor(count / SHARED_EVERY);
  return {
    networks: 2,
    volumes: count - shared + (shared > 0 ? 1 : 0),
    configMounts: Math.floor(count / CONFIG_EVERY),
  };
}

/**
 * The project's files, relative to its directory: `compose.yaml` and, when
 * services mount it, `app.conf`. Odd services are on `front` and `back`,
 * even ones on `back` only.
 */
export function composeProjectFiles(options: ComposeProjectOptions): Record<string, string> {
  const names = serviceNames(options.services);
  const resources = options.resources ?? true;
  const lines = ['services:'];
  names.forEach((name, i) => {
    const n = i + 1;
    lines.push(
      `  ${name}:`,
      `    image: ${options.repository}:${composeTagOf(name, options.changed, options.changedCount)}`,
      '    environment:',
      '      APP_ENV: bench',
      '      LOG_LEVEL: info',
      `      SERVICE_NAME: ${name}`,
    );
    if (resources) {
      lines.push('    ports:', `      - "127.0.0.1:${options.portBase + i}:8080"`, '    volumes:');
      lines.push(
        n % SHARED_EVERY === 0
          ? '      - shared:/shared'
          : `      - data-${String(n).padStart(2, '0')}:/data`,
      );
      if (n % CONFIG_EVERY === 0) lines.push(`      - ./${CONFIG_FILE}:/etc/app.conf:ro`);
      lines.push('    networks:', ...(n % 2 === 1 ? ['      - front'] : []), '      - back');
    } else {
      lines.push('    network_mode: none');
    }
    if ((n - 1) % CHAIN_LENGTH !== 0) lines.push('    depends_on:', `      - ${names[i - 1]}`);
    if (options.settle !== undefined) {
      lines.push('    x-gitdock:', '      update:', `        settle: ${options.settle}`);
    }
  });
  const files: Record<string, string> = {};
  if (resources) {
    lines.push('networks:', '  front:', '  back:', 'volumes:', '  shared:');
    names.forEach((_, i) => {
      if ((i + 1) % SHARED_EVERY !== 0) lines.push(`  data-${String(i + 1).padStart(2, '0')}:`);
    });
    if (names.length >= CONFIG_EVERY) {
      files[CONFIG_FILE] = '# mounted read-only by every tenth service\nlisten = 8080\n';
    }
  }
  files['compose.yaml'] = `${lines.join('\n')}\n`;
  return files;
}
