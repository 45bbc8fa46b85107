import type { Etcd3 } from 'etcd3';
import type { CapOverride } from '../../core/caps.js';
import { capOverrideProblem } from '../../core/stored.js';
import type { CapEvent, CapStore, PublishedCapPlan } from '../../ports/cap-store.js';

/** History kept per pipeline: enough for an event day, bounded so that etcd stays small. */
const HISTORY_KEPT = 200;

/** CapStore on etcd: `<prefix>/cap-overrides/<pipeline>` and `<prefix>/cap-history/<pipeline>/<time>`. */

export class EtcdCapStore implements CapStore {
  private readonly overridePrefix: string;
  private readonly historyPrefix: string;
  private readonly planKey: string;

  constructor(
    private readonly client: Etcd3,
    prefix: string,
  ) {
    this.overridePrefix = `${prefix}/cap-overrides/`;
    this.historyPrefix = `${prefix}/cap-history/`;
    this.planKey = `${prefix}/cap-plan`;
  }

  async setOverride(o: CapOverride): Promise<void> {
    await this.client.put(`${this.overridePrefix}${o.pipeline}`).value(JSON.stringify(o));
  }

  async clearOverride(pipeline: string): Promise<boolean> {
    const res = await this.client.delete().key(`${this.overridePrefix}${pipeline}`).exec();
    return Number(res.deleted) > 0;
  }

  async overrides(onMalformed?: (pipeline: string, why: string) => void): Promise<Map<string, CapOverride>> {
    const values = await this.client.getAll().prefix(this.overridePrefix).strings();
    const out = new Map<string, CapOverride>();
    for (const [key, v] of Object.entries(values)) {
      const pipeline = key.slice(this.overridePrefix.length);
      let value: unknown;
      try {
        value = JSON.parse(v);
      } catch (err) {
        onMalformed?.(pipeline, `not JSON: ${(err as Error).message}`);
        continue;
      }
      const why = capOverrideProblem(value) || ((value as CapOverride).pipeline !== pipeline ? `it names pipeline ${JSON.stringify((value as CapOverride).pipeline)}, not its key's` : '');
      if (why) onMalformed?.(pipeline, why);
      else out.set(pipeline, value as CapOverride);
    }
    return out;
  }

  async record(event: CapEvent): Promise<void> {
    // Zero-padded time first: keys sort by time, so trimming removes the oldest.
    const base = `${this.historyPrefix}${event.pipeline}/`;
    await this.client.put(`${base}${String(event.at).padStart(15, '0')}`).value(JSON.stringify(event));
    const keys = await this.client.getAll().prefix(base).keys();
    const doomed = keys.sort().slice(0, Math.max(0, keys.length - HISTORY_KEPT));
    await Promise.all(doomed.map((k) => this.client.delete().key(k).exec()));
  }

  async history(pipeline?: string): Promise<CapEvent[]> {
    const values = await this.client.getAll().prefix(pipeline ? `${this.historyPrefix}${pipeline}/` : this.historyPrefix).strings();
    const out: CapEvent[] = [];
    for (const v of Object.values(values)) {
      try {
        const e = JSON.parse(v) as unknown;
        // History is for reading: an entry that is not an event (hand-edited, truncated) is skipped.
        if (typeof e === 'object' && e !== null && typeof (e as CapEvent).at === 'number' && typeof (e as CapEvent).pipeline === 'string') out.push(e as CapEvent);
      } catch {
        // not JSON: skipped likewise
      }
    }
    return out.sort((a, b) => a.at - b.at);
  }

  /** What this leader last wrote in this term (the plan without its time): an unchanged plan is not written again. */
  private lastPlan: { readonly content: string; readonly term: unknown } | undefined;

  async publishPlan(plan: PublishedCapPlan, term?: unknown): Promise<void> {
    // A leader's round is once a second; an idle one must not write etcd (issue 19 point 6). The
    // plan's `at` says when it last changed, for the CLI to show. A new term writes it once.
    const { at: _at, ...rest } = plan;
    const content = JSON.stringify(rest);
    if (this.lastPlan && this.lastPlan.content === content && this.lastPlan.term === term) return;
    await this.client.put(this.planKey).value(JSON.stringify(plan));
    this.lastPlan = { content, term };
  }

  async readPlan(): Promise<PublishedCapPlan | undefined> {
    const v = await this.client.get(this.planKey).string();
    if (v === null) return undefined;
    try {
      const parsed = JSON.parse(v) as PublishedCapPlan;
      return Array.isArray(parsed.verdicts) ? parsed : undefined;
    } catch {
      return undefined;
    }
  }
}
