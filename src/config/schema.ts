// File formats, as users write them. Strict objects: an unknown field is a typo until proven
// otherwise, and a typo in a failover policy must not pass silently.

import { z } from 'zod';
import { TIERS } from '../core/model.js';

const name = z
  .string()
  .regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'must be a lowercase DNS label (a-z, 0-9, -)');
const hostPort = z.string().regex(/^[^\s:]+:\d{1,5}$/, 'must be host:port');
const positiveMs = z.number().int().positive();
const mode = z.enum(['automatic', 'manual', 'none']);

export const policySchema = z.strictObject({
  tier: z.enum(TIERS),
  description: z.string().optional(),
  failover: mode,
  failback: mode.default('manual'),
  probe: z.strictObject({
    intervalMs: positiveMs.min(50),
    timeoutMs: positiveMs,
  }),
  fallAfter: z.number().int().min(1).max(100),
  riseAfter: z.number().int().min(1).max(100),
  staleAfterMs: positiveMs,
  minDwellMs: z.number().int().min(0),
  duplicateMarginMs: z.number().int().min(0),
});
export type PolicyFile = z.infer<typeof policySchema>;

const roomSchema = z.strictObject({
  kafka: z.strictObject({ brokers: z.array(hostPort).min(1) }),
});

const chainSchema = z.strictObject({
  room: name,
  role: z.enum(['primary', 'standby', 'fallback']),
});

const pipelineSchema = z.strictObject({
  tier: z.string(),
  topics: z.array(z.string().min(1)).min(1),
  consumerGroup: z.string().min(1),
  chains: z.record(name, chainSchema),
});

export const topologySchema = z.strictObject({
  controller: z
    .strictObject({
      observer: name.optional(),
      room: name.optional(),
      httpPort: z.number().int().min(0).max(65535).default(8787),
    })
    .default({ httpPort: 8787 }),
  etcd: z.strictObject({
    endpoints: z.array(z.url()).min(1),
    prefix: z.string().regex(/^\/[^\s]*[^/]$/, 'must start with / and not end with /').default('/switchyard'),
    leaseTtlSeconds: z.number().int().min(2).max(60).default(5),
  }),
  /** A directory (or one file) of tier policies, relative to this file. */
  policies: z.string().min(1).default('policies'),
  rooms: z.record(name, roomSchema).refine((r) => Object.keys(r).length > 0, 'must name at least one room'),
  pipelines: z.record(name, pipelineSchema),
});
export type TopologyFile = z.infer<typeof topologySchema>;
