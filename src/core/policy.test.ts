import { describe, expect, it } from 'vitest';
import { normalizeService } from './normalize.js';
import { checkPolicy, imageName, type Policy } from './policy.js';
import type { ServiceManifest } from './schema.js';
import { containerSpec, formatErrors, loadErrors, loadOk, yaml } from './test-fixtures.js';
import type { ManifestError } from './types.js';
import { validateService } from './validators.js';
import { parseYamlSource } from './yaml-source.js';

const FILE = 'hosts/web-1/app.yaml';
const DIGEST = `sha256:${'0'.repeat(64)}`;

/** Parse, schema-check and normalise one manifest as loadFleet does, then check the policy. */
function violations(policy: Policy | undefined, ...lines: string[]): ManifestError[] {
  const parsed = parseYamlSource(FILE, new TextEncoder().encode(yaml(...lines)));
  if (!parsed.ok) expect.fail(formatErrors(parsed.errors));
  const check = validateService(parsed.value.value);
  if (!check.ok) expect.fail(`schema rejected the manifest: ${JSON.stringify(check.errors)}`);
  const normalized = normalizeService(
    parsed.value.value as ServiceManifest,
    parsed.value,
    () => undefined,
  );
  if (!normalized.ok) expect.fail(formatErrors(normalized.errors));
  return checkPolicy(policy, normalized.value.spec, parsed.value);
}

/** `file:line:column path: message`, one per violation, to compare in one line. */
function found(policy: Policy | undefined, ...lines: string[]): string[] {
  return violations(policy, ...lines).map(
    (e) => `${e.file}:${e.line}:${e.column} ${e.path} ${e.message}`,
  );
}

const suffix = '(gitdock.yaml policy)';
const APP = ['image: registry.example.com/app', 'tag: "1.0"'];

describe('checkPolicy: deny_privileged', () => {
  const policy: Policy = { deny_privileged: true, allow_host_network: true };

  it('rejects privileged: true at its line', () => {
    expect(violations(policy, ...APP, 'restart: always', 'privileged: true')).toEqual([
      {
        file: FILE,
        line: 4,
        column: 13,
        path: '/privileged',
        message: `policy deny_privileged: privileged containers are not allowed ${suffix}`,
      },
    ]);
  });

  it('passes privileged: false and an unset privileged', () => {
    expect(found(policy, ...APP, 'privileged: false')).toEqual([]);
    expect(found(policy, ...APP)).toEqual([]);
  });

  it('lets a privileged container through when the rule is not set', () => {
    expect(found({ require_digest: false }, ...APP, 'privileged: true')).toEqual([]);
  });

  // Compose services can ask for the same powers by other names.
  const spec = containerSpec({
    capAdd: ['NET_BIND_SERVICE', 'cap_sys_admin', 'ALL'],
    securityOpt: ['no-new-privileges:true', 'seccomp=unconfined', 'apparmor:unconfined'],
    devices: [{ pathOnHost: '/dev/sda', pathInContainer: '/dev/sda' }],
    pid: 'host',
    ipc: 'host',
  });
  const at = { file: FILE, value: undefined, locate: () => ({ line: 1, column: 1 }) };

  it('rejects powerful capabilities, unconfined security options, devices and host pid/ipc', () => {
    expect(checkPolicy(policy, spec, at).map((e) => e.message.replace(` ${suffix}`, ''))).toEqual([
      'policy deny_privileged: cap_add cap_sys_admin gives the container privileged powers',
      'policy deny_privileged: cap_add ALL gives the container privileged powers',
      'policy deny_privileged: security_opt seccomp=unconfined turns a confinement off',
      'policy deny_privileged: security_opt apparmor:unconfined turns a confinement off',
      'policy deny_privileged: host devices may not be given to containers',
      "policy deny_privileged: pid: host shares the host's processes",
      "policy deny_privileged: ipc: host shares the host's IPC namespace",
    ]);
  });

  it('lets harmless capabilities and options through', () => {
    const harmless = containerSpec({
      capAdd: ['NET_BIND_SERVICE', 'CHOWN'],
      securityOpt: ['no-new-privileges:true'],
    });
    expect(checkPolicy(policy, harmless, at)).toEqual([]);
  });
});

