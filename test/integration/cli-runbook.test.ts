import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createEtcdClient } from '../../src/adapters/etcd/client.js';
import { LOCAL, PROJECT, randomId } from '../../bench/support/local-stack.js';
import type { RunbookExport } from '../../src/cli/runbook-view.js';
import { cli } from '../support/cli.js';

// The runbook commands as an operator types them, against a real etcd with no controller running:
// what they write is inputs only, each checked at the door (exit 2 for a mistake, 1 for a refusal,
// 3 for an unreachable etcd), and status and report read them back.

const prefix = `/switchyard-cli-rb-${randomId()}`;
const dir = mkdtempSync(join(tmpdir(), 'switchyard-cli-rb-'));
const topo = (etcd: string) =>
  readFileSync(PROJECT.resolve('examples/local-two-rooms.yaml'), 'utf8')
    .replace('policies: ../policies', `policies: ${PROJECT.resolve('policies')}`)
    .replace('prefix: /switchyard', `prefix: ${prefix}`)
    .replace(/endpoints: \[[^\]]*\]/, `endpoints: ["${etcd}"]`);
const config = join(dir, 'topology.yaml');
writeFileSync(config, topo(LOCAL.etcd));
const deadConfig = join(dir, 'dead.yaml');
writeFileSync(deadConfig, topo('http://127.0.0.1:1'));
const example = PROJECT.resolve('examples/runbooks/live-event.yaml');

afterAll(async () => {
  const etcd = createEtcdClient({ endpoints: [LOCAL.etcd] });
  await etcd.delete().prefix(prefix).exec();
  etcd.close();
});

