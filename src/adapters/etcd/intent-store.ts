import type { Etcd3 } from 'etcd3';
import type { Intents } from '../../core/safety.js';
import type { IntentStore, PauseIntent } from '../../ports/intent-store.js';
import type { SwitchoverIntent } from '../../core/switchover.js';

const ALL = '_all';

export class EtcdIntentStore implements IntentStore {
  private readonly pausePrefix: string;
  private readonly switchoverPrefix: string;

  constructor(
    private readonly client: Etcd3,
    prefix: string,
  ) {
    this.pausePrefix = `${prefix}/intents/pause/`;
    this.switchoverPrefix = `${prefix}/intents/switchover/`;
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

  async addSwitchover(intent: SwitchoverIntent): Promise<void> {
    await this.client.put(`${this.switchoverPrefix}${intent.id}`).value(JSON.stringify(intent));
  }

  async updateSwitchover(intent: SwitchoverIntent): Promise<boolean> {
    const key = `${this.switchoverPrefix}${intent.id}`;
    const res = await this.client.if(key, 'Version', '>', 0).then(this.client.put(key).value(JSON.stringify(intent))).commit();
    return res.succeeded;
  }

  async removeSwitchover(id: string): Promise<boolean> {
    const res = await this.client.delete().key(`${this.switchoverPrefix}${id}`).exec();
    return Number(res.deleted) > 0;
  }

  async switchovers(): Promise<SwitchoverIntent[]> {
    const values = await this.client.getAll().prefix(this.switchoverPrefix).strings();
    return Object.values(values)
      .map((v) => JSON.parse(v) as SwitchoverIntent)
      .sort((a, b) => a.at - b.at || a.createdAt - b.createdAt);
  }
}
