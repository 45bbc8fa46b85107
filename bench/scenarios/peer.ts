// The peer side of bench:peer (issue 19 point 5): MirrorMaker 2 active/passive on the same
// workload and the same SIGKILL as bench/scenarios/failover.ts. The producer writes to room-a
// only, MirrorMaker 2 copies room-a to room-b (IdentityReplicationPolicy), a plain kafkajs group
// consumes in room-a; a probe loop with Switchyard's detection window (3 x 250 ms) decides room-a
// is down, and the documented failover follows: stop the room-a consumer, start one in the same
// group in room-b (on the offsets MirrorMaker synced there), move the producer to room-b.

import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import type { Consumer, Producer } from 'kafkajs';
import { createKafka } from '../../src/adapters/kafka/kafka-client.js';
import { silentLogger } from '../../src/ports/logger.js';
import { killService, LOCAL, randomId, services, waitFor } from '../support/local-stack.js';
import { startMirrorMaker, type MirrorMakerProcess } from '../support/mirror-maker.js';

export interface PeerOptions {
  readonly libs: string;
  readonly probeIntervalMs?: number;
  readonly fallAfter?: number;
  /** Records per second, in batches every 10 ms. */
  readonly rate?: number;
  readonly steadyMs?: number;
  readonly afterMs?: number;
  /** The lag case: MirrorMaker 2's JVM is stopped (SIGSTOP) this long before the kill. */
  readonly pauseBeforeKillMs?: number;
  readonly say?: (line: string) => void;
}

export interface PeerResult {
  /** Records a room acknowledged: room-a's before the kill, room-b's after the move. */
  readonly produced: number;
  readonly consumed: number;
  readonly lost: number;
  readonly lostSample: readonly number[];
  readonly duplicates: number;
  readonly killAt: number;
  readonly detectMs: number;
  readonly rtoMs: number;
  /** How old the oldest record only room-a held was at the kill (0: room-b had all of them). */
  readonly replicationLagMsAtKill: number;
  /** Records room-a had acknowledged and room-b did not have at the kill. */
  readonly unreplicatedAtKill: number;
  /** Records room-a acknowledged that never reached room-b: only the dead room holds them. */
  readonly missingInRoomB: number;
  /** Whether room-b's group had offsets from MirrorMaker when the consumer started there. */
  readonly syncedOffsetsAtFailover: boolean;
  /** How MirrorMaker 2 stopped at the end: within the SIGTERM grace or by SIGKILL. */
  readonly mm2Stop: 'exited' | 'killed';
}

const PARTITIONS = 3;
const ROOM_A = LOCAL.rooms['room-a'];
const ROOM_B = LOCAL.rooms['room-b'];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves with the value, or with `fallback` after `ms`. */
function within<T>(p: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<T>((r) => (timer = setTimeout(() => r(fallback), ms)))]).finally(() => clearTimeout(timer));
}

/** A TCP connect to the broker's listener, bounded by `timeoutMs`: true when it is accepted. */
function tcpProbe(hostPort: string, timeoutMs: number): Promise<boolean> {
  const [host, port] = hostPort.split(':');
  return new Promise((done) => {
    const socket = connect({ host: host!, port: Number(port) });
    const finish = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      done(ok);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.once('connect', () => finish(true));
    socket.once('error', () => finish(false));
  });
}

