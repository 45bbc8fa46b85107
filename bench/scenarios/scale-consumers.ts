// Scale, consumer part: many SDK consumers (pipelines x members, each pipeline one consumer group
// over one topic) follow their routes while a dual producer writes to both rooms; room-a's broker
// is SIGKILLed under three controller replicas (room-a, room-b, witness; two observers must agree)
// and every consumer must be placed in room-b. Per consumer: decision (route.since) -> placed in
// room-b (FlipReport.seekedAt; for a member that gets no record, the moment its status first
// serves room-b, polled) and -> its first record there.

import { fork, type ChildProcess } from 'node:child_process';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Session } from 'node:inspector/promises';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createEtcdClient } from '../../src/adapters/etcd/client.js';
import { EtcdJournalStore } from '../../src/adapters/etcd/journal-store.js';
import { EtcdRouteStore } from '../../src/adapters/etcd/route-store.js';
import { createDualProducer } from '../../src/sdk/dual-producer.js';
import type { FlipReport, RoutedConsumer } from '../../src/sdk/routed-consumer.js';
import { scaleConsumer } from '../support/scale-consumer.js';
import { killService, LOCAL, randomId, services, waitFor } from '../support/local-stack.js';
import type { WorkerConsumer, WorkerMessage, WorkerSetup } from '../support/consumer-worker.js';
import { createTopicsBoth, deleteTopicsBoth, startTimedController, writeScaleConfig, type ChildController, type ScalePipeline } from '../support/scale-stack.js';

export interface ScaleConsumersOptions {
  readonly pipelines: number;
  readonly members: number;
  readonly partitions: number;
  readonly probeIntervalMs: number;
  /** Records per second per topic. */
  readonly rate: number;
  /**
   * Processes the consumers run in (0: all in this one, sharing its event loop). With N, N forked
   * workers hold them round-robin, as application instances would (bench/support/consumer-worker.ts).
   */
  readonly processes?: number;
  /** CPU profiles of this process: PREFIX-steady.cpuprofile (2 s before the kill) and PREFIX-move.cpuprofile (kill to every consumer moved). */
  readonly moveProfile?: string;
  readonly say: (line: string) => void;
}

export interface ConsumerMove {
  readonly pipeline: string;
  readonly consumer: string;
  /** Decision -> placed in room-b (seekedAt, or the polled status for a member with no record). */
  readonly placedMs: number;
  readonly placedBy: 'flip-report' | 'status';
  /** From the flip report (members that got a record): decision -> route seen, -> old room let go. */
  readonly seenMs?: number;
  readonly stoppedOldMs?: number;
  /** From the flip report: whether the paused standby member was promoted (no connect, no join). */
  readonly promoted?: boolean;
  /** From the flip report: the stored watermarks came from the read made when room-a's connection failed. */
  readonly marksReadAhead?: boolean;
  /** From the flip report: the promoted member's log ends had been asked when room-a's connection failed. */
  readonly lookupsReadAhead?: boolean;
  /** Decision -> first record in room-b (absent: none arrived, e.g. a member with no partition). */
  readonly firstRecordMs?: number;
}

export interface ScaleConsumersResult {
  readonly consumers: number;
  readonly pipelines: number;
  readonly members: number;
  readonly partitions: number;
  readonly detectMs: number;
  /** Decisions' spread: last decidedAt - first decidedAt over the pipelines. */
  readonly decisionSpreadMs: number;
  /** Members that had processed a record in room-a before the kill (a member without a partition has none). */
  readonly membersWithRecords: number;
  /** This process's event-loop delay, kill to every consumer moved (all 100 consumers share it). */
  readonly loopDelayMsP50: number;
  readonly loopDelayMsMax: number;
  readonly moves: readonly ConsumerMove[];
  /** Per pipeline that switched: the leader's route write (its journal's flip-consumers step), ms after the decision. */
  readonly routeWrittenMs: readonly number[];
  readonly movedAll: boolean;
  readonly produced: number;
  readonly lost: number;
  readonly duplicates: number;
}

