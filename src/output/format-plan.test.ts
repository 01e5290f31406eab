import { describe, expect, it } from 'vitest';
import { planHost } from '../core/plan.js';
import { desiredService, hostState } from '../core/test-fixtures.js';
import type { ReconcileResult } from '../reconcile/reconcile-host.js';
import {
  applyToJson,
  formatApplyText,
  formatPlanText,
  planSecrets,
  planToJson,
} from './format-plan.js';

const SECRET = 'hunter2-Secret';

/** A plan creating a service whose image and reasons carry a host-local value. */
function planWithSecret() {
  const api = {
    ...desiredService('api'),
    secretValues: [SECRET, '', 'hunter2'],
    imageRef: `registry.example.com/${SECRET}/api:1.0`,
  };
  const plan = planHost({ desired: hostState([api, desiredService('web')]), actual: [] });
  plan.actions = plan.actions.map((a) =>
    a.type === 'create' && a.service === 'api' ? { ...a, reasons: [`user ${SECRET}`] } : a,
  );
  return plan;
}

describe('plan and apply output: values from the host-local env file', () => {
  it('planSecrets: every service’s values, longest first, no empty string', () => {
    expect(planSecrets(planWithSecret())).toEqual([SECRET, 'hunter2']);
  });

  it.each<[string, () => string]>([
    ['plan text', () => formatPlanText(planWithSecret(), { color: false })],
    ['plan json', () => JSON.stringify(planToJson(planWithSecret()))],
    ['apply text', () => formatApplyText(failedApply(), { color: false })],
    ['apply json', () => JSON.stringify(applyToJson(failedApply()))],
  ])('%s shows *** instead', (_name, render) => {
    const text = render();
    expect(text).toContain('***');
    expect(text).not.toContain('hunter2');
    // Everything else is as it was.
    expect(text).toContain('web');
  });
});

function failedApply(): ReconcileResult {
  const plan = planWithSecret();
  return {
    host: 'web-1',
    commit: plan.commit,
    plan,
    outcomes: [
      {
        service: 'api',
        action: 'create',
        reasons: [],
        ok: false,
        error: `exited with code 1\n  last log lines:\n    connecting with ${SECRET}`,
        code: 'GITDOCK_E_ROLLOUT_FAILED',
        lastLogLines: [`connecting with ${SECRET}`],
        durationMs: 10,
      },
      { service: 'web', action: 'create', reasons: [], ok: true, durationMs: 10 },
    ],
    resources: [],
    pulled: [],
    ok: false,
  };
}
