import type { Etcd3 } from 'etcd3';
import type { WatermarkStore } from '../../ports/watermark-store.js';
import { etcdKeys } from './client.js';

// Fixed width so that etcd's byte-wise value comparison orders watermarks numerically.
const WIDTH = 15;
const encode = (ms: number) => String(Math.max(0, Math.floor(ms))).padStart(WIDTH, '0');

export class EtcdWatermarkStore implements WatermarkStore {
  private readonly keys;

  constructor(
    private readonly client: Etcd3,
    prefix: string,
  ) {
    this.keys = etcdKeys(prefix);
  }

  async read(group: string, topic: string): Promise<Map<number, number>> {
    const prefix = this.keys.watermarks(group, topic);
    const all = await this.client.getAll().prefix(prefix).strings();
    const out = new Map<number, number>();
    for (const [key, value] of Object.entries(all)) {
      out.set(Number(key.slice(prefix.length)), Number(value));
    }
    return out;
  }

  async readAll(): Promise<Map<string, Map<string, Map<number, number>>>> {
    // Keys are <prefix>/watermarks/<group>/<topic>/<partition>; a group or topic name may hold '/'
    // only in the group part, so the topic and partition are the last two segments.
    const root = this.keys.watermarks('', '').slice(0, -2); // <prefix>/watermarks/
    const all = await this.client.getAll().prefix(root).strings();
    const out = new Map<string, Map<string, Map<number, number>>>();
    for (const [key, value] of Object.entries(all)) {
      const parts = key.slice(root.length).split('/').filter((x) => x !== '');
      if (parts.length < 3) continue;
      const partition = Number(parts.pop());
      const topic = parts.pop()!;
      const group = parts.join('/');
      let topics = out.get(group);
      if (!topics) out.set(group, (topics = new Map()));
      let marks = topics.get(topic);
      if (!marks) topics.set(topic, (marks = new Map()));
      marks.set(partition, Number(value));
    }
    return out;
  }

  async advance(group: string, topic: string, watermarks: ReadonlyMap<number, number>): Promise<void> {
    const prefix = this.keys.watermarks(group, topic);
    await Promise.all(
      [...watermarks].map(async ([partition, ms]) => {
        const key = `${prefix}${partition}`;
        const value = encode(ms);
        // Raise only: write if the stored value is lower, or if there is none yet.
        const raised = await this.client.if(key, 'Value', '<', value).then(this.client.put(key).value(value)).commit();
        if (raised.succeeded) return;
        await this.client.if(key, 'Version', '==', 0).then(this.client.put(key).value(value)).commit();
      }),
    );
  }
}
