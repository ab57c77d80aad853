import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { sharedDataDir } from '../../data/locate.js';
import { trainNode } from './train.js';

/** `graft demo-cora`: node classification on Cora, or a planted-partition graph without ../shared. */
export async function demoCora(): Promise<void> {
  const dir = sharedDataDir();
  const dataset = dir && existsSync(join(dir, 'planetoid', 'cora.json')) ? 'cora' : 'synthetic';
  if (dataset === 'synthetic')
    console.error('graft demo: ../shared/data not found; training on a generated planted-partition graph instead');
  await trainNode(['--dataset', dataset, '--seed', '1', '--out', join('runs', `demo-${dataset}`), '--overwrite']);
}
