import type { Etcd3 } from 'etcd3';
import type { Intents } from '../../core/safety.js';
import { intentsOf, type FreezeIntent, type IntentStore, type OwnedWrite, type PauseIntent, type WindowOverride } from '../../ports/intent-store.js';
import type { SwitchoverIntent } from '../../core/switchover.js';
// isTime: a time any Date can print (a larger number would throw where a reason is built).
import { isTime, pauseProblem } from '../../core/stored.js';

const ALL = '_all';

export class EtcdIntentStore implements IntentStore {
  private readonly pausePrefix: string;
  private readonly switchoverPrefix: string;
  private readonly freezePrefix: string;
  private readonly overridePrefix: string;

  constructor(
    private readonly client: Etcd3,
    prefix: string,
  ) {
    this.pausePrefix = `${prefix}/intents/pause/`;
    this.switchoverPrefix = `${prefix}/intents/switchover/`;
    this.freezePrefix = `${prefix}/intents/freeze/`;
    this.overridePrefix = `${prefix}/intents/window-override/`;
  }

  freeze(f: FreezeIntent): Promise<OwnedWrite> {
    return this.putOwned(`${this.freezePrefix}${f.tier}`, f);
  }

  unfreeze(tier: string, event?: string): Promise<OwnedWrite> {
    return this.deleteOwned(`${this.freezePrefix}${tier}`, event);
  }

  /**
   * Writes `value` unless the key holds one set by someone else (another runbook, or an operator):
   * that one is left as it is. One transaction on the version read.
   */
  private async putOwned(key: string, value: FreezeIntent): Promise<OwnedWrite> {
    const kv = (await this.client.get(key).exec()).kvs[0];
    if (kv) {
      const held = parseRecord(kv.value.toString());
      if (!held || held['event'] === undefined || held['event'] !== value.event) return { kind: 'held', by: typeof held?.['by'] === 'string' ? held['by'] : 'unknown' };
    }
    const guard = kv ? this.client.if(key, 'Mod', '==', kv.mod_revision) : this.client.if(key, 'Version', '==', 0);
    const res = await guard.then(this.client.put(key).value(JSON.stringify(value))).commit();
    return res.succeeded ? { kind: 'done' } : { kind: 'held', by: 'someone who wrote it meanwhile' };
  }

  /** Deletes the key if it is there and (given `event`) that runbook set it. */
  private async deleteOwned(key: string, event: string | undefined): Promise<OwnedWrite> {
    const kv = (await this.client.get(key).exec()).kvs[0];
    if (!kv) return { kind: 'absent' };
    const held = parseRecord(kv.value.toString());
    if (event !== undefined && held?.['event'] !== event) return { kind: 'held', by: typeof held?.['by'] === 'string' ? held['by'] : 'unknown' };
    const res = await this.client.if(key, 'Mod', '==', kv.mod_revision).then(this.client.delete().key(key)).commit();
    return res.succeeded ? { kind: 'done' } : { kind: 'held', by: 'someone who wrote it meanwhile' };
  }

  async freezes(): Promise<FreezeIntent[]> {
    const values = await this.client.getAll().prefix(this.freezePrefix).strings();
    return Object.entries(values).map(([key, v]) => {
      const tier = key.slice(this.freezePrefix.length);
      const value = parseRecord(v);
      // A freeze that cannot be read still freezes the tier its key names: the safe reading.
      if (!value || typeof value['by'] !== 'string' || typeof value['reason'] !== 'string' || !isTime(value['at']) || (value['event'] !== undefined && typeof value['event'] !== 'string')) {
        return { tier, by: 'unknown', reason: `unreadable freeze record; delete ${key} to lift it`, at: 0 };
      }
      return { ...(value as unknown as FreezeIntent), tier };
    });
  }

  overrideWindow(o: WindowOverride): Promise<OwnedWrite> {
    return this.putOwned(`${this.overridePrefix}${o.tier}`, o);
  }

  clearWindowOverride(tier: string, event?: string): Promise<OwnedWrite> {
    return this.deleteOwned(`${this.overridePrefix}${tier}`, event);
  }

