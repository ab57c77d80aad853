import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadNodeCsv } from '../src/data/node-dataset.js';
import { interruptGraft, runGraft, tempDir } from './helpers.js';

const graft = (...args: string[]): { code: number | null; out: string; err: string } => {
  const r = runGraft(args, { GRAFT_DATA: '/nonexistent' });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

describe('graft CLI', () => {
  it('train writes a complete run folder; eval and predict read it back', () => {
    const out = join(tempDir('graft-cli-'), 'run');
    const r = graft(
      'train',
      '--dataset',
      'synthetic',
      '--epochs',
      '30',
      '--threads',
      '2',
      '--seed',
      '4',
      '--out',
      out,
      '--quiet',
    );
    expect(r.code, r.err).toBe(0);
    expect(readdirSync(out).sort()).toEqual([
      'checkpoint.prev.safetensors',
      'checkpoint.safetensors',
      'config.json',
      'epochs.csv',
      'epochs.json',
      'loss.svg',
      'loss.vl.json',
      'metrics.json',
      'metrics.svg',
      'metrics.vl.json',
      'predictions.csv',
    ]);
    const metrics = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8')) as Record<string, number>;
    expect(metrics['test_accuracy']).toBeGreaterThan(0.5);
    expect(readFileSync(join(out, 'epochs.csv'), 'utf8').split('\n')[0]).toBe(
      'epoch,train_loss,train_accuracy,val_loss,val_accuracy,test_accuracy,ms',
    );
    // A line per loss, drawn by vega (a path in a line mark); the Vega-Lite spec beside it holds the same curves.
    expect(readFileSync(join(out, 'loss.svg'), 'utf8')).toMatch(
      /^<svg[^>]*>[\s\S]*class="mark-line role-mark[\s\S]*<\/svg>\n$/,
    );
    const spec = JSON.parse(readFileSync(join(out, 'loss.vl.json'), 'utf8')) as {
      data: { values: { series: string }[] };
    };
    expect(new Set(spec.data.values.map((v) => v.series))).toEqual(new Set(['train_loss', 'val_loss']));
    const ev = graft('eval', '--run', out, '--threads', '1');
    expect(ev.code, ev.err).toBe(0);
    expect((JSON.parse(ev.out) as Record<string, number>)['test_accuracy']).toBe(metrics['test_accuracy']);
    const pred = graft('predict', '--run', out, '--out', join(out, 'p.csv'));
    expect(pred.code, pred.err).toBe(0);
    expect(readFileSync(join(out, 'p.csv'), 'utf8').split('\n')[0]).toBe('id,predicted,label,split,p0,p1,p2,p3,p4');
  });

  it('reports bad flags and missing data with exit code 2 and leaves no run folder', () => {
    const dir = tempDir('graft-cli-');
    const a = graft('train', '--lr', 'fast', '--out', join(dir, 'a'));
    expect(a.code).toBe(2);
    expect(a.err).toContain('--lr must be a number, got "fast"');
    const b = graft('train', '--dataset', 'cora', '--out', join(dir, 'b'));
    expect(b.code).toBe(2);
    expect(b.err).toMatch(/data set 'cora' needs the shared data folder/);
    expect(existsSync(join(dir, 'a')) || existsSync(join(dir, 'b'))).toBe(false);
    expect(graft('frobnicate').code).toBe(1);
    // --threads 0 used to leave an empty run folder; --checkpoint-every 0 and unknown config
    // keys were accepted silently; a negative number needed the --flag=-1 form.
    const c = graft('train', '--dataset', 'synthetic', '--threads', '0', '--out', join(dir, 'c'));
    expect(c.code).toBe(2);
    expect(c.err).toContain('--threads must be at least 1, got 0');
    const d = graft('train', '--dataset', 'synthetic', '--checkpoint-every', '0', '--out', join(dir, 'd'));
    expect(d.code).toBe(2);
    expect(d.err).toContain('--checkpoint-every must be at least 1 epoch, got 0');
    const cfg = join(dir, 'cfg.json');
    writeFileSync(cfg, JSON.stringify({ dataset: 'synthetic', learningRate: 0.1 }));
    const e = graft('train', '--config', cfg, '--out', join(dir, 'e'));
    expect(e.code).toBe(2);
    expect(e.err).toContain(`${cfg}: unknown config key "learningRate"`);
    const f = graft('train', '--dataset', 'synthetic', '--weight-decay', '-1', '--out', join(dir, 'f'));
    expect(f.code).toBe(2);
    expect(f.err).toContain("argument 'config.weightDecay' must be a non-negative number, got -1");
    for (const x of ['c', 'd', 'e', 'f']) expect(existsSync(join(dir, x)), x).toBe(false);
  });
});

describe('CSV node loader', () => {
  const dir = tempDir('graft-csv-');
  const put = (name: string, text: string): string => {
    writeFileSync(join(dir, name), text);
    return join(dir, name);
  };
  const feats = put('f.csv', 'id,a,b\nx,1,0\ny,0,1\nz,1,1\n');
  const edges = put('e.csv', 'source,target\nx,y\ny,z\n');
  const labels = put('l.csv', 'id,label,split\nx,cat,train\ny,dog,val\nz,cat,test\n');

  it('orders class names naturally ("2" before "10") and writes them, not indices, to predictions.csv', () => {
    const feats5 = put('f5.csv', 'id,a,b\nn1,1,0\nn2,0,1\nn3,1,1\nn4,0,0\nn5,1,0\nn6,0,1\n');
    const edges5 = put('e5.csv', 'source,target\nn1,n2\nn2,n3\nn3,n4\nn4,n5\nn5,n6\n');
    const labels5 = put(
      'l5.csv',
      'id,label,split\nn1,10,train\nn2,2,train\nn3,10,val\nn4,2,val\nn5,10,test\nn6,2,test\n',
    );
    const ds = loadNodeCsv({ features: feats5, edges: edges5, labels: labels5 });
    expect(ds.classNames).toEqual(['2', '10']);
    const out = join(dir, 'named-run');
    const r = graft(
      'train',
      '--features',
      feats5,
      '--edges',
      edges5,
      '--labels',
      labels5,
      '--epochs',
      '3',
      '--out',
      out,
      '--quiet',
    );
    expect(r.code, r.err).toBe(0);
    const rows = readFileSync(join(out, 'predictions.csv'), 'utf8')
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => l.split(','));
    expect(rows.map((x) => x[2])).toEqual(['"10"', '"2"', '"10"', '"2"', '"10"', '"2"']);
    for (const x of rows) expect(['"2"', '"10"']).toContain(x[1]);
    expect(
      (JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as { class_names: string[] }).class_names,
    ).toEqual(['2', '10']);
  });

  it('warns (stderr and metrics.json) when the graph has no edges', () => {
    const out = join(dir, 'no-edges');
    const r = graft(
      'train',
      '--features',
      feats,
      '--edges',
      put('none.csv', 'source,target\n'),
      '--labels',
      labels,
      '--epochs',
      '2',
      '--out',
      out,
      '--quiet',
    );
    expect(r.code, r.err).toBe(0);
    expect(r.err).toContain('warning: custom: the graph has no edges; each node sees only its own features');
    expect(
      (JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8')) as { warnings: string[] }).warnings,
    ).toHaveLength(1);
  });

  it('reads nodes, edges, labels and splits by id', () => {
    const ds = loadNodeCsv({ features: feats, edges, labels });
    expect(ds.numNodes).toBe(3);
    expect([...ds.labels]).toEqual([0, 1, 0]);
    expect(ds.classNames).toEqual(['cat', 'dog']);
    expect([...ds.split.val]).toEqual([1]);
  });

  it('names the file and line of each problem', () => {
    expect(() => loadNodeCsv({ features: put('r.csv', 'id,a,b\nx,1\n'), edges, labels })).toThrow(
      /r.csv:2: 2 fields, but the header has 3/,
    );
    expect(() => loadNodeCsv({ features: put('n.csv', 'id,a\nx,1\ny,abc\n'), edges, labels })).toThrow(
      /n.csv:3: column 'a' is "abc", not a finite number/,
    );
    expect(() => loadNodeCsv({ features: put('d.csv', 'id,a\nx,1\nx,2\n'), edges, labels })).toThrow(
      /d.csv:3: duplicate node id "x" \(first on line 2\)/,
    );
    expect(() => loadNodeCsv({ features: feats, edges: put('u.csv', 'source,target\nx,q\n'), labels })).toThrow(
      /u.csv:2: unknown node id "q"/,
    );
    expect(() => loadNodeCsv({ features: put('empty.csv', ''), edges, labels })).toThrow(
      /empty.csv: the file is empty/,
    );
    expect(() => loadNodeCsv({ features: feats, edges, labels: put('one.csv', 'id,label\nx,cat\n') })).toThrow(
      /one.csv: only one class/,
    );
    expect(() => loadNodeCsv({ features: join(dir, 'nope.csv'), edges, labels })).toThrow(
      /nope.csv: cannot read: ENOENT/,
    );
    // A second label row with another value used to override the first silently.
    expect(() =>
      loadNodeCsv({ features: feats, edges, labels: put('dup.csv', 'id,label\nx,cat\ny,dog\nx,dog\n') }),
    ).toThrow(/dup\.csv:4: node "x" is labelled "dog" here but "cat" on line 2/);
  });
});

describe('run folders', () => {
  it('are never silently mixed: another run is refused, --overwrite replaces it, a live lock refuses, a stale lock is taken over', () => {
    const out = join(tempDir('graft-cli-'), 'run');
    const run = (...extra: string[]): ReturnType<typeof graft> =>
      graft('train', '--dataset', 'synthetic', '--epochs', '3', '--seed', '2', '--out', out, '--quiet', ...extra);
    expect(run().code).toBe(0);
    const first = readFileSync(join(out, 'metrics.json'), 'utf8');
    // Re-running into the finished folder used to replace its checkpoint silently.
    const again = graft('train', '--dataset', 'synthetic', '--epochs', '3', '--seed', '3', '--out', out, '--quiet');
    expect(again.code).toBe(2);
    expect(again.err).toMatch(
      /already holds another run \(.*config\.json.*\): pass --overwrite to replace it, --resume to continue it/,
    );
    expect(readFileSync(join(out, 'metrics.json'), 'utf8')).toBe(first);
    // --overwrite empties the folder first: no file of the old run survives.
    writeFileSync(join(out, 'stale-from-old-run.svg'), '<svg/>');
    expect(run('--overwrite').code).toBe(0);
    expect(existsSync(join(out, 'stale-from-old-run.svg'))).toBe(false);
    // A lock held by a live process (this test's) refuses; one whose process is gone is taken.
    writeFileSync(join(out, '.graft.lock'), JSON.stringify({ pid: process.pid, command: 'graft train' }));
    const locked = run('--overwrite');
    expect(locked.code).toBe(2);
    expect(locked.err).toContain(`is in use by another run (graft train, pid ${process.pid})`);
    writeFileSync(join(out, '.graft.lock'), JSON.stringify({ pid: 2 ** 22 + 12345, command: 'graft train' }));
    expect(run('--overwrite').code).toBe(0);
    expect(existsSync(join(out, '.graft.lock'))).toBe(false);
    // --overwrite never empties a folder that is not a graft run's.
    const other = tempDir('graft-cli-');
    writeFileSync(join(other, 'thesis.tex'), 'precious');
    const o = graft('train', '--dataset', 'synthetic', '--epochs', '2', '--out', other, '--overwrite', '--quiet');
    expect(o.code).toBe(2);
    expect(o.err).toMatch(/holds files that are not a graft run's \(thesis\.tex\)/);
    expect(readFileSync(join(other, 'thesis.tex'), 'utf8')).toBe('precious');
  });
});

describe('Ctrl-C', () => {
  it('SIGINT during graft train writes a checkpoint at the epoch under way and exits 130; --resume finishes the run', async () => {
    const out = join(tempDir('graft-cli-'), 'run');
    const args = ['train', '--dataset', 'synthetic', '--epochs', '1000', '--patience', '0', '--out', out];
    const { code, stderr: err } = await interruptGraft(args, /epoch 1\/1000/);
    expect(code, err).toBe(130);
    expect(err).toMatch(
      /interrupted after epoch \d+; checkpoint written to .*checkpoint\.safetensors; continue with the same command and --resume/,
    );
    expect(existsSync(join(out, 'checkpoint.safetensors'))).toBe(true);
    expect(existsSync(join(out, 'metrics.json'))).toBe(false);
    const resumed = graft(...args, '--resume', '--quiet');
    expect(resumed.code, resumed.err).toBe(0);
    expect((JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8')) as { epochs_run: number }).epochs_run).toBe(
      1000,
    );
  });
});
