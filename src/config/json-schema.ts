// JSON Schemas for editors (yaml-language-server), generated from the zod schemas so they cannot
// drift: `switchyard policy schema` prints them; a unit test checks the committed copies.

import { z } from 'zod';
import { baselineSchema, policySchema, topologySchema } from './schema.js';
import { runbookSchema } from './runbook.js';

export function jsonSchemas(): { policy: unknown; topology: unknown; baseline: unknown; runbook: unknown } {
  return {
    runbook: { title: 'Switchyard event runbook', ...z.toJSONSchema(runbookSchema, { io: 'input' }) },
    baseline: { title: 'Switchyard stress-test baseline', ...z.toJSONSchema(baselineSchema, { io: 'input' }) },
    policy: { title: 'Switchyard tier policy', ...z.toJSONSchema(policySchema, { io: 'input' }) },
    topology: { title: 'Switchyard topology', ...z.toJSONSchema(topologySchema, { io: 'input' }) },
  };
}
