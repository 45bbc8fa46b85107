import type { Etcd3 } from 'etcd3';
import type { Intents } from '../../core/safety.js';
import type { IntentStore, PauseIntent } from '../../ports/intent-store.js';

const ALL = '_all';

export class EtcdIntentStore implements IntentStore {
  private readonly pausePrefix: string;

  constructor(
    private readonly client: Etcd3,
    prefix: string,
  ) {
    this.pausePrefix = `${prefix}/intents/pause/`;
  }

  async pause(intent: PauseIntent): Promise<void> {
    await this.client.put(`${this.pausePrefix}${intent.pipeline ?? ALL}`).value(JSON.stringify(intent));
  }

  async resume(pipeline: string | undefined): Promise<boolean> {
    const res = await this.client.delete().key(`${this.pausePrefix}${pipeline ?? ALL}`).exec();
    return Number(res.deleted) > 0;
  }

  async pauses(): Promise<PauseIntent[]> {
    const values = await this.client.getAll().prefix(this.pausePrefix).strings();
    return Object.values(values).map((v) => JSON.parse(v) as PauseIntent);
  }

  async read(): Promise<Intents> {
    const pauses = await this.pauses();
    return {
      paused: new Set(pauses.flatMap((p) => (p.pipeline ? [p.pipeline] : []))),
      pausedAll: pauses.some((p) => p.pipeline === undefined),
      automaticGateClosed: false,
    };
  }
}
