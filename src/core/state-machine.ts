// The per-pipeline switch state machine. States are derived each tick from the stored route, the
// operator's intents and the arbitrated health (level-based); the table below says which event
// may move a pipeline from which state, and nothing else may.

export const PIPELINE_STATES = [
  /** No route stored yet. */
  'UNROUTED',
  'PRIMARY_ACTIVE',
  /** A switch away from the primary has been decided and is being carried out. */
  'FAILING_OVER',
  'STANDBY_ACTIVE',
  /** A switch back to the primary has been decided and is being carried out. */
  'FAILING_BACK',
  /** Both chains are down; the core-metrics-only fallback chain serves. */
  'FALLBACK_ACTIVE',
  /** An operator paused the pipeline (or everything): nothing automatic happens to it. */
  'PAUSED',
  /** The controller cannot judge safely (no observer quorum): it changes nothing. */
  'FAIL_STATIC',
] as const;
export type PipelineState = (typeof PIPELINE_STATES)[number];

export const PIPELINE_EVENTS = [
  'route-missing',
  'active-healthy',
  /** The active chain is DOWN by quorum; the event names the role of the chain taking over. */
  'fail-to-standby',
  'fail-to-primary',
  /** Every serving chain is down and the core-metrics-only fallback chain is healthy. */
  'fail-to-fallback',
  /** Serving from a non-primary chain, the primary is fit again and failback is automatic. */
  'primary-recovered',
  /** The switch's route was written (with the journal of issue 4, after its last step). */
  'switch-written',
  'paused',
  'no-quorum',
] as const;
export type PipelineEvent = (typeof PIPELINE_EVENTS)[number];

type Table = { readonly [S in PipelineState]: Partial<Record<PipelineEvent, PipelineState>> };

// PAUSED and FAIL_STATIC are holding states: entered from any state, left by nothing automatic.
// They are recomputed every tick, so when the pause is lifted or quorum returns the pipeline is
// simply in the state its stored route implies again (stateOfRole). FAILING_OVER means moving to
// a non-primary chain, FAILING_BACK moving to the primary.
const HOLD = { paused: 'PAUSED', 'no-quorum': 'FAIL_STATIC' } as const;

export const TRANSITIONS: Table = {
  UNROUTED: { 'route-missing': 'PRIMARY_ACTIVE', ...HOLD },
  PRIMARY_ACTIVE: { 'active-healthy': 'PRIMARY_ACTIVE', 'fail-to-standby': 'FAILING_OVER', 'fail-to-fallback': 'FAILING_OVER', ...HOLD },
  FAILING_OVER: { 'switch-written': 'STANDBY_ACTIVE', ...HOLD },
  STANDBY_ACTIVE: {
    'active-healthy': 'STANDBY_ACTIVE',
    'fail-to-primary': 'FAILING_BACK',
    'fail-to-standby': 'FAILING_OVER',
    'fail-to-fallback': 'FAILING_OVER',
    'primary-recovered': 'FAILING_BACK',
    ...HOLD,
  },
  FAILING_BACK: { 'switch-written': 'PRIMARY_ACTIVE', ...HOLD },
  FALLBACK_ACTIVE: {
    'active-healthy': 'FALLBACK_ACTIVE',
    'fail-to-primary': 'FAILING_BACK',
    'fail-to-standby': 'FAILING_OVER',
    'primary-recovered': 'FAILING_BACK',
    ...HOLD,
  },
  PAUSED: { paused: 'PAUSED' },
  FAIL_STATIC: { 'no-quorum': 'FAIL_STATIC', paused: 'PAUSED' },
};

/** The next state, or undefined when the table does not allow `event` in `state`. */
export function transition(state: PipelineState, event: PipelineEvent): PipelineState | undefined {
  return TRANSITIONS[state][event];
}

/** The steady state a stored route implies, from the role of the chain it names. */
export function stateOfRole(role: 'primary' | 'standby' | 'fallback' | undefined): PipelineState {
  if (role === undefined) return 'UNROUTED';
  return role === 'primary' ? 'PRIMARY_ACTIVE' : role === 'standby' ? 'STANDBY_ACTIVE' : 'FALLBACK_ACTIVE';
}
