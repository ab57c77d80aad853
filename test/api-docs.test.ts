import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Application, Logger, LogLevel, ReflectionKind, type ProjectReflection } from 'typedoc';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../src/core/paths.js';
import { tempDir } from './helpers.js';

// The API reference (npm run docs) with typedoc.json's validation: every export of
// src/index.ts and src/infer/index.ts has a doc comment, every type they name is exported or
// listed as internal, every {@link} resolves. Converted in memory (no HTML written).

const root = packageRoot();

/** The entry points that carry a short @example (issue 28). */
const WITH_EXAMPLE = [
  'graft-gnn.Runtime.create',
  'graft-gnn.trainNodeClassifier',
  'graft-gnn.predictNodes',
  'graft-gnn.GraphTrainer',
  'graft-gnn.runStudy',
  'graft-gnn.saveCheckpoint',
  'graft-gnn.loadCheckpoint',
  'graft-gnn.spmm',
  'graft-gnn.matmul',
  'infer.loadModel',
];

/** A logger that keeps the warnings and errors instead of printing them. */
class Collect extends Logger {
  readonly problems: string[] = [];
  override log(message: string, level: LogLevel): void {
    if (level >= LogLevel.Warn) this.problems.push(message);
  }
}

/** Converts and validates with the TypeDoc options file `options`; the project and what TypeDoc complained of. */
async function convert(options: string): Promise<{ project: ProjectReflection | undefined; problems: string[] }> {
  const app = await Application.bootstrapWithPlugins({ options });
  const logger = new Collect();
  app.logger = logger;
  const project = await app.convert();
  if (project) app.validate(project);
  return { project, problems: logger.problems };
}

describe('the API reference (TypeDoc, validation on)', () => {
  it('builds with no warning: every exported name is documented, every named type exported, every link resolves', async () => {
    const { project, problems } = await convert(join(root, 'typedoc.json'));
    expect(problems, `typedoc found:\n${problems.join('\n')}`).toEqual([]);
    expect(project).toBeDefined();
    const hasExample = new Set<string>();
    for (const r of project!.getReflectionsByKind(ReflectionKind.All)) {
      const sigs = 'signatures' in r && Array.isArray(r.signatures) ? r.signatures : [];
      if ([r.comment, ...sigs.map((s) => s.comment)].some((c) => c?.getTag('@example')))
        hasExample.add(r.getFriendlyFullName());
    }
    expect(
      WITH_EXAMPLE.filter((n) => !hasExample.has(n)),
      'entry points without an @example',
    ).toEqual([]);
  });

  it('the same settings flag an undocumented export (the check above can fail)', async () => {
    const dir = tempDir('api-docs-');
    const settings = JSON.parse(readFileSync(join(root, 'typedoc.json'), 'utf8')) as Record<string, unknown>;
    const fixture = {
      ...settings,
      entryPoints: ['a.ts'],
      tsconfig: 'tsconfig.json',
      intentionallyNotExported: [],
      intentionallyNotDocumented: [],
      name: 'fixture',
    };
    writeFileSync(join(dir, 'typedoc.json'), JSON.stringify(fixture));
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { strict: true, module: 'NodeNext', target: 'ES2022', skipLibCheck: true },
        files: ['a.ts'],
      }),
    );
    writeFileSync(
      join(dir, 'a.ts'),
      '/** Documented. */\nexport function documented(): number { return 1; }\nexport function bare(): number { return 2; }\n',
    );
    const { problems } = await convert(join(dir, 'typedoc.json'));
    expect(problems.filter((p) => /does not have any documentation/.test(p))).toEqual([
      expect.stringMatching(/^bare \(CallSignature\), defined in .*a\.ts, does not have any documentation$/),
    ]);
  });
});