describe('checkPolicy: bind_mount_prefixes', () => {
  const policy: Policy = { bind_mount_prefixes: ['/srv', '/var/lib/app/'] };
  const rule = 'policy bind_mount_prefixes';
  const allowed = 'is not under an allowed prefix: /srv, /var/lib/app/';

  it.each([
    ['a path under a prefix', '/srv/app/data:/data'],
    ['the prefix itself', '/srv:/srv'],
    ['under a prefix written with a trailing slash', '/var/lib/app/cache:/cache:ro'],
    ['a path that climbs back under a prefix', '/srv/a/../b:/b'],
    ['a named volume', 'appdata:/var/lib/app'],
  ])('passes %s', (_name, volume) => {
    expect(found(policy, ...APP, 'volumes:', `  - ${volume}`)).toEqual([]);
  });

  it.each([
    ['a sibling sharing the prefix text', '/srv2/app:/data', '"/srv2/app"'],
    ['a path outside every prefix', '/etc/app:/etc/app:ro', '"/etc/app"'],
    ['a parent of a prefix', '/var/lib:/data', '"/var/lib"'],
    ['a path that climbs out of a prefix', '/srv/../etc:/etc', '"/srv/../etc" (/etc)'],
    ['the root', '/:/host', '"/"'],
  ])('rejects %s, at the volume entry', (_name, volume, shown) => {
    expect(found(policy, ...APP, 'volumes:', '  - appdata:/cache', `  - ${volume}`)).toEqual([
      `${FILE}:5:5 /volumes/1 ${rule}: bind mount source ${shown} ${allowed} ${suffix}`,
    ]);
  });

  it('checks long-form bind mounts, and leaves volume and tmpfs mounts alone', () => {
    const lines = [
      ...APP,
      'volumes:',
      '  - type: tmpfs',
      '    target: /tmp',
      '  - type: volume',
      '    source: cache',
      '    target: /cache',
      '  - type: bind',
      '    source: /root/.ssh',
      '    target: /keys',
    ];
    expect(found(policy, ...lines)).toEqual([
      `${FILE}:9:5 /volumes/2 ${rule}: bind mount source "/root/.ssh" ${allowed} ${suffix}`,
    ]);
  });

  it('reports every offending mount of a file', () => {
    expect(
      found(policy, ...APP, 'volumes: ["/etc:/etc", "/srv/ok:/ok", "/home:/home"]').map(
        (e) => e.split(' ')[0],
      ),
    ).toEqual([`${FILE}:3:11`, `${FILE}:3:39`]);
  });

  it('allows every path under the prefix /', () => {
    expect(found({ bind_mount_prefixes: ['/'] }, ...APP, 'volumes: ["/etc:/etc"]')).toEqual([]);
  });

  it('denies every bind mount when the list is empty, but not named volumes', () => {
    expect(
      found({ bind_mount_prefixes: [] }, ...APP, 'volumes: ["data:/data", "/srv:/srv"]'),
    ).toEqual([
      `${FILE}:3:25 /volumes/1 ${rule}: bind mount source "/srv": bind mounts are not allowed (the list of prefixes is empty) ${suffix}`,
    ]);
  });

  it('lets any bind mount through when the rule is not set', () => {
    expect(found({}, ...APP, 'volumes: ["/etc:/etc"]')).toEqual([]);
  });
});

describe('checkPolicy: allow_host_network', () => {
  const denied = `policy allow_host_network: network_mode host is not allowed unless allow_host_network is true ${suffix}`;

  it.each<[string, Policy]>([
    ['by default, once a policy is present', {}],
    ['when set to false', { allow_host_network: false }],
  ])('rejects network_mode: host %s', (_name, policy) => {
    expect(violations(policy, ...APP, 'network_mode: host')).toEqual([
      { file: FILE, line: 3, column: 15, path: '/network_mode', message: denied },
    ]);
  });

  it('passes network_mode: host when allowed', () => {
    expect(found({ allow_host_network: true }, ...APP, 'network_mode: host')).toEqual([]);
  });

  it.each([['none'], ['bridge'], ['container:db']])('passes network_mode: %s', (mode) => {
    expect(found({}, ...APP, `network_mode: ${mode}`)).toEqual([]);
  });
});

