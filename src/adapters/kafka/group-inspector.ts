import type { GroupInspector, GroupMember } from '../../ports/group-inspector.js';
import { silentLogger, type Logger } from '../../ports/logger.js';
import { withTimeout } from '../../sdk/timeout.js';
import { createKafka } from './kafka-client.js';
import { kafkaAccessFor, type KafkaAccessBook } from '../../ports/kafka-access.js';

/** GroupInspector on kafkajs' admin describeGroups; one short-lived admin client per call. */
export class KafkaGroupInspector implements GroupInspector {
  constructor(
    private readonly log: Logger = silentLogger,
    private readonly access?: KafkaAccessBook,
  ) {}

  async members(brokers: readonly string[], group: string, timeoutMs: number): Promise<GroupMember[]> {
    const admin = createKafka({ clientId: 'switchyard-fence', brokers, log: this.log, timeoutMs: Math.min(timeoutMs, 3000), retries: 3, quiet: true, access: () => kafkaAccessFor(this.access, brokers) }).admin();
    const run = async () => {
      await admin.connect();
      const { groups } = await admin.describeGroups([group]);
      return (groups[0]?.members ?? []).map((m) => ({ memberId: m.memberId, clientId: m.clientId, clientHost: m.clientHost }));
    };
    try {
      return await withTimeout(run(), timeoutMs);
    } finally {
      void admin.disconnect().catch(() => undefined);
    }
  }
}
