import type { Etcd3 } from 'etcd3';
import type { OperatorInput, StartedRunbook, StepRecord } from '../../core/runbook.js';
import { operatorInputProblem, startedRunbookProblem, stepRecordProblem } from '../../core/stored.js';
import type { Fence, WriteOutcome } from '../../ports/route-store.js';
import type { LoadedRunbook, RunbookEnd, RunbookStore, StoredStep } from '../../ports/runbook-store.js';

/** A stored runbook that cannot be read (the CLI: exit 1, naming the key). */
export class StoredRunbookError extends Error {}

/**
 * RunbookStore on etcd, one prefix per event: `<prefix>/runbooks/<event>/` holds `started`,
 * `steps/<id>` (the leader's record), `acks/<id>`, `skips/<id>` and `abort` (operators'), and
 * `ended`. A step record that does not parse is read as failed with the reason in its result: it
 * may have run, so it is not run again on a guess.
 */
export class EtcdRunbookStore implements RunbookStore {
  private readonly root: string;

  constructor(
    private readonly client: Etcd3,
    prefix: string,
  ) {
    this.root = `${prefix}/runbooks/`;
  }

  private key(event: string, rest: string): string {
    return `${this.root}${event}/${rest}`;
  }

  async start(started: StartedRunbook): Promise<boolean> {
    const key = this.key(started.runbook.event, 'started');
    const res = await this.client.if(key, 'Version', '==', 0).then(this.client.put(key).value(JSON.stringify(started))).commit();
    return res.succeeded;
  }

  async list(onMalformed?: (event: string, why: string) => void): Promise<LoadedRunbook[]> {
    const res = await this.client.getAll().prefix(this.root).exec();
    const byEvent = new Map<string, { key: string; value: string; version: string }[]>();
    for (const kv of res.kvs) {
      const rest = kv.key.toString().slice(this.root.length);
      const slash = rest.indexOf('/');
      if (slash < 0) continue;
      const event = rest.slice(0, slash);
      const list = byEvent.get(event) ?? [];
      list.push({ key: rest.slice(slash + 1), value: kv.value.toString(), version: kv.mod_revision });
      byEvent.set(event, list);
    }
    const out: LoadedRunbook[] = [];
    for (const [event, kvs] of byEvent) {
      const loaded = decodeRunbook(event, kvs, onMalformed);
      if (loaded) out.push(loaded);
    }
    return out;
  }

  async get(event: string): Promise<LoadedRunbook | undefined> {
    const res = await this.client.getAll().prefix(`${this.root}${event}/`).exec();
    const kvs = res.kvs.map((kv) => ({ key: kv.key.toString().slice(`${this.root}${event}/`.length), value: kv.value.toString(), version: kv.mod_revision }));
    let why = '';
    const loaded = decodeRunbook(event, kvs, (_, w) => (why = w));
    if (!loaded && why) throw new StoredRunbookError(`the runbook stored at ${this.key(event, 'started')} is not valid: ${why}`);
    return loaded;
  }

  private async fencedPut(fence: Fence, key: string, value: string, expectedVersion: string | undefined): Promise<WriteOutcome & { version?: string }> {
    const guarded = this.client.if(fence.key, 'Create', '==', fence.createRevision);
    const res = await (expectedVersion === undefined ? guarded.and(key, 'Version', '==', 0) : guarded.and(key, 'Mod', '==', expectedVersion))
      .then(this.client.put(key).value(value))
      .else(this.client.get(fence.key))
      .commit();
    // The key's new mod revision is the transaction's revision.
    if (res.succeeded) return { kind: 'written', version: res.header.revision };
    const fenceKv = res.responses[0]?.response_range?.kvs?.[0];
    if (!fenceKv || fenceKv.create_revision !== fence.createRevision) return { kind: 'fenced' };
    return { kind: 'conflict' };
  }

  putStep(fence: Fence, event: string, step: string, record: StepRecord, expectedVersion: string | undefined): Promise<WriteOutcome & { version?: string }> {
    return this.fencedPut(fence, this.key(event, `steps/${step}`), JSON.stringify(record), expectedVersion);
  }

  end(fence: Fence, event: string, end: RunbookEnd): Promise<WriteOutcome> {
    return this.fencedPut(fence, this.key(event, 'ended'), JSON.stringify(end), undefined);
  }

  private async createOnly(key: string, input: OperatorInput): Promise<boolean> {
    const res = await this.client.if(key, 'Version', '==', 0).then(this.client.put(key).value(JSON.stringify(input))).commit();
    return res.succeeded;
  }

  ack(event: string, step: string, input: OperatorInput): Promise<boolean> {
    return this.createOnly(this.key(event, `acks/${step}`), input);
  }

  async skip(event: string, step: string, input: OperatorInput, recordVersion?: string): Promise<boolean> {
    // Only if the step's record is as read (absent, or pending/acked at that version): a skip the
    // leader would ignore (it began the step in between) is refused, not reported done.
    const key = this.key(event, `skips/${step}`);
    const record = this.key(event, `steps/${step}`);
    const guard = this.client.if(key, 'Version', '==', 0);
    const res = await (recordVersion === undefined ? guard.and(record, 'Version', '==', 0) : guard.and(record, 'Mod', '==', recordVersion)).then(this.client.put(key).value(JSON.stringify(input))).commit();
    return res.succeeded;
  }

  abort(event: string, input: OperatorInput): Promise<boolean> {
    return this.createOnly(this.key(event, 'abort'), input);
  }

  async remove(event: string): Promise<boolean> {
    const res = await this.client.delete().prefix(`${this.root}${event}/`).exec();
    return Number(res.deleted) > 0;
  }
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function decodeRunbook(event: string, kvs: readonly { key: string; value: string; version: string }[], onMalformed?: (event: string, why: string) => void): LoadedRunbook | undefined {
  const startedKv = kvs.find((k) => k.key === 'started');
  if (!startedKv) return undefined; // inputs written for an event never started: nothing to run
  const started = parse(startedKv.value);
  const why = started === undefined ? 'not JSON' : startedRunbookProblem(started);
  if (why) {
    onMalformed?.(event, why);
    return undefined;
  }
  const steps = new Map<string, StoredStep>();
  const acks = new Map<string, OperatorInput>();
  const skips = new Map<string, OperatorInput>();
  let abort: OperatorInput | undefined;
  let ended: RunbookEnd | undefined;
  for (const kv of kvs) {
    const value = parse(kv.value);
    if (kv.key.startsWith('steps/')) {
      const problem = value === undefined ? 'not JSON' : stepRecordProblem(value);
      // Unreadable: read as failed (it may have run: it is not run again), ended at 0 so that the
      // steps after it are planned from its plan; the leader's next write of it needs its version.
      steps.set(kv.key.slice(6), { record: problem ? { status: 'failed', endedAt: 0, result: `unreadable step record (${problem}); the step was not run again` } : (value as StepRecord), version: kv.version });
    } else if (kv.key.startsWith('acks/') || kv.key.startsWith('skips/') || kv.key === 'abort') {
      if (value === undefined || operatorInputProblem(value)) continue; // an input that cannot be read asks for nothing
      if (kv.key === 'abort') abort = value as OperatorInput;
      else (kv.key.startsWith('acks/') ? acks : skips).set(kv.key.slice(kv.key.indexOf('/') + 1), value as OperatorInput);
    } else if (kv.key === 'ended' && value !== undefined && typeof (value as RunbookEnd).at === 'number') {
      ended = value as RunbookEnd;
    }
  }
  return { started: started as StartedRunbook, steps, inputs: { acks, skips, ...(abort && { abort }) }, ...(ended && { ended }) };
}