describe('checkPolicy: deny_mutable_tags and require_digest', () => {
  it('rejects tag latest at the tag line', () => {
    expect(
      violations({ deny_mutable_tags: true }, 'image: registry.example.com/app', 'tag: latest'),
    ).toEqual([
      {
        file: FILE,
        line: 2,
        column: 6,
        path: '/tag',
        message: `policy deny_mutable_tags: tag "latest" can be moved to another image at any time; pin a version tag or a digest ${suffix}`,
      },
    ]);
  });

  it.each([['tag: "1.0"'], ['tag: latest-1'], [`digest: ${DIGEST}`]])(
    'deny_mutable_tags passes %s',
    (line) => {
      expect(found({ deny_mutable_tags: true }, 'image: app', line)).toEqual([]);
    },
  );

  it('require_digest rejects a tag, at the tag line', () => {
    expect(violations({ require_digest: true }, 'image: app', 'tag: "1.0"')).toEqual([
      {
        file: FILE,
        line: 2,
        column: 6,
        path: '/tag',
        message: `policy require_digest: tag "1.0" is not a digest; pin the image with digest: sha256:... instead of tag ${suffix}`,
      },
    ]);
  });

  it('require_digest passes a digest', () => {
    expect(found({ require_digest: true }, 'image: app', `digest: ${DIGEST}`)).toEqual([]);
  });

  it('reports both rules for tag latest when both are set', () => {
    expect(
      violations(
        { deny_mutable_tags: true, require_digest: true },
        'image: app',
        'tag: latest',
      ).map((e) => e.message.split(':')[0]),
    ).toEqual(['policy deny_mutable_tags', 'policy require_digest']);
  });
});

describe('checkPolicy: allowed_registries', () => {
  const policy: Policy = { allowed_registries: ['127.0.0.1:5055', 'ghcr.io/acme'] };
  const list = '127.0.0.1:5055, ghcr.io/acme';

  it.each([
    ['127.0.0.1:5055/gitdock-test/appserver'],
    ['127.0.0.1:5055/app'],
    ['ghcr.io/acme/app'],
    ['ghcr.io/acme/team/app'],
  ])('passes %s', (image) => {
    expect(found(policy, `image: ${image}`, 'tag: "1"')).toEqual([]);
  });

  it.each([
    ['ghcr.io/acme2/app', '"ghcr.io/acme2/app"'],
    ['ghcr.io/other/acme', '"ghcr.io/other/acme"'],
    ['127.0.0.1:5056/app', '"127.0.0.1:5056/app"'],
    ['127.0.0.1/app', '"127.0.0.1/app"'],
    ['redis', '"redis" (docker.io/library/redis)'],
    ['acme/app', '"acme/app" (docker.io/acme/app)'],
  ])('rejects %s at the image line', (image, shown) => {
    expect(found(policy, 'restart: always', `image: ${image}`, 'tag: "1"')).toEqual([
      `${FILE}:2:8 /image policy allowed_registries: image ${shown} is not from an allowed registry: ${list} ${suffix}`,
    ]);
  });

  it.each<[string, string[], string, boolean]>([
    ['docker.io allows an official image', ['docker.io'], 'redis', true],
    ['docker.io allows a user image', ['docker.io'], 'acme/app', true],
    ['docker.io allows an explicit docker.io image', ['docker.io'], 'docker.io/acme/app', true],
    ['docker.io allows index.docker.io', ['docker.io'], 'index.docker.io/acme/app', true],
    ['index.docker.io means docker.io', ['index.docker.io/acme'], 'acme/app', true],
    ['docker.io/library allows official images', ['docker.io/library'], 'redis', true],
    ['docker.io/library denies user images', ['docker.io/library'], 'acme/app', false],
    ['docker.io/acme allows that user', ['docker.io/acme'], 'acme/app', true],
    ['a registry is not Docker Hub', ['docker.io'], 'ghcr.io/acme/app', false],
    ['localhost is a registry', ['localhost'], 'localhost/app', true],
    ['localhost with a port', ['localhost:5000'], 'localhost:5000/app', true],
    ['localhost is not localhost:5000', ['localhost'], 'localhost:5000/app', false],
  ])('%s', (_name, allowedRegistries, image, ok) => {
    const errors = found({ allowed_registries: allowedRegistries }, `image: ${image}`, 'tag: "1"');
    expect(errors).toHaveLength(ok ? 0 : 1);
  });
});

