import { describe, expect, it } from 'vitest';
import { castTypedStrings } from './load-cast.js';

describe('castTypedStrings', () => {
  it.each<[Record<string, unknown>, Record<string, unknown>]>([
    [
      { read_only: 'true', privileged: 'False', init: 'yes', tty: 'off' },
      { read_only: true, privileged: false, init: true, tty: false },
    ],
    [
      { scale: '3', cpus: '0.5', pids_limit: '-1', oom_score_adj: '-500' },
      { scale: 3, cpus: 0.5, pids_limit: -1, oom_score_adj: -500 },
    ],
    [
      { healthcheck: { disable: 'true', retries: '5', interval: '10s' } },
      { healthcheck: { disable: true, retries: 5, interval: '10s' } },
    ],
    [
      {
        deploy: {
          replicas: '2',
          resources: { limits: { cpus: '1.5', memory: '1g', pids: '100' } },
        },
      },
      { deploy: { replicas: 2, resources: { limits: { cpus: 1.5, memory: '1g', pids: 100 } } } },
    ],
    [
      {
        volumes: [
          {
            type: 'bind',
            source: 's',
            target: '/t',
            read_only: 'true',
            bind: { create_host_path: 'false' },
          },
        ],
      },
      {
        volumes: [
          {
            type: 'bind',
            source: 's',
            target: '/t',
            read_only: true,
            bind: { create_host_path: false },
          },
        ],
      },
    ],
    [
      { depends_on: { db: { condition: 'service_started', required: 'false' } } },
      { depends_on: { db: { condition: 'service_started', required: false } } },
    ],
    // Not convertible: left for normalize to report at its position.
    [
      { read_only: 'maybe', scale: 'two', cpus: '1,5' },
      { read_only: 'maybe', scale: 'two', cpus: '1,5' },
    ],
    // Strings that are strings by type are never touched.
    [
      { user: '1000', mem_limit: '512', environment: { A: 'true' } },
      { user: '1000', mem_limit: '512', environment: { A: 'true' } },
    ],
    // Empty plain text (`platform: ${DOCKER_PLATFORM:-}`) is unset, as in compose-go;
    // empty values of other fields stay for normalize to judge.
    [
      {
        platform: '',
        hostname: '',
        user: '',
        working_dir: '',
        restart: '',
        network_mode: '',
        stop_signal: '',
        mem_limit: '',
        environment: { A: '' },
      },
      { mem_limit: '', environment: { A: '' } },
    ],
  ])('service %j', (svc, expected) => {
    const model = { services: { a: svc } };
    castTypedStrings(model);
    expect(model.services.a).toEqual(expected);
  });

  it('casts network and volume flags', () => {
    const model = {
      services: {},
      networks: { n: { internal: 'true', external: 'false' } },
      volumes: { v: { external: 'true' } },
    };
    castTypedStrings(model);
    expect(model).toEqual({
      services: {},
      networks: { n: { internal: true, external: false } },
      volumes: { v: { external: true } },
    });
  });
});
