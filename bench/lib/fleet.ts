// The one workload every tool deploys: ten identical small services, written
// out as gitdock manifests, a docker-compose.yml and docker CLI arguments.

/** The gitdock host the bench deploys (`hosts/bench/*.yaml`). */
export const HOST = 'bench';
/** The service whose tag the "one changed" scenario moves from BASE_TAG to CHANGED_TAG. */
export const CHANGED_SERVICE = 'svc-05';
export const BASE_TAG = '1.0';
export const CHANGED_TAG = '1.1';
/** docker-compose project name, fixed so every run finds its containers. */
export const COMPOSE_PROJECT = 'gitdock-bench';
/** Label the docker CLI script puts on its containers, so it can find them again. */
export const CLI_LABEL = 'gitdock-bench.tool';

const SERVICE_COUNT = 10;

export interface BenchService {
  name: string;
  environment: Record<string, string>;
}

/** `svc-01` … `svc-10`, each with a small environment map. */
export function benchServices(): BenchService[] {
  return Array.from({ length: SERVICE_COUNT }, (_, i) => {
    const name = `svc-${String(i + 1).padStart(2, '0')}`;
    return {
      name,
      environment: { APP_ENV: 'bench', LOG_LEVEL: 'info', SERVICE_NAME: name },
    };
  });
}

/** `127.0.0.1:PORT/gitdock-test/app`, the long-running busybox test image. */
export function appRepository(registry: string): string {
  return `${registry}/gitdock-test/app`;
}

/** The tag each service runs in a given state of the workload. */
export function tagOf(service: string, changed: boolean): string {
  return changed && service === CHANGED_SERVICE ? CHANGED_TAG : BASE_TAG;
}

/** `hosts/bench/<name>.yaml`; `settle` adds `update: { settle }`. */
export function gitdockManifest(
  service: BenchService,
  repository: string,
  tag: string,
  settle?: string,
): string {
  const lines = [
    `image: ${repository}`,
    `tag: ${JSON.stringify(tag)}`,
    'network_mode: none',
    'environment:',
    ...envLines(service.environment, '  '),
  ];
  if (settle !== undefined) lines.push('update:', `  settle: ${settle}`);
  return `${lines.join('\n')}\n`;
}

/** The equivalent docker-compose.yml: same image, environment, no network, container name = service. */
export function composeFile(
  services: BenchService[],
  repository: string,
  changed: boolean,
): string {
  const lines = ['version: "2.4"', 'services:'];
  for (const s of services) {
    lines.push(
      `  ${s.name}:`,
      `    image: ${repository}:${tagOf(s.name, changed)}`,
      `    container_name: ${s.name}`,
      '    network_mode: none',
      '    environment:',
      ...envLines(s.environment, '      '),
    );
  }
  return `${lines.join('\n')}\n`;
}

/** `--name … --network none -e … --label …` for `docker run` / `docker create`. */
export function dockerCreateArgs(service: BenchService, name: string, image: string): string[] {
  const args = ['--name', name, '--network', 'none'];
  for (const [key, value] of Object.entries(service.environment))
    args.push('-e', `${key}=${value}`);
  args.push(
    '--label',
    `${CLI_LABEL}=docker-cli`,
    '--label',
    `gitdock-bench.service=${service.name}`,
  );
  return [...args, image];
}

function envLines(environment: Record<string, string>, indent: string): string[] {
  // JSON strings are valid YAML double-quoted scalars.
  return Object.entries(environment).map(([k, v]) => `${indent}${k}: ${JSON.stringify(v)}`);
}