describe('imageName', () => {
  it.each([
    ['redis', 'docker.io/library/redis'],
    ['acme/app', 'docker.io/acme/app'],
    ['acme/team/app', 'docker.io/acme/team/app'],
    ['docker.io/acme/app', 'docker.io/acme/app'],
    ['registry-1.docker.io/acme/app', 'docker.io/acme/app'],
    ['ghcr.io/acme/app', 'ghcr.io/acme/app'],
    ['127.0.0.1:5055/app', '127.0.0.1:5055/app'],
    ['localhost/app', 'localhost/app'],
    ['registry:5000/app', 'registry:5000/app'],
    ['app:1.0', 'docker.io/library/app'],
    [`ghcr.io/acme/app@${DIGEST}`, 'ghcr.io/acme/app'],
  ])('%s -> %s', (image, name) => {
    expect(imageName(image)).toBe(name);
  });
});

describe('checkPolicy: several rules and no policy', () => {
  const everything = [
    'image: docker.io/acme/app',
    'tag: latest',
    'privileged: true',
    'network_mode: host',
    'volumes:',
    '  - /var/run/docker.sock:/var/run/docker.sock',
  ];

  it('lists every violation of a file in file order, each at its own field', () => {
    const policy: Policy = {
      deny_privileged: true,
      bind_mount_prefixes: ['/srv'],
      deny_mutable_tags: true,
      require_digest: true,
      allowed_registries: ['ghcr.io/acme'],
    };
    expect(
      violations(policy, ...everything).map(
        (e) => `${e.line}:${e.column} ${e.path} ${e.message.split(':')[0]}`,
      ),
    ).toEqual([
      '1:8 /image policy allowed_registries',
      '2:6 /tag policy deny_mutable_tags',
      '2:6 /tag policy require_digest',
      '3:13 /privileged policy deny_privileged',
      '4:15 /network_mode policy allow_host_network',
      '6:5 /volumes/0 policy bind_mount_prefixes',
    ]);
  });

  it('checks nothing without a policy', () => {
    expect(found(undefined, ...everything)).toEqual([]);
  });
});

