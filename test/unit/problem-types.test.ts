import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../app/config.ts';
import { PROBLEM_CODES } from '../../app/errors.ts';
import { problemAnchor, problemTypeUri } from '../../app/http/problem.ts';

/** The anchor GitHub gives a heading (github-slugger): lower case, punctuation but - and _ dropped. */
const slug = (heading: string) =>
  heading
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, '')
    .replace(/ /g, '-');

/** The anchors of the entries (### headings) of docs/errors.md's problem types section. */
function documentedAnchors(): string[] {
  const text = readFileSync('docs/errors.md', 'utf8');
  const section = text.split(/^## /m).find((s) => s.startsWith('HTTP problem types\n'));
  if (!section) throw new Error('docs/errors.md has no "## HTTP problem types" section');
  return [...section.matchAll(/^### (.+)$/gm)].map((m) => slug(m[1] as string));
}

const sources = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );

describe('problem types', () => {
  it('has an entry in docs/errors.md for every code the API can answer with, and none for others', () => {
    expect(documentedAnchors().sort()).toEqual(PROBLEM_CODES.map(problemAnchor).sort());
  });

  it('lists only codes the code raises (PROBLEM_CODES types every AppError, so none is missing)', () => {
    const code = sources('app')
      .map((file) => readFileSync(file, 'utf8'))
      .join('\n')
      .replace(/export const PROBLEM_CODES = \[[^\]]*\]/, '');
    for (const c of PROBLEM_CODES) expect(code, c).toContain(`'${c}'`);
  });

  it("points each problem's type at its entry: by default docs/errors.md in the repository", () => {
    const base = loadConfig({}).PROBLEM_TYPE_BASE_URL;
    const repository = pathToFileURL(`${process.cwd()}/`);
    const anchors = documentedAnchors();
    for (const c of PROBLEM_CODES) {
      const uri = new URL(problemTypeUri(c, base), repository);
      expect(existsSync(fileURLToPath(uri)), uri.href).toBe(true);
      expect(fileURLToPath(uri)).toBe(join(process.cwd(), 'docs/errors.md'));
      expect(anchors, c).toContain(uri.hash.slice(1));
    }
    expect(problemTypeUri('WALLET_NOT_FOUND', 'https://docs.example/errors.md')).toBe(
      'https://docs.example/errors.md#wallet_not_found',
    );
  });
});