export async function runScaleConsumers(o: ScaleConsumersOptions): Promise<ScaleConsumersResult> {
  const id = randomId();
  const prefix = `/switchyard-scalec-${id}`;
  const pipelines: ScalePipeline[] = Array.from({ length: o.pipelines }, (_, i) => ({ name: `c${String(i).padStart(2, '0')}`, topics: [`scalec-${id}-t${i}`], group: `scalec-${id}-g${i}` }));
  const topics = pipelines.flatMap((p) => p.topics);
  const etcd = createEtcdClient({ endpoints: [LOCAL.etcd] });
  const routes = new EtcdRouteStore(etcd, prefix);
  const controllers: ChildController[] = [];
  const consumers: { pipeline: string; consumerId: string; servingRoom: () => string | undefined; flip?: FlipReport; movedAt?: number; firstB?: number; records: number }[] = [];
  const local: RoutedConsumer[] = [];
  const workers: ChildProcess[] = [];
  const seen = new Map<string, Map<number, number>>(pipelines.map((p) => [p.name, new Map()]));
  const acked = new Map<string, Set<number>>(pipelines.map((p) => [p.name, new Set()]));
  let producing = true;
  let producing$: Promise<void> = Promise.resolve();
  const producer = createDualProducer({ rooms: Object.entries(LOCAL.rooms).map(([room, r]) => ({ room, brokers: r.brokers })), sendTimeoutMs: 500 });
  let killed = false;
  try {
    o.say(`creating ${topics.length} topics of ${o.partitions} partitions in both rooms ...`);
    await createTopicsBoth(topics, o.partitions);
    const configFile = writeScaleConfig({ prefix, pipelines, probeIntervalMs: o.probeIntervalMs, fallAfter: 3, marginMs: 2000, observersRequired: 2, maxLossMs: 0 });
    for (const room of ['room-a', 'room-b', 'witness']) controllers.push(startTimedController(configFile, `observer-${room}`, room));
    await waitFor('routes for every pipeline', 30_000, async () => ((await etcd.getAll().prefix(`${prefix}/routes/`).count()) >= o.pipelines ? true : undefined), 200);

    // The dual producer: every 20 ms a batch per topic, round-robin over all its partitions (each
    // topic its own count: with one count shared by all topics, each topic got records on 2 of its
    // 10 partitions only, and 80 of the 100 members had none).
    const perBatch = Math.max(1, Math.round(o.rate / 50));
    let seq = 0;
    const nextPartition = new Map(pipelines.map((p) => [p.name, 0]));
    producing$ = (async () => {
      while (producing) {
        const now = Date.now();
        await Promise.all(
          pipelines.map(async (p) => {
            const batch = Array.from({ length: perBatch }, () => {
              seq++;
              const n = nextPartition.get(p.name)!;
              nextPartition.set(p.name, n + 1);
              return { key: `k${seq}`, value: JSON.stringify({ seq }), timestamp: now, partition: n % o.partitions, seq };
            });
            const result = await producer.send(p.topics[0]!, batch).catch(() => undefined);
            if (result?.['room-b']) for (const r of batch) acked.get(p.name)!.add(r.seq);
          }),
        );
        await new Promise((r) => setTimeout(r, 20));
      }
    })();

    const processes = o.processes ?? 0;
    o.say(`starting ${o.pipelines * o.members} SDK consumers (${o.pipelines} groups of ${o.members}) ${processes > 0 ? `in ${processes} worker processes` : 'in this process'}`);
    const record = (entry: (typeof consumers)[number], pipeline: string, s: number) => {
      entry.records++;
      const map = seen.get(pipeline)!;
      map.set(s, (map.get(s) ?? 0) + 1);
    };
    for (const p of pipelines) {
      for (let m = 0; m < o.members; m++) {
        const entry: (typeof consumers)[number] = { pipeline: p.name, records: 0, consumerId: '', servingRoom: () => undefined };
        consumers.push(entry);
        if (processes > 0) continue;
        const c = scaleConsumer(
          { pipeline: p.name, clientId: `${p.name}-m${m}`, etcd: LOCAL.etcd, prefix, marginMs: 2000 },
          (seq, room) => {
            if (room === 'room-b' && entry.firstB === undefined) entry.firstB = Date.now();
            record(entry, p.name, seq);
          },
          (r) => {
            entry.flip = r;
          },
        );
        entry.consumerId = c.consumerId;
        entry.servingRoom = () => c.status().servingRoom;
        local.push(c);
      }
    }
    if (processes > 0) {
      const share = (w: number): WorkerConsumer[] => consumers.flatMap((e, index) => (index % processes === w ? [{ index, pipeline: e.pipeline, clientId: `${e.pipeline}-m${index % o.members}` }] : []));
      await Promise.all(
        Array.from({ length: processes }, (_, w) => {
          const setup: WorkerSetup = { etcd: LOCAL.etcd, prefix, marginMs: 2000, consumers: share(w) };
          const child = fork(fileURLToPath(new URL('../support/consumer-worker.js', import.meta.url)), [JSON.stringify(setup)], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
          workers.push(child);
          return new Promise<void>((resolve, reject) => {
            child.once('exit', (code) => reject(new Error(`consumer worker ${w} exited (${code})`)));
            child.on('message', (m: WorkerMessage) => {
              switch (m.t) {
                case 'started':
                  for (const [i, cid] of Object.entries(m.ids)) consumers[Number(i)]!.consumerId = cid;
                  resolve();
                  break;
                case 'serving': {
                  const e = consumers[m.index]!;
                  e.servingRoom = () => m.room;
                  if (killed && m.room === 'room-b' && e.movedAt === undefined) e.movedAt = m.at;
                  break;
                }
                case 'flip':
                  consumers[m.index]!.flip = m.report;
                  break;
                case 'records': {
                  const e = consumers[m.index]!;
                  if (m.firstB !== undefined && e.firstB === undefined) e.firstB = m.firstB;
                  for (const q of m.seqs) record(e, e.pipeline, q);
                  break;
                }
              }
            });
          });
        }),
      );
    } else {
      await Promise.all(local.map((c) => c.start()));
    }
    await waitFor('every consumer to serve room-a', 60_000, () => (consumers.every((e) => e.servingRoom() === 'room-a') ? true : undefined), 200);
    // Every member of a group gets a partition once the group settles; members still without one
    // after 45 s are reported, and the run goes on.
    const startedAt = Date.now();
    const settleBy = startedAt + 45_000;
    let lastSaid = 0;
    while (Date.now() < settleBy && consumers.filter((e) => e.records > 0).length < consumers.length) {
      if (Date.now() - lastSaid > 5000) {
        lastSaid = Date.now();
        o.say(`${consumers.filter((e) => e.records > 0).length}/${consumers.length} members have processed records in room-a (${[...seen.values()].reduce((n, m) => n + m.size, 0)} records)`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    // Then a steady state before the kill: at least 15 s since the consumers started, so that the
    // standby members have joined and the kill does not land in the start-up's own work.
    while (Date.now() < startedAt + 15_000) await new Promise((r) => setTimeout(r, 200));
    await waitFor('the controllers to see both rooms healthy', 30_000, () =>
      controllers.every((c) => c.logs.some((l) => l['msg'] === 'verdict' && l['rule'] === 'healthy' && String(l['rooms']) === 'room-a=OK,room-b=OK')) || controllers.some((c) => c.logs.some((l) => l['msg'] === 'first tick as leader')) ? true : undefined,
    );
    // With --move-prof: 2 s of steady state, then the move window, each profiled on its own.
    const profiler = o.moveProfile ? new Session() : undefined;
    const profile = async (what: 'start' | 'steady' | 'move') => {
      if (!profiler || !o.moveProfile) return;
      if (what === 'start') {
        profiler.connect();
        await profiler.post('Profiler.enable');
        await profiler.post('Profiler.setSamplingInterval', { interval: 500 });
      } else {
        const { profile } = await profiler.post('Profiler.stop');
        const file = `${o.moveProfile}-${what}.cpuprofile`;
        writeFileSync(file, JSON.stringify(profile));
        o.say(`${what === 'steady' ? '2 s before the kill' : 'kill to every consumer moved'}: CPU profile in ${file} (node dist/bench/support/cpuprofile-top.js ${file})`);
      }
      if (what === 'move') profiler.disconnect();
      else await profiler.post('Profiler.start');
    };
    await profile('start');
    await new Promise((r) => setTimeout(r, 2000));
    await profile('steady');
    const withRecords = consumers.filter((e) => e.records > 0).length;
    o.say(`steady state: ${withRecords}/${consumers.length} members have processed records in room-a; SIGKILL room-a's broker now`);

    // How late this process's event loop ran while the 100 consumers moved (they share it).
    const loopDelay = monitorEventLoopDelay({ resolution: 10 });
    loopDelay.enable();
    const killAt = killService(LOCAL.rooms['room-a'].service);
    killed = true;
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && consumers.some((e) => e.movedAt === undefined)) {
      const now = Date.now();
      for (const e of consumers) if (e.movedAt === undefined && e.servingRoom() === 'room-b') e.movedAt = now;
      await new Promise((r) => setTimeout(r, 5));
    }
    loopDelay.disable();
    await profile('move');
    const movedAll = consumers.every((e) => e.movedAt !== undefined);
    o.say(`${consumers.filter((e) => e.movedAt !== undefined).length}/${consumers.length} consumers serve room-b ${Date.now() - killAt} ms after the kill; waiting for first records there`);
    await waitFor('first records in room-b', 15_000, () => (consumers.every((e) => e.firstB !== undefined) ? true : undefined), 50).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 2000));
    producing = false;
    await producing$;
    await waitFor('every acknowledged record to be processed', 20_000, () => (pipelines.every((p) => [...acked.get(p.name)!].every((s) => seen.get(p.name)!.has(s))) ? true : undefined), 200).catch(() => undefined);

    const decided = new Map<string, number>();
    for (const p of pipelines) {
      const r = (await routes.get(p.name))?.route;
      if (r?.room === 'room-b') decided.set(p.name, r.since);
    }
    const moves: ConsumerMove[] = [];
    for (const e of consumers) {
      const d = decided.get(e.pipeline);
      if (d === undefined || e.movedAt === undefined) continue;
      const placedAt = e.flip?.toRoom === 'room-b' ? e.flip.seekedAt : e.movedAt;
      moves.push({
        pipeline: e.pipeline,
        consumer: e.consumerId,
        placedMs: placedAt - d,
        placedBy: e.flip?.toRoom === 'room-b' ? 'flip-report' : 'status',
        ...(e.flip?.toRoom === 'room-b' && { seenMs: e.flip.seenAt - d, stoppedOldMs: e.flip.stoppedOldAt - d, promoted: e.flip.promoted === true, marksReadAhead: e.flip.marksReadAhead === true, lookupsReadAhead: (e.flip.lookupsReadAhead ?? 0) > 0 }),
        ...(e.firstB !== undefined && { firstRecordMs: (e.flip?.toRoom === 'room-b' ? e.flip.firstMessageAt : e.firstB) - d }),
      });
    }
    const decisions = [...decided.values()];
    const journals = await new EtcdJournalStore(etcd, prefix).list();
    const routeWrittenMs = pipelines.flatMap((p) => {
      const j = journals.get(p.name)?.journal;
      const flipped = j?.steps.find((st) => st.step === 'flip-consumers');
      return j && flipped && j.to.room === 'room-b' ? [flipped.at - j.createdAt] : [];
    });
    let lost = 0;
    let duplicates = 0;
    let produced = 0;
    for (const p of pipelines) {
      const s = seen.get(p.name)!;
      const a = acked.get(p.name)!;
      produced += a.size;
      for (const q of a) if (!s.has(q)) lost++;
      for (const n of s.values()) if (n > 1) duplicates += n - 1;
    }
    return {
      consumers: consumers.length,
      pipelines: o.pipelines,
      members: o.members,
      partitions: o.partitions,
      detectMs: decisions.length > 0 ? Math.min(...decisions) - killAt : Number.NaN,
      decisionSpreadMs: decisions.length > 0 ? Math.max(...decisions) - Math.min(...decisions) : Number.NaN,
      membersWithRecords: withRecords,
      loopDelayMsP50: Math.round(loopDelay.percentile(50) / 1e6),
      loopDelayMsMax: Math.round(loopDelay.max / 1e6),
      moves,
      routeWrittenMs,
      movedAll: movedAll && decided.size === o.pipelines,
      produced,
      lost,
      duplicates,
    };
  } catch (err) {
    const tail = controllers.flatMap((c) => c.logs.slice(-5)).map((l) => JSON.stringify(l)).join('\n');
    throw new Error(`${(err as Error).message}\n--- controller log (last lines) ---\n${tail}`);
  } finally {
    producing = false;
    await producing$.catch(() => undefined);
    o.say('closing consumers, producer and controllers ...');
    await Promise.all(local.map((c) => c.close().catch(() => undefined)));
    await Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            if (w.exitCode !== null) return resolve();
            const kill = setTimeout(() => w.kill('SIGKILL'), 15_000);
            w.once('exit', () => {
              clearTimeout(kill);
              resolve();
            });
            w.send({ t: 'close' });
          }),
      ),
    );
    await producer.close(500).catch(() => undefined);
    await Promise.all(controllers.map((c) => c.stop()));
    await etcd.delete().prefix(`${prefix}/`).exec().catch(() => undefined);
    etcd.close();
    if (killed) await services('start', LOCAL.rooms['room-a'].service);
    await deleteTopicsBoth(topics);
  }
}
