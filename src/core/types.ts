/**
 * The shared vocabulary of gitdock's core: what a host should run
 * (`DesiredService`), what its engine reports (`ActualContainer`), and the
 * edge interfaces (`Engine`, `GitSource`) through which the outside world is
 * reached. Nothing here does IO.
 */

/** A published port after normalisation of the Compose short and long forms. */
export interface PortBinding {
  containerPort: number;
  protocol: 'tcp' | 'udp';
  /** Undefined: exposed only, not published. */
  hostPort?: number;
  hostIp?: string;
}

/** A mount after normalisation of the Compose short and long forms. */
export interface Mount {
  type: 'bind' | 'volume' | 'tmpfs';
  source?: string;
  target: string;
  readOnly: boolean;
}

export interface HealthcheckSpec {
  /** Docker form: `['NONE']`, `['CMD', ...]` or `['CMD-SHELL', '...']`. */
  test?: string[];
  intervalMs?: number;
  timeoutMs?: number;
  retries?: number;
  startPeriodMs?: number;
}

/**
 * A service's container spec, defaults filled and every Compose shorthand
 * expanded, so two manifests that mean the same container compare equal.
 * This is what is hashed into `io.gitdock.spec-hash`.
 */
export interface ContainerSpec {
  image: string;
  tag?: string;
  digest?: string;
  command?: string[];
  entrypoint?: string[];
  /** Sorted by key. Values are secrets: never log them. */
  environment: Record<string, string>;
  ports: PortBinding[];
  volumes: Mount[];
  networkMode?: string;
  /**
   * Set only when true: `privileged: false` is the default, and leaving the
   * key out keeps the hash of every spec written before the field existed.
   */
  privileged?: true;
  restart: string;
  healthcheck?: HealthcheckSpec;
  labels: Record<string, string>;
  user?: string;
  workingDir?: string;
  stopGracePeriodMs: number;
}

/** How a service is replaced and pulled; not part of the spec hash. */
export interface RolloutPolicy {
  order: 'stop-first' | 'start-first';
  settleMs: number;
  healthTimeoutMs: number;
  pull: 'missing' | 'always';
}

/** One service the host should run, fully resolved. */
export interface DesiredService {
  name: string;
  host: string;
  /** Repo-relative path of the manifest that defines it. */
  file: string;
  /** `host` when `hosts/<host>/<name>.yaml` defines it, `fleet` for `services/`. */
  origin: 'host' | 'fleet';
  spec: ContainerSpec;
  rollout: RolloutPolicy;
  dependsOn: string[];
  /** `repo:tag` or `repo@digest`. */
  imageRef: string;
  /** sha256 hex of the canonical spec. */
  specHash: string;
}

/** A host's whole desired state at one revision. */
export interface HostState {
  host: string;
  commit: string;
  /** In dependency order (dependencies first), ties by name. */
  services: DesiredService[];
  /** The repo says this host may run nothing (gitdock.yaml `allow_empty`). */
  allowEmpty: boolean;
}

/** Labels gitdock puts on every container it creates. */
export const LABELS = {
  host: 'io.gitdock.host',
  service: 'io.gitdock.service',
  specHash: 'io.gitdock.spec-hash',
  image: 'io.gitdock.image',
  commit: 'io.gitdock.commit',
  /** The spec as JSON with environment values replaced by digests, for field-level reasons. */
  spec: 'io.gitdock.spec',
  /** Comma-separated services this one depends on, so removals can run in reverse order. */
  dependsOn: 'io.gitdock.depends-on',
} as const;

/** A container as the engine reports it. */
export interface ActualContainer {
  id: string;
  /** Without the leading slash. */
  name: string;
  labels: Record<string, string>;
  /** Docker state: created, running, paused, restarting, removing, exited, dead. */
  state: string;
  imageId: string;
  /**
   * The `io.gitdock.*` labels of the container's image, when it has any: a
   * container whose gitdock labels are only inherited from its image (run
   * from a `docker commit` of a managed container) is not gitdock's.
   * Undefined when the image has none (or is gone).
   */
  imageGitdockLabels?: Record<string, string>;
}

/** A position in a manifest, 1-based. */
export interface SourcePosition {
  file: string;
  line?: number;
  column?: number;
}

/** One validation problem: where, which JSON path, what was expected. */
export interface ManifestError extends SourcePosition {
  /** JSON pointer into the document, `''` for the whole file. */
  path: string;
  message: string;
}

export type Result<T, E = ManifestError[]> = { ok: true; value: T } | { ok: false; errors: E };