async function withAdmin<T>(brokers: readonly string[], f: (a: ReturnType<ReturnType<typeof createKafka>['admin']>) => Promise<T>): Promise<T> {
  const admin = createKafka({ clientId: 'peer-admin', brokers, log: silentLogger, quiet: true, timeoutMs: 3000, retries: 2 }).admin();
  await admin.connect();
  try {
    return await f(admin);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

export async function runMirrorMakerFailover(opts: PeerOptions): Promise<PeerResult> {
  const say = opts.say ?? (() => undefined);
  const id = randomId();
  const topic = `peer-${id}`;
  const group = `peer-${id}`;
  const rate = opts.rate ?? 500;
  const perBatch = Math.max(1, Math.round(rate / 100));
  const probeIntervalMs = opts.probeIntervalMs ?? 250;
  const fallAfter = opts.fallAfter ?? 3;

  await services('up');
  for (const room of [ROOM_A, ROOM_B]) {
    await withAdmin(room.brokers, (a) => a.createTopics({ topics: [{ topic, numPartitions: PARTITIONS, replicationFactor: 1 }], waitForLeaders: true }));
  }

  const seen = new Map<number, number>(); // seq -> times processed (either room)
  const ackedA = new Map<number, number>(); // seq -> when room-a acknowledged it
  const ackedB = new Set<number>(); // acknowledged by room-b after the move
  const inB = new Map<number, number>(); // seq -> when the tail first saw it in room-b's copy
  let firstInB: number | undefined;
  let target: 'a' | 'b' = 'a';
  let producing = true;
  let killAt: number | undefined;
  let detectedAt: number | undefined;
  let mm2: MirrorMakerProcess | undefined;
  let consumerA: Consumer | undefined;
  let consumerB: Consumer | undefined;
  let tail: Consumer | undefined;
  let producerA: Producer | undefined;
  let producerB: Producer | undefined;
  let probing = false;
  let probing$: Promise<void> = Promise.resolve();
  let producing$: Promise<void> = Promise.resolve();
  let syncedOffsetsAtFailover = false;
  let mm2Stop: 'exited' | 'killed' = 'exited';
  let result: Omit<PeerResult, 'mm2Stop'> | undefined;

  const seq$ = (value: Buffer | null) => Number(JSON.parse(value!.toString()).seq);
  const count = (seq: number) => seen.set(seq, (seen.get(seq) ?? 0) + 1);

  try {
    mm2 = await startMirrorMaker({ id, sourceBrokers: ROOM_A.brokers, targetBrokers: ROOM_B.brokers, topics: [topic], groups: [group] }, opts.libs);
    say(`MirrorMaker 2 started (pid ${mm2.pid}, ${mm2.source}->${mm2.target}); topic ${topic}`);

    // The producer's client fails fast (no retries: a send is bounded by 500 ms anyway); the
    // consumers' clients keep kafkajs's usual retries (a group's first join meets retriable errors).
    const clientA = createKafka({ clientId: `peer-a-${id}`, brokers: ROOM_A.brokers, log: silentLogger, quiet: true, timeoutMs: 1000, retries: 0 });
    const consumersA = createKafka({ clientId: `peer-ca-${id}`, brokers: ROOM_A.brokers, log: silentLogger, quiet: true });
    const clientB = createKafka({ clientId: `peer-b-${id}`, brokers: ROOM_B.brokers, log: silentLogger, quiet: true });
    producerA = clientA.producer({ allowAutoTopicCreation: false });
    producerB = clientB.producer({ allowAutoTopicCreation: false });
    await producerA.connect();
    // A warm client for room-b, as the application would keep one; it sends nothing before the move.
    await producerB.connect();

    // Room-b's copy, read by a separate group (not mirrored): when each record reached room-b.
    tail = clientB.consumer({ groupId: `peer-tail-${id}`, maxWaitTimeInMs: 100 });
    await tail.connect();
    await tail.subscribe({ topic, fromBeginning: true });
    await tail.run({
      eachMessage: async ({ message }) => {
        const s = seq$(message.value);
        if (!inB.has(s)) inB.set(s, Date.now());
        firstInB ??= Date.now();
      },
    });

    // The application's consumer in room-a: kafkajs autocommit with its defaults (offsets are
    // committed after every batch it processes).
    consumerA = consumersA.consumer({ groupId: group, maxWaitTimeInMs: 100 });
    await consumerA.connect();
    await consumerA.subscribe({ topic, fromBeginning: true });
    await consumerA.run({ eachMessage: async ({ message }) => void count(seq$(message.value)) });

    let seq = 0;
    producing$ = (async () => {
      while (producing) {
        const now = Date.now();
        const batch = Array.from({ length: perBatch }, () => {
          seq++;
          return { seq, message: { key: `k${seq}`, value: JSON.stringify({ seq }), timestamp: String(now), partition: seq % PARTITIONS } };
        });
        const room = target;
        const producer = room === 'a' ? producerA! : producerB!;
        // A send not acknowledged within 500 ms (the dual producer's bound) is not counted.
        const ok = await within(
          producer.send({ topic, acks: -1, timeout: 500, messages: batch.map((b) => b.message) }).then(() => true, () => false),
          500,
          false,
        );
        if (ok) {
          const at = Date.now();
          if (room === 'a') {
            // Room-a is dead from the kill on: an acknowledgement can only be from before it.
            for (const b of batch) ackedA.set(b.seq, at);
          } else for (const b of batch) ackedB.add(b.seq);
        }
        await sleep(10);
      }
    })();

    await waitFor('the consumer to process records in room-a', 20_000, () => (seen.size > rate / 2 ? true : undefined));
    await waitFor('MirrorMaker 2 to copy records to room-b', 60_000, () => (firstInB !== undefined ? true : undefined), 100);
    // Steady state: the copy keeps up and room-b's group has synced offsets for every partition.
    await waitFor('MirrorMaker 2 to sync the group offsets to room-b', 60_000, async () => {
      const offs = await withAdmin(ROOM_B.brokers, (a) => a.fetchOffsets({ groupId: group, topics: [topic] }));
      return offs.every((t) => t.partitions.every((p) => Number(p.offset) >= 0)) ? true : undefined;
    }, 500);
    say(`steady: ${seen.size} processed in room-a, ${inB.size} copied to room-b, group offsets synced`);

    // The probe loop, as Switchyard's controller runs it: every interval, `fallAfter` failures in a row = down.
    probing = true;
    probing$ = (async () => {
      // A monitor's probes run at their own phase, not in step with the kill: without this random
      // start the kill (steadyMs after this point, a multiple of 250 ms) always landed just after
      // a probe, the worst case (detection = the whole window).
      await sleep(Math.random() * probeIntervalMs);
      let fails = 0;
      while (probing && detectedAt === undefined) {
        const started = Date.now();
        const ok = await tcpProbe(ROOM_A.brokers[0]!, Math.floor(probeIntervalMs * 0.8));
        fails = ok ? 0 : fails + 1;
        if (fails >= fallAfter && killAt !== undefined) detectedAt = Date.now();
        await sleep(Math.max(0, probeIntervalMs - (Date.now() - started)));
      }
    })();

    await sleep(opts.steadyMs ?? 1500);
    if (opts.pauseBeforeKillMs) {
      mm2.pause();
      say(`MirrorMaker 2 paused (SIGSTOP) for ${opts.pauseBeforeKillMs} ms before the kill`);
      await sleep(opts.pauseBeforeKillMs);
    }

    killAt = killService(ROOM_A.service);
    // What room-b had at the kill, measured by the tail (its own fetch delay makes this an upper bound).
    // (Every acknowledgement from room-a was sent before the kill.)
    const missingAtKill = [...ackedA].filter(([s]) => !(inB.has(s) && inB.get(s)! <= killAt!));
    const replicationLagMsAtKill = missingAtKill.length === 0 ? 0 : killAt - Math.min(...missingAtKill.map(([, at]) => at));
    say(`SIGKILL room-a's broker; room-b's copy lacks ${missingAtKill.length} acknowledged records (${replicationLagMsAtKill} ms)`);

    const detected = await waitFor('the probe loop to declare room-a down', 15_000, () => detectedAt, 10);
    // The documented failover: stop the room-a consumer (not awaited: its LeaveGroup goes to a dead
    // broker), start the group in room-b on the offsets MirrorMaker synced, move the producer.
    const oldA = consumerA;
    consumerA = undefined;
    const stoppingA = within(oldA.disconnect().catch(() => undefined), 5000, undefined);
    target = 'b';
    const synced = await withAdmin(ROOM_B.brokers, (a) => a.fetchOffsets({ groupId: group, topics: [topic] })).catch(() => []);
    syncedOffsetsAtFailover = synced.length > 0 && synced.every((t) => t.partitions.every((p) => Number(p.offset) >= 0));
    let firstBAt: number | undefined;
    consumerB = clientB.consumer({ groupId: group, maxWaitTimeInMs: 100 });
    await consumerB.connect();
    // Without a synced offset the group would start at the earliest record (duplicates, not loss).
    await consumerB.subscribe({ topic, fromBeginning: true });
    await consumerB.run({
      eachMessage: async ({ message }) => {
        firstBAt ??= Date.now();
        count(seq$(message.value));
      },
    });
    await waitFor('the consumer to process a record in room-b', 30_000, () => firstBAt, 5);
    say(`consumer resumed in room-b: detect ${detected - killAt} ms, RTO ${firstBAt! - killAt} ms`);
    await sleep(opts.afterMs ?? 2000);
    producing = false;
    await producing$;
    await stoppingA;

    // Drain: every record room-b holds (copied or produced there) should be processed.
    await waitFor('the consumer to drain room-b', 20_000, () =>
      [...ackedB].every((s) => seen.has(s)) && [...inB.keys()].every((s) => seen.has(s)) ? true : undefined,
    ).catch(() => undefined);

    const acked = [...ackedA.keys(), ...ackedB];
    const lostList = acked.filter((s) => !seen.has(s)).sort((a, b) => a - b);
    let duplicates = 0;
    for (const n of seen.values()) if (n > 1) duplicates += n - 1;
    result = {
      produced: acked.length,
      consumed: seen.size,
      lost: lostList.length,
      lostSample: lostList.slice(0, 10),
      duplicates,
      killAt,
      detectMs: detected - killAt,
      rtoMs: firstBAt! - killAt,
      replicationLagMsAtKill,
      unreplicatedAtKill: missingAtKill.length,
      missingInRoomB: [...ackedA.keys()].filter((s) => !inB.has(s)).length,
      syncedOffsetsAtFailover,
    };
  } catch (err) {
    let mm2Log = '';
    try {
      mm2Log = mm2 ? readFileSync(mm2.logFile, 'utf8').split('\n').slice(-15).join('\n') : '';
    } catch {
      /* no log yet */
    }
    throw new Error(`${(err as Error).message} (acknowledged by room-a ${ackedA.size}, by room-b ${ackedB.size}, processed ${seen.size}, copied to room-b ${inB.size})\n--- MirrorMaker 2 log (last lines) ---\n${mm2Log}`);
  } finally {
    producing = false;
    probing = false;
    await producing$.catch(() => undefined);
    await probing$.catch(() => undefined);
    for (const c of [consumerB, tail, consumerA]) if (c) await within(c.disconnect().catch(() => undefined), 5000, undefined);
    for (const p of [producerB, producerA]) if (p) await within(p.disconnect().catch(() => undefined), 3000, undefined);
    // Room-a back first, then MirrorMaker (with room-a dead it ignores SIGTERM: SIGKILL after 5 s).
    if (killAt !== undefined) await services('start', ROOM_A.service);
    if (mm2) mm2Stop = await mm2.stop(5000);
    say(`MirrorMaker 2 stopped (${mm2Stop === 'exited' ? 'SIGTERM' : 'SIGKILL after 5 s of SIGTERM'})`);
    // Leave the shared brokers as they were: this run's topic and MirrorMaker's internal topics.
    for (const room of [ROOM_A, ROOM_B]) {
      await within(
        withAdmin(room.brokers, async (a) => {
          const mine = (await a.listTopics()).filter((t) => t === topic || (mm2 && (t.includes(mm2.source) || t.includes(mm2.target))));
          if (mine.length) await a.deleteTopics({ topics: mine, timeout: 5000 });
        }).catch(() => undefined),
        10_000,
        undefined,
      );
    }
  }
  return { ...result!, mm2Stop };
}
