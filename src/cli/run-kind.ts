import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GraftError } from '../core/errors.js';

// What kind of run a folder holds, told from the files each command writes, so every command
// that reads a run folder can say which kind it found and which command reads it.

export type RunKind = 'genomic' | 'graph' | 'node' | 'microbiome' | 'explain' | 'sweep' | 'scaling';

/** Which commands read each kind of run folder (for the messages of a command given the wrong kind). */
export const RUN_KIND_READERS: Record<RunKind, string> = {
  genomic: 'graft gp --resume, graft predict, graft explain',
  graph: 'graft eval, graft predict, graft explain, graft export, graft quantize',
  node: 'graft eval, graft predict, graft explain, graft export, graft quantize',
  microbiome: 'graft predict, graft explain, graft value (with a model kept by graft mb --keep-model)',
  explain: 'none: it is an explanation, read it directly',
  sweep: 'graft sweep',
  scaling: 'none: it is a scaling report, read it directly',
};

export const RUN_KIND_TEXT: Record<RunKind, string> = {
  genomic: 'a genomic prediction study (graft gp)',
  graph: 'a graph-level run (graft train --task graph)',
  node: 'a node-task run (graft train)',
  microbiome: 'a microbiome study (graft mb)',
  explain: 'an explanation (graft explain)',
  sweep: 'a sweep (graft sweep)',
  scaling: 'a scaling report (graft scaling)',
};

/**
 * Reads a JSON file a run wrote. A damaged one (cut short, edited by hand) is one line naming
 * the file and what is wrong, never a stack trace.
 */
export function readRunJson<T = Record<string, unknown>>(file: string): T {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new GraftError(`${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new GraftError(
      `${file}: damaged (not valid JSON: ${(err as Error).message}); run the command that wrote it again`,
    );
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
    throw new GraftError(`${file}: damaged (expected a JSON object)`);
  return parsed as T;
}

/** The kind of run in `dir`, or a one-line error saying the folder is not a finished run. */
export function detectRunKind(dir: string): RunKind {
  if (!existsSync(dir)) throw new GraftError(`--run ${dir}: no such folder`);
  if (existsSync(join(dir, 'explanations.json'))) return 'explain';
  if (existsSync(join(dir, 'sweep.json')) || existsSync(join(dir, 'sweep-results.json'))) return 'sweep';
  if (existsSync(join(dir, 'scaling.json'))) return 'scaling';
  const results = join(dir, 'results.json');
  if (existsSync(results)) {
    if (existsSync(join(dir, 'jobs'))) return 'genomic';
    const r = readRunJson<{ task?: unknown; protocol?: unknown }>(results);
    if (typeof r.protocol === 'string') return 'genomic';
    if (r.task === 'classification' || r.task === 'regression') return 'microbiome';
  }
  const cfg = join(dir, 'config.json');
  if (!existsSync(cfg))
    throw new GraftError(`${dir}: not a finished graft run folder (no config.json or results.json)`);
  const c = readRunJson<{ kind?: unknown; task?: unknown }>(cfg);
  if (c.kind === 'graph') return 'graph';
  if (c.task === 'node' || c.kind === undefined) return 'node';
  throw new GraftError(`${cfg}: a run of a kind this version of graft does not know (kind ${JSON.stringify(c.kind)})`);
}

/** A one-line refusal for a command given a run folder of a kind it does not read. */
export function wrongKind(command: string, dir: string, kind: RunKind, wants: string): GraftError {
  return new GraftError(
    `${dir} holds ${RUN_KIND_TEXT[kind]}; ${command} reads ${wants}. Commands that read this folder: ${RUN_KIND_READERS[kind]}`,
  );
}
