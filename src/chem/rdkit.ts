import { createRequire } from 'node:module';
import type { MainModule as RDKitModule } from '@rdkit/rdkit';

let loading: Promise<RDKitModule> | undefined;

/** RDKit's MinimalLib (WASM, shipped inside @rdkit/rdkit), loaded once per thread. */
export function rdkit(): Promise<RDKitModule> {
  if (!loading) {
    const require = createRequire(import.meta.url);
    const init = require('@rdkit/rdkit') as (o?: unknown) => Promise<RDKitModule>;
    loading = init();
  }
  return loading;
}
