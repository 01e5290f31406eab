import { describe, expect, it } from 'vitest';
import { composeSchema } from './compose-schema.js';
import {
  CONFIG_FIELDS,
  checkFields,
  DEPENDS_ON_FIELDS,
  DEPLOY_FIELDS,
  type FieldSupport,
  HEALTHCHECK_FIELDS,
  MOUNT_BIND_FIELDS,
  MOUNT_FIELDS,
  MOUNT_TMPFS_FIELDS,
  MOUNT_VOLUME_FIELDS,
  NETWORK_FIELDS,
  PORT_FIELDS,
  PROJECT_FIELDS,
  RESOURCE_LIMITS_FIELDS,
  RESOURCE_RESERVATIONS_FIELDS,
  SECRET_FIELDS,
  SERVICE_FIELDS,
  SERVICE_NETWORK_FIELDS,
  type Severity,
  VOLUME_FIELDS,
} from './field-support.js';

type Props = Record<
  string,
  {
    properties?: Props;
    items?: { oneOf?: { properties?: Props }[] };
    oneOf?: unknown[];
    patternProperties?: Record<string, { oneOf?: { properties?: Props }[]; properties?: Props }>;
  }
>;
const defs = composeSchema.definitions as unknown as Props;
const props = (def: { properties?: Props } | undefined) =>
  Object.keys(def?.properties ?? {}).sort();
const keys = (table: Readonly<Record<string, FieldSupport>>) =>
  Object.keys(table)
    .filter((k) => !k.startsWith('x-'))
    .sort();

const service = defs.service!.properties!;
const longVolume = service.volumes!.items!.oneOf![1]!;
const longPort = service.ports!.items!.oneOf![2]!;
const serviceNetwork = (
  service.networks!.oneOf![1] as {
    patternProperties: Record<string, { oneOf: { properties: Props }[] }>;
  }
).patternProperties['^[a-zA-Z0-9._-]+$']!.oneOf[0]!;
const dependsOn = (
  service.depends_on!.oneOf![1] as { patternProperties: Record<string, { properties: Props }> }
).patternProperties['^[a-zA-Z0-9._-]+$']!;
const resources = defs.deployment!.properties!.resources!.properties!;

// Every field of the Compose specification's schema has a row: none can be dropped unseen.
describe('field-support covers the Compose schema', () => {
  it.each([
    ['top level', { properties: composeSchema.properties as unknown as Props }, PROJECT_FIELDS],
    ['service', defs.service, SERVICE_FIELDS],
    ['deploy', defs.deployment, DEPLOY_FIELDS],
    ['deploy.resources.limits', resources.limits, RESOURCE_LIMITS_FIELDS],
    ['deploy.resources.reservations', resources.reservations, RESOURCE_RESERVATIONS_FIELDS],
    ['healthcheck', defs.healthcheck, HEALTHCHECK_FIELDS],
    ['ports (long form)', longPort, PORT_FIELDS],
    ['volumes (long form)', longVolume, MOUNT_FIELDS],
    ['volumes.bind', longVolume.properties!.bind, MOUNT_BIND_FIELDS],
    ['volumes.volume', longVolume.properties!.volume, MOUNT_VOLUME_FIELDS],
    ['volumes.tmpfs', longVolume.properties!.tmpfs, MOUNT_TMPFS_FIELDS],
    ['service networks', serviceNetwork, SERVICE_NETWORK_FIELDS],
    ['depends_on', dependsOn, DEPENDS_ON_FIELDS],
    ['networks', defs.network, NETWORK_FIELDS],
    ['volumes', defs.volume, VOLUME_FIELDS],
    ['configs', defs.config, CONFIG_FIELDS],
    ['secrets', defs.secret, SECRET_FIELDS],
  ])('%s', (_name, def, table) => {
    expect(keys(table)).toEqual(props(def as { properties?: Props }));
  });
});

describe('checkFields', () => {
  const run = (value: Record<string, unknown>) => {
    const out: [Severity, string, string][] = [];
    checkFields(value, SERVICE_FIELDS, ['services', 'web'], (s, p, m) =>
      out.push([s, p.join('/'), m]),
    );
    return out;
  };

  it('says nothing about supported fields and x- extensions', () => {
    expect(run({ image: 'x', ports: [], 'x-anything': 1 })).toEqual([]);
  });

  it('reports errors, warnings and unknown fields with their path', () => {
    expect(run({ runtime: 'runsc', develop: {}, imagee: 'x' })).toEqual([
      [
        'error',
        'services/web/runtime',
        `services.web.runtime ${(SERVICE_FIELDS.runtime as { message: string }).message}`,
      ],
      [
        'warning',
        'services/web/develop',
        'services.web.develop (docker compose watch) is a development feature and is ignored',
      ],
      ['error', 'services/web/imagee', 'services.web.imagee: unknown field; did you mean image?'],
    ]);
    expect(run({ zzzzzzzz: 1 })[0]![2]).toMatch(
      /^services\.web\.zzzzzzzz: unknown field; expected one of annotations, attach, blkio_config, build, /,
    );
  });

  it('gives every non-supported field a message', () => {
    for (const table of [
      SERVICE_FIELDS,
      DEPLOY_FIELDS,
      NETWORK_FIELDS,
      CONFIG_FIELDS,
      SECRET_FIELDS,
    ]) {
      for (const support of Object.values(table)) {
        if (support.status !== 'supported') expect(support.message.length).toBeGreaterThan(10);
      }
    }
  });
});