  async windowOverrides(): Promise<WindowOverride[]> {
    const values = await this.client.getAll().prefix(this.overridePrefix).strings();
    // An override that cannot be read overrides nothing: the safe reading.
    return Object.entries(values).flatMap(([key, v]) => {
      const value = parseRecord(v);
      if (!value || typeof value['by'] !== 'string' || typeof value['reason'] !== 'string' || !isTime(value['until']) || !isTime(value['at']) || (value['event'] !== undefined && typeof value['event'] !== 'string')) return [];
      return [{ ...(value as unknown as WindowOverride), tier: key.slice(this.overridePrefix.length) }];
    });
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
    return Object.entries(values).map(([key, v]) => {
      const name = key.slice(this.pausePrefix.length);
      const pipeline = name === ALL ? undefined : name;
      let value: unknown;
      try {
        value = JSON.parse(v);
      } catch {
        value = undefined;
      }
      const why = value === undefined ? 'not JSON' : pauseProblem(value);
      // Someone asked for a hold here: a pause that cannot be read still holds what its key names.
      if (why) return { pipeline, by: 'unknown', reason: `unreadable pause record (${why}); \`switchyard resume${pipeline ? ` ${pipeline}` : ' --all'}\` clears it`, at: 0 };
      return { ...(value as PauseIntent), pipeline };
    });
  }

  async read(): Promise<Intents> {
    const [pauses, freezes, overrides] = await Promise.all([this.pauses(), this.freezes(), this.windowOverrides()]);
    return intentsOf(pauses, freezes, overrides);
  }

  async addSwitchovers(intents: readonly SwitchoverIntent[]): Promise<void> {
    const [first, ...rest] = intents;
    if (!first) return;
    // Create-only: an id is never reused, so a clash means a bug, not a retry.
    let txn = this.client.if(`${this.switchoverPrefix}${first.id}`, 'Version', '==', 0);
    for (const i of rest) txn = txn.and(`${this.switchoverPrefix}${i.id}`, 'Version', '==', 0);
    const res = await txn.then(...intents.map((i) => this.client.put(`${this.switchoverPrefix}${i.id}`).value(JSON.stringify(i)))).commit();
    if (!res.succeeded) throw new Error(`switchover intent ids already taken: ${intents.map((i) => i.id).join(', ')}`);
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

  async cancelSwitchover(id: string): Promise<string[]> {
    const all = await this.switchovers();
    const doomed = [id];
    for (let i = 0; i < doomed.length; i++) doomed.push(...all.filter((x) => x.after === doomed[i]).map((x) => x.id));
    const res = await this.client
      .if(`${this.switchoverPrefix}${id}`, 'Version', '>', 0)
      .then(...doomed.map((d) => this.client.delete().key(`${this.switchoverPrefix}${d}`)))
      .commit();
    return res.succeeded ? doomed : [];
  }

  async switchovers(): Promise<SwitchoverIntent[]> {
    const values = await this.client.getAll().prefix(this.switchoverPrefix).strings();
    const time = (t: unknown) => (typeof t === 'number' && Number.isFinite(t) ? t : 0);
    return Object.entries(values)
      .map(([key, v]): SwitchoverIntent => {
        const id = key.slice(this.switchoverPrefix.length);
        let value: unknown;
        try {
          value = JSON.parse(v);
        } catch (err) {
          return { id, pipeline: '', to: '', at: 0, createdAt: 0, reason: '', by: '', emergency: false, unreadable: `not JSON: ${(err as Error).message}` };
        }
        if (typeof value !== 'object' || value === null || Array.isArray(value)) {
          return { id, pipeline: '', to: '', at: 0, createdAt: 0, reason: '', by: '', emergency: false, unreadable: 'not an intent object' };
        }
        // The key is the id: what the leader writes back (refused) and what --cancel removes.
        return { ...(value as SwitchoverIntent), id };
      })
      .sort((a, b) => time(a.at) - time(b.at) || time(a.createdAt) - time(b.createdAt));
  }
}

function parseRecord(text: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
