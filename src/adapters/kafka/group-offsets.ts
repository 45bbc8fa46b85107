import type { Admin } from 'kafkajs';
import type { CommittedOffsets, GroupOffsetReader } from '../../ports/group-offsets.js';
import type { Logger } from '../../ports/logger.js';
import { createKafka } from './kafka-client.js';
import { kafkaAccessFor, type KafkaAccessBook } from '../../ports/kafka-access.js';
import { withTimeout } from '../../sdk/timeout.js';

/** GroupOffsetReader on one long-lived kafkajs admin client per room. */
export class KafkaGroupOffsetReader implements GroupOffsetReader {
  private admin: Admin | undefined;

  constructor(
    private readonly room: string,
    private readonly brokers: readonly string[],
    private readonly log: Logger,
    private readonly concurrency = 64,
    private readonly access?: KafkaAccessBook,
  ) {}

  async read(groups: readonly { readonly group: string; readonly topics: readonly string[] }[], timeoutMs: number): Promise<CommittedOffsets> {
    const deadline = Date.now() + timeoutMs;
    if (!this.admin) {
      const admin = createKafka({ clientId: `switchyard-lag-${this.room}`, brokers: this.brokers, log: this.log, timeoutMs: Math.min(timeoutMs, 3000), retries: 2, quiet: true, access: () => kafkaAccessFor(this.access, this.brokers) }).admin();
      await admin.connect();
      this.admin = admin;
    }
    const admin = this.admin;
    const out: CommittedOffsets = new Map();
    let next = 0;
    let failure: Error | undefined;
    const worker = async () => {
      while (next < groups.length && Date.now() < deadline && !failure) {
        const { group, topics } = groups[next++]!;
        try {
          const res = await admin.fetchOffsets({ groupId: group, topics: [...topics] });
          const byTopic = new Map<string, Map<number, number>>();
          for (const t of res) byTopic.set(t.topic, new Map(t.partitions.map((p) => [p.partition, Number(p.offset)])));
          out.set(group, byTopic);
        } catch (err) {
          failure = err as Error;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, groups.length) }, worker));
    if (failure && out.size === 0) {
      void this.close();
      throw failure;
    }
    return out;
  }

  async close(): Promise<void> {
    const a = this.admin;
    this.admin = undefined;
    if (a) await withTimeout(a.disconnect(), 1000).catch(() => undefined);
  }
}
