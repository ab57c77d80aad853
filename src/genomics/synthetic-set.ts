import { join } from 'node:path';
import { packageRoot } from '../core/paths.js';

/** The data set `npm start` falls back to, shipped in data/ and made by `graft generate-gp`. */
export const SYNTHETIC_GP_DIR = join(packageRoot(), 'data', 'synthetic-gp');