describe('loadFleet with a policy in gitdock.yaml', () => {
  const POLICY = yaml(
    'hosts:',
    '  web-1: {}',
    'policy:',
    '  deny_privileged: true',
    '  bind_mount_prefixes: [/srv, /var/lib/app]',
    '  deny_mutable_tags: true',
    '  allowed_registries: [127.0.0.1:5055, ghcr.io/acme]',
  );
  const compliant = {
    'hosts/web-1/app.yaml': yaml(
      'image: 127.0.0.1:5055/gitdock-test/app',
      'tag: "1.4.2"',
      'network_mode: none',
      'volumes:',
      '  - /srv/app:/data',
      '  - cache:/cache',
    ),
    'services/worker.yaml': yaml(
      'hosts: ["web-*"]',
      'image: ghcr.io/acme/worker',
      `digest: ${DIGEST}`,
      'privileged: false',
    ),
  };

  it('loads a compliant revision', () => {
    const fleet = loadOk({ 'gitdock.yaml': POLICY, ...compliant });
    expect(fleet.config.policy).toEqual({
      deny_privileged: true,
      bind_mount_prefixes: ['/srv', '/var/lib/app'],
      deny_mutable_tags: true,
      allowed_registries: ['127.0.0.1:5055', 'ghcr.io/acme'],
    });
  });

  it('fails the revision with every violation, in host and fleet files alike', () => {
    const errors = loadErrors({
      'gitdock.yaml': POLICY,
      ...compliant,
      'hosts/web-1/debug.yaml': yaml(
        '# a debugging shell, with the keys to the host',
        'image: 127.0.0.1:5055/gitdock-test/shell',
        'tag: latest',
        'privileged: true',
        'volumes:',
        '  - /:/host',
      ),
      // Selects no host today: the policy still holds for it.
      'services/metrics.yaml': yaml(
        'hosts: ["metrics-*"]',
        'image: prom/node-exporter',
        'tag: "1.8.0"',
        'network_mode: host',
      ),
    });
    expect(errors).toEqual([
      {
        file: 'hosts/web-1/debug.yaml',
        line: 3,
        column: 6,
        path: '/tag',
        message: `policy deny_mutable_tags: tag "latest" can be moved to another image at any time; pin a version tag or a digest ${suffix}`,
      },
      {
        file: 'hosts/web-1/debug.yaml',
        line: 4,
        column: 13,
        path: '/privileged',
        message: `policy deny_privileged: privileged containers are not allowed ${suffix}`,
      },
      {
        file: 'hosts/web-1/debug.yaml',
        line: 6,
        column: 5,
        path: '/volumes/0',
        message: `policy bind_mount_prefixes: bind mount source "/" is not under an allowed prefix: /srv, /var/lib/app ${suffix}`,
      },
      {
        file: 'services/metrics.yaml',
        line: 2,
        column: 8,
        path: '/image',
        message: `policy allowed_registries: image "prom/node-exporter" (docker.io/prom/node-exporter) is not from an allowed registry: 127.0.0.1:5055, ghcr.io/acme ${suffix}`,
      },
      {
        file: 'services/metrics.yaml',
        line: 4,
        column: 15,
        path: '/network_mode',
        message: `policy allow_host_network: network_mode host is not allowed unless allow_host_network is true ${suffix}`,
      },
    ]);
  });

  it('leaves a repo without a policy as it was', () => {
    const tree = {
      'hosts/web-1/app.yaml': yaml(
        'image: redis',
        'tag: latest',
        'privileged: true',
        'network_mode: host',
        'volumes: ["/:/host"]',
      ),
    };
    loadOk(tree);
    loadOk({ ...tree, 'gitdock.yaml': yaml('hosts:', '  web-1: {}') });
  });

  it('denies host networking once any policy is present', () => {
    const tree = { 'hosts/web-1/app.yaml': yaml('image: app', 'tag: "1"', 'network_mode: host') };
    expect(loadErrors({ ...tree, 'gitdock.yaml': yaml('policy: {}') })).toHaveLength(1);
    loadOk({ ...tree, 'gitdock.yaml': yaml('policy:', '  allow_host_network: true') });
  });

  it.each<[string, string[], ManifestError]>([
    [
      'a misspelt rule',
      ['policy:', '  deny_priviliged: true'],
      {
        file: 'gitdock.yaml',
        line: 2,
        column: 3,
        path: '/policy/deny_priviliged',
        message: 'unknown field "deny_priviliged" in policy; did you mean "deny_privileged"?',
      },
    ],
    [
      'a registry without a registry host',
      ['policy:', '  allowed_registries: [acme]'],
      {
        file: 'gitdock.yaml',
        line: 2,
        column: 24,
        path: '/policy/allowed_registries/0',
        message:
          'policy.allowed_registries[0]: string "acme" is not valid; A registry host, which has a `.` or a `:port` or is `localhost` (`docker.io`, `127.0.0.1:5055`), optionally followed by a path prefix (`ghcr.io/acme`).',
      },
    ],
    [
      'an empty list of registries',
      ['policy:', '  allowed_registries: []'],
      {
        file: 'gitdock.yaml',
        line: 2,
        column: 23,
        path: '/policy/allowed_registries',
        message: 'policy.allowed_registries: expected at least 1 item, got an empty list',
      },
    ],
    [
      'a relative bind mount prefix',
      ['policy:', '  bind_mount_prefixes: [srv]'],
      {
        file: 'gitdock.yaml',
        line: 2,
        column: 25,
        path: '/policy/bind_mount_prefixes/0',
        message:
          'policy.bind_mount_prefixes[0]: string "srv" is not valid; An absolute host path such as `/srv` or `/var/lib/app`.',
      },
    ],
    [
      'a rule that is not a boolean',
      ['policy:', '  deny_privileged: yes'],
      {
        file: 'gitdock.yaml',
        line: 2,
        column: 20,
        path: '/policy/deny_privileged',
        message: 'policy.deny_privileged: expected a boolean, got string "yes"',
      },
    ],
  ])('rejects %s in gitdock.yaml', (_name, lines, error) => {
    expect(loadErrors({ 'gitdock.yaml': yaml(...lines) })).toEqual([error]);
  });
});
