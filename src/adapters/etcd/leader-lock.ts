import { Election, type Campaign, type Etcd3 } from 'etcd3';
import type { LeaderInfo, Leadership, LeaderLock } from '../../ports/leader-lock.js';
import type { Logger } from '../../ports/logger.js';
import { etcdKeys } from './client.js';

interface LeaseEvents {
  on(event: 'keepaliveSucceeded', handler: () => void): unknown;
}

/**
 * Leader election with etcd3's election API on a lease of `ttlSeconds`.
 *
 * etcd3 reports a lost lease only about 2 x TTL after etcd stopped answering, so this lock also
 * runs its own watchdog: with no successful keep-alive for 2/3 of the TTL, leadership is declared
 * lost at once. Writes stay fenced regardless (see RouteStore.put).
 */
export class EtcdLeaderLock implements LeaderLock {
  private current: Campaign | undefined;
  /** Aborts the current leadership's `lost` signal (resign, watchdog, campaign error). */
  private currentLost: AbortController | undefined;
  private watchdog: NodeJS.Timeout | undefined;

  constructor(
    private readonly client: Etcd3,
    private readonly prefix: string,
    private readonly id: string,
    private readonly ttlSeconds: number,
    private readonly log: Logger,
  ) {}

  private election() {
    const keys = etcdKeys(this.prefix);
    return this.client.namespace(keys.electionNamespace).election(keys.electionName, this.ttlSeconds);
  }

  async campaign(signal: AbortSignal): Promise<Leadership> {
    const campaign = this.election().campaign(this.id);
    this.current = campaign;
    const lost = new AbortController();
    this.currentLost = lost;
    let lastKeepAlive = Date.now();
    (campaign as unknown as { lease: LeaseEvents }).lease.on('keepaliveSucceeded', () => {
      lastKeepAlive = Date.now();
    });
    campaign.on('error', (err) => lost.abort(err));

    await new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        campaign.resign().catch(() => undefined);
        reject(signal.reason ?? new Error('campaign aborted'));
      };
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      campaign.on('elected', () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      });
      campaign.on('error', (err) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      });
    });

    try {
      // Say since when we lead (the key keeps its create revision, so the fence is unchanged).
      // Best effort: a failure here means the lease is going, which the checks below catch.
      await campaign.proclaim(JSON.stringify({ id: this.id, since: Date.now() })).catch((err: Error) => this.log.warn('could not proclaim leadership time', { err: err.message }));
      const key = await campaign.getCampaignKey();
      const res = await this.client.get(key).exec();
      const kv = res.kvs[0];
      if (!kv) throw new Error(`elected, but our election key ${key} is already gone`);
      lastKeepAlive = Date.now();
      const limitMs = (this.ttlSeconds * 1000 * 2) / 3;
      clearInterval(this.watchdog);
      const watchdog = setInterval(() => {
        const silentMs = Date.now() - lastKeepAlive;
        if (silentMs > limitMs && !lost.signal.aborted) {
          this.log.warn('lease keep-alive silent; giving up leadership', { silentMs, limitMs });
          lost.abort(new Error(`no lease keep-alive for ${silentMs} ms`));
        }
      }, 100);
      watchdog.unref();
      this.watchdog = watchdog;
      lost.signal.addEventListener('abort', () => clearInterval(watchdog), { once: true });
      return { fence: { key, createRevision: kv.create_revision }, lost: lost.signal };
    } catch (err) {
      // Elected but unable to hold it: give the key up (revoking stops the keep-alive even if the
      // revoke call fails), or this candidate would sit in front of every later campaign,
      // its own included, while its lease is kept alive.
      lost.abort(err);
      await campaign.resign().catch(() => undefined);
      throw err;
    }
  }

  /**
   * Gives leadership up: the current leadership's `lost` aborts at once (so whoever waits on it
   * stops acting and may campaign again), then the lease is revoked. Revoking stops the lease's
   * keep-alive first, so even when the revoke call fails the key goes when the lease runs out.
   */
  async resign(): Promise<void> {
    clearInterval(this.watchdog);
    const c = this.current;
    const lost = this.currentLost;
    this.current = undefined;
    this.currentLost = undefined;
    if (lost && !lost.signal.aborted) lost.abort(new Error('resigned'));
    if (c) await c.resign();
  }

  async leader(): Promise<string | undefined> {
    const value = await this.election().leader();
    return value === undefined ? undefined : parseProclaimed(value).id;
  }

  async leaderInfo(): Promise<LeaderInfo | undefined> {
    const keys = etcdKeys(this.prefix);
    // The election's own layout: the oldest key under <Election.prefix>/<name>/ leads.
    const res = await this.client.namespace(`${keys.electionNamespace}${Election.prefix}/${keys.electionName}/`).getAll().sort('Create', 'Ascend').limit(1).exec();
    const kv = res.kvs[0];
    if (!kv) return undefined;
    const proclaimed = parseProclaimed(kv.value.toString());
    const lease = kv.lease && kv.lease !== '0' ? await this.client.leaseClient.leaseTimeToLive({ ID: kv.lease }) : undefined;
    const ttl = lease ? Number(lease.TTL) : NaN;
    return { ...proclaimed, ...(Number.isFinite(ttl) && ttl >= 0 && { leaseRemainingMs: ttl * 1000 }) };
  }
}

/** A leader proclaims `{"id","since"}` once elected; before that (or an older version) its id alone. */
function parseProclaimed(value: string): { id: string; since?: number } {
  if (value.startsWith('{')) {
    try {
      const v = JSON.parse(value) as { id?: unknown; since?: unknown };
      if (typeof v.id === 'string') return { id: v.id, ...(typeof v.since === 'number' && { since: v.since }) };
    } catch {
      // not ours: fall through and show it as it is
    }
  }
  return { id: value };
}