describe('switchyard runbook (built CLI, real etcd)', () => {
  it('start checks its input at the door: options, then the runbook, naming file, step and field (exit 2, nothing started)', async () => {
    const noSpeed = await cli('runbook', 'start', example, '-c', config, '--from', 'T-1h', '--yes');
    expect(noSpeed).toMatchObject({ code: 2, stderr: 'switchyard: --from goes with --speed (a rehearsal)\n' });
    expect((await cli('runbook', 'start', example, '-c', config, '--speed', '0', '--yes')).code).toBe(2);
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, readFileSync(example, 'utf8').replace('action: { pause: { pipeline: live-dashboard } }', 'action: { pause: { pipeline: live-dashbord } }'));
    const r = await cli('runbook', 'start', bad, '-c', config, '--yes');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("bad.yaml: step hold-maintenance (during): action.pause.pipeline: unknown pipeline 'live-dashbord'");
    expect((await cli('runbook', 'status', 'new-year-gala', '-c', config)).code).toBe(2); // nothing was started
  });

  it('a rehearsal too fast for a timeout is refused; steps over before the start are skipped on the record only when asked', async () => {
    const late = join(dir, 'late.yaml');
    writeFileSync(late, readFileSync(example, 'utf8').replace('event: new-year-gala', 'event: late-gala'));
    const fast = await cli('runbook', 'start', late, '-c', config, '--speed', '1000', '--yes');
    expect(fast).toMatchObject({ code: 2, stderr: "switchyard: --speed 1000 is too fast for step freeze's 600 s timeout: at most 300 (2 s of real time per timeout)\n" });
    const past = await cli('runbook', 'start', late, '-c', config, '--speed', '200', '--from', 'T+3h', '--yes');
    expect(past).toMatchObject({ code: 2, stderr: 'switchyard: 6 step(s) are over before the start (stress-check, freeze, drill, caps-on, go-live, hold-maintenance): pass --skip-past to skip them, on the record\n' });
    expect((await cli('runbook', 'start', late, '-c', config, '--speed', '200', '--from', 'T+3h', '--skip-past', '--operator', 'erin', '--yes')).code).toBe(0);
    const x = JSON.parse((await cli('runbook', 'status', 'late-gala', '-c', config, '-o', 'json')).stdout) as RunbookExport;
    expect(x.steps.filter((st) => st.state === 'skipped').map((st) => st.id)).toEqual(['stress-check', 'freeze', 'drill', 'caps-on', 'go-live', 'hold-maintenance']);
    expect(x.steps.find((st) => st.id === 'drill')?.result).toMatch(/^skipped by erin: planned for 2026-12-31 10:30:00 UTC .*, before the runbook started$/);
  });

  it('start, status, ack, skip, abort and report: each recorded once, refusals exit 1, unknown names exit 2', async () => {
    const started = await cli('runbook', 'start', example, '-c', config, '--operator', 'erin', '--yes');
    expect(started.stderr).toBe('');
    expect(started.stdout).toMatch(/^started new-year-gala \(14 steps\); follow it with: switchyard runbook status new-year-gala/);
    const again = await cli('runbook', 'start', example, '-c', config, '--yes');
    expect(again).toMatchObject({ code: 1, stderr: 'switchyard: runbook new-year-gala is started already: see switchyard runbook status new-year-gala\n' });

    const table = await cli('runbook', 'status', 'new-year-gala', '-c', config);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^new-year-gala: running; T0 2026-12-31 12:00:00 UTC \(31 Dec, 20:00 Asia\/Shanghai\)/);
    expect(table.stdout).toMatch(/PHASE\s+STEP\s+PLANNED \(Asia\/Shanghai\)\s+ACTUAL\s+STATE/);
    expect(table.stdout).toMatch(/before\s+stress-check\s+16:00:00\s+-\s+scheduled/);
    expect(table.stdout).toMatch(/during\s+end-maintenance\s+\(after\)/);

    expect((await cli('runbook', 'ack', 'new-year-gala', 'nope', '-c', config)).code).toBe(2);
    expect((await cli('runbook', 'ack', 'other-night', 'drill', '-c', config)).stderr).toMatch(/no runbook 'other-night' has been started \(started: (late-gala, )?new-year-gala;/);
    const ack = await cli('runbook', 'ack', 'new-year-gala', 'drill', '-c', config, '--operator', 'erin');
    expect(ack).toMatchObject({ code: 0, stdout: 'acknowledged new-year-gala/drill as erin; the leader runs it once it is due\n' });
    expect(await cli('runbook', 'ack', 'new-year-gala', 'drill', '-c', config, '--operator', 'bob')).toMatchObject({ code: 1, stderr: 'switchyard: step drill is acknowledged already (by erin)\n' });
    expect((await cli('runbook', 'skip', 'new-year-gala', 'announce', '-c', config)).code).toBe(2); // --reason is required
    expect((await cli('runbook', 'skip', 'new-year-gala', 'announce', '-c', config, '--operator', 'lee', '--reason', 'announced by phone')).code).toBe(0);

    const json = await cli('runbook', 'status', 'new-year-gala', '-c', config, '-o', 'json');
    const x = JSON.parse(json.stdout) as RunbookExport;
    expect(x.steps).toHaveLength(14);
    expect(x.steps.find((s) => s.id === 'announce')).toMatchObject({ state: 'skipped', by: 'lee', result: 'skipped by lee: announced by phone' });
    expect(x.steps.find((s) => s.id === 'drill')).toMatchObject({ state: 'scheduled', ackedBy: 'erin' });
    expect(x).toMatchObject({ event: 'new-year-gala', startedBy: 'erin', status: 'running', rehearsal: null, aborted: null });

    // The overall status names the runbook under way.
    const overall = await cli('status', '-c', config);
    expect(overall.stdout).toMatch(/^runbook new-year-gala: 0\/14 done$/m);

    const abort = await cli('runbook', 'abort', 'new-year-gala', '-c', config, '--operator', 'lee', '--reason', 'show cancelled', '--yes');
    expect(abort).toMatchObject({ code: 0, stdout: 'aborted new-year-gala: no further step begins\n' });
    expect((await cli('runbook', 'abort', 'new-year-gala', '-c', config, '--reason', 'again', '--yes')).code).toBe(1);
    const after = await cli('runbook', 'status', 'new-year-gala', '-c', config);
    expect(after.code).toBe(1); // aborted
    expect(after.stdout).toContain('ABORTED: aborted by lee: show cancelled');

    const out = join(dir, 'gala.html');
    const report = await cli('runbook', 'report', 'new-year-gala', '-c', config, '--out', out);
    expect(report).toMatchObject({ code: 0, stdout: `wrote ${out}: 14 steps (0 failed, 0 late), 0 switch(es), 0 cap change(s)\n` });
    expect(existsSync(out)).toBe(true);
    expect(readFileSync(out, 'utf8')).toContain('<title>new-year-gala: runbook report</title>');
    expect(JSON.parse((await cli('runbook', 'report', 'new-year-gala', '-c', config, '-o', 'json')).stdout)).toMatchObject({ event: 'new-year-gala', aborted: 'aborted by lee: show cancelled' });
  });

  it('an unreachable etcd is exit 3 with one line, no stack trace', async () => {
    const r = await cli('runbook', 'status', 'new-year-gala', '-c', deadConfig);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^switchyard: etcd unreachable: /);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
