import type { Etcd3 } from 'etcd3';
import type { SwitchJournal, SwitchRecord } from '../../core/journal.js';
import type { ConsumerAck, JournalStore, StoredJournal } from '../../ports/journal-store.js';
import type { Fence, OnMalformed, WriteOutcome } from '../../ports/route-store.js';
import { etcdKeys } from './client.js';

export class EtcdJournalStore implements JournalStore {
  private readonly keys;

  constructor(
    private readonly client: Etcd3,
    prefix: string,
  ) {
    this.keys = etcdKeys(prefix);
  }

  async list(onMalformed?: OnMalformed): Promise<Map<string, StoredJournal>> {
    const res = await this.client.getAll().prefix(this.keys.journals).exec();
    const out = new Map<string, StoredJournal>();
    for (const kv of res.kvs) {
      // A value that is not a journal (hand-edited, truncated) is left out rather than failing
      // every pipeline's read, and told with the pipeline its key names.
      const pipeline = kv.key.toString().slice(this.keys.journals.length);
      const journal = parseJson<SwitchJournal>(kv.value.toString());
      if (journal && typeof journal === 'object' && journal.pipeline === pipeline) out.set(pipeline, { journal, version: kv.mod_revision });
      else onMalformed?.(pipeline, journal === undefined ? 'the stored journal is not JSON' : `the stored journal names pipeline ${JSON.stringify((journal as { pipeline?: unknown } | null)?.pipeline)}, not its key's`);
    }
    return out;
  }

  private async outcome(fence: Fence, succeeded: boolean): Promise<WriteOutcome> {
    if (succeeded) return { kind: 'written' };
    const kv = (await this.client.get(fence.key).exec()).kvs[0];
    return !kv || kv.create_revision !== fence.createRevision ? { kind: 'fenced' } : { kind: 'conflict' };
  }

  async put(fence: Fence, journal: SwitchJournal, expectedVersion: string | undefined): Promise<WriteOutcome & { version?: string }> {
    const key = this.keys.journal(journal.pipeline);
    const fenced = this.client.if(fence.key, 'Create', '==', fence.createRevision);
    const guarded = expectedVersion === undefined ? fenced.and(key, 'Version', '==', 0) : fenced.and(key, 'Mod', '==', expectedVersion);
    const res = await guarded
      .then(this.client.put(key).value(JSON.stringify(journal)))
      .commit();
    const o = await this.outcome(fence, res.succeeded);
    return o.kind === 'written' ? { ...o, version: res.header.revision } : o;
  }

  async finish(fence: Fence, journal: SwitchJournal, record: SwitchRecord, expectedVersion: string): Promise<WriteOutcome> {
    const key = this.keys.journal(journal.pipeline);
    const historyKey = `${this.keys.history(journal.pipeline)}${String(record.decidedAt).padStart(15, '0')}-${record.id}`;
    const res = await this.client
      .if(fence.key, 'Create', '==', fence.createRevision)
      .and(key, 'Mod', '==', expectedVersion)
      .and(historyKey, 'Version', '==', 0)
      .then(this.client.put(key).value(JSON.stringify(journal)), this.client.put(historyKey).value(JSON.stringify(record)))
      .commit();
    return this.outcome(fence, res.succeeded);
  }

  async history(pipeline?: string, newest?: number): Promise<SwitchRecord[]> {
    // Keys sort by decision time within a pipeline (zero-padded), so the newest are last.
    const range = this.client.getAll().prefix(this.keys.history(pipeline));
    const kvs = newest === undefined ? (await range.sort('Key', 'Ascend').exec()).kvs : (await range.sort('Key', 'Descend').limit(newest).exec()).kvs.reverse();
    // A record that does not parse is left out: history is for reading, and one bad key must not hide the rest.
    return kvs.flatMap((kv) => {
      const r = parseJson<SwitchRecord>(kv.value.toString());
      return r && typeof r === 'object' ? [r] : [];
    });
  }

  async acks(pipeline: string): Promise<ConsumerAck[]> {
    const values = await this.client.getAll().prefix(this.keys.acks(pipeline)).strings();
    // Consumers write these; one that is not an ack must not hold verification up.
    return Object.values(values).flatMap((v) => {
      const ack = parseJson<ConsumerAck>(v);
      return ack && typeof ack.consumer === 'string' && typeof ack.epoch === 'number' ? [ack] : [];
    });
  }

  async ack(pipeline: string, ack: ConsumerAck): Promise<void> {
    await this.client.put(`${this.keys.acks(pipeline)}${ack.consumer}`).value(JSON.stringify(ack));
  }
}

function parseJson<T>(text: string): T | undefined {
  try {
    return JSON.parse(text) as T;
  } catch {
    return undefined;
  }
}
